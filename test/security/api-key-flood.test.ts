/**
 * A client without a certificate sends 50,000 distinct 4 KB `x-api-key`
 * values. The Kingdom must answer each UNAUTHENTICATED and keep none of
 * them: retained memory (heap and external strings) grows by less than HEAP_BOUND_BYTES, against about
 * 200 MB if every key were cached.
 *
 * This one test runs the server in the test's own process (the real
 * `serveKingdom`, its TLS port and embedded database, called over real
 * sockets), because retained heap can only be read after a full garbage
 * collection, which a separate server process offers no harmless way to
 * trigger. The engine does not matter here: keys that are not API ids never
 * reach the database. The `kingdom-attacks` bench measures the same flood
 * against a server in its own process (RSS).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ClientHttp2Session } from 'node:http2';
import { Code } from '@connectrpc/connect';
import { createKingdomClient } from '../../src/client/index.js';
import { resolveServeConfig } from '../../src/kingdom/server/config.js';
import { silentLogger } from '../../src/kingdom/server/logger.js';
import { serveKingdom, type RunningKingdom } from '../../src/kingdom/server/serve.js';
import { connectH2, grpcUnaryRaw } from '../kingdom/h2-grpc.js';
import { participantPki, scratchDir, signedEncryptionKey } from '../kingdom/server-fixtures.js';
import { floodApiKeys, GET_DATA_PROVIDER, getDataProviderBody } from './attacks.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const KEYS = 50_000;
const KEY_BYTES = 4096;
/** The stated bound (docs/security.md): a few MB whatever the number of distinct keys. */
const HEAP_BOUND_BYTES = 8 * 1024 * 1024;

function retainedHeap(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  // Header values may live outside the V8 heap as external strings.
  return m.heapUsed + m.external;
}

describe('API-key flood', () => {
  const dir = scratchDir('halo-sec-keys-');
  let kingdom: RunningKingdom;
  let session: ClientHttp2Session;
  let apiKey: string;
  let kingdomRoot: string;

  before(async () => {
    kingdom = await serveKingdom(resolveServeConfig({ dataDir: dir.dir, listen: '127.0.0.1:0', logLevel: 'silent' }), { logger: silentLogger(), print: () => {} });
    kingdomRoot = readFileSync(join(dir.dir, 'kingdom_root.pem'), 'utf8');
    const admin = createKingdomClient({
      target: `127.0.0.1:${kingdom.server.address.port}`,
      trustedRoots: kingdomRoot,
      serverName: 'localhost',
      adminToken: readFileSync(join(dir.dir, 'admin-token'), 'utf8').trim(),
    });
    const pki = participantPki('Flooded MC');
    const signing = pki.signingLeaf();
    const mc = await admin.admin.createMeasurementConsumer({
      registration: { rootCertificateDer: pki.root.der, certificateDer: signing.der, publicKey: signedEncryptionKey(signing.privateKey).signed, displayName: 'MC' },
    });
    apiKey = (await admin.admin.createApiKey({ measurementConsumer: mc.name })).authenticationKey;
    session = await connectH2({ port: kingdom.server.address.port, ca: kingdomRoot, servername: 'localhost' });
  });
  after(async () => {
    session?.close();
    await kingdom?.stop();
    dir.remove();
  });

  const call = (key: string) => grpcUnaryRaw(session, GET_DATA_PROVIDER, getDataProviderBody('dataProviders/AAAAAAAAAHs'), { 'x-api-key': key });

  test(`${KEYS} distinct ${KEY_BYTES}-byte keys are refused and leave the heap flat`, async () => {
    // Warm up every path the flood takes, so lazily built state is not counted.
    await floodApiKeys(session, { count: 2000, keyBytes: KEY_BYTES, concurrency: 32, dataProvider: 'dataProviders/AAAAAAAAAHs' });
    const before = retainedHeap();
    const statuses = await floodApiKeys(session, { count: KEYS, keyBytes: KEY_BYTES, concurrency: 32, dataProvider: 'dataProviders/AAAAAAAAAHs' });
    const grown = retainedHeap() - before;
    assert.deepEqual([...statuses], [[Code.Unauthenticated, KEYS]]);
    assert.ok(grown < HEAP_BOUND_BYTES, `retained heap grew by ${(grown / 1048576).toFixed(1)} MB (bound ${HEAP_BOUND_BYTES / 1048576} MB)`);
  });

  test('the registered key still authenticates after the flood, and a well-formed unknown key does not', async () => {
    const known = await call(apiKey);
    assert.notEqual(known.status, Code.Unauthenticated, known.message);
    assert.equal((await call('AAAAAAAAAHs')).status, Code.Unauthenticated);
    // Twice: a cached miss answers the same.
    assert.equal((await call('AAAAAAAAAHs')).status, Code.Unauthenticated);
    assert.notEqual((await call(apiKey)).status, Code.Unauthenticated);
  });
});
