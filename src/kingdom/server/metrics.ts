/**
 * Prometheus metrics: RPC counts and latencies by method and gRPC code, plus
 * the process defaults (memory, CPU, event-loop lag). One registry per
 * server, so several servers in one process (tests, benches) stay apart.
 */
import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SqlKingdomStore } from '../store/index.js';

/** gRPC status names, as dashboards and upstream logs spell them. */
const CODE_NAMES: Record<number, string> = {
  0: 'OK',
  [Code.Canceled]: 'CANCELLED',
  [Code.Unknown]: 'UNKNOWN',
  [Code.InvalidArgument]: 'INVALID_ARGUMENT',
  [Code.DeadlineExceeded]: 'DEADLINE_EXCEEDED',
  [Code.NotFound]: 'NOT_FOUND',
  [Code.AlreadyExists]: 'ALREADY_EXISTS',
  [Code.PermissionDenied]: 'PERMISSION_DENIED',
  [Code.ResourceExhausted]: 'RESOURCE_EXHAUSTED',
  [Code.FailedPrecondition]: 'FAILED_PRECONDITION',
  [Code.Aborted]: 'ABORTED',
  [Code.OutOfRange]: 'OUT_OF_RANGE',
  [Code.Unimplemented]: 'UNIMPLEMENTED',
  [Code.Internal]: 'INTERNAL',
  [Code.Unavailable]: 'UNAVAILABLE',
  [Code.DataLoss]: 'DATA_LOSS',
  [Code.Unauthenticated]: 'UNAUTHENTICATED',
};

export function grpcCodeName(code: Code | 0): string {
  return CODE_NAMES[code] ?? 'UNKNOWN';
}

export interface ServerMetrics {
  readonly registry: Registry;
  /** Counts and times every RPC; place it outermost so it sees the final code. */
  readonly interceptor: Interceptor;
  /** Calls currently running; shutdown drains this to zero. */
  inFlight(): number;
  /** Counts a call refused before the interceptors ran (e.g. an unparsable body). */
  record(method: string, code: string, seconds: number): void;
}

export function createServerMetrics(options: { collectDefaults?: boolean } = {}): ServerMetrics {
  const registry = new Registry();
  if (options.collectDefaults !== false) collectDefaultMetrics({ register: registry, prefix: 'kingdom_' });
  const calls = new Counter({
    name: 'kingdom_rpc_requests_total',
    help: 'RPCs handled, by method and gRPC status code',
    labelNames: ['method', 'code'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'kingdom_rpc_duration_seconds',
    help: 'RPC handling time, by method and gRPC status code',
    labelNames: ['method', 'code'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  let running = 0;
  const interceptor: Interceptor = (next) => async (req) => {
    const method = `${req.service.typeName}/${req.method.name}`;
    const start = process.hrtime.bigint();
    running++;
    let code = 'OK';
    try {
      return await next(req);
    } catch (err) {
      code = grpcCodeName(ConnectError.from(err).code);
      throw err;
    } finally {
      running--;
      calls.inc({ method, code });
      latency.observe({ method, code }, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
  return {
    registry,
    interceptor,
    inFlight: () => running,
    record(method, code, seconds) {
      calls.inc({ method, code });
      latency.observe({ method, code }, seconds);
    },
  };
}

/** A counter whose value is read from elsewhere at each scrape. */
function readCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/** The store's own figures: the certificate cache and group commit, read at each scrape. */
export function registerStoreMetrics(registry: Registry, store: SqlKingdomStore): void {
  const cache = store.certificateCache;
  new Gauge({
    name: 'kingdom_certificate_cache_enabled',
    help: '1 while GetCertificate answers from the cache; 0 while the change notification channel is down',
    registers: [registry],
    collect() {
      this.set(cache.enabled ? 1 : 0);
    },
  });
  readCounter(registry, 'kingdom_certificate_cache_hits_total', 'Certificate reads answered from the cache', () => cache.hits);
  readCounter(registry, 'kingdom_certificate_cache_misses_total', 'Certificate reads that went to the database', () => cache.misses);
  readCounter(registry, 'kingdom_store_write_operations_total', 'Write operations submitted to the store', () => store.writeStats.operations);
  readCounter(registry, 'kingdom_store_shared_transactions_total', 'Transactions that carried two or more writes (group commit)', () => store.writeStats.batches);
  readCounter(registry, 'kingdom_store_batch_retries_total', 'Shared transactions run again after a serialization failure or deadlock', () => store.writeStats.batchRetries);
}
