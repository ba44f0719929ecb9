/**
 * The server front over real TLS sockets, with a test-local route standing
 * in for the Kingdom services (they are tested end to end elsewhere): who the
 * transport says is calling, TLS 1.3 only, health and metrics, trust reload,
 * message limits, graceful drain, and the client's typed errors.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, type ConnectRouter } from '@connectrpc/connect';
import { KingdomClientError, createKingdomClient, type KingdomClientOptions } from '../../src/client/index.js';
import { CertificateSchema, type Certificate } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../../src/lib/clock.js';
import { ensureDevTls, type ServerTlsMaterial } from '../../src/kingdom/server/bootstrap.js';
import { silentLogger } from '../../src/kingdom/server/logger.js';
import { startKingdomServer, type KingdomServer } from '../../src/kingdom/server/server.js';
import { peerKey } from '../../src/kingdom/service/authentication.js';
import { unauthenticated } from '../../src/kingdom/service/errors.js';
import { grpc, grpcRaw, participantPki, scratchDir, type ParticipantPki } from './server-fixtures.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Gate {
  entered: Promise<void>;
  release(): void;
}

let gate: { onEnter: () => void; wait: Promise<void> } | undefined;

/** GetCertificate reports who the transport says is calling; `name: "unauth"` demands a caller. */
function routes(router: ConnectRouter): void {
  router.service(Certificates, {
    async getCertificate(req, ctx) {
      const peer = ctx.values.get(peerKey);
      if (req.name === 'unauth' && !peer.clientCertificate) throw unauthenticated();
      if (req.name === 'slow' && gate) {
        gate.onEnter();
        await gate.wait;
      }
      return create(CertificateSchema, {
        name: peer.clientCertificate ? `cert:${sha(peer.clientCertificate)}` : 'none',
        subjectKeyIdentifier: new TextEncoder().encode(peer.apiKey ?? ''),
      });
    },
    async createCertificate(req) {
      return create(CertificateSchema, { name: `size:${req.certificate?.x509Der.length ?? 0}` });
    },
  });
}

describe('Kingdom server transport', () => {
  const dir = scratchDir();
  let tls: ServerTlsMaterial;
  let dp: ParticipantPki;
  let late: ParticipantPki;
  let stranger: ParticipantPki;
  const participantRoots: Uint8Array[] = [];
  let server: KingdomServer;
  let target: string;
  let healthy = true;

  const clientOptions = (extra: Partial<KingdomClientOptions> = {}): KingdomClientOptions => ({
    target,
    trustedRoots: tls.certPem.slice(tls.certPem.indexOf('-----BEGIN CERTIFICATE-----', 10)),
    ...extra,
  });
  const asDp = (extra: Partial<KingdomClientOptions> = {}) =>
    createKingdomClient(clientOptions({ clientCertificate: dp.tls.certPem, clientKey: dp.tls.keyPem, ...extra }));

  before(async () => {
    tls = ensureDevTls(dir.dir, systemClock);
    dp = participantPki('Edp One');
    late = participantPki('Late Edp');
    stranger = participantPki('Stranger');
    participantRoots.push(dp.root.der);
    server = await startKingdomServer({
      listen: { host: '127.0.0.1', port: 0 },
      tls,
      routes,
      participantRoots: async () => [...participantRoots],
      health: async () => {
        if (!healthy) throw new Error('store down');
      },
      maxMessageBytes: 64 * 1024,
      drainTimeoutMs: 10_000,
      logger: silentLogger(),
    });
    target = `127.0.0.1:${server.address.port}`;
  });

  after(async () => {
    await server.close();
    dir.remove();
  });

  test('listens on the real port when asked for port 0', () => {
    assert.ok(server.address.port > 0);
  });

  test('a trusted client certificate reaches the handlers as the leaf DER', async () => {
    const res = await asDp().certificates.getCertificate({ name: 'x' });
    assert.equal(res.name, `cert:${sha(dp.tls.der)}`);
  });

  test('a client that sends its whole chain is still identified by its leaf', async () => {
    const res = await asDp({ clientCertificate: dp.tls.certPem + dp.rootPem }).certificates.getCertificate({ name: 'x' });
    assert.equal(res.name, `cert:${sha(dp.tls.der)}`);
  });

  test('no client certificate or an untrusted one: no identity, and UNAUTHENTICATED says why', async () => {
    const anonymous = createKingdomClient(clientOptions());
    assert.equal((await anonymous.certificates.getCertificate({ name: 'x' })).name, 'none');
    await assert.rejects(anonymous.certificates.getCertificate({ name: 'unauth' }), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError);
      assert.equal(err.code, 'UNAUTHENTICATED');
      assert.equal(err.grpcCode, Code.Unauthenticated);
      assert.match(err.message, /no client certificate/);
      return true;
    });
    const untrusted = createKingdomClient(clientOptions({ clientCertificate: stranger.tls.certPem, clientKey: stranger.tls.keyPem }));
    assert.equal((await untrusted.certificates.getCertificate({ name: 'x' })).name, 'none');
    await assert.rejects(untrusted.certificates.getCertificate({ name: 'unauth' }), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError);
      assert.equal(err.code, 'UNAUTHENTICATED');
      assert.match(err.message, /not trusted by the Kingdom/);
      return true;
    });
  });

  test('the x-api-key header reaches the handlers', async () => {
    const res = await createKingdomClient(clientOptions({ apiKey: 'OljiQHRz-E4' })).certificates.getCertificate({ name: 'x' });
    assert.equal(new TextDecoder().decode(res.subjectKeyIdentifier), 'OljiQHRz-E4');
  });

  test('a newly registered root is trusted after reloadTrust, without a restart', async () => {
    const opts = { clientCertificate: late.tls.certPem, clientKey: late.tls.keyPem };
    assert.equal((await createKingdomClient(clientOptions(opts)).certificates.getCertificate({ name: 'x' })).name, 'none');
    assert.equal(await server.reloadTrust(), false);
    participantRoots.push(late.root.der);
    assert.equal(await server.reloadTrust(), true);
    const res = await createKingdomClient(clientOptions(opts)).certificates.getCertificate({ name: 'x' });
    assert.equal(res.name, `cert:${sha(late.tls.der)}`);
  });

  test('a TLS 1.2 client is refused at the handshake', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: server.address.port, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        resolve(`connected with ${socket.getProtocol()}`);
        socket.destroy();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.match(outcome, /^ERR_SSL_/);
  });

  test('the same port speaks Connect over HTTP/1.1 (gRPC-Web and Connect clients)', async () => {
    const body = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          port: server.address.port,
          method: 'POST',
          path: '/wfa.measurement.api.v2alpha.Certificates/GetCertificate',
          headers: { 'content-type': 'application/json' },
          ca: tls.certPem,
          servername: 'localhost',
          cert: dp.tls.certPem,
          key: dp.tls.keyPem,
          minVersion: 'TLSv1.3',
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ name: 'x' }));
    });
    assert.equal(body.status, 200);
    assert.equal((JSON.parse(body.text) as { name: string }).name, `cert:${sha(dp.tls.der)}`);
  });

  test('/healthz follows the store and /metrics counts RPCs by method and code', async () => {
    const get = (path: string) =>
      new Promise<{ status: number; text: string }>((resolve, reject) => {
        httpsRequest({ host: '127.0.0.1', port: server.address.port, path, ca: tls.certPem, servername: 'localhost' }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        })
          .on('error', reject)
          .end();
      });
    assert.equal((await get('/healthz')).status, 200);
    healthy = false;
    assert.equal((await get('/healthz')).status, 503);
    healthy = true;
    const metrics = await get('/metrics');
    assert.equal(metrics.status, 200);
    assert.match(metrics.text, /kingdom_rpc_requests_total\{method="wfa.measurement.api.v2alpha.Certificates\/GetCertificate",code="OK"\} \d+/);
    assert.match(metrics.text, /kingdom_rpc_requests_total\{[^}]*code="UNAUTHENTICATED"\} [1-9]/);
    assert.match(metrics.text, /kingdom_process_resident_memory_bytes \d+/);
    assert.equal((await get('/nothing')).status, 404);
  });

  test('a request larger than the limit is RESOURCE_EXHAUSTED', async () => {
    const small = await asDp().certificates.createCertificate({ parent: 'x', certificate: { x509Der: new Uint8Array(1000) } });
    assert.equal(small.name, 'size:1000');
    await assert.rejects(
      asDp().certificates.createCertificate({ parent: 'x', certificate: { x509Der: new Uint8Array(100 * 1024) } }),
      (err: unknown) => err instanceof KingdomClientError && err.grpcCode === Code.ResourceExhausted,
    );
  });

  test('a body that is not protobuf is INVALID_ARGUMENT in gRPC, gRPC-Web and Connect (Connect itself says INTERNAL)', async () => {
    const garbage = Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    const client = new grpc.Client(target, grpc.credentials.createSsl(Buffer.from(tls.certPem), Buffer.from(dp.tls.keyPem), Buffer.from(dp.tls.certPem)), {
      'grpc.ssl_target_name_override': 'localhost',
    });
    const viaGrpc = await grpcRaw(client, '/wfa.measurement.api.v2alpha.Certificates/CreateCertificate', garbage);
    client.close();
    assert.equal(viaGrpc.error?.code, grpc.status.INVALID_ARGUMENT, viaGrpc.error?.details);

    const post = (contentType: string, body: Buffer) =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>((resolve, reject) => {
        const req = httpsRequest(
          {
            host: '127.0.0.1',
            port: server.address.port,
            method: 'POST',
            path: '/wfa.measurement.api.v2alpha.Certificates/CreateCertificate',
            headers: { 'content-type': contentType },
            ca: tls.certPem,
            servername: 'localhost',
            cert: dp.tls.certPem,
            key: dp.tls.keyPem,
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
    const web = await post('application/grpc-web+proto', frame);
    assert.match(web.body.toString('latin1'), /grpc-status: ?3\r\n/);
    const connect = await post('application/proto', garbage);
    assert.equal(connect.status, 400);
    assert.equal((JSON.parse(connect.body.toString('utf8')) as { code: string }).code, 'invalid_argument');
  });

  test('client errors name what to fix: wrong host name, untrusted server, nobody listening', async () => {
    await assert.rejects(asDp({ serverName: 'kingdom.example.org' }).certificates.getCertificate({ name: 'x' }), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError);
      assert.equal(err.code, 'TLS_HOSTNAME_MISMATCH');
      assert.match(err.message, /not valid for "kingdom\.example\.org"/);
      return true;
    });
    // The override also makes a matching name work when the target is an address.
    assert.equal((await asDp({ serverName: 'localhost' }).certificates.getCertificate({ name: 'x' })).name, `cert:${sha(dp.tls.der)}`);
    await assert.rejects(asDp({ trustedRoots: stranger.rootPem }).certificates.getCertificate({ name: 'x' }), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError);
      assert.equal(err.code, 'SERVER_UNTRUSTED');
      return true;
    });
    const closed = await startKingdomServer({
      listen: { host: '127.0.0.1', port: 0 },
      tls,
      routes,
      health: async () => {},
      maxMessageBytes: 1024,
      drainTimeoutMs: 1000,
      logger: silentLogger(),
    });
    const port = closed.address.port;
    await closed.close();
    await assert.rejects(asDp({ target: `127.0.0.1:${port}` }).certificates.getCertificate({ name: 'x' }), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError);
      assert.equal(err.code, 'UNREACHABLE');
      assert.match(err.message, /cannot reach the Kingdom at 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
      return true;
    });
  });

  test('close() stops accepting, lets the in-flight call finish, then resolves', async () => {
    const own = await startKingdomServer({
      listen: { host: '127.0.0.1', port: 0 },
      tls,
      routes,
      participantRoots: async () => [dp.root.der],
      health: async () => {},
      maxMessageBytes: 1024,
      drainTimeoutMs: 30_000,
      logger: silentLogger(),
    });
    let release!: () => void;
    let entered!: () => void;
    const enteredP = new Promise<void>((r) => (entered = r));
    gate = { onEnter: () => entered(), wait: new Promise<void>((r) => (release = r)) };
    const client = asDp({ target: `127.0.0.1:${own.address.port}` });
    const slow = client.certificates.getCertificate({ name: 'slow' });
    await enteredP;
    let closed = false;
    const closing = own.close().then(() => (closed = true));
    // A new connection is refused while the old call is still running.
    await assert.rejects(asDp({ target: `127.0.0.1:${own.address.port}` }).certificates.getCertificate({ name: 'x' }), (err: unknown) =>
      err instanceof KingdomClientError && err.code === 'UNREACHABLE');
    assert.equal(closed, false);
    release();
    assert.equal((await slow).name, `cert:${sha(dp.tls.der)}`);
    await closing;
    assert.equal(closed, true);
    gate = undefined;
  });
});

export type { Certificate, Gate };
