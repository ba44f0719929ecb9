import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ManualClock } from '../../src/lib/clock.js';
import {
  type CertificateRecord,
  type PartyKey,
  type SqlKingdomStore,
  StoreError,
  type WriteBatchingOptions,
  openKingdomStore,
} from '../../src/kingdom/store/index.js';
import { NOW, type TestDatabase, certificateFacts, freshPostgresDatabase, randomSkid, tempDataDir } from './store-fixtures.js';

/**
 * Group commit: writes submitted together share one transaction. A batch
 * starts once pending I/O has been handled, so writes submitted in one turn
 * of the event loop (up to 64) form one batch whose composition the test
 * knows; with one transaction in flight at a time, nothing else joins it.
 */

const ADMIN = 'admin';
const ONE_AT_A_TIME: WriteBatchingOptions = { concurrency: 1 };

type Outcome = { ok: true; value: unknown } | { ok: false; code: string; reason: string };

async function settle(p: Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, value: await p };
  } catch (err) {
    assert.ok(err instanceof StoreError, `a StoreError, not ${String(err)}`);
    return { ok: false, code: err.code, reason: err.reason };
  }
}

const modelProviderInput = (certificate = certificateFacts()) => ({
  actor: ADMIN,
  kind: 'MODEL_PROVIDER' as const,
  rootCertificateDer: new Uint8Array([0x30, 3]),
  rootSubjectKeyIdentifier: randomSkid(),
  certificate,
});

async function partyCount(store: SqlKingdomStore): Promise<bigint> {
  const rows = await store.database.query<{ n: bigint }>('SELECT count(*)::bigint AS n FROM parties');
  return rows[0]?.n ?? 0n;
}

function batchingSuite(
  name: string,
  options: WriteBatchingOptions,
  open: (options: WriteBatchingOptions) => Promise<{ store: SqlKingdomStore; cleanup(): Promise<void> }>,
) {
  describe(name, () => {
    let store: SqlKingdomStore;
    let cleanup: () => Promise<void>;

    before(async () => {
      ({ store, cleanup } = await open(options));
    });
    after(async () => {
      await store?.close();
      await cleanup?.();
    });

    it('runs a lone write in a transaction of its own', async () => {
      const before = store.writeStats;
      await store.createParty(modelProviderInput());
      await store.createParty(modelProviderInput());
      const stats = store.writeStats;
      assert.equal(stats.operations, before.operations + 2);
      assert.equal(stats.batches, before.batches, 'sequential writes never wait to share a transaction');
    });

    it('rejects each failing write in a batch alone, commits the others, and audits only those', async () => {
      const { party, certificate: existing } = await store.createParty(modelProviderInput());
      const owner = party.key;
      const held = await store.createCertificate({ actor: ADMIN, owner, certificate: certificateFacts() });
      const chainBefore = await store.verifyAuditChain();
      assert.ok(chainBefore.ok);
      const partiesBefore = await partyCount(store);
      const statsBefore = store.writeStats;

      const sharedSkid = randomSkid();
      const missing: PartyKey = { kind: 'MODEL_PROVIDER', id: 12345n };
      // Submitted in one turn: one batch of thirteen.
      const calls: { label: string; run: Promise<unknown>; expect: 'ok' | [code: string, reason: string] }[] = [
        { label: 'a certificate', run: store.createCertificate({ actor: ADMIN, owner, certificate: certificateFacts() }), expect: 'ok' },
        { label: 'new SKID', run: store.createCertificate({ actor: 'a1', owner, certificate: certificateFacts({ skid: sharedSkid }) }), expect: 'ok' },
        {
          label: 'same SKID in the same batch',
          run: store.createCertificate({ actor: 'a2', owner, certificate: certificateFacts({ skid: sharedSkid }) }),
          expect: ['ALREADY_EXISTS', 'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS'],
        },
        {
          label: 'SKID of a committed certificate',
          run: store.createCertificate({ actor: 'a3', owner, certificate: certificateFacts({ skid: existing.subjectKeyIdentifier }) }),
          expect: ['ALREADY_EXISTS', 'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS'],
        },
        {
          label: 'no DER (refused before any statement)',
          run: store.createCertificate({ actor: 'a4', owner, certificate: { ...certificateFacts(), x509Der: new Uint8Array(0) } }),
          expect: ['INVALID_ARGUMENT', 'REQUIRED_FIELD_NOT_SET'],
        },
        {
          label: 'unknown parent',
          run: store.createCertificate({ actor: 'a5', owner: missing, certificate: certificateFacts() }),
          expect: ['NOT_FOUND', 'MODEL_PROVIDER_NOT_FOUND'],
        },
        {
          label: 'a party whose certificate collides after the party row is written',
          run: store.createParty({ ...modelProviderInput(certificateFacts({ skid: sharedSkid })), actor: 'a6' }),
          expect: ['ALREADY_EXISTS', 'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS'],
        },
        { label: 'a new party', run: store.createParty({ ...modelProviderInput(), actor: 'a7' }), expect: 'ok' },
        {
          label: 'hold',
          run: store.revokeCertificate({ actor: 'a8', owner, externalCertificateId: held.externalCertificateId, revocationState: 1 }),
          expect: 'ok',
        },
        {
          label: 'release of a certificate that is not held',
          run: store.releaseCertificateHold({ actor: 'a9', owner, externalCertificateId: existing.externalCertificateId }),
          expect: ['FAILED_PRECONDITION', 'CERTIFICATE_REVOCATION_STATE_ILLEGAL'],
        },
        {
          label: 'a value the database cannot hold (NUL in text)',
          run: store.createParty({ ...modelProviderInput(), actor: 'a10', displayName: 'bad\u0000name' }),
          expect: ['INVALID_ARGUMENT', 'INVALID_FIELD_VALUE'],
        },
        { label: 'another certificate', run: store.createCertificate({ actor: 'a11', owner, certificate: certificateFacts() }), expect: 'ok' },
        {
          label: 'revocation after the hold in the same batch',
          run: store.revokeCertificate({ actor: 'a12', owner, externalCertificateId: held.externalCertificateId, revocationState: 2 }),
          expect: 'ok',
        },
      ];
      const outcomes = await Promise.all(calls.map((c) => settle(c.run)));

      for (const [i, c] of calls.entries()) {
        const o = outcomes[i] as Outcome;
        if (c.expect === 'ok') assert.ok(o.ok, `${c.label}: ${o.ok ? '' : `${o.code}/${o.reason}`}`);
        else assert.deepEqual(o.ok ? 'ok' : [o.code, o.reason], c.expect, c.label);
      }
      const stats = store.writeStats;
      assert.equal(stats.batches, statsBefore.batches + 1, 'the queued writes shared one transaction');
      assert.equal(stats.largestBatch, calls.length);
      // Without savepoints from the start, the first failure after a statement sends the batch round again with them.
      assert.equal(stats.isolatedReruns, statsBefore.isolatedReruns + (options.savepoints === 'always' ? 0 : 1));

      // Committed: the winner of the shared SKID, the new party, hold then revoke.
      const winner = (outcomes[1] as { value: CertificateRecord }).value;
      assert.equal((await store.getCertificate(owner, winner.externalCertificateId)).revocationState, 0);
      assert.equal((await store.getCertificate(owner, held.externalCertificateId)).revocationState, 2);
      // The party row written before its certificate collided was rolled back with it.
      assert.equal(await partyCount(store), partiesBefore + 1n);

      // The audit: exactly the successful writes, each write's entries together, in batch order.
      const chain = await store.verifyAuditChain();
      assert.ok(chain.ok, 'the chain verifies');
      const entries = await store.exportAudit({ since: chainBefore.count });
      const actors = entries.map((e) => e.actor);
      assert.deepEqual(actors, [ADMIN, 'a1', 'a7', 'a7', 'a8', 'a11', 'a12']);
      assert.deepEqual(
        entries.map((e) => e.action),
        ['CreateCertificate', 'CreateCertificate', 'CreateModelProvider', 'CreateCertificate', 'RevokeCertificate', 'CreateCertificate', 'RevokeCertificate'],
      );
      assert.equal(chain.count, chainBefore.count + 7n);
    });

    it('answers every write of a batch with its own result', async () => {
      const { party } = await store.createParty(modelProviderInput());
      const created = await Promise.all(
        Array.from({ length: 40 }, (_, i) => store.createCertificate({ actor: `c${i}`, owner: party.key, certificate: certificateFacts() })),
      );
      const ids = new Set(created.map((c) => c.externalCertificateId));
      assert.equal(ids.size, 40);
      assert.equal(store.writeStats.largestBatch, 40);
      for (const c of created.slice(0, 5)) {
        const stored = await store.getCertificate(party.key, c.externalCertificateId);
        assert.deepEqual(stored.subjectKeyIdentifier, c.subjectKeyIdentifier);
      }
      const entries = await store.exportAudit({ limit: 100_000 });
      const mine = entries.filter((e) => e.actor.startsWith('c') && e.action === 'CreateCertificate');
      assert.deepEqual(new Set(mine.map((e) => e.actor)).size, 40, 'one audit entry per write');
      assert.ok((await store.verifyAuditChain()).ok);
    });
  });
}

batchingSuite('write batching on PGlite', ONE_AT_A_TIME, async (writeBatching) => {
  const dir = tempDataDir();
  const store = await openKingdomStore({ dataDir: dir.dir, clock: new ManualClock(NOW), writeBatching });
  return { store, cleanup: async () => dir.remove() };
});

const onPostgres = async (writeBatching: WriteBatchingOptions) => {
  const db = await freshPostgresDatabase();
  const store = await openKingdomStore({ databaseUrl: db.url, clock: new ManualClock(NOW), writeBatching });
  return { store, cleanup: () => db.drop() };
};
batchingSuite('write batching on PostgreSQL', ONE_AT_A_TIME, onPostgres);
batchingSuite('write batching on PostgreSQL, a savepoint per write from the start', { ...ONE_AT_A_TIME, savepoints: 'always' }, onPostgres);

/**
 * A real deadlock between a batch and another transaction: the other side
 * holds certificate B and then asks for A, while the batch holds A (first
 * write) and waits for B (second write). The other side checks for
 * deadlocks only after a minute (a superuser setting, as the test server's
 * user is), so the batch's check finds the cycle and PostgreSQL aborts it.
 */
describe('write batching under conflicts on PostgreSQL', () => {
  let db: TestDatabase;
  const stores: SqlKingdomStore[] = [];

  before(async () => {
    db = await freshPostgresDatabase();
  });
  after(async () => {
    await Promise.all(stores.map((s) => s.close()));
    await db?.drop();
  });

  async function deadlockedBatch(options: WriteBatchingOptions) {
    const store = await openKingdomStore({ databaseUrl: db.url, clock: new ManualClock(NOW), writeBatching: options });
    stores.push(store);
    const { party } = await store.createParty(modelProviderInput());
    const owner = party.key;
    const a = await store.createCertificate({ actor: ADMIN, owner, certificate: certificateFacts() });
    const b = await store.createCertificate({ actor: ADMIN, owner, certificate: certificateFacts() });
    const chainBefore = await store.verifyAuditChain();
    assert.ok(chainBefore.ok);

    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query(`SET deadlock_timeout = '60s'`);
      await other.query('BEGIN');
      await other.query('SELECT 1 FROM certificates WHERE external_certificate_id = $1 FOR UPDATE', [b.externalCertificateId.toString()]);

      const first = store.createCertificate({ actor: 'w0', owner, certificate: certificateFacts() });
      const holdA = store.revokeCertificate({ actor: 'w1', owner, externalCertificateId: a.externalCertificateId, revocationState: 1 });
      const holdB = store.revokeCertificate({ actor: 'w2', owner, externalCertificateId: b.externalCertificateId, revocationState: 1 });
      const last = store.createCertificate({ actor: 'w3', owner, certificate: certificateFacts() });

      // Wait until the batch is blocked on B, then close the cycle.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const waiting = await other.query(
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
        );
        if ((waiting.rows[0] as { n: number }).n > 0) break;
        assert.ok(Date.now() < deadline, 'the batch never blocked on the held row');
        await new Promise((r) => setTimeout(r, 10));
      }
      await other.query('UPDATE certificates SET update_time = update_time WHERE external_certificate_id = $1', [
        a.externalCertificateId.toString(),
      ]);
      await other.query('COMMIT');

      const results = await Promise.all([first, holdA, holdB, last]);
      assert.equal(results.length, 4);
    } finally {
      await other.end();
    }
    assert.equal((await store.getCertificate(owner, a.externalCertificateId)).revocationState, 1);
    assert.equal((await store.getCertificate(owner, b.externalCertificateId)).revocationState, 1);
    const chain = await store.verifyAuditChain();
    assert.ok(chain.ok, 'the chain verifies');
    const entries = await store.exportAudit({ since: chainBefore.count });
    // The aborted attempt left nothing: one entry per write.
    assert.deepEqual(entries.map((e) => e.actor).sort(), ['w0', 'w1', 'w2', 'w3']);
    return store.writeStats;
  }

  it('reruns a batch that PostgreSQL aborts as a deadlock victim', async () => {
    const stats = await deadlockedBatch({ concurrency: 1 });
    assert.equal(stats.largestBatch, 4);
    assert.ok(stats.batchRetries >= 1, `batch retried (${stats.batchRetries})`);
    assert.equal(stats.fallbacks, 0);
  });

  it('runs the writes of a batch one by one when the batch keeps conflicting', async () => {
    const stats = await deadlockedBatch({ concurrency: 1, batchAttempts: 1 });
    assert.equal(stats.batchRetries, 0);
    assert.equal(stats.fallbacks, 1);
  });
});
