/**
 * The certificate cache: its own rules, then through the store on both
 * engines (a revocation is seen at once by the process that made it), and
 * across two stores on one PostgreSQL database (another replica's revocation
 * arrives by notification; while the channel is down nothing is cached).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Registry } from 'prom-client';
import { registerStoreMetrics } from '../../src/kingdom/server/metrics.js';
import { CertificateCache, isCertificateName } from '../../src/kingdom/store/certificate-cache.js';
import { openKingdomStore, RevocationState, type CertificateRecord, type SqlKingdomStore } from '../../src/kingdom/store/index.js';
import { ManualClock } from '../../src/lib/clock.js';
import { certificateFacts, freshPostgresDatabase, NOW, publicKeyFacts, tempDataDir, TEST_DATABASE_URL_VARIABLE, type TestDatabase } from './store-fixtures.js';

const record = (tag: number) => ({ revocationState: tag }) as unknown as CertificateRecord;

describe('CertificateCache', () => {
  it('serves what was filled until it expires', () => {
    let now = 1000;
    const cache = new CertificateCache({ ttlMs: 50, now: () => now });
    assert.equal(cache.get('dataProviders/A/certificates/B'), undefined);
    cache.fill('dataProviders/A/certificates/B', cache.generation, record(1));
    assert.equal(cache.get('dataProviders/A/certificates/B')?.revocationState, 1);
    now += 50;
    assert.equal(cache.get('dataProviders/A/certificates/B'), undefined);
    assert.deepEqual([cache.hits, cache.misses], [1, 2]);
  });

  it('a read that raced a change does not put the old state back', () => {
    const cache = new CertificateCache();
    const generation = cache.generation;
    cache.invalidate(['dataProviders/A/certificates/B']);
    cache.fill('dataProviders/A/certificates/B', generation, record(0));
    assert.equal(cache.get('dataProviders/A/certificates/B'), undefined);
    cache.fill('dataProviders/A/certificates/B', cache.generation, record(2));
    assert.equal(cache.get('dataProviders/A/certificates/B')?.revocationState, 2);
  });

  it('keeps at most its capacity, dropping the oldest', () => {
    const cache = new CertificateCache({ capacity: 2 });
    for (const n of ['a', 'b', 'c']) cache.fill(n, cache.generation, record(0));
    assert.equal(cache.get('a'), undefined);
    assert.ok(cache.get('b') && cache.get('c'));
  });

  it('reset(false) forgets everything and caches nothing until reset(true)', () => {
    const cache = new CertificateCache();
    cache.fill('a', cache.generation, record(0));
    cache.reset(false);
    assert.equal(cache.get('a'), undefined);
    cache.fill('a', cache.generation, record(0));
    assert.equal(cache.get('a'), undefined);
    cache.reset(true);
    cache.fill('a', cache.generation, record(0));
    assert.ok(cache.get('a'));
  });

  it('recognises certificate resource names only', () => {
    assert.equal(isCertificateName('dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAcg'), true);
    assert.equal(isCertificateName('duchies/worker1/certificates/AAAAAAAAAcg'), true);
    assert.equal(isCertificateName('dataProviders/AAAAAAAAAHs/publicKey'), false);
    assert.equal(isCertificateName('measurementConsumers/AAAAAAAAAHs'), false);
  });
});

async function newDataProvider(store: SqlKingdomStore) {
  return store.createParty({
    actor: 'admin',
    kind: 'DATA_PROVIDER',
    displayName: 'dp',
    rootCertificateDer: new Uint8Array([0x30, 1]),
    rootSubjectKeyIdentifier: new Uint8Array(randomBytes(20)),
    certificate: certificateFacts(),
    publicKey: publicKeyFacts(),
  });
}

/** Gets the certificate twice, the second time from the cache. */
async function getCached(store: SqlKingdomStore, c: CertificateRecord): Promise<CertificateRecord> {
  await store.getCertificate(c.owner, c.externalCertificateId);
  const hits = store.certificateCache.hits;
  const again = await store.getCertificate(c.owner, c.externalCertificateId);
  assert.equal(store.certificateCache.hits, hits + 1, 'the second read is a cache hit');
  return again;
}

for (const engine of ['PGlite', 'PostgreSQL'] as const) {
  describe(`certificate cache through the store (${engine})`, () => {
    let store: SqlKingdomStore;
    let cleanup: () => Promise<void>;
    const clock = new ManualClock(NOW);

    before(async () => {
      if (engine === 'PGlite') {
        const dir = tempDataDir();
        store = await openKingdomStore({ dataDir: dir.dir, clock });
        cleanup = async () => dir.remove();
      } else {
        const db = await freshPostgresDatabase();
        store = await openKingdomStore({ databaseUrl: db.url, clock });
        cleanup = () => db.drop();
      }
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    it('a revocation or a released hold is visible to the next read at once', async () => {
      const { certificate } = await newDataProvider(store);
      assert.equal((await getCached(store, certificate)).revocationState, RevocationState.UNSPECIFIED);
      await store.revokeCertificate({ actor: 'admin', owner: certificate.owner, externalCertificateId: certificate.externalCertificateId, revocationState: RevocationState.HOLD });
      assert.equal((await store.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState, RevocationState.HOLD);
      assert.equal((await getCached(store, certificate)).revocationState, RevocationState.HOLD);
      await store.releaseCertificateHold({ actor: 'admin', owner: certificate.owner, externalCertificateId: certificate.externalCertificateId });
      assert.equal((await store.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState, RevocationState.UNSPECIFIED);
    });

    it('reports its hits and misses, and group commit, to Prometheus', async () => {
      const registry = new Registry();
      registerStoreMetrics(registry, store);
      const { certificate } = await newDataProvider(store);
      const misses = store.certificateCache.misses;
      const hits = store.certificateCache.hits;
      await getCached(store, certificate);
      const text = await registry.metrics();
      assert.match(text, /^kingdom_certificate_cache_enabled 1$/m);
      assert.match(text, new RegExp(`^kingdom_certificate_cache_misses_total ${misses + 1}$`, 'm'));
      assert.match(text, new RegExp(`^kingdom_certificate_cache_hits_total ${hits + 1}$`, 'm'));
      assert.match(text, new RegExp(`^kingdom_store_write_operations_total ${store.writeStats.operations}$`, 'm'));
      assert.ok(store.writeStats.operations > 0);
    });

    it('a read racing a revocation never leaves the old state cached', async () => {
      const { certificate } = await newDataProvider(store);
      const reads = Array.from({ length: 20 }, () => store.getCertificate(certificate.owner, certificate.externalCertificateId));
      await store.revokeCertificate({ actor: 'admin', owner: certificate.owner, externalCertificateId: certificate.externalCertificateId, revocationState: RevocationState.REVOKED });
      await Promise.all(reads);
      assert.equal((await store.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState, RevocationState.REVOKED);
    });
  });
}

describe('certificate cache across two replicas on one PostgreSQL database', () => {
  let db: TestDatabase;
  let first: SqlKingdomStore;
  let second: SqlKingdomStore;
  const clock = new ManualClock(NOW);

  before(async () => {
    db = await freshPostgresDatabase();
    first = await openKingdomStore({ databaseUrl: db.url, clock });
    second = await openKingdomStore({ databaseUrl: db.url, clock });
  });
  after(async () => {
    await first.close();
    await second.close();
    await db.drop();
  });

  const eventually = async (what: string, check: () => Promise<boolean>) => {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await sleep(50);
    }
    assert.fail(`${what} did not happen within 5 s`);
  };

  it("one replica's revocation reaches the other's cache by notification", async () => {
    const { certificate } = await newDataProvider(first);
    assert.equal((await getCached(second, certificate)).revocationState, 0);
    await first.revokeCertificate({ actor: 'admin', owner: certificate.owner, externalCertificateId: certificate.externalCertificateId, revocationState: RevocationState.REVOKED });
    await eventually('the second replica sees REVOKED', async () => (await second.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState === RevocationState.REVOKED);
  });

  it('while the notification channel is down nothing is cached, and caching resumes after it reconnects', async () => {
    const { certificate } = await newDataProvider(first);
    await getCached(second, certificate);
    const admin = new pg.Client({ connectionString: process.env[TEST_DATABASE_URL_VARIABLE] });
    await admin.connect();
    try {
      const killed = await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query LIKE 'LISTEN%'`, [
        new URL(db.url).pathname.slice(1),
      ]);
      assert.equal(killed.rowCount, 2, 'both replicas were listening');
    } finally {
      await admin.end();
    }
    // Once the drop is noticed the cache is off (and says so): every read goes to the database.
    await eventually('the second replica stops caching', async () => {
      const misses = second.certificateCache.misses;
      await second.getCertificate(certificate.owner, certificate.externalCertificateId);
      return second.certificateCache.misses === misses + 1;
    });
    const registry = new Registry();
    registerStoreMetrics(registry, second);
    assert.match(await registry.metrics(), /^kingdom_certificate_cache_enabled 0$/m);
    await first.revokeCertificate({ actor: 'admin', owner: certificate.owner, externalCertificateId: certificate.externalCertificateId, revocationState: RevocationState.REVOKED });
    assert.equal((await second.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState, RevocationState.REVOKED);
    await eventually('the second replica caches again', async () => {
      const hits = second.certificateCache.hits;
      await second.getCertificate(certificate.owner, certificate.externalCertificateId);
      await second.getCertificate(certificate.owner, certificate.externalCertificateId);
      return second.certificateCache.hits > hits;
    });
    assert.equal((await second.getCertificate(certificate.owner, certificate.externalCertificateId)).revocationState, RevocationState.REVOKED);
    assert.match(await registry.metrics(), /^kingdom_certificate_cache_enabled 1$/m);
  });
});
