/**
 * The audit log records how each caller authenticated, inside the hash
 * chain, on both engines: entries written without it (as before the field
 * existed) keep the hash they always had, a chain mixing both verifies, and
 * editing the recorded credential breaks the chain at that row; through the
 * services, certificate, API-key and admin callers are each named.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { canonicalJson, openKingdomStore, RevocationState, type AuditAuthentication, type SqlKingdomStore } from '../../src/kingdom/store/index.js';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { as, createParty, openTestKingdom } from '../kingdom/fixtures.js';
import { NOW, certificateFacts, freshPostgresDatabase, publicKeyFacts, randomSkid, tempDataDir } from '../kingdom/store-fixtures.js';

const CERTIFICATE: AuditAuthentication = {
  method: 'clientCertificate',
  clientCertificateSha256: 'ab'.repeat(32),
  clientCertificateSkid: 'cd'.repeat(20),
};

for (const engine of ['pglite', 'postgres'] as const) {
  describe(`audit authentication (${engine})`, () => {
    const cleanups: (() => Promise<void> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    async function open(): Promise<SqlKingdomStore> {
      const clock = new ManualClock(NOW);
      if (engine === 'postgres') {
        const db = await freshPostgresDatabase();
        cleanups.push(() => db.drop());
        const store = await openKingdomStore({ databaseUrl: db.url, clock });
        cleanups.push(() => store.close());
        return store;
      }
      const dir = tempDataDir();
      cleanups.push(() => dir.remove());
      const store = await openKingdomStore({ dataDir: dir.dir, clock });
      cleanups.push(() => store.close());
      return store;
    }

    test('entries carry the credential, old-style entries hash as before, and an edited credential breaks the chain', async () => {
      const store = await open();
      // An entry as written before the field existed: a bare actor name.
      const { party, certificate } = await store.createParty({
        actor: 'kingdom-admin',
        kind: 'DATA_PROVIDER',
        displayName: 'dp',
        rootCertificateDer: new Uint8Array([0x30, 1]),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: certificateFacts(),
        publicKey: publicKeyFacts(),
      });
      const actor = { name: `dataProviders/${party.key.id}`, authentication: CERTIFICATE };
      await store.revokeCertificate({ actor, owner: party.key, externalCertificateId: certificate.externalCertificateId, revocationState: RevocationState.HOLD });

      const entries = await store.exportAudit();
      const old = entries.filter((e) => e.actor === 'kingdom-admin');
      assert.ok(old.length > 0);
      for (const e of old) {
        assert.equal(e.authentication, null);
        // The hash formula of entries without the field, written out independently.
        const body = canonicalJson({
          seq: e.seq.toString(),
          time: e.time.toISOString(),
          actor: e.actor,
          action: e.action,
          resource: e.resource,
          before: e.before,
          after: e.after,
        });
        const hash = createHash('sha256').update(e.prevHash).update(body, 'utf8').digest();
        assert.deepEqual(Buffer.from(e.hash), hash, `entry ${e.seq}`);
      }
      const held = entries.find((e) => e.action === 'RevokeCertificate');
      assert.ok(held);
      assert.equal(held.actor, actor.name);
      assert.deepEqual(held.authentication, CERTIFICATE);
      assert.deepEqual(await store.verifyAuditChain(), { ok: true, count: BigInt(entries.length), headHash: entries[entries.length - 1]!.hash });

      await store.database.query(`UPDATE audit_log SET authentication = $1::jsonb WHERE seq = $2`, [
        JSON.stringify({ method: 'adminToken' }),
        held.seq.toString(),
      ]);
      const tampered = await store.verifyAuditChain();
      assert.equal(tampered.ok, false);
      assert.equal(!tampered.ok && tampered.seq, held.seq);
    });
  });
}

describe('audit authentication through the services (in-memory transport, PGlite)', () => {
  test('a certificate caller is named by its certificate, an API-key caller by its key', async () => {
    const k = await openTestKingdom();
    try {
      const mc = await createParty(k, 'MEASUREMENT_CONSUMER');
      const key = await k.admin.createApiKey({ measurementConsumer: mc.name, nickname: 'audit' });
      await k.client(Certificates, { apiKey: key.authenticationKey }).revokeCertificate({ name: mc.signing.name, revocationState: Certificate_RevocationState.HOLD });
      await k.client(Certificates, as(mc)).releaseCertificateHold({ name: mc.signing.name });
      const entries = await k.store.exportAudit();
      const hold = entries.find((e) => e.action === 'RevokeCertificate');
      const release = entries.find((e) => e.action === 'ReleaseCertificateHold');
      assert.equal(hold?.actor, mc.name);
      assert.deepEqual(hold?.authentication, { method: 'apiKey', apiKey: key.name });
      assert.equal(release?.actor, mc.name);
      const tls = parseCertificate(mc.tlsCertificate);
      assert.deepEqual(release?.authentication, {
        method: 'clientCertificate',
        clientCertificateSha256: createHash('sha256').update(mc.tlsCertificate).digest('hex'),
        clientCertificateSkid: Buffer.from(tls.subjectKeyIdentifier!).toString('hex'),
      });
      const created = entries.find((e) => e.action === 'CreateApiKey');
      assert.deepEqual(created?.authentication, { method: 'adminToken' });
      assert.equal((await k.store.verifyAuditChain()).ok, true);
    } finally {
      await k.close();
    }
  });
});
