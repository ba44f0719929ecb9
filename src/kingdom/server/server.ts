/**
 * The Kingdom's network front: one HTTP/2 TLS port speaking gRPC (CMMS's own
 * clients), gRPC-Web and Connect (HTTP/1.1 allowed for the latter two), plus
 * /healthz and /metrics. TLS 1.3 only. Client certificates are requested but
 * judged per connection, outside OpenSSL (see peer.ts). Trusted client roots
 * can change while running: `reloadTrust()` swaps them for new connections.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createSecureServer, type Http2SecureServer, type Http2Session, type ServerHttp2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { SecureContextOptions, TLSSocket } from 'node:tls';
import type { ConnectRouter, Interceptor } from '@connectrpc/connect';
import type { ListenAddress } from './config.js';
import { DEFAULT_CONNECTION_LIMITS, guardConnections, guardRequest, serverOptions, type ConnectionLimits } from './connection-limits.js';
import { ServerError } from './errors.js';
import { DEFAULT_MAX_CERTIFICATE_BYTES, fieldLimitsInterceptor, type FieldLimits } from './field-limits.js';
import { httpEndpoints } from './http-endpoints.js';
import { DEFAULT_LIST_CALLS_PER_CALLER, listFairnessInterceptor } from './list-fairness.js';
import { listenOn } from './listen.js';
import { createNodeHandler } from './node-handler.js';
import type { Logger } from './logger.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { peerAuthentication } from './peer.js';
import type { ServerTlsMaterial } from './bootstrap.js';
import { rootSet, type TrustedRootSet } from './trusted-roots.js';

export interface KingdomServerOptions {
  readonly listen: ListenAddress;
  readonly tls: Pick<ServerTlsMaterial, 'certPem' | 'keyPem'>;
  readonly routes: (router: ConnectRouter) => void;
  /** The services' own interceptors (authentication, error mapping, admin token), innermost. */
  readonly interceptors?: readonly Interceptor[];
  /** Operator-supplied client roots, always trusted. */
  readonly staticRoots?: readonly Uint8Array[];
  /** Roots of the registered participants, re-read on `reloadTrust()`. */
  readonly participantRoots?: () => Promise<Uint8Array[]>;
  /** Resolves when the store answers; /healthz is 503 otherwise. */
  readonly health: () => Promise<void>;
  readonly maxMessageBytes: number;
  /** Bounds on request byte fields (default: certificates 64 KiB). */
  readonly fieldLimits?: FieldLimits;
  /** Timeouts and limits per connection (defaults: DEFAULT_CONNECTION_LIMITS). */
  readonly connectionLimits?: ConnectionLimits;
  readonly drainTimeoutMs: number;
  /** Re-read participant roots this often (0: only on `reloadTrust()`). */
  readonly trustRefreshMs?: number;
  readonly metricsListen?: ListenAddress;
  readonly logger: Logger;
  readonly metrics?: ServerMetrics;
}

export interface KingdomServer {
  /** Where it listens (the real port when 0 was asked for). */
  readonly address: ListenAddress;
  readonly metricsAddress?: ListenAddress;
  readonly metrics: ServerMetrics;
  /** Re-reads the trusted client roots; true when the set changed and the TLS context was rebuilt. */
  reloadTrust(): Promise<boolean>;
  /** Stops accepting, drains in-flight calls (up to drainTimeoutMs), then closes every connection. */
  close(): Promise<void>;
}


const TLS_VERSION = 'TLSv1.3' as const;
/** After the last call ends, how long connections get to flush before being cut. */
const FLUSH_GRACE_MS = 2000;


export async function startKingdomServer(options: KingdomServerOptions): Promise<KingdomServer> {
  const log = options.logger;
  const metrics = options.metrics ?? createServerMetrics();
  let accepting = true;

  let roots: TrustedRootSet = rootSet([...(options.staticRoots ?? []), ...((await options.participantRoots?.()) ?? [])]);
  // No `ca`: OpenSSL verifies no client chain (peer.ts does), so it trusts nobody, not even Node's public roots.
  const contextOptions: SecureContextOptions = { key: options.tls.keyPem, cert: options.tls.certPem, minVersion: TLS_VERSION };
  const peers = peerAuthentication(() => roots.store);

  const endpoints = httpEndpoints({ health: options.health, registry: metrics.registry, logger: log, accepting: () => accepting });
  const handler = createNodeHandler({
    routes: options.routes,
    interceptors: [
      metrics.interceptor,
      peers.interceptor,
      fieldLimitsInterceptor(options.fieldLimits ?? { certificateBytes: DEFAULT_MAX_CERTIFICATE_BYTES }),
      listFairnessInterceptor(DEFAULT_LIST_CALLS_PER_CALLER),
      ...(options.interceptors ?? []),
    ],
    contextValues: peers.contextValues,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    fallback: endpoints,
    onParseFailure: (method) => metrics.record(method, 'INVALID_ARGUMENT', 0),
    logger: log,
  });

  const limits = options.connectionLimits ?? DEFAULT_CONNECTION_LIMITS;
  const server = createSecureServer({
    ...contextOptions,
    requestCert: true,
    rejectUnauthorized: false,
    allowHTTP1: true,
    ...serverOptions(limits, options.maxMessageBytes),
  });
  guardConnections(server, limits, options.maxMessageBytes);

  let inFlight = 0;
  // Wakes whoever waits in close() whenever a call ends or a connection closes.
  const waiters = new Set<() => void>();
  const changed = () => {
    for (const w of waiters) w();
  };
  const waitUntil = (condition: () => boolean, deadline: number) =>
    new Promise<void>((resolve) => {
      if (condition() || Date.now() >= deadline) return resolve();
      const timer = setTimeout(finish, deadline - Date.now());
      function finish() {
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      }
      function check() {
        if (condition()) finish();
      }
      waiters.add(check);
    });
  server.on('request', (req, res) => {
    inFlight++;
    // A call is over once its response is ended: HTTP/2 holds back 'finish'
    // while a request body the handler refused to read (an oversized
    // message) is still pending. 'close' covers calls aborted before that.
    let done = false;
    const guard = guardRequest(req, res, limits);
    const finished = () => {
      if (done) return;
      done = true;
      inFlight--;
      changed();
    };
    const end = res.end;
    res.end = function (this: typeof res, ...args: unknown[]) {
      finished();
      const out = (end as (...a: unknown[]) => typeof res).apply(this, args);
      guard.responseEnded();
      return out;
    } as typeof res.end;
    res.once('close', finished);
    handler(req, res);
  });
  const sessions = new Set<ServerHttp2Session>();
  server.on('session', (session: ServerHttp2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (!accepting) session.close();
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      changed();
    });
  });
  const http1Sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1Sockets.add(socket);
    socket.once('close', () => http1Sockets.delete(socket));
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    // A TLS 1.2 client or a port scanner: worth a debug line, not a warning.
    log.debug({ code: err.code }, 'TLS handshake failed');
  });

  const address = await listenOn(server, options.listen);
  let metricsServer: HttpServer | undefined;
  let metricsAddress: ListenAddress | undefined;
  if (options.metricsListen) {
    metricsServer = createHttpServer((req, res) => endpoints(req, res));
    metricsAddress = await listenOn(metricsServer, options.metricsListen);
  }

  let reloading: Promise<boolean> | undefined;
  const reloadTrust = (): Promise<boolean> => {
    reloading ??= (async () => {
      try {
        const next = rootSet([...(options.staticRoots ?? []), ...((await options.participantRoots?.()) ?? [])]);
        if (next.digest === roots.digest) return false;
        log.info({ trustedRoots: next.store.size }, 'trusted client roots changed');
        roots = next;
        return true;
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  };

  const refresh =
    options.trustRefreshMs && options.trustRefreshMs > 0
      ? setInterval(() => {
          reloadTrust().catch((err: unknown) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'trust refresh failed'));
        }, options.trustRefreshMs)
      : undefined;
  refresh?.unref();

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      accepting = false;
      if (refresh) clearInterval(refresh);
      const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
      // GOAWAY: clients finish their streams and open no new ones here.
      for (const s of sessions) (s as Http2Session).close();
      const deadline = Date.now() + options.drainTimeoutMs;
      if (inFlight > 0) log.info({ inFlight }, 'draining in-flight calls');
      await waitUntil(() => inFlight === 0, deadline);
      if (inFlight > 0) log.warn({ inFlight }, 'drain timeout: cutting remaining calls');
      // Let the last responses flush: HTTP/2 sessions close by themselves
      // after GOAWAY once their streams end; HTTP/1.1 sockets get a FIN.
      for (const socket of http1Sockets) socket.end();
      await waitUntil(() => sockets.size === 0, Math.min(deadline, Date.now() + FLUSH_GRACE_MS));
      for (const socket of sockets) socket.destroy();
      await stopped;
      if (metricsServer) {
        metricsServer.closeAllConnections();
        await new Promise<void>((resolve) => metricsServer!.close(() => resolve()));
      }
    })();
    return closing;
  };

  return {
    address,
    ...(metricsAddress ? { metricsAddress } : {}),
    metrics,
    reloadTrust,
    close,
  };
}
