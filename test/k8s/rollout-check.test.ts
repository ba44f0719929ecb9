/**
 * The rollout check against real `node:tls` servers on 127.0.0.1 serving
 * certificates from our CA: old, then new (swapped with setSecureContext the
 * way a rolled pod would serve it), mTLS endpoints, untrusted and misnamed
 * certificates, and endpoints that cannot be reached. Waiting uses an
 * injected clock and sleep.
 */
import assert from 'node:assert/strict';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { createServer, type TLSSocket } from 'node:tls';
import { after, describe, test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { issueLeaf } from '../../src/pki/ca.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { K8sError, probeServedCertificate, waitForServedCertificate, type ProbeResult, type TlsEndpoint } from '../../src/k8s/index.js';
import { clock, skidHex, TestCa, type TlsPair } from './k8s-fixtures.js';

const ca = new TestCa('Edp7');
const clientCa = new TestCa('Kingdom');
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
});

interface TestServer {
  port: number;
  serve(pair: TlsPair): void;
  clientSkids: string[];
}

async function tlsServer(pair: TlsPair, mtls?: { maxVersion?: 'TLSv1.2' }): Promise<TestServer> {
  const clientSkids: string[] = [];
  const server = createServer({
    cert: pair.certPem,
    key: pair.keyPem,
    ...(mtls ? { requestCert: true, rejectUnauthorized: true, ca: [clientCa.rootPem], ...(mtls.maxVersion ? { maxVersion: mtls.maxVersion } : {}) } : {}),
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    const peer = socket.getPeerCertificate();
    if (peer?.raw) clientSkids.push(`${skidHex(parseCertificate(peer.raw))} authorized=${socket.authorized}`);
    socket.on('error', () => undefined);
    socket.end();
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return {
    port: (server.address() as AddressInfo).port,
    serve: (next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem, ...(mtls ? { ca: [clientCa.rootPem] } : {}) }),
    clientSkids,
  };
}

function endpoint(port: number, extra: Partial<TlsEndpoint> = {}): TlsEndpoint {
  return { host: '127.0.0.1', port, servername: 'localhost', trustedRoots: ca.rootPem, ...extra };
}

function status(r: ProbeResult): string {
  return r.status === 'unreachable' ? `unreachable:${r.reason}` : r.status;
}

describe('probe', () => {
  test('tells the old certificate from the new one, by fingerprint, with the trust verdict', async () => {
    const old = ca.leaf('Edp7');
    const next = ca.leaf('Edp7');
    const server = await tlsServer(old);
    const expected = { certificate: next.certificate, previous: old.der };

    const before = await probeServedCertificate(endpoint(server.port), expected);
    assert.equal(before.status, 'still-old');
    assert.ok(before.status === 'still-old');
    assert.equal(before.isPrevious, true);
    assert.equal(before.served.skid, skidHex(old.certificate));
    assert.deepEqual(before.trust, { authorized: true });

    server.serve(next);
    const afterSwap = await probeServedCertificate(endpoint(server.port), expected);
    assert.ok(afterSwap.status === 'served-new');
    assert.equal(afterSwap.served.skid, skidHex(next.certificate));
    assert.equal(afterSwap.served.fingerprintSha256, next.certificate.fingerprintSha256);
    assert.equal(afterSwap.served.subject, 'CN=Edp7,O=Halo CMM Dev');

    // A third certificate is "still-old" but not the previous one.
    const stranger = ca.leaf('Edp7');
    server.serve(stranger);
    const third = await probeServedCertificate(endpoint(server.port), { certificate: next.certPem, previous: old.certPem });
    assert.ok(third.status === 'still-old' && third.isPrevious === false);
  });

  test('match by SKID accepts a renewal that keeps the key; by fingerprint it does not', async () => {
    const old = ca.leaf('Edp7');
    const renewed = issueLeaf(ca.authority, {
      profile: 'tls',
      subject: '/O=Halo CMM Dev/CN=Edp7',
      publicKey: old.privateKey,
      altNames: [{ type: 'dns', value: 'localhost' }],
      days: 180,
      clock,
    });
    const server = await tlsServer(old);
    assert.equal(status(await probeServedCertificate(endpoint(server.port), { certificate: renewed.certificate })), 'still-old');
    assert.equal(status(await probeServedCertificate(endpoint(server.port), { certificate: renewed.certificate, match: 'skid' })), 'served-new');
  });

  test('a served certificate clients would reject is reported: wrong roots, wrong name', async () => {
    const next = ca.leaf('Edp7');
    const server = await tlsServer(next);
    const wrongRoots = await probeServedCertificate(endpoint(server.port, { trustedRoots: clientCa.rootPem }), { certificate: next.der });
    assert.ok(wrongRoots.status === 'served-new');
    assert.equal(wrongRoots.trust?.authorized, false);
    assert.equal(wrongRoots.trust?.error, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');

    const wrongName = await probeServedCertificate(endpoint(server.port, { servername: 'edp7.example.org' }), { certificate: next.der });
    assert.ok(wrongName.status === 'served-new');
    assert.deepEqual(wrongName.trust, { authorized: false, error: 'ERR_TLS_CERT_ALTNAME_INVALID' });

    const noRoots = await probeServedCertificate({ host: '127.0.0.1', port: server.port }, { certificate: next.der });
    assert.ok(noRoots.status === 'served-new');
    assert.equal(noRoots.trust, undefined, 'without roots trust is not judged');

    // 127.0.0.1 is in the SAN: the IP works as the identity (and is not sent as SNI).
    const byIp = await probeServedCertificate({ host: '127.0.0.1', port: server.port, trustedRoots: ca.rootPem }, { certificate: next.der });
    assert.deepEqual(byIp.status === 'served-new' && byIp.trust, { authorized: true });
  });

  test('mTLS endpoints: the client certificate is presented and accepted', async () => {
    const next = ca.leaf('Edp7');
    const server = await tlsServer(next, {});
    const client = clientCa.leaf('Edp7 client', 'tls-client');
    const result = await probeServedCertificate(
      endpoint(server.port, { clientCertificate: { certificateChain: client.der, privateKey: client.privateKey } }),
      { certificate: next.certificate },
    );
    assert.ok(result.status === 'served-new');
    assert.deepEqual(result.trust, { authorized: true });
    await waitFor(() => server.clientSkids.length === 1);
    assert.equal(server.clientSkids[0], `${skidHex(client.certificate)} authorized=true`, 'the server verified our client certificate');

    // TLS 1.2 finishes the handshake only after the server accepts the client
    // certificate, so without one the endpoint is unreachable.
    const strict = await tlsServer(next, { maxVersion: 'TLSv1.2' });
    const refused = await probeServedCertificate(endpoint(strict.port), { certificate: next.certificate });
    assert.equal(status(refused), 'unreachable:tls-handshake');
    const accepted = await probeServedCertificate(
      endpoint(strict.port, { clientCertificate: { certificateChain: encodePem('CERTIFICATE', client.der), privateKey: client.keyPem } }),
      { certificate: next.certificate },
    );
    assert.equal(status(accepted), 'served-new');
  });

  test('unreachable endpoints: refused, silent, unresolvable', async () => {
    const next = ca.leaf('Edp7');
    const closed = createTcpServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const refused = await probeServedCertificate(endpoint(closedPort), { certificate: next.der });
    assert.equal(status(refused), 'unreachable:refused');
    assert.ok(refused.status === 'unreachable' && refused.detail.includes('ECONNREFUSED'));

    const silent = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    servers.push(silent);
    const timedOut = await probeServedCertificate(endpoint((silent.address() as AddressInfo).port), { certificate: next.der }, { timeoutMs: 200 });
    assert.equal(status(timedOut), 'unreachable:timeout');

    const unresolvable = await probeServedCertificate({ host: 'edp7.halo-keys.invalid', port: 443 }, { certificate: next.der });
    assert.equal(status(unresolvable), 'unreachable:dns');
  });

  test('bad endpoints and expectations are typed errors', async () => {
    const next = ca.leaf('Edp7');
    for (const [ep, exp] of [
      [{ host: '127.0.0.1', port: 0 }, { certificate: next.der }],
      [{ host: '127.0.0.1', port: 70000 }, { certificate: next.der }],
      [{ host: '', port: 443 }, { certificate: next.der }],
      [{ host: '127.0.0.1', port: 443 }, { certificate: new Uint8Array([1, 2, 3]) }],
      [{ host: '127.0.0.1', port: 443, trustedRoots: 'no roots here' }, { certificate: next.der }],
    ] as [TlsEndpoint, { certificate: Uint8Array }][]) {
      await assert.rejects(probeServedCertificate(ep, exp), (e: unknown) => e instanceof K8sError && e.code === (ep.trustedRoots ? 'INVALID_SECRET' : 'INVALID_ENDPOINT'));
    }
  });
});

describe('waiting for the rollout', () => {
  test('polls with doubling delays until the new certificate is served', async () => {
    const old = ca.leaf('Edp7');
    const next = ca.leaf('Edp7');
    const server = await tlsServer(old);
    const manual = new ManualClock('2026-01-15T00:00:00Z');
    const delays: number[] = [];
    const seen: string[] = [];
    const result = await waitForServedCertificate(endpoint(server.port), { certificate: next.certificate, previous: old.certificate }, {
      clock: manual,
      initialDelayMs: 1000,
      maxDelayMs: 4000,
      deadlineMs: 60_000,
      sleep: async (ms) => {
        delays.push(ms);
        manual.advance(ms);
        if (delays.length === 4) server.serve(next); // the pod rolls
      },
      onAttempt: (r, n) => seen.push(`${n}:${status(r)}`),
    });
    assert.equal(result.status, 'served-new');
    assert.equal(result.attempts, 5);
    assert.equal(result.deadlineReached, false);
    assert.equal(result.elapsedMs, 1000 + 2000 + 4000 + 4000);
    assert.deepEqual(delays, [1000, 2000, 4000, 4000]);
    assert.deepEqual(seen, ['1:still-old', '2:still-old', '3:still-old', '4:still-old', '5:served-new']);
  });

  test('gives up at the deadline with the last result', async () => {
    const old = ca.leaf('Edp7');
    const server = await tlsServer(old);
    const manual = new ManualClock('2026-01-15T00:00:00Z');
    const delays: number[] = [];
    const result = await waitForServedCertificate(endpoint(server.port), { certificate: ca.leaf('Edp7').certificate, previous: old.certificate }, {
      clock: manual,
      initialDelayMs: 1000,
      maxDelayMs: 4000,
      deadlineMs: 10_000,
      sleep: async (ms) => {
        delays.push(ms);
        manual.advance(ms);
      },
    });
    assert.ok(result.status === 'still-old' && result.isPrevious);
    assert.equal(result.deadlineReached, true);
    assert.deepEqual(delays, [1000, 2000, 4000], 'the next wait would pass the deadline');
    assert.equal(result.attempts, 4);

    const gone = await waitForServedCertificate({ host: '127.0.0.1', port: 1 }, { certificate: old.der }, {
      clock: manual,
      deadlineMs: 0,
      sleep: async () => assert.fail('no wait past a zero deadline'),
    });
    assert.equal(status(gone), 'unreachable:refused');
    assert.equal(gone.attempts, 1);
  });
});

async function waitFor(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(condition());
}
