/**
 * The Kingdom over mTLS: GetCertificate and CreateCertificate calls per
 * second and p99 latency at 1, 16 and 128 concurrent callers, on the
 * embedded database and on PostgreSQL (when one is reachable), beside a bare
 * echo of GetCertificate served by the same stack (TLS, HTTP/2, handler,
 * metrics and authentication interceptors) without touching the store.
 * The server runs in its own process (kingdom-server.ts), as a deployed
 * Kingdom does away from its callers; its memory and CPU time are its own.
 */
import { fork } from 'node:child_process';
import { type KeyObject, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClientHttp2Session } from 'node:http2';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import pg from 'pg';
import { createKingdomClient, type KingdomClient } from '../src/client/index.js';
import { CertificateSchema } from '../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { systemClock } from '../src/lib/clock.js';
import { encodePem } from '../src/lib/pem.js';
import { initRoot, issueLeaf } from '../src/pki/ca.js';
import { generateKeyset } from '../src/crypto/keyset-templates.js';
import { keysetBytes, publicKeyset } from '../src/crypto/keyset.js';
import { signMessage } from '../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema, EncryptionPublicKey_Format } from '../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { CreateCertificateRequestSchema, GetCertificateRequestSchema } from '../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { connectH2, grpcEnvelope, grpcUnaryRaw } from '../test/kingdom/h2-grpc.js';
import type { FromServer, ServerStart, ToServer } from './kingdom-server.js';
import { percentile, printFigures, type Figure } from './harness.js';

/** `HALO_BENCH_KINGDOM_CONCURRENCY=16,128` measures only those. */
const CONCURRENCY = (process.env.HALO_BENCH_KINGDOM_CONCURRENCY ?? '1,16,128').split(',').map(Number);
const MS_PER_FIGURE = 1200;
const ADMIN_TOKEN = 'hk_admin_bench';

interface Measured {
  opsPerSecond: number;
  p99Ms: number;
  /** CPU time of this process (server and client) per call: unlike ops/s, not moved much by other load on the machine. */
  cpuUsPerCall: number;
}

/** Latencies and CPU time of one stretch of calls; stretches add up. */
interface Stretch {
  latencies: number[];
  elapsedMs: number;
  cpuUs: number;
}

/** `concurrency` callers loop on `call` for about `ms` (no warm-up). */
async function callFor(call: (i: number) => Promise<unknown>, concurrency: number, ms: number, next: { i: number }): Promise<Stretch> {
  const latencies: number[] = [];
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call(next.i++);
      latencies.push(performance.now() - t);
    }
  }));
  const cpu = process.cpuUsage(cpuStart);
  return { latencies, elapsedMs: performance.now() - start, cpuUs: cpu.user + cpu.system };
}

function summarize(stretches: readonly Stretch[]): Measured {
  const latencies = stretches.flatMap((s) => s.latencies);
  const elapsedMs = stretches.reduce((t, s) => t + s.elapsedMs, 0);
  const cpuUs = stretches.reduce((t, s) => t + s.cpuUs, 0);
  return { opsPerSecond: (latencies.length * 1000) / elapsedMs, p99Ms: percentile(latencies, 99), cpuUsPerCall: cpuUs / latencies.length };
}

/** `concurrency` callers loop on `call` for about `ms` after a short warm-up; ops/s and p99 of the calls. */
export async function measure(call: (i: number) => Promise<unknown>, concurrency: number, ms: number): Promise<Measured> {
  const next = { i: 0 };
  await callFor(call, concurrency, 200, next);
  return summarize([await callFor(call, concurrency, ms, next)]);
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}

export async function freshBenchPostgres(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const admin = process.env.HALO_KEYS_TEST_DATABASE_URL ?? ((await reachable('127.0.0.1', 5432)) ? 'postgres://postgres@127.0.0.1:5432/postgres' : undefined);
  if (!admin) return undefined;
  const name = `halo_bench_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const c = new pg.Client({ connectionString: admin });
  try {
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

/**
 * A P-256 public key that no key-generation job shares. Node 20 can deadlock
 * when a garbage collection, run while a key made by generateKeyPairSync is
 * exported as JWK (as the CA does to build the SPKI), finalizes the job that
 * made that same key: the finalizer waits for the key's lock, which the
 * export holds. Thousands of leaves made that way hung this bench now and
 * then; a key re-imported from DER has a lock of its own.
 */
function freshPublicKey(): KeyObject {
  const { publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return createPublicKey({ key: publicKey, format: 'der', type: 'spki' });
}

const GET_CERTIFICATE = '/wfa.measurement.api.v2alpha.Certificates/GetCertificate';
const CREATE_CERTIFICATE = '/wfa.measurement.api.v2alpha.Certificates/CreateCertificate';

/** One call; anything but OK with a Certificate in the answer stops the bench. */
async function call(session: ClientHttp2Session, path: string, body: Uint8Array): Promise<void> {
  const answer = await grpcUnaryRaw(session, path, body);
  if (answer.status !== 0 || !answer.payload) throw new Error(`${path}: gRPC status ${answer.status} ${answer.message}`);
  fromBinary(CertificateSchema, answer.payload);
}

/** CPU per call lines, printed after the table. */
const cpuNotes: string[] = [];

/** The forked server process and a typed request/answer channel to it. */
interface BenchServer {
  readonly ready: Extract<FromServer, { type: 'ready' }>;
  ask<T extends FromServer['type']>(message: ToServer, answer: T): Promise<Extract<FromServer, { type: T }>>;
}

async function forkServer(start: ServerStart): Promise<BenchServer> {
  const child = fork(fileURLToPath(new URL('./kingdom-server.ts', import.meta.url)), [JSON.stringify(start)], {
    serialization: 'advanced',
    // e.g. HALO_BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof' profiles the server alone.
    execArgv: [...process.execArgv, ...(process.env.HALO_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T extends FromServer['type']>(answer: T) =>
    new Promise<Extract<FromServer, { type: T }>>((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`bench server exited (${code}) before answering ${answer}`));
      child.once('exit', onExit);
      child.once('message', (m: FromServer) => {
        child.off('exit', onExit);
        if (m.type === answer) resolve(m as Extract<FromServer, { type: T }>);
        else reject(new Error(`bench server answered ${m.type}, expected ${answer}`));
      });
    });
  const ready = await next('ready');
  return {
    ready,
    ask(message, answer) {
      const answered = next(answer);
      child.send(message);
      return answered;
    },
  };
}

type ServerMeasured = Measured & { serverCpuUsPerCall: number };

/**
 * Each call measured as `measure` does, plus the server's CPU time per call.
 * With several calls (an echo and the call compared with it) they take
 * turns in short stretches, so that drift in the machine's speed during the
 * run falls on all of them alike.
 */
async function measureServer(server: BenchServer, calls: readonly ((i: number) => Promise<unknown>)[], concurrency: number): Promise<ServerMeasured[]> {
  const turns = calls.length > 1 ? 3 : 1;
  const next = calls.map(() => ({ i: 0 }));
  const stretches = calls.map((): Stretch[] => []);
  const serverCpuUs = calls.map(() => 0);
  for (const [k, call] of calls.entries()) await callFor(call, concurrency, 200, next[k]!);
  for (let turn = 0; turn < turns; turn++) {
    for (const [k, call] of calls.entries()) {
      const before = await server.ask({ type: 'stats' }, 'stats');
      stretches[k]!.push(await callFor(call, concurrency, MS_PER_FIGURE / turns, next[k]!));
      const after = await server.ask({ type: 'stats' }, 'stats');
      serverCpuUs[k]! += after.cpuUs - before.cpuUs;
    }
  }
  return stretches.map((st, k) => {
    const m = summarize(st);
    const count = st.reduce((t, s) => t + s.latencies.length, 0);
    return { ...m, serverCpuUsPerCall: serverCpuUs[k]! / count };
  });
}

async function benchBackend(label: string, start: ServerStart): Promise<{ figures: Figure[]; stats: Extract<FromServer, { type: 'stats' }> }> {
  const clock = systemClock;
  const server = await forkServer(start);
  const { tlsCertPem } = server.ready;

  // A DataProvider with a root made by our CA.
  const root = initRoot({ subject: '/O=Bench/CN=Bench EDP Root', clock });
  const authority = { certificate: root.certificate, privateKey: root.privateKey };
  const signing = issueLeaf(authority, { profile: 'signing', subject: '/O=Bench/CN=signing', clock });
  const tlsLeaf = issueLeaf(authority, { profile: 'tls-client', subject: '/O=Bench/CN=client', clock });
  const key = signMessage(
    EncryptionPublicKeySchema,
    create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(publicKeyset(generateKeyset())) }),
    signing.privateKey!,
  );
  const trustedRoots = tlsCertPem.slice(tlsCertPem.indexOf('-----BEGIN CERTIFICATE-----', 10));
  const client = (port: number, extra = {}): KingdomClient =>
    createKingdomClient({ target: `127.0.0.1:${port}`, trustedRoots, serverName: 'localhost', ...extra });
  const dp = await client(server.ready.port, { adminToken: ADMIN_TOKEN }).admin.createDataProvider({
    registration: { rootCertificateDer: root.der, certificateDer: signing.der, publicKey: key },
  });
  const tlsKeyPem = tlsLeaf.privateKey!.export({ type: 'pkcs8', format: 'pem' }).toString();
  const answer = await client(server.ready.port, { clientCertificate: encodePem('CERTIFICATE', tlsLeaf.der), clientKey: tlsKeyPem }).certificates.getCertificate({
    name: dp.certificate,
  });
  const echo = await server.ask({ type: 'echo', certificate: toBinary(CertificateSchema, answer) }, 'echo');

  // The callers: hand-written gRPC over one mTLS HTTP/2 connection per server,
  // so that the bench's own CPU per call is small beside the server's.
  const target = { ca: trustedRoots, servername: 'localhost', cert: encodePem('CERTIFICATE', tlsLeaf.der), key: tlsKeyPem };
  const kingdom = await connectH2({ ...target, port: server.ready.port });
  const echoSession = await connectH2({ ...target, port: echo.port });
  const getRequest = grpcEnvelope(toBinary(GetCertificateRequestSchema, create(GetCertificateRequestSchema, { name: dp.certificate })));
  const get = (session: ClientHttp2Session) => () => call(session, GET_CERTIFICATE, getRequest);

  // Both servers warm (JIT, TLS sessions, caches) before anything is measured.
  for (const session of [echoSession, kingdom]) await measure(get(session), 16, 500);

  const figures: Figure[] = [];
  for (const c of CONCURRENCY) {
    const [baseline, got] = (await measureServer(server, [get(echoSession), get(kingdom)], c)) as [ServerMeasured, ServerMeasured];
    const creates = Array.from({ length: Math.max(4000, c * 40) }, () => {
      const der = issueLeaf(authority, { profile: 'signing', subject: '/O=Bench/CN=leaf', clock, publicKey: freshPublicKey() }).der;
      return grpcEnvelope(
        toBinary(CreateCertificateRequestSchema, create(CreateCertificateRequestSchema, { parent: dp.name, certificate: { x509Der: der } })),
      );
    });
    const [created] = (await measureServer(
      server,
      [
        (i) => {
          const body = creates[i];
          if (!body) throw new Error('bench ran out of pre-issued leaves');
          return call(kingdom, CREATE_CERTIFICATE, body);
        },
      ],
      c,
    )) as [ServerMeasured];
    cpuNotes.push(
      `${label} c=${c}: echo ${baseline.serverCpuUsPerCall.toFixed(0)} us, GetCertificate ${got.serverCpuUsPerCall.toFixed(0)} us, ` +
        `CreateCertificate ${created.serverCpuUsPerCall.toFixed(0)} us (client: ${baseline.cpuUsPerCall.toFixed(0)}, ` +
        `${got.cpuUsPerCall.toFixed(0)}, ${created.cpuUsPerCall.toFixed(0)} us)`,
    );
    figures.push(
      { name: `GetCertificate ${label} c=${c}`, ours: got.opsPerSecond, baseline: baseline.opsPerSecond, unit: 'ops/s', baselineName: 'echo', target: '>= 0.7' },
      { name: `GetCertificate p99 ${label} c=${c}`, ours: got.p99Ms, baseline: baseline.p99Ms, unit: 'ms', baselineName: 'echo p99' },
      {
        name: `CreateCertificate ${label} c=${c}`,
        ours: created.opsPerSecond,
        baseline: baseline.opsPerSecond,
        unit: 'ops/s',
        baselineName: 'echo',
        ...(label === 'postgres' ? { target: '>= 1000/s' } : {}),
      },
      { name: `CreateCertificate p99 ${label} c=${c}`, ours: created.p99Ms, baseline: baseline.p99Ms, unit: 'ms', baselineName: 'echo p99' },
    );
  }
  kingdom.close();
  echoSession.close();
  const stats = await server.ask({ type: 'stats' }, 'stats');
  await server.ask({ type: 'close' }, 'closed');
  return { figures, stats };
}

export async function run(): Promise<void> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-kingdom-'));
  const record = (label: string, r: Awaited<ReturnType<typeof benchBackend>>) => {
    figures.push(...r.figures);
    const w = r.stats.writes;
    notes.push(
      `${label}: server RSS ${r.stats.rssMiB.toFixed(0)} MiB after the run; group commit: ${w.operations} writes in ${w.batches} ` +
        `shared transactions (largest ${w.largestBatch}), ${w.batchRetries} batch retries`,
    );
  };
  try {
    record('pglite', await benchBackend('pglite', { dataDir: join(dir, 'db'), tlsDir: dir, adminToken: ADMIN_TOKEN }));
    const postgres = await freshBenchPostgres();
    if (postgres) {
      try {
        record('postgres', await benchBackend('postgres', { databaseUrl: postgres.url, tlsDir: join(dir, 'pg'), adminToken: ADMIN_TOKEN }));
      } finally {
        await postgres.drop();
      }
    } else {
      console.log('\n(kingdom: no PostgreSQL reachable; set HALO_KEYS_TEST_DATABASE_URL for the PostgreSQL figures)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printFigures('kingdom over mTLS (server in its own process, callers in this one)', figures);
  for (const n of notes) console.log(n);
  console.log('CPU per call of the server process (the PostgreSQL server is not counted; the callers\' own in brackets):');
  for (const n of cpuNotes) console.log(`  ${n}`);
}
