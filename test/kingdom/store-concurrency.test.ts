import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import {
  type CertificateRecord,
  type PartyKey,
  type PartyRecord,
  type SqlKingdomStore,
  StoreError,
  migrations,
  openKingdomStore,
} from '../../src/kingdom/store/index.js';
import { NOW, type TestDatabase, certificateFacts, freshPostgresDatabase, publicKeyFacts, randomSkid } from './store-fixtures.js';

/**
 * Two store instances (as two server replicas) on one PostgreSQL database,
 * each with a small pool, take 200 writes at once plus measurement creations
 * racing the revocations. Afterwards the data must agree with itself and
 * with the audit log, and the chain must verify.
 */

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const nameKey = (k: PartyKey) => `${k.kind}/${k.id}`;

/** A deterministic generator so a failing mix can be replayed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

describe('KingdomStore under concurrent writers on PostgreSQL', () => {
  let db: TestDatabase;
  let replicas: SqlKingdomStore[] = [];
  const clock = new ManualClock(NOW);

  before(async () => {
    db = await freshPostgresDatabase();
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await db?.drop();
  });

  it('runs migrations once when replicas start together', async () => {
    replicas = await Promise.all([0, 1, 2].map(() => openKingdomStore({ databaseUrl: db.url, clock, poolSize: 4 })));
    const rows = await replicas[0]!.database.query<{ version: number }>('SELECT version FROM schema_migrations');
    assert.deepEqual(rows.map((r) => Number(r.version)).sort((a, b) => a - b), migrations.map((m) => m.version));
  });

  it('retries a transaction that PostgreSQL aborts as a deadlock victim', async () => {
    const d = replicas[0]!.database;
    await d.exec('CREATE TABLE halo_test_locks (id int PRIMARY KEY, n int NOT NULL); INSERT INTO halo_test_locks VALUES (1, 0), (2, 0);');
    let attempts = 0;
    let arrived = 0;
    let release: () => void = () => {};
    const bothHoldOneRow = new Promise<void>((resolve) => (release = resolve));
    // Each transaction locks one row, waits until the other holds its row, then
    // asks for the other's: a real deadlock that the server breaks by aborting one.
    const crossed = (first: number, second: number) =>
      d.transaction(async (tx) => {
        attempts++;
        await tx.query('UPDATE halo_test_locks SET n = n + 1 WHERE id = $1', [first]);
        if (++arrived === 2) release();
        await bothHoldOneRow;
        await tx.query('UPDATE halo_test_locks SET n = n + 1 WHERE id = $1', [second]);
      });
    await Promise.all([crossed(1, 2), crossed(2, 1)]);
    // A busy server has aborted more than one attempt here; what matters is
    // that the aborts were retried and each update committed exactly once.
    assert.ok(attempts >= 3, `the victim ran once more (${attempts} attempts)`);
    const rows = await d.query<{ n: number }>('SELECT n FROM halo_test_locks ORDER BY id');
    assert.deepEqual(rows.map((r) => r.n), [2, 2]);
    await d.exec('DROP TABLE halo_test_locks');
  });

  it('leaves a consistent state and a valid audit chain after 200 parallel writes', async () => {
    const [a, b] = replicas;
    assert.ok(a && b);
    const pick = <T>(xs: readonly T[], r: () => number): T => xs[Math.floor(r() * xs.length)] as T;
    const rand = prng(20260601);

    // Parties, each with a few certificates.
    const parties: { key: PartyKey; certs: CertificateRecord[] }[] = [];
    for (const kind of ['DATA_PROVIDER', 'DATA_PROVIDER', 'DATA_PROVIDER', 'MEASUREMENT_CONSUMER', 'MEASUREMENT_CONSUMER'] as const) {
      const made = await a.createParty({
        actor: 'admin',
        kind,
        rootCertificateDer: new Uint8Array([0x30]),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: certificateFacts(),
        publicKey: publicKeyFacts(),
      });
      const certs = [made.certificate];
      for (let i = 0; i < 5; i++) certs.push(await a.createCertificate({ actor: 'admin', owner: made.party.key, certificate: certificateFacts() }));
      parties.push({ key: made.party.key, certs });
    }
    const dps = parties.filter((p) => p.key.kind === 'DATA_PROVIDER');
    const mcs = parties.filter((p) => p.key.kind === 'MEASUREMENT_CONSUMER');
    const allCerts = parties.flatMap((p) => p.certs.map((c) => ({ owner: p.key, cert: c })));
    // Certificates 1 and 2 of each party are never revoked and receive the key
    // updates; 0 (the first key certificate) and 3-5 may be held or revoked.
    const revocable = parties.flatMap((p) => p.certs.filter((_, i) => i === 0 || i >= 3).map((c) => ({ owner: p.key, cert: c })));
    const newMeasurement = (store: SqlKingdomStore, mc: (typeof parties)[number], certIndex: number, useDps: typeof dps) =>
      store.createMeasurement({
        actor: 'mc',
        measurementConsumerId: mc.key.id as bigint,
        measurementConsumerCertificateId: (mc.certs[certIndex] as CertificateRecord).externalCertificateId,
        measurementSpec: new Uint8Array([1]),
        dataProviders: useDps.map((d) => ({
          dataProviderId: d.key.id as bigint,
          dataProviderPublicKey: new Uint8Array([2]),
          encryptedRequisitionSpec: new Uint8Array([3]),
          nonceHash: new Uint8Array([4]),
        })),
      });
    // Pending measurements for the revocations to cascade into.
    const pendingBefore: bigint[] = [];
    for (let i = 0; i < 24; i++) {
      const m = await newMeasurement(a, pick(mcs, rand), pick([0, 1, 3], rand), dps.filter((_, j) => (i >> j) & 1 || j === i % 3));
      pendingBefore.push(m.externalMeasurementId);
    }
    const auditBefore = await a.verifyAuditChain();
    assert.ok(auditBefore.ok);

    // SKIDs drawn from a small pool so that concurrent creations collide.
    const skidPool = Array.from({ length: 40 }, () => randomSkid());
    type Outcome = { op: string; ok: boolean; code?: string; reason?: string; detail?: unknown };
    const ops: (() => Promise<Outcome>)[] = [];
    const attempt = async (op: string, fn: () => Promise<unknown>): Promise<Outcome> => {
      try {
        return { op, ok: true, detail: await fn() };
      } catch (err) {
        if (err instanceof StoreError) return { op, ok: false, code: err.code, reason: err.reason };
        throw err;
      }
    };
    for (let i = 0; i < 200; i++) {
      const store = i % 2 === 0 ? a : b;
      const r = rand();
      if (r < 0.4) {
        const party = pick([...dps, ...mcs], rand);
        const cert = party.certs[rand() < 0.5 ? 1 : 2] as CertificateRecord;
        const key = publicKeyFacts();
        ops.push(() =>
          attempt('UpdatePublicKey', () =>
            store.updatePublicKey({ actor: 'p', owner: party.key, certificateId: cert.externalCertificateId, publicKey: key }),
          ),
        );
      } else if (r < 0.7) {
        const party = pick(parties, rand);
        const skid = pick(skidPool, rand);
        ops.push(() =>
          attempt('CreateCertificate', () =>
            store.createCertificate({ actor: 'p', owner: party.key, certificate: certificateFacts({ skid }) }),
          ),
        );
      } else {
        const { owner, cert } = pick(revocable, rand);
        const state = rand() < 0.5 ? 1 : 2;
        ops.push(() =>
          attempt(`Revoke${state}`, () =>
            store.revokeCertificate({ actor: 'p', owner, externalCertificateId: cert.externalCertificateId, revocationState: state }),
          ),
        );
      }
    }
    // Measurement creations race the revocations of the certificates they use.
    for (let i = 0; i < 30; i++) {
      const store = i % 2 === 0 ? b : a;
      const mc = pick(mcs, rand);
      const certIndex = Math.floor(rand() * mc.certs.length);
      const chosen = dps.filter(() => rand() < 0.5);
      const useDps = chosen.length > 0 ? chosen : [pick(dps, rand)];
      ops.push(() => attempt('CreateMeasurement', () => newMeasurement(store, mc, certIndex, useDps)));
    }
    // Shuffle, then start everything at once.
    for (let i = ops.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [ops[i], ops[j]] = [ops[j]!, ops[i]!];
    }
    const outcomes = await Promise.all(ops.map((f) => f()));

    // Only the expected refusals; nothing aborted, nothing internal.
    const allowed = new Set([
      'ALREADY_EXISTS/CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
      'FAILED_PRECONDITION/CERTIFICATE_REVOCATION_STATE_ILLEGAL',
      'FAILED_PRECONDITION/CERTIFICATE_IS_INVALID',
    ]);
    for (const o of outcomes.filter((x) => !x.ok)) assert.ok(allowed.has(`${o.code}/${o.reason}`), `${o.op}: ${o.code}/${o.reason}`);
    const succeeded = (op: string) => outcomes.filter((o) => o.ok && o.op.startsWith(op)).length;
    const created = succeeded('CreateCertificate');
    const updates = succeeded('UpdatePublicKey');
    const revokes = succeeded('Revoke');
    const measurements = succeeded('CreateMeasurement');
    const writes = created + updates + revokes;
    console.log(
      `concurrency: ${outcomes.length} calls, ${writes} writes succeeded (${created} certificates, ${updates} key updates, ` +
        `${revokes} revocations), ${measurements} measurements created, ` +
        `${outcomes.filter((o) => !o.ok).length} refused as expected`,
    );
    assert.ok(updates > 0 && revokes > 0 && created > 0);

    const q = a.database;
    // Each SKID of the pool that anyone tried was created exactly once.
    const attemptedSkids = outcomes.filter((o) => o.op === 'CreateCertificate');
    const skidRows = await q.query<{ n: bigint }>(
      `SELECT count(*)::bigint AS n FROM certificates WHERE subject_key_identifier IN
         (SELECT decode(h, 'hex') FROM unnest($1::text[]) AS h)`,
      [skidPool.map((s) => Buffer.from(s).toString('hex'))],
    );
    assert.equal(Number(skidRows[0]?.n), created);
    assert.ok(created <= skidPool.length && created < attemptedSkids.length);
    const dupes = await q.query('SELECT subject_key_identifier FROM certificates GROUP BY 1 HAVING count(*) > 1');
    assert.equal(dupes.length, 0);

    // Every public key points at a certificate of its own party, and matches the last audited update.
    const foreignKeys = await q.query(
      `SELECT p.party_id FROM parties p JOIN certificates c ON c.certificate_id = p.public_key_certificate_id
        WHERE c.party_id <> p.party_id`,
    );
    assert.equal(foreignKeys.length, 0);
    const audit = await a.exportAudit();
    for (const party of [...dps, ...mcs]) {
      const current: PartyRecord = await a.getParty(party.key);
      const resource = `${current.key.kind === 'DATA_PROVIDER' ? 'dataProviders' : 'measurementConsumers'}/`;
      const last = audit
        .filter((e) => e.action === 'UpdatePublicKey' && e.resource.startsWith(resource) && e.resource.endsWith('/publicKey'))
        .filter((e) => e.resource === `${resource}${Buffer.from(bigintBytes(current.key.id as bigint)).toString('base64url')}/publicKey`)
        .at(-1);
      assert.ok(last, `audit has the key updates of ${nameKey(party.key)}`);
      assert.equal((last.after as { publicKeySha256: string }).publicKeySha256, sha256(current.publicKey?.publicKey ?? new Uint8Array()));
    }

    // Revocation states agree with the last audited transition, and REVOKED is final.
    for (const { owner, cert } of allCerts) {
      const now: CertificateRecord = await a.getCertificate(owner, cert.externalCertificateId);
      const entries = audit.filter((e) => e.action === 'RevokeCertificate' && e.resource.endsWith(`/certificates/${Buffer.from(bigintBytes(cert.externalCertificateId)).toString('base64url')}`));
      const last = entries.at(-1);
      const expected = last === undefined ? 'REVOCATION_STATE_UNSPECIFIED' : (last.after as { revocationState: string }).revocationState;
      assert.equal(['REVOCATION_STATE_UNSPECIFIED', 'HOLD', 'REVOKED'][now.revocationState], expected);
      const firstRevoked = entries.findIndex((e) => (e.after as { revocationState: string }).revocationState === 'REVOKED');
      if (firstRevoked >= 0) assert.ok(entries.slice(firstRevoked).every((e) => (e.after as { revocationState: string }).revocationState === 'REVOKED'));
    }
    assert.equal(audit.filter((e) => e.action === 'RevokeCertificate').length, revokes);
    assert.equal(audit.filter((e) => e.action === 'CreateMeasurement').length, measurements + pendingBefore.length);

    // No pending measurement depends on a certificate that is on hold or revoked.
    const orphans = await q.query(
      `SELECT m.measurement_id FROM measurements m
        WHERE m.state IN ('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING') AND (
          EXISTS (SELECT 1 FROM certificates c WHERE c.certificate_id = m.measurement_consumer_certificate_id AND c.revocation_state <> 0)
          OR EXISTS (SELECT 1 FROM requisitions r JOIN certificates c ON c.certificate_id = r.data_provider_certificate_id
                      WHERE r.measurement_id = m.measurement_id AND r.state = 'UNFULFILLED' AND c.revocation_state <> 0))`,
    );
    assert.equal(orphans.length, 0);
    // Every failed measurement was failed by an audited cascade.
    const failedCount = await q.query<{ n: bigint }>(`SELECT count(*)::bigint AS n FROM measurements WHERE state = 'FAILED'`);
    const failed = Number(failedCount[0]?.n);
    assert.equal(failed, audit.filter((e) => e.action === 'FailMeasurement').length);
    assert.ok(failed > 0, 'some revocation cascaded into a pending measurement');
    console.log(`concurrency: ${failed} measurements failed by cascades, audit chain of ${audit.length} entries verified`);

    const chain = await b.verifyAuditChain();
    assert.ok(chain.ok, JSON.stringify(chain, (_, v) => (typeof v === 'bigint' ? v.toString() : v)));
    assert.equal(chain.count, BigInt(audit.length));
    const seqs = audit.map((e) => e.seq);
    assert.ok(seqs.every((s, i) => s === BigInt(i + 1)));
    assert.ok(chain.count >= auditBefore.count + BigInt(writes + measurements));
  });
});

function bigintBytes(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return new Uint8Array(b);
}
