/**
 * gRPC unary calls written by hand over node:http2 and mTLS: the request
 * body is sent exactly as given and the answer comes back whole (headers,
 * trailers, body bytes). Tests use it to send what no gRPC library would,
 * and the bench as a load generator that costs the caller as little CPU as
 * a gRPC call can.
 */
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';

export interface H2Target {
  readonly port: number;
  /** PEM of the roots that issued the server's certificate. */
  readonly ca: string;
  readonly servername: string;
  readonly cert?: string;
  readonly key?: string;
}

export function connectH2(target: H2Target): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = connect(`https://127.0.0.1:${target.port}`, {
      ca: target.ca,
      servername: target.servername,
      minVersion: 'TLSv1.3',
      ...(target.cert && target.key ? { cert: target.cert, key: target.key } : {}),
    });
    session.once('error', reject);
    session.once('connect', () => {
      session.off('error', reject);
      resolve(session);
    });
  });
}

/** One length-prefixed message; `flag` 1 claims it is compressed. */
export function grpcEnvelope(message: Uint8Array, flag = 0): Buffer {
  const out = Buffer.alloc(5 + message.length);
  out[0] = flag;
  out.writeUInt32BE(message.length, 1);
  out.set(message, 5);
  return out;
}

export interface RawGrpcAnswer {
  readonly headers: IncomingHttpHeaders;
  readonly trailers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** grpc-status, from the trailers or from a trailers-only answer's headers. */
  readonly status: number;
  /** grpc-message, percent-decoded. */
  readonly message: string;
  /** The payload of the body's one envelope, if it has one. */
  readonly payload?: Buffer;
}

export function grpcUnaryRaw(
  session: ClientHttp2Session,
  path: string,
  body: Uint8Array,
  headers: Record<string, string> = {},
): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      [constants.HTTP2_HEADER_METHOD]: 'POST',
      [constants.HTTP2_HEADER_PATH]: path,
      'content-type': 'application/grpc+proto',
      te: 'trailers',
      ...headers,
    });
    let responseHeaders: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (responseHeaders = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('error', reject);
    stream.on('close', () => {
      const status = trailers['grpc-status'] ?? responseHeaders['grpc-status'];
      if (status === undefined) return reject(new Error(`no grpc-status (HTTP ${String(responseHeaders[':status'])}, stream code ${stream.rstCode})`));
      const answerBody = Buffer.concat(chunks);
      const message = trailers['grpc-message'] ?? responseHeaders['grpc-message'];
      const payload = answerBody.length >= 5 && answerBody.length === 5 + answerBody.readUInt32BE(1) ? answerBody.subarray(5) : undefined;
      resolve({
        headers: responseHeaders,
        trailers,
        body: answerBody,
        status: Number(status),
        message: typeof message === 'string' ? decodeURIComponent(message) : '',
        ...(payload ? { payload } : {}),
      });
    });
    stream.end(body);
  });
}
