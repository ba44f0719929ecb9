/**
 * The client (src/client) against a real Kingdom over real mutual TLS: the
 * server is `serveKingdom` in this process, on its embedded database and dev
 * TLS material, listening on a real port. What the client makes of each
 * failure (a refused port, a certificate for another name, a root it does not
 * trust, an RPC error with ErrorInfo) is what every CLI prints.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Code, ConnectError } from '@connectrpc/connect';
import { createKingdomClient, KingdomClientError, resolveTarget, toKingdomClientError, type KingdomClientOptions } from '../../src/client/index.js';
import { resolveServeConfig } from '../../src/kingdom/server/config.js';
import { silentLogger } from '../../src/kingdom/server/logger.js';
import { serveKingdom, type RunningKingdom } from '../../src/kingdom/server/serve.js';
import { rpcError } from '../../src/kingdom/service/errors.js';
import { participantPki, scratchDir, signedEncryptionKey } from '../kingdom/server-fixtures.js';

/** Rejects with a KingdomClientError of this code; returns it for further checks. */
async function rejectsWith(promise: Promise<unknown>, code: string): Promise<KingdomClientError> {
  let caught: unknown;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KingdomClientError, `expected a KingdomClientError ${code}, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** A local port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('Kingdom client', () => {
  test('refuses a target that is not HOST:PORT over TLS, and a certificate without its key', () => {
    assert.deepEqual(resolveTarget('kingdom.example:8443'), { baseUrl: 'https://kingdom.example:8443', host: 'kingdom.example', display: 'kingdom.example:8443' });
    assert.equal(resolveTarget('[::1]:8443').host, '::1');
    for (const target of ['http://kingdom.example:8443', 'https://kingdom.example:8443/path', '://']) {
      assert.throws(() => resolveTarget(target), (e: unknown) => e instanceof KingdomClientError && e.code === 'CLIENT_CONFIG_INVALID' && e.grpcCode === Code.InvalidArgument, target);
    }
    assert.throws(
      () => createKingdomClient({ target: '127.0.0.1:1', trustedRoots: 'x', clientCertificate: 'x' }),
      (e: unknown) => e instanceof KingdomClientError && e.code === 'CLIENT_CONFIG_INVALID',
    );
  });

  test('keeps the gRPC code, the ErrorInfo reason and its metadata of an RPC error', () => {
    const mapped = toKingdomClientError(rpcError(Code.NotFound, 'DATA_PROVIDER_NOT_FOUND', 'DataProvider not found.', { dataProvider: 'dataProviders/AAAAAAAAAHs' }), 'k:1', 'k');
    assert.equal(mapped.code, 'RPC_FAILED');
    assert.equal(mapped.grpcCode, Code.NotFound);
    assert.equal(mapped.reason, 'DATA_PROVIDER_NOT_FOUND');
    assert.deepEqual(mapped.metadata, { dataProvider: 'dataProviders/AAAAAAAAAHs' });
    assert.equal(mapped.message, 'NOT_FOUND (DATA_PROVIDER_NOT_FOUND): DataProvider not found.');
    const plain = toKingdomClientError(new ConnectError('no reason given', Code.Internal), 'k:1', 'k');
    assert.equal(plain.reason, undefined);
    assert.equal(plain.message, 'INTERNAL: no reason given');
    assert.equal(toKingdomClientError(plain, 'other:2', 'other'), plain, 'a KingdomClientError passes through');
  });

  test('a refused port is UNREACHABLE (UNAVAILABLE), naming the target', async () => {
    const port = await closedPort();
    const client = createKingdomClient({ target: `127.0.0.1:${port}`, trustedRoots: participantPki('Nobody').rootPem, timeoutMs: 10_000 });
    const err = await rejectsWith(client.dataProviders.getDataProvider({ name: 'dataProviders/AAAAAAAAAHs' }), 'UNREACHABLE');
    assert.equal(err.grpcCode, Code.Unavailable);
    assert.match(err.message, new RegExp(`cannot reach the Kingdom at 127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\)`));
  });

  describe('against a running Kingdom over mTLS', () => {
    const dir = scratchDir('halo-client-');
    let kingdom: RunningKingdom;
    let kingdomRoot: string;
    let adminToken: string;
    let target: string;
    const options = (extra: Partial<KingdomClientOptions> = {}): KingdomClientOptions => ({ target, trustedRoots: kingdomRoot, ...extra });

    before(async () => {
      kingdom = await serveKingdom(resolveServeConfig({ dataDir: dir.dir, listen: '127.0.0.1:0', logLevel: 'silent' }), { logger: silentLogger(), print: () => {} });
      kingdomRoot = readFileSync(join(dir.dir, 'kingdom_root.pem'), 'utf8');
      adminToken = readFileSync(join(dir.dir, 'admin-token'), 'utf8').trim();
      target = `127.0.0.1:${kingdom.server.address.port}`;
    });
    after(async () => {
      await kingdom?.stop();
      dir.remove();
    });

    test('a participant calls with its client certificate, by IP or with serverName, over gRPC and Connect', async () => {
      const pki = participantPki('Client DP');
      const signing = pki.signingLeaf();
      const admin = createKingdomClient(options({ serverName: 'localhost', adminToken }));
      const dp = await admin.admin.createDataProvider({
        registration: { rootCertificateDer: pki.root.der, certificateDer: signing.der, publicKey: signedEncryptionKey(signing.privateKey).signed, displayName: 'Client DP' },
      });
      const mtls = { clientCertificate: pki.tls.certPem, clientKey: pki.tls.keyPem };
      // The dev server certificate names 127.0.0.1 too, so the target's host is enough.
      assert.equal((await createKingdomClient(options(mtls)).dataProviders.getDataProvider({ name: dp.name })).name, dp.name);
      assert.equal((await createKingdomClient(options({ ...mtls, serverName: 'localhost' })).dataProviders.getDataProvider({ name: dp.name })).name, dp.name);
      assert.equal((await createKingdomClient(options({ ...mtls, protocol: 'connect' })).dataProviders.getDataProvider({ name: dp.name })).name, dp.name);
    });

    test('an RPC error arrives as RPC_FAILED with the code, reason and metadata the Kingdom sent', async () => {
      const admin = createKingdomClient(options({ adminToken }));
      const err = await rejectsWith(admin.admin.createApiKey({ measurementConsumer: 'measurementConsumers/AAAAAAAAAHs' }), 'RPC_FAILED');
      assert.equal(err.grpcCode, Code.NotFound);
      assert.equal(err.reason, 'MEASUREMENT_CONSUMER_NOT_FOUND');
      assert.equal(err.metadata.measurementConsumer, 'measurementConsumers/AAAAAAAAAHs');
    });

    test('a wrong admin token, or no credential, is UNAUTHENTICATED', async () => {
      const wrong = await rejectsWith(createKingdomClient(options({ adminToken: `${adminToken}x` })).admin.listAkidPrincipals({}), 'UNAUTHENTICATED');
      assert.equal(wrong.grpcCode, Code.Unauthenticated);
      await rejectsWith(createKingdomClient(options()).dataProviders.getDataProvider({ name: 'dataProviders/AAAAAAAAAHs' }), 'UNAUTHENTICATED');
    });

    test('a serverName the certificate does not carry is TLS_HOSTNAME_MISMATCH, naming it', async () => {
      const err = await rejectsWith(createKingdomClient(options({ serverName: 'kingdom.example', adminToken })).admin.listAkidPrincipals({}), 'TLS_HOSTNAME_MISMATCH');
      assert.equal(err.grpcCode, Code.Unavailable);
      assert.match(err.message, /not valid for "kingdom\.example"/);
    });

    test('a server certificate that does not chain to the trusted roots is SERVER_UNTRUSTED', async () => {
      const other = participantPki('Not the Kingdom');
      const err = await rejectsWith(createKingdomClient({ target, trustedRoots: other.rootPem, adminToken }).admin.listAkidPrincipals({}), 'SERVER_UNTRUSTED');
      assert.equal(err.grpcCode, Code.Unavailable);
      assert.match(err.message, new RegExp(`certificate at ${target.replace(/\./g, '\\.')} is not trusted`));
    });
  });
});
