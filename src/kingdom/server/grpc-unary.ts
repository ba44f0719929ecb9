/**
 * Unary gRPC over HTTP/2 without Connect's streaming machinery. Connect's
 * gRPC handler runs every call, unary ones too, through a pipeline of async
 * iterables (split, decompress, parse, invoke, serialize, join), which costs
 * more CPU per call than the Kingdom's handlers themselves. Here a unary
 * call is read whole, parsed, run through the same interceptors with
 * Connect's own `invokeUnaryImplementation`, and written with headers, one
 * message and trailers in one go. Status and error details are encoded by
 * Connect's `setTrailerStatus`, so clients see the same bytes either way.
 *
 * Connect marks both functions `@private` (outside semver). They are kept,
 * and pinned: test/kingdom/grpc-unary-contract.test.ts fails on an upgrade
 * that changes their parameters or behaviour, and grpc-unary.test.ts
 * compares whole answers with Connect's own gRPC handler.
 *
 * Only the common case comes here: HTTP/2, POST, binary protobuf, no request
 * compression. Everything else (gRPC-Web, Connect, JSON, gzip) is left to
 * the Connect router.
 */
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { Code, ConnectError, createHandlerContext, type ContextValues, type Interceptor, type MethodImplSpec } from '@connectrpc/connect';
import { createMethodSerializationLookup, invokeUnaryImplementation } from '@connectrpc/connect/protocol';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';

/** The content types this path answers; gRPC's `+json` is not among them. */
const BINARY_CONTENT_TYPE = /^application\/grpc(\+proto)?$/i;
const RESPONSE_CONTENT_TYPE = 'application/grpc+proto';
const ENVELOPE_HEADER_BYTES = 5;

const CALL_COMPLETE = new ConnectError('the call is complete', Code.Canceled);
const CLIENT_GONE = new ConnectError('the client went away', Code.Canceled);

type UnarySpec = MethodImplSpec & { kind: 'unary' };

export interface GrpcUnaryOptions {
  readonly interceptors: readonly Interceptor[];
  readonly readMaxBytes: number;
  readonly writeMaxBytes: number;
  /** Counts a call refused before the interceptors ran (an unparsable body). */
  readonly onParseFailure?: (method: string) => void;
}

/** Whether `req` is a call this path takes: the caller then hands it to `handle`. */
export function isPlainGrpcUnary(req: Http2ServerRequest, spec: MethodImplSpec): spec is UnarySpec {
  if (spec.kind !== 'unary' || req.method !== 'POST') return false;
  const encoding = req.headers['grpc-encoding'];
  if (encoding !== undefined && encoding !== 'identity') return false;
  return BINARY_CONTENT_TYPE.test(req.headers['content-type'] ?? '');
}

export function createGrpcUnaryHandler(options: GrpcUnaryOptions) {
  const interceptors = [...options.interceptors];
  const serializers = new WeakMap<UnarySpec, ReturnType<typeof createMethodSerializationLookup>>();
  const serializerOf = (spec: UnarySpec) => {
    let s = serializers.get(spec);
    if (!s) {
      s = createMethodSerializationLookup(spec.method, undefined, undefined, options);
      serializers.set(spec, s);
    }
    return s;
  };

  return function handle(spec: UnarySpec, req: Http2ServerRequest, res: Http2ServerResponse, values: ContextValues): void {
    const timeoutHeader = req.headers['grpc-timeout'];
    const timeout = parseTimeout(typeof timeoutHeader === 'string' ? timeoutHeader : null, Number.MAX_SAFE_INTEGER);
    const context = createHandlerContext({
      service: spec.method.parent,
      method: spec.method,
      protocolName: 'grpc',
      requestMethod: 'POST',
      url: `https://${req.authority}${req.url}`,
      ...(timeout.timeoutMs !== undefined ? { timeoutMs: timeout.timeoutMs } : {}),
      requestHeader: headersOf(req),
      responseHeader: { 'content-type': RESPONSE_CONTENT_TYPE },
      contextValues: values,
    });

    // The context's signal aborts when the call ends, as Connect's does; a
    // ready-made reason spares building an AbortError for every call.
    res.once('close', () => {
      if (!res.writableFinished) context.abort(CLIENT_GONE);
    });
    const finish = (body: Uint8Array | undefined, error: ConnectError | undefined) => {
      context.abort(error ?? CALL_COMPLETE);
      if (res.destroyed) return;
      setTrailerStatus(context.responseTrailer, error);
      res.writeHead(200, Object.fromEntries(context.responseHeader));
      res.addTrailers(Object.fromEntries(context.responseTrailer));
      if (body) res.end(body);
      else res.end();
    };
    const fail = (err: unknown) =>
      finish(undefined, err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal, undefined, undefined, err));

    if (timeout.error) return fail(timeout.error);
    readEnvelope(req, options.readMaxBytes).then(
      async (payload) => {
        const serialization = serializerOf(spec);
        let input;
        try {
          input = serialization.getI(true).parse(payload);
        } catch (err) {
          // Connect calls this INTERNAL; the bytes are the caller's fault.
          options.onParseFailure?.(`${spec.method.parent.typeName}/${spec.method.name}`);
          const message = err instanceof ConnectError ? err.rawMessage : String(err);
          throw new ConnectError(message, Code.InvalidArgument);
        }
        const output = await invokeUnaryImplementation(spec, context, input, interceptors);
        const bytes = serialization.getO(true).serialize(output);
        finish(envelope(bytes), undefined);
      },
    ).catch(fail);
  };
}

/** The request headers as a Headers init, without HTTP/2 pseudo-headers. */
function headersOf(req: Http2ServerRequest): [string, string][] {
  const out: [string, string][] = [];
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else out.push([name, value]);
  }
  return out;
}

function envelope(message: Uint8Array): Uint8Array {
  const out = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  out.set(message, ENVELOPE_HEADER_BYTES);
  return out;
}

/**
 * The one message of a unary request body, with the errors Connect gives for
 * a body that is not exactly one uncompressed envelope. A declared length
 * over the limit is refused before the rest of the body is read.
 */
function readEnvelope(req: Http2ServerRequest, readMaxBytes: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let declared: number | undefined;
    const stop = (err: ConnectError) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.pause();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (declared === undefined && received >= ENVELOPE_HEADER_BYTES) {
        const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
        if (head[0] !== 0) {
          return stop(new ConnectError('received compressed envelope, but do not know how to decompress', Code.Internal));
        }
        declared = head.readUInt32BE(1);
        if (declared > readMaxBytes) {
          return stop(new ConnectError(`message size ${declared} is larger than configured readMaxBytes ${readMaxBytes}`, Code.ResourceExhausted));
        }
      }
      if (declared !== undefined && received > ENVELOPE_HEADER_BYTES + declared) {
        stop(new ConnectError('protocol error: received extra input message for unary method', Code.Unimplemented));
      }
    };
    const onEnd = () => {
      if (received === 0) return reject(new ConnectError('protocol error: missing input message for unary method', Code.Unimplemented));
      if (declared === undefined) return reject(new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument));
      if (received < ENVELOPE_HEADER_BYTES + declared) {
        return reject(new ConnectError(`protocol error: promised ${declared} bytes, received ${received - ENVELOPE_HEADER_BYTES}`, Code.InvalidArgument));
      }
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      resolve(body.subarray(ENVELOPE_HEADER_BYTES));
    };
    const onError = (err: Error) => reject(new ConnectError(err.message, Code.Canceled));
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('error', onError);
  });
}
