/**
 * What a hostile client does to the Kingdom's front, as reusable pieces for
 * the tests in this folder and the `kingdom-attacks` bench: floods of
 * distinct API keys, TLS connections that never finish their handshake, and
 * streams that never finish their request.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { constants, type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import { create, toBinary } from '@bufbuild/protobuf';
import { GetDataProviderRequestSchema } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { grpcEnvelope, grpcUnaryRaw } from '../kingdom/h2-grpc.js';

export const GET_DATA_PROVIDER = '/wfa.measurement.api.v2alpha.DataProviders/GetDataProvider';
export const CREATE_CERTIFICATE = '/wfa.measurement.api.v2alpha.Certificates/CreateCertificate';

export function getDataProviderBody(name: string): Buffer {
  return grpcEnvelope(toBinary(GetDataProviderRequestSchema, create(GetDataProviderRequestSchema, { name })));
}

/**
 * Sends `count` GetDataProvider calls, each with its own random `x-api-key`
 * of `keyBytes` characters, `concurrency` at a time on one session. Resolves
 * with the gRPC status of each answer, counted.
 */
export async function floodApiKeys(
  session: ClientHttp2Session,
  options: { count: number; keyBytes: number; concurrency: number; dataProvider: string; stop?: () => boolean },
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  const body = getDataProviderBody(options.dataProvider);
  const filler = 'k'.repeat(Math.max(0, options.keyBytes - 16));
  let next = 0;
  const worker = async () => {
    while (next < options.count && !options.stop?.()) {
      const i = next++;
      const key = `${filler}${i.toString(36).padStart(16, '0')}`;
      const answer = await grpcUnaryRaw(session, GET_DATA_PROVIDER, body, { 'x-api-key': key });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  return statuses;
}

/** TCP connections that send the first bytes of a TLS ClientHello and then nothing. */
export function stalledHandshakes(port: number, count: number): Promise<Socket[]> {
  // A record header announcing a 512-byte handshake message, then 3 bytes of it.
  const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01]);
  return Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve, reject) => {
          const socket = netConnect(port, '127.0.0.1', () => {
            socket.write(partialHello);
            resolve(socket);
          });
          socket.once('error', reject);
        }),
    ),
  ).then((sockets) => {
    for (const s of sockets) s.on('error', () => {});
    return sockets;
  });
}

/** How many of `sockets` the server has not closed yet. */
export function stillOpen(sockets: readonly Socket[]): number {
  return sockets.filter((s) => !s.destroyed && !s.readableEnded).length;
}

/**
 * A call whose request never ends: headers and the first `sentBytes` of a
 * message that declares `declaredBytes`. Resolves when the server closes
 * the stream, with its reset code and grpc-status (if it sent one).
 */
export function unfinishedCall(
  session: ClientHttp2Session,
  path: string,
  options: { declaredBytes: number; sentBytes: number },
): { stream: ClientHttp2Stream; closed: Promise<{ rstCode: number; status?: number }> } {
  const stream = session.request({
    [constants.HTTP2_HEADER_METHOD]: 'POST',
    [constants.HTTP2_HEADER_PATH]: path,
    'content-type': 'application/grpc+proto',
    te: 'trailers',
  });
  let status: number | undefined;
  stream.on('response', (h) => {
    if (h['grpc-status'] !== undefined) status = Number(h['grpc-status']);
  });
  stream.on('trailers', (t) => {
    if (t['grpc-status'] !== undefined) status = Number(t['grpc-status']);
  });
  stream.on('data', () => {});
  stream.on('error', () => {});
  const head = Buffer.alloc(5);
  head.writeUInt32BE(options.declaredBytes, 1);
  stream.write(Buffer.concat([head, Buffer.alloc(Math.max(0, options.sentBytes))]));
  const closed = new Promise<{ rstCode: number; status?: number }>((resolve) =>
    stream.once('close', () => resolve({ rstCode: stream.rstCode ?? 0, ...(status !== undefined ? { status } : {}) })),
  );
  return { stream, closed };
}

/** Resolves with `value`, or rejects after `ms` saying what did not happen: a liveness guard, not a timing. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
    }),
  ]);
}
