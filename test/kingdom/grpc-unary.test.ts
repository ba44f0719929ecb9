/**
 * The plain unary gRPC path (grpc-unary.ts) against Connect's own gRPC
 * handler, over a real TLS socket: every request is sent twice with the
 * same bytes, once as plain gRPC (our path) and once with `grpc-encoding:
 * gzip`, which Connect's router serves (an envelope with the compressed flag
 * clear is valid under any encoding). Answers, headers, trailers and error
 * details must be the same.
 */
import assert from 'node:assert/strict';
import type { ClientHttp2Session, Http2ServerRequest } from 'node:http2';
import { after, before, describe, test } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, createContextValues, createServiceImplSpec, type ConnectRouter } from '@connectrpc/connect';
import { CertificateSchema } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates, GetCertificateRequestSchema } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../../src/lib/clock.js';
import { ensureDevTls, type ServerTlsMaterial } from '../../src/kingdom/server/bootstrap.js';
import { isPlainGrpcUnary } from '../../src/kingdom/server/grpc-unary.js';
import { silentLogger } from '../../src/kingdom/server/logger.js';
import { createNodeHandler } from '../../src/kingdom/server/node-handler.js';
import { startKingdomServer, type KingdomServer } from '../../src/kingdom/server/server.js';
import { rpcError } from '../../src/kingdom/service/errors.js';
import { connectH2, grpcEnvelope, grpcUnaryRaw, type RawGrpcAnswer } from './h2-grpc.js';
import { participantPki, scratchDir } from './server-fixtures.js';

const GET = '/wfa.measurement.api.v2alpha.Certificates/GetCertificate';
const MAX_MESSAGE_BYTES = 64 * 1024;

function routes(router: ConnectRouter): void {
  router.service(Certificates, {
    async getCertificate(req, ctx) {
      ctx.responseHeader.set('x-seen-name', req.name);
      ctx.responseTrailer.set('x-trailer', 'kept');
      if (req.name === 'missing') throw rpcError(Code.NotFound, 'CERTIFICATE_NOT_FOUND', 'Certificate not found.', { certificate: 'x/1' });
      if (req.name === 'bug') throw new Error('a message the caller must not see');
      const timeout = ctx.timeoutMs();
      return create(CertificateSchema, { name: timeout === undefined ? 'no deadline' : `deadline ${Math.round(timeout / 1000)}s`, x509Der: new Uint8Array([1, 2, 3]) });
    },
  });
}

const request = (name: string) => grpcEnvelope(toBinary(GetCertificateRequestSchema, create(GetCertificateRequestSchema, { name })));

describe('plain unary gRPC path', () => {
  const dir = scratchDir();
  let tls: ServerTlsMaterial;
  let server: KingdomServer;
  let session: ClientHttp2Session;

  before(async () => {
    tls = ensureDevTls(dir.dir, systemClock);
    const dp = participantPki('Edp Unary');
    server = await startKingdomServer({
      listen: { host: '127.0.0.1', port: 0 },
      tls,
      routes,
      participantRoots: async () => [dp.root.der],
      health: async () => {},
      maxMessageBytes: MAX_MESSAGE_BYTES,
      drainTimeoutMs: 5000,
      logger: silentLogger(),
    });
    session = await connectH2({
      port: server.address.port,
      ca: tls.certPem.slice(tls.certPem.indexOf('-----BEGIN CERTIFICATE-----', 10)),
      servername: 'localhost',
      cert: dp.tls.certPem,
      key: dp.tls.keyPem,
    });
  });

  after(async () => {
    session.close();
    await server.close();
    dir.remove();
  });

  /** The same bytes through our path and through Connect's. */
  async function both(body: Uint8Array, headers: Record<string, string> = {}): Promise<[RawGrpcAnswer, RawGrpcAnswer]> {
    const ours = await grpcUnaryRaw(session, GET, body, headers);
    const connect = await grpcUnaryRaw(session, GET, body, { ...headers, 'grpc-encoding': 'gzip', 'grpc-accept-encoding': 'identity' });
    return [ours, connect];
  }

  function assertSameStatus(ours: RawGrpcAnswer, connect: RawGrpcAnswer, code: Code): void {
    assert.equal(ours.status, code, ours.message);
    assert.equal(connect.status, code, connect.message);
    assert.equal(ours.message, connect.message);
    const details = (a: RawGrpcAnswer) => a.trailers['grpc-status-details-bin'] ?? a.headers['grpc-status-details-bin'];
    assert.equal(details(ours), details(connect));
  }

  test('a successful call: the same message, headers and trailers', async () => {
    const [ours, connect] = await both(request('ok'));
    assertSameStatus(ours, connect, 0 as Code);
    assert.ok(ours.payload && connect.payload);
    assert.deepEqual(ours.payload, connect.payload);
    assert.equal(fromBinary(CertificateSchema, ours.payload).name, 'no deadline');
    assert.equal(ours.headers['content-type'], connect.headers['content-type']);
    assert.equal(ours.headers['x-seen-name'], 'ok');
    assert.equal(connect.headers['x-seen-name'], 'ok');
    assert.equal(ours.trailers['x-trailer'], 'kept');
    assert.equal(connect.trailers['x-trailer'], 'kept');
  });

  test('a handler error keeps its code, message and ErrorInfo details byte for byte', async () => {
    const [ours, connect] = await both(request('missing'));
    assertSameStatus(ours, connect, Code.NotFound);
    assert.ok(ours.trailers['grpc-status-details-bin'], 'details are sent');
  });

  test('an unexpected error is INTERNAL without its message', async () => {
    const [ours, connect] = await both(request('bug'));
    assertSameStatus(ours, connect, Code.Internal);
    assert.doesNotMatch(ours.message, /must not see/);
  });

  test('grpc-timeout reaches the handler; a malformed one is refused', async () => {
    const [ours, connect] = await both(request('ok'), { 'grpc-timeout': '30S' });
    assert.equal(fromBinary(CertificateSchema, ours.payload!).name, 'deadline 30s');
    assert.equal(fromBinary(CertificateSchema, connect.payload!).name, 'deadline 30s');
    const [badOurs, badConnect] = await both(request('ok'), { 'grpc-timeout': 'soon' });
    assert.notEqual(badOurs.status, 0);
    assertSameStatus(badOurs, badConnect, badConnect.status as Code);
  });

  test('a body that is not protobuf is INVALID_ARGUMENT on both paths', async () => {
    const [ours, connect] = await both(grpcEnvelope(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])));
    assert.equal(ours.status, Code.InvalidArgument);
    assert.equal(connect.status, Code.InvalidArgument);
  });

  const malformed: [string, Uint8Array][] = [
    ['an empty body', new Uint8Array(0)],
    ['a cut envelope header', Buffer.from([0, 0, 0])],
    ['an envelope promising more bytes than sent', Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), Buffer.from([0x0a, 0x01])])],
    ['two envelopes for a unary method', Buffer.concat([request('a'), request('b')])],
  ];
  for (const [what, body] of malformed) {
    test(`${what}: the same error as Connect's handler`, async () => {
      const [ours, connect] = await both(body);
      assert.notEqual(connect.status, 0);
      assert.equal(ours.status, connect.status, `${ours.message} / ${connect.message}`);
    });
  }

  test('a declared length over the limit is RESOURCE_EXHAUSTED before the body is read', async () => {
    const head = Buffer.from([0, 0, 0, 0, 0]);
    head.writeUInt32BE(MAX_MESSAGE_BYTES + 1, 1);
    const [ours, connect] = await both(Buffer.concat([head, Buffer.alloc(1024)]));
    assert.equal(ours.status, Code.ResourceExhausted, ours.message);
    assert.equal(connect.status, Code.ResourceExhausted, connect.message);
    // The connection still serves calls afterwards.
    assert.equal((await grpcUnaryRaw(session, GET, request('ok'))).status, 0);
  });

  test('a compressed flag with no grpc-encoding is INTERNAL, as Connect answers it', async () => {
    const answer = await grpcUnaryRaw(session, GET, grpcEnvelope(Buffer.from([0x0a, 0x00]), 1));
    assert.equal(answer.status, Code.Internal);
  });

  test('a request whose headers the adapters refuse gets HTTP 400, and the server keeps running', () => {
    const handler = createNodeHandler({
      routes,
      contextValues: () => createContextValues(),
      fallback: () => assert.fail('not a fallback path'),
      logger: silentLogger(),
    });
    // The Fetch Headers class that both paths build refuses some header names.
    const req = { url: GET, httpVersionMajor: 2, method: 'POST', authority: 'localhost', headers: { 'content-type': 'application/grpc', 'x-odd{': 'v' } };
    const res = {
      headersSent: false,
      status: 0,
      ended: false,
      once() {},
      writeHead(status: number) {
        this.status = status;
        return this;
      },
      end() {
        this.ended = true;
      },
    };
    handler(req as never, res as never);
    assert.equal(res.status, 400);
    assert.ok(res.ended);
  });

  test('only plain binary unary POSTs take this path', () => {
    const spec = createServiceImplSpec(Certificates, {}).methods.getCertificate!;
    const req = (method: string, headers: Record<string, string>) => ({ method, headers }) as unknown as Http2ServerRequest;
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/grpc' }), spec), true);
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/grpc+proto', 'grpc-encoding': 'identity' }), spec), true);
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/grpc+proto', 'grpc-encoding': 'gzip' }), spec), false);
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/grpc+json' }), spec), false);
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/grpc-web+proto' }), spec), false);
    assert.equal(isPlainGrpcUnary(req('POST', { 'content-type': 'application/proto' }), spec), false);
    assert.equal(isPlainGrpcUnary(req('GET', { 'content-type': 'application/grpc' }), spec), false);
  });
});
