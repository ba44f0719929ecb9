/**
 * The Node request handler over the Connect router, as connectNodeAdapter
 * builds it, with one correction: Connect answers a request body that is
 * not valid protobuf with INTERNAL ("parse binary: ..."), which blames the
 * server for the caller's bytes. CMMS callers must get INVALID_ARGUMENT, so
 * that status is rewritten on the way out for each protocol: the gRPC
 * trailer (or trailers-only header), the gRPC-Web trailer frame, and the
 * Connect unary error body.
 *
 * Plain unary gRPC calls (the bulk of the traffic) skip the router and go
 * to grpc-unary.ts, which answers them the same way with less CPU.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import {
  Code,
  ConnectError,
  createConnectRouter,
  createServiceImplSpec,
  type ConnectRouter,
  type ConnectRouterOptions,
  type ContextValues,
  type MethodImplSpec,
} from '@connectrpc/connect';
import type { UniversalServerResponse } from '@connectrpc/connect/protocol';
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from '@connectrpc/connect-node';
import { packedMessageRegistry } from '../../api/index.js';
import { createGrpcUnaryHandler, isPlainGrpcUnary } from './grpc-unary.js';
import type { Logger } from './logger.js';

type NodeRequest = IncomingMessage | Http2ServerRequest;
type NodeResponse = ServerResponse | Http2ServerResponse;

export interface NodeHandlerOptions extends ConnectRouterOptions {
  readonly routes: (router: ConnectRouter) => void;
  readonly contextValues: (req: NodeRequest) => ContextValues;
  /** Anything that is not an RPC path. */
  readonly fallback: (req: NodeRequest, res: NodeResponse) => void;
  /** Called for calls refused before any interceptor ran (body not parsable). */
  readonly onParseFailure?: (method: string) => void;
  readonly logger: Logger;
}

const PARSE_FAILURE = 'parse binary';
const GRPC_INTERNAL = String(Code.Internal);
const GRPC_INVALID_ARGUMENT = String(Code.InvalidArgument);

function isParseFailure(message: string | null | undefined): boolean {
  if (!message) return false;
  let text = message;
  try {
    text = decodeURIComponent(message);
  } catch {
    // not percent-encoded
  }
  return text.startsWith(PARSE_FAILURE);
}

/** gRPC: status in the trailers, or in the headers of a trailers-only response. */
function fixGrpcHeaders(headers: Headers | undefined): boolean {
  if (headers?.get('grpc-status') === GRPC_INTERNAL && isParseFailure(headers.get('grpc-message'))) {
    headers.set('grpc-status', GRPC_INVALID_ARGUMENT);
    return true;
  }
  return false;
}

/** gRPC-Web: the trailers are the body's last frame (flag 0x80, length, HTTP/1 header lines). */
function fixGrpcWebFrame(chunk: Uint8Array): Uint8Array {
  // Only a lone trailer frame can carry this; a chunk with data frames first is left alone.
  if (chunk.length < 5 || chunk[0] !== 0x80) return chunk;
  const text = Buffer.from(chunk.subarray(5)).toString('latin1');
  const status = /(^|\r\n)grpc-status:\s*13(\r\n|$)/i.test(text);
  const message = /(?:^|\r\n)grpc-message:\s*([^\r]*)/i.exec(text)?.[1];
  if (!status || !isParseFailure(message)) return chunk;
  const fixed = Buffer.from(text.replace(/((?:^|\r\n)grpc-status:\s*)13/i, `$1${GRPC_INVALID_ARGUMENT}`), 'latin1');
  const out = Buffer.alloc(5 + fixed.length);
  out[0] = 0x80;
  out.writeUInt32BE(fixed.length, 1);
  fixed.copy(out, 5);
  return out;
}

async function* mapBody(body: AsyncIterable<Uint8Array>, fn: (chunk: Uint8Array) => Uint8Array): AsyncIterable<Uint8Array> {
  for await (const chunk of body) yield fn(chunk);
}

async function* afterBody(body: AsyncIterable<Uint8Array>, done: () => void): AsyncIterable<Uint8Array> {
  yield* body;
  done();
}

/** Connect unary errors: HTTP 500 with a small JSON body {code, message}. */
async function fixConnectUnary(res: UniversalServerResponse): Promise<UniversalServerResponse | undefined> {
  if (res.status !== 500 || !res.body || !(res.header?.get('content-type') ?? '').startsWith('application/json')) return undefined;
  if (res.header?.get('content-encoding')) return undefined;
  const chunks: Uint8Array[] = [];
  for await (const c of res.body) chunks.push(c);
  const bytes = Buffer.concat(chunks);
  let parsed: { code?: string; message?: string } | undefined;
  try {
    parsed = JSON.parse(bytes.toString('utf8')) as { code?: string; message?: string };
  } catch {
    parsed = undefined;
  }
  if (parsed?.code !== 'internal' || !isParseFailure(parsed.message)) {
    return { ...res, body: (async function* () { yield bytes; })() };
  }
  const fixed = Buffer.from(JSON.stringify({ ...parsed, code: 'invalid_argument' }), 'utf8');
  res.header?.set('content-length', String(fixed.length));
  return { ...res, status: 400, body: (async function* () { yield fixed; })() };
}

async function fixParseFailureStatus(res: UniversalServerResponse, onFixed: () => void): Promise<UniversalServerResponse> {
  const type = res.header?.get('content-type') ?? '';
  if (type.startsWith('application/grpc-web')) {
    if (!res.body) return res;
    return {
      ...res,
      body: mapBody(res.body, (chunk) => {
        const out = fixGrpcWebFrame(chunk);
        if (out !== chunk) onFixed();
        return out;
      }),
    };
  }
  if (type.startsWith('application/grpc')) {
    if (fixGrpcHeaders(res.header)) onFixed();
    if (!res.body) return res;
    // Trailers are complete once the body is; the Node writer adds them after it.
    return { ...res, body: afterBody(res.body, () => fixGrpcHeaders(res.trailer) && onFixed()) };
  }
  const fixed = await fixConnectUnary(res);
  if (fixed && fixed.status === 400) onFixed();
  return fixed ?? res;
}

/**
 * Lets `routes` register on the Connect router and keeps each method's
 * implementation spec, keyed by request path, for the plain unary gRPC path.
 */
function recordingRouter(router: ConnectRouter, specs: Map<string, MethodImplSpec>): ConnectRouter {
  return {
    get handlers() {
      return router.handlers;
    },
    service(service, impl, options) {
      for (const spec of Object.values(createServiceImplSpec(service, impl).methods)) {
        specs.set(`/${service.typeName}/${spec.method.name}`, spec);
      }
      return router.service(service, impl, options);
    },
    rpc(method, impl, options) {
      specs.set(`/${method.parent.typeName}/${method.name}`, { kind: method.methodKind, method, impl } as MethodImplSpec);
      return router.rpc(method, impl, options);
    },
  };
}

export function createNodeHandler(options: NodeHandlerOptions): (req: NodeRequest, res: NodeResponse) => void {
  // Connect/JSON writes and reads Any fields: the registry must hold every packed type.
  const router = createConnectRouter({
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: { registry: packedMessageRegistry },
    ...options,
  });
  const specs = new Map<string, MethodImplSpec>();
  options.routes(recordingRouter(router, specs));
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h]));
  const grpcUnary = createGrpcUnaryHandler({
    interceptors: options.interceptors ?? [],
    readMaxBytes: options.readMaxBytes ?? 0xffffffff,
    writeMaxBytes: options.writeMaxBytes ?? 0xffffffff,
    ...(options.onParseFailure ? { onParseFailure: options.onParseFailure } : {}),
  });
  return (req, res) => {
    const path = (req.url ?? '').split('?', 2)[0] ?? '';
    const handler = paths.get(path);
    if (!handler) {
      options.fallback(req, res);
      return;
    }
    const method = `${handler.service.typeName}/${handler.method.name}`;
    try {
      const spec = req.httpVersionMajor === 2 ? specs.get(path) : undefined;
      if (spec && isPlainGrpcUnary(req as Http2ServerRequest, spec)) {
        grpcUnary(spec, req as Http2ServerRequest, res as Http2ServerResponse, options.contextValues(req));
        return;
      }
      const uReq = universalRequestFromNodeRequest(req, res as never, undefined, options.contextValues(req));
      handler(uReq)
        .then((uRes) => fixParseFailureStatus(uRes, () => options.onParseFailure?.(method)))
        .then((uRes) => universalResponseToNodeResponse(uRes, res as never))
        .catch((reason: unknown) => {
          if (ConnectError.from(reason).code === Code.Aborted) return;
          options.logger.error({ method, err: reason instanceof Error ? reason.message : String(reason) }, 'RPC handler failed');
        });
    } catch (err) {
      // A request the adapters cannot even represent (its headers, say): refuse it, never crash the server.
      options.logger.warn({ method, err: err instanceof Error ? err.message : String(err) }, 'request refused before dispatch');
      if (res.headersSent) res.destroy();
      else res.writeHead(400).end();
    }
  };
}
