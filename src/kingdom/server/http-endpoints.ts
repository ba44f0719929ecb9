/**
 * The two plain-HTTP endpoints beside the RPCs, on the same port (the
 * connect adapter hands them any path that is not an RPC) and optionally on
 * a separate plain-HTTP `--metrics-listen` port for scrapers without client
 * TLS:
 *   GET /healthz  200 "ok" when the store answers, 503 otherwise
 *   GET /metrics  Prometheus text format
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';

/** The paths served beside the RPCs (probes and scrapers are configured with these). */
export const HEALTH_PATH = '/healthz';
export const METRICS_PATH = '/metrics';

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

export interface HttpEndpointOptions {
  readonly health: () => Promise<void>;
  readonly registry: Registry;
  readonly logger: Logger;
  /** False while shutting down, so load balancers stop routing here first. */
  readonly accepting: () => boolean;
}

function send(res: Res, status: number, contentType: string, body: string): void {
  (res as ServerResponse).writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  (res as ServerResponse).end(body);
}

export function httpEndpoints(options: HttpEndpointOptions): (req: Req, res: Res) => void {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(res, path === HEALTH_PATH || path === METRICS_PATH ? 405 : 404, 'text/plain', 'not found\n');
      return;
    }
    if (path === HEALTH_PATH) {
      if (!options.accepting()) {
        send(res, 503, 'text/plain', 'shutting down\n');
        return;
      }
      options.health().then(
        () => send(res, 200, 'text/plain', 'ok\n'),
        (err: unknown) => {
          options.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'health check failed');
          send(res, 503, 'text/plain', 'store unavailable\n');
        },
      );
      return;
    }
    if (path === METRICS_PATH) {
      options.registry.metrics().then(
        (text) => send(res, 200, options.registry.contentType, text),
        () => send(res, 500, 'text/plain', 'metrics unavailable\n'),
      );
      return;
    }
    send(res, 404, 'text/plain', 'not found\n');
  };
}
