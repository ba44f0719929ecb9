import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import {
  type CertificateRecord,
  type KingdomStore,
  type MeasurementKey,
  type PartyKey,
  type PartyRecord,
  type SqlKingdomStore,
  StoreError,
  dataProvider,
  duchy,
  migrate,
  migrations,
  modelProvider,
  openKingdomStore,
} from '../../src/kingdom/store/index.js';
import {
  DAY,
  NOW,
  certificateFacts,
  cmmsCertificate,
  cmmsFile,
  freshPostgresDatabase,
  publicKeyFacts,
  randomSkid,
  tempDataDir,
} from './store-fixtures.js';

const ADMIN = 'admin';

/** Asserts a StoreError with this code and reason. */
async function rejectsWith(p: Promise<unknown>, code: string, reason: string): Promise<StoreError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof StoreError, `expected a StoreError ${code}/${reason}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const keyOf = (m: { measurementConsumerId: bigint; externalMeasurementId: bigint }): string =>
  `${m.measurementConsumerId}/${m.externalMeasurementId}`;

interface Backend {
  open(clock: ManualClock): Promise<SqlKingdomStore>;
  /** Closes and opens the same database again (a restart, or a second replica). */
  reopen(clock: ManualClock): Promise<SqlKingdomStore>;
  cleanup(): Promise<void>;
}

function storeSuite(name: string, makeBackend: () => Promise<Backend>): void {
  describe(name, () => {
    let backend: Backend;
    let store: SqlKingdomStore;
    const clock = new ManualClock(NOW);

    const newDataProvider = async (): Promise<{ party: PartyRecord; certificate: CertificateRecord }> =>
      store.createParty({
        actor: ADMIN,
        kind: 'DATA_PROVIDER',
        displayName: 'dp',
        rootCertificateDer: new Uint8Array([0x30, 1]),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: certificateFacts(),
        publicKey: publicKeyFacts(),
      });
    const newMeasurementConsumer = async () =>
      store.createParty({
        actor: ADMIN,
        kind: 'MEASUREMENT_CONSUMER',
        displayName: 'mc',
        rootCertificateDer: new Uint8Array([0x30, 2]),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: certificateFacts(),
        publicKey: publicKeyFacts(),
      });
    const newMeasurement = async (mc: bigint, mcCert: bigint, dps: readonly bigint[], requestId?: string) =>
      store.createMeasurement({
        actor: `measurementConsumers/${mc}`,
        measurementConsumerId: mc,
        measurementConsumerCertificateId: mcCert,
        measurementSpec: new Uint8Array([1, 2, 3, Number(mc % 200n)]),
        dataProviders: dps.map((dp) => ({
          dataProviderId: dp,
          dataProviderPublicKey: new Uint8Array([9, 9]),
          encryptedRequisitionSpec: new Uint8Array([7, 7, 7]),
          nonceHash: new Uint8Array(32).fill(5),
        })),
        ...(requestId === undefined ? {} : { requestId }),
      });
    const fulfill = async (dp: bigint, requisition: bigint, certificateId?: bigint) =>
      store.fulfillDirectRequisition({
        actor: 'dp',
        dataProviderId: dp,
        externalRequisitionId: requisition,
        encryptedResult: new Uint8Array([0xaa, Number(requisition % 200n)]),
        ...(certificateId === undefined ? {} : { certificateId }),
      });
    const requisitionOf = (m: { dataProviders: { dataProviderId: bigint; externalRequisitionId: bigint }[] }, dp: bigint) => {
      const e = m.dataProviders.find((x) => x.dataProviderId === dp);
      assert.ok(e, 'entry for data provider');
      return e.externalRequisitionId;
    };

    before(async () => {
      backend = await makeBackend();
      store = await backend.open(clock);
    });
    after(async () => {
      await store?.close();
      await backend?.cleanup();
    });

    it('creates each kind of party with its first certificate and public key in one step', async () => {
      const dp = await newDataProvider();
      assert.equal(dp.party.key.kind, 'DATA_PROVIDER');
      const got = await store.getParty(dp.party.key);
      assert.equal(got.displayName, 'dp');
      assert.equal(got.publicKey?.certificateId, dp.certificate.externalCertificateId);
      assert.deepEqual(got.publicKey?.publicKey, dp.party.publicKey?.publicKey);
      assert.equal(got.publicKey?.apiVersion, 'v2alpha');
      const cert = await store.getCertificate(dp.party.key, dp.certificate.externalCertificateId);
      assert.equal(cert.revocationState, 0);
      assert.deepEqual(cert.owner, dp.party.key);

      const mp = await store.createParty({
        actor: ADMIN,
        kind: 'MODEL_PROVIDER',
        rootCertificateDer: new Uint8Array([0x30, 3]),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: certificateFacts(),
      });
      assert.equal((await store.getParty(mp.party.key)).publicKey, null);

      const rootSkid = randomSkid();
      const duchyId = `worker${Math.floor(Math.random() * 1e9)}`;
      const d = await store.createParty({
        actor: ADMIN,
        kind: 'DUCHY',
        duchyId,
        rootCertificateDer: new Uint8Array([0x30, 4]),
        rootSubjectKeyIdentifier: rootSkid,
        certificate: certificateFacts(),
      });
      assert.deepEqual(d.party.key, duchy(duchyId));
      assert.deepEqual((await store.findDuchyByRootSkid(rootSkid))?.key, duchy(duchyId));
      assert.equal(await store.findDuchyByRootSkid(randomSkid()), null);
      assert.equal(await store.lookupAkidPrincipal(rootSkid), `duchies/${duchyId}`);

      await rejectsWith(
        store.createParty({
          actor: ADMIN,
          kind: 'DUCHY',
          duchyId,
          rootCertificateDer: new Uint8Array([0x30, 4]),
          rootSubjectKeyIdentifier: randomSkid(),
          certificate: certificateFacts(),
        }),
        'ALREADY_EXISTS',
        'DUCHY_ALREADY_EXISTS',
      );
      // A DataProvider needs its public key; a ModelProvider must not have one.
      await rejectsWith(
        store.createParty({
          actor: ADMIN,
          kind: 'DATA_PROVIDER',
          rootCertificateDer: new Uint8Array([0x30]),
          rootSubjectKeyIdentifier: randomSkid(),
          certificate: certificateFacts(),
        }),
        'INVALID_ARGUMENT',
        'REQUIRED_FIELD_NOT_SET',
      );
      await rejectsWith(
        store.createParty({
          actor: ADMIN,
          kind: 'MODEL_PROVIDER',
          rootCertificateDer: new Uint8Array([0x30]),
          rootSubjectKeyIdentifier: randomSkid(),
          certificate: certificateFacts(),
          publicKey: publicKeyFacts(),
        }),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(store.getParty(dataProvider(123456789n)), 'NOT_FOUND', 'DATA_PROVIDER_NOT_FOUND');
      await rejectsWith(store.getParty(duchy('nobody')), 'NOT_FOUND', 'DUCHY_NOT_FOUND');
    });

    it('lists every participant root once, for the TLS layer', async () => {
      const a = await newDataProvider();
      const b = await newMeasurementConsumer();
      const roots = (await store.listParticipantRoots()).map((r) => Buffer.from(r).toString('hex'));
      for (const party of [a.party, b.party]) {
        assert.equal(roots.filter((r) => r === Buffer.from(party.rootCertificateDer!).toString('hex')).length, 1);
      }
      assert.equal(new Set(roots).size, roots.length);
    });

    it('refuses values the database cannot hold with INVALID_ARGUMENT, and bad ids before any query', async () => {
      await rejectsWith(
        store.createParty({
          actor: ADMIN,
          kind: 'MODEL_PROVIDER',
          displayName: 'nul\u0000byte',
          rootCertificateDer: new Uint8Array([0x30]),
          rootSubjectKeyIdentifier: randomSkid(),
          certificate: certificateFacts(),
        }),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(store.getCertificate(dataProvider(-5n), 1n), 'INVALID_ARGUMENT', 'INVALID_FIELD_VALUE');
      await rejectsWith(store.getCertificate(dataProvider(1n), 1n << 63n), 'INVALID_ARGUMENT', 'INVALID_FIELD_VALUE');
      await rejectsWith(
        store.getCertificate({ kind: 'BOGUS' } as unknown as PartyKey, 1n),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(
        store.createCertificate({ actor: '', owner: dataProvider(1n), certificate: certificateFacts() }),
        'INVALID_ARGUMENT',
        'REQUIRED_FIELD_NOT_SET',
      );
    });

    it('keeps a real CMMS certificate DER byte for byte', async () => {
      const cert = cmmsCertificate('edp1_cs_cert.der');
      const dp = await store.createParty({
        actor: ADMIN,
        kind: 'DATA_PROVIDER',
        displayName: 'Edp1',
        rootCertificateDer: cmmsFile('edp1_root.pem'),
        rootSubjectKeyIdentifier: randomSkid(),
        certificate: cert,
        publicKey: publicKeyFacts(),
      });
      const got = await store.getCertificate(dp.party.key, dp.certificate.externalCertificateId);
      assert.deepEqual(got.x509Der, cert.x509Der);
      assert.equal(sha256(got.x509Der), sha256(cmmsFile('edp1_cs_cert.der')));
      assert.equal(Buffer.from(got.subjectKeyIdentifier).toString('hex'), 'eebb58ee594e7175b1b2e0198fd3e094a3945926');
      assert.equal(got.notValidBefore.toISOString(), '2022-07-29T18:18:21.000Z');
      assert.equal(got.notValidAfter.toISOString(), '2032-07-26T18:18:21.000Z');
    });

    it('keeps SKIDs unique across every owner and owner type', async () => {
      const dp = await newDataProvider();
      const mc = await newMeasurementConsumer();
      const skid = randomSkid();
      await store.createCertificate({ actor: ADMIN, owner: dp.party.key, certificate: certificateFacts({ skid }) });
      for (const owner of [dp.party.key, mc.party.key]) {
        const err = await rejectsWith(
          store.createCertificate({ actor: ADMIN, owner, certificate: certificateFacts({ skid }) }),
          'ALREADY_EXISTS',
          'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
        );
        assert.match(err.message, /subject key identifier/);
      }
      // Also against a party's first certificate.
      await rejectsWith(
        store.createParty({
          actor: ADMIN,
          kind: 'MODEL_PROVIDER',
          rootCertificateDer: new Uint8Array([0x30]),
          rootSubjectKeyIdentifier: randomSkid(),
          certificate: certificateFacts({ skid }),
        }),
        'ALREADY_EXISTS',
        'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
      );
      const page = await store.listCertificates({ owner: mc.party.key, subjectKeyIdentifiers: [skid] });
      assert.equal(page.items.length, 0);
      await rejectsWith(
        store.createCertificate({ actor: ADMIN, owner: dataProvider(424242n), certificate: certificateFacts() }),
        'NOT_FOUND',
        'DATA_PROVIDER_NOT_FOUND',
      );
      await rejectsWith(
        store.createCertificate({ actor: ADMIN, owner: duchy('absent'), certificate: certificateFacts() }),
        'NOT_FOUND',
        'DUCHY_NOT_FOUND',
      );
      await rejectsWith(
        store.getCertificate(mc.party.key, dp.certificate.externalCertificateId),
        'NOT_FOUND',
        'CERTIFICATE_NOT_FOUND',
      );
    });

    it('lists by parent in upstream order with a SKID filter that holds across pages', async () => {
      const a = await newDataProvider();
      const b = await newDataProvider();
      const mine: CertificateRecord[] = [a.certificate];
      // Shared notValidBefore values exercise the external-id tie-break.
      const starts = [10, 20, 20, 20, 30, 40, 40, 50, 60].map((d) => new Date(NOW.getTime() - d * DAY));
      for (const s of starts) {
        mine.push(await store.createCertificate({ actor: ADMIN, owner: a.party.key, certificate: certificateFacts({ notValidBefore: s }) }));
        // The other parent of the same type gets interleaved certificates that must never show up.
        await store.createCertificate({ actor: ADMIN, owner: b.party.key, certificate: certificateFacts({ notValidBefore: s }) });
      }
      const expected = [...mine].sort(
        (x, y) =>
          y.notValidBefore.getTime() - x.notValidBefore.getTime() ||
          (x.externalCertificateId < y.externalCertificateId ? -1 : 1),
      );
      const walk = async (owner: PartyKey, limit: number, skids?: Uint8Array[]) => {
        const seen: CertificateRecord[] = [];
        let after: Awaited<ReturnType<KingdomStore['listCertificates']>>['next'] = null;
        let pages = 0;
        do {
          const page = await store.listCertificates({
            owner,
            limit,
            ...(after === null ? {} : { after }),
            ...(skids === undefined ? {} : { subjectKeyIdentifiers: skids }),
          });
          assert.ok(page.items.length <= limit);
          seen.push(...page.items);
          after = page.next;
          pages++;
        } while (after !== null && pages < 50);
        return { seen, pages };
      };
      const all = await walk(a.party.key, 3);
      assert.equal(all.pages, 4);
      assert.deepEqual(
        all.seen.map((c) => c.externalCertificateId),
        expected.map((c) => c.externalCertificateId),
      );
      assert.ok(all.seen.every((c) => c.owner.kind === 'DATA_PROVIDER' && c.owner.id === a.party.key.id));

      // Every third certificate, spread over pages; b's certificates share no SKIDs.
      const wanted = expected.filter((_, i) => i % 3 === 0);
      const filtered = await walk(a.party.key, 2, wanted.map((c) => c.subjectKeyIdentifier));
      assert.deepEqual(
        filtered.seen.map((c) => c.externalCertificateId),
        wanted.map((c) => c.externalCertificateId),
      );
      // a's SKIDs asked for under b: nothing leaks across parents.
      const cross = await walk(b.party.key, 2, wanted.map((c) => c.subjectKeyIdentifier));
      assert.equal(cross.seen.length, 0);
      const bAll = await walk(b.party.key, 100);
      assert.equal(bAll.seen.length, starts.length + 1);
      assert.ok(bAll.seen.every((c) => c.owner.id === b.party.key.id));
      await rejectsWith(store.listCertificates({ owner: a.party.key, limit: 0 }), 'INVALID_ARGUMENT', 'INVALID_FIELD_VALUE');
    });

    it('follows the revocation state machine of §2.5 and §2.6 exactly', async () => {
      const dp = await newDataProvider();
      const names = ['UNSPECIFIED', 'HOLD', 'REVOKED'] as const;
      const reach = async (state: 0 | 1 | 2) => {
        const c = await store.createCertificate({ actor: ADMIN, owner: dp.party.key, certificate: certificateFacts() });
        if (state !== 0) await store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: c.externalCertificateId, revocationState: state });
        return c.externalCertificateId;
      };
      // [from, requested, expected state or error]
      const revokeTable: [0 | 1 | 2, 1 | 2, 0 | 1 | 2 | 'ILLEGAL'][] = [
        [0, 1, 1],
        [0, 2, 2],
        [1, 1, 1],
        [1, 2, 2],
        [2, 1, 'ILLEGAL'],
        [2, 2, 2],
      ];
      let checked = 0;
      for (const [from, requested, want] of revokeTable) {
        const id = await reach(from);
        const call = store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: id, revocationState: requested });
        if (want === 'ILLEGAL') {
          const err = await rejectsWith(call, 'FAILED_PRECONDITION', 'CERTIFICATE_REVOCATION_STATE_ILLEGAL');
          assert.equal(err.metadata['certificationRevocationState'], 'REVOKED');
          assert.equal((await store.getCertificate(dp.party.key, id)).revocationState, from);
        } else {
          const res = await call;
          assert.equal(res.certificate.revocationState, want, `${names[from]} -> ${names[requested]}`);
          assert.equal((await store.getCertificate(dp.party.key, id)).revocationState, want);
        }
        checked++;
      }
      const releaseTable: [0 | 1 | 2, 0 | 'ILLEGAL'][] = [
        [0, 'ILLEGAL'],
        [1, 0],
        [2, 'ILLEGAL'],
      ];
      for (const [from, want] of releaseTable) {
        const id = await reach(from);
        const call = store.releaseCertificateHold({ actor: ADMIN, owner: dp.party.key, externalCertificateId: id });
        if (want === 'ILLEGAL') {
          await rejectsWith(call, 'FAILED_PRECONDITION', 'CERTIFICATE_REVOCATION_STATE_ILLEGAL');
          assert.equal((await store.getCertificate(dp.party.key, id)).revocationState, from);
        } else {
          assert.equal((await call).revocationState, 0);
        }
        checked++;
      }
      assert.equal(checked, 9);
      const id = await reach(0);
      await rejectsWith(
        store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: id, revocationState: 0 }),
        'INVALID_ARGUMENT',
        'REQUIRED_FIELD_NOT_SET',
      );
      await rejectsWith(
        store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: 987654321n, revocationState: 2 }),
        'NOT_FOUND',
        'CERTIFICATE_NOT_FOUND',
      );
      // Revoking under the wrong parent is not found, even for an existing id.
      const other = await newDataProvider();
      await rejectsWith(
        store.revokeCertificate({ actor: ADMIN, owner: other.party.key, externalCertificateId: id, revocationState: 2 }),
        'NOT_FOUND',
        'CERTIFICATE_NOT_FOUND',
      );
    });

    it('fails exactly the pending measurements of a held MeasurementConsumer certificate', async () => {
      const mc = await newMeasurementConsumer();
      const dp1 = await newDataProvider();
      const dp2 = await newDataProvider();
      const mcId = mc.party.key.id as bigint;
      const certA = mc.certificate.externalCertificateId;
      const certB = (await store.createCertificate({ actor: ADMIN, owner: mc.party.key, certificate: certificateFacts() })).externalCertificateId;
      const dps = [dp1.party.key.id as bigint, dp2.party.key.id as bigint];
      const pendingA1 = await newMeasurement(mcId, certA, dps);
      const pendingA2 = await newMeasurement(mcId, certA, dps.slice(0, 1));
      const pendingB = await newMeasurement(mcId, certB, dps);
      const succeededA = await newMeasurement(mcId, certA, dps.slice(0, 1));
      await fulfill(dps[0] as bigint, requisitionOf(succeededA, dps[0] as bigint));
      const cancelledA = await newMeasurement(mcId, certA, dps.slice(1));
      await store.cancelMeasurement({ actor: 'mc', measurementConsumerId: mcId, externalMeasurementId: cancelledA.externalMeasurementId });
      // Another MC's measurements are untouched.
      const otherMc = await newMeasurementConsumer();
      const otherMcId = otherMc.party.key.id as bigint;
      const foreign = await newMeasurement(otherMcId, otherMc.certificate.externalCertificateId, dps);

      const blast = await store.certificateBlastRadius(mc.party.key, certA);
      assert.deepEqual(blast.pendingMeasurements.map(keyOf).sort(), [pendingA1, pendingA2].map(keyOf).sort());
      assert.equal(blast.publicKeyReferences, true);

      const auditBefore = (await store.exportAudit()).length;
      const res = await store.revokeCertificate({ actor: ADMIN, owner: mc.party.key, externalCertificateId: certA, revocationState: 1 });
      assert.deepEqual(res.failedMeasurements.map(keyOf).sort(), [pendingA1, pendingA2].map(keyOf).sort());
      for (const m of [pendingA1, pendingA2]) {
        const got = await store.getMeasurement(mcId, m.externalMeasurementId);
        assert.equal(got.state, 'FAILED');
        assert.deepEqual(got.failure, {
          reason: 'CERTIFICATE_REVOKED',
          message: 'The associated Measurement Consumer certificate has been revoked.',
        });
        assert.ok(got.dataProviders.every((e) => e.requisitionState === 'WITHDRAWN'));
      }
      assert.equal((await store.getMeasurement(mcId, pendingB.externalMeasurementId)).state, 'AWAITING_REQUISITION_FULFILLMENT');
      assert.equal((await store.getMeasurement(mcId, succeededA.externalMeasurementId)).state, 'SUCCEEDED');
      assert.equal((await store.getMeasurement(mcId, cancelledA.externalMeasurementId)).state, 'CANCELLED');
      assert.equal((await store.getMeasurement(otherMcId, foreign.externalMeasurementId)).state, 'AWAITING_REQUISITION_FULFILLMENT');
      // One revoke entry, two failures and three withdrawn requisitions, in order, in the same commit.
      const added = (await store.exportAudit()).slice(auditBefore);
      assert.deepEqual(
        added.map((e) => e.action),
        ['RevokeCertificate', 'FailMeasurement', 'FailMeasurement', 'WithdrawRequisition', 'WithdrawRequisition', 'WithdrawRequisition'],
      );
      const seqs = added.map((e) => e.seq);
      assert.ok(seqs.every((s, i) => i === 0 || s === (seqs[i - 1] as bigint) + 1n));

      // Releasing the hold does not revive them; a later REVOKED finds nothing more to fail.
      await store.releaseCertificateHold({ actor: ADMIN, owner: mc.party.key, externalCertificateId: certA });
      assert.equal((await store.getMeasurement(mcId, pendingA1.externalMeasurementId)).state, 'FAILED');
      const again = await store.revokeCertificate({ actor: ADMIN, owner: mc.party.key, externalCertificateId: certA, revocationState: 2 });
      assert.deepEqual(again.failedMeasurements, []);
      // ...and no new measurement can use it.
      await rejectsWith(newMeasurement(mcId, certA, dps), 'FAILED_PRECONDITION', 'CERTIFICATE_IS_INVALID');
    });

    it('fails only measurements whose DataProvider requisition with that certificate is unfulfilled', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const mcCert = mc.certificate.externalCertificateId;
      const dp = await newDataProvider();
      const dpId = dp.party.key.id as bigint;
      const other = await newDataProvider();
      const otherId = other.party.key.id as bigint;
      const k1 = dp.certificate.externalCertificateId;

      const usesK1 = await newMeasurement(mcId, mcCert, [dpId, otherId]);
      const fulfilledK1 = await newMeasurement(mcId, mcCert, [dpId, otherId]);
      await fulfill(dpId, requisitionOf(fulfilledK1, dpId));
      const withoutDp = await newMeasurement(mcId, mcCert, [otherId]);
      // The DataProvider rotates its key to a new certificate: later measurements use k2.
      const k2 = (await store.createCertificate({ actor: ADMIN, owner: dp.party.key, certificate: certificateFacts() })).externalCertificateId;
      await store.updatePublicKey({ actor: ADMIN, owner: dp.party.key, certificateId: k2, publicKey: publicKeyFacts() });
      const usesK2 = await newMeasurement(mcId, mcCert, [dpId]);
      assert.equal(usesK2.dataProviders[0]?.dataProviderCertificateId, k2);
      assert.equal(usesK1.dataProviders[0]?.dataProviderCertificateId, k1);

      const res = await store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: k1, revocationState: 2 });
      assert.deepEqual(res.failedMeasurements.map(keyOf), [keyOf(usesK1)]);
      const failed = await store.getMeasurement(mcId, usesK1.externalMeasurementId);
      assert.equal(failed.state, 'FAILED');
      assert.equal(failed.failure?.message, 'An associated Data Provider certificate has been revoked.');
      assert.deepEqual(
        failed.dataProviders.map((e) => e.requisitionState),
        ['WITHDRAWN', 'WITHDRAWN'],
      );
      for (const m of [fulfilledK1, withoutDp, usesK2]) {
        assert.equal((await store.getMeasurement(mcId, m.externalMeasurementId)).state, 'AWAITING_REQUISITION_FULFILLMENT');
      }
      const withdrawn = await store.listRequisitions({ dataProviderId: dpId, states: ['WITHDRAWN'] });
      assert.deepEqual(withdrawn.items.map((r) => r.externalRequisitionId), [requisitionOf(usesK1, dpId)]);
    });

    it('rolls back the revocation and its cascade together when any part fails', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const dp = await newDataProvider();
      const m = await newMeasurement(mcId, mc.certificate.externalCertificateId, [dp.party.key.id as bigint]);
      const auditBefore = await store.verifyAuditChain();
      assert.ok(auditBefore.ok);
      // A trigger that makes the cascade's update fail stands in for a crash mid-transaction.
      await store.database.exec(`
        CREATE FUNCTION halo_test_refuse_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$;
        CREATE TRIGGER halo_test_refuse_fail BEFORE UPDATE ON measurements
          FOR EACH ROW WHEN (NEW.state = 'FAILED') EXECUTE FUNCTION halo_test_refuse_fail();`);
      try {
        await rejectsWith(
          store.revokeCertificate({ actor: ADMIN, owner: mc.party.key, externalCertificateId: mc.certificate.externalCertificateId, revocationState: 2 }),
          'INTERNAL',
          'DATABASE_ERROR',
        );
      } finally {
        await store.database.exec('DROP TRIGGER halo_test_refuse_fail ON measurements; DROP FUNCTION halo_test_refuse_fail();');
      }
      assert.equal((await store.getCertificate(mc.party.key, mc.certificate.externalCertificateId)).revocationState, 0);
      assert.equal((await store.getMeasurement(mcId, m.externalMeasurementId)).state, 'AWAITING_REQUISITION_FULFILLMENT');
      const auditAfter = await store.verifyAuditChain();
      assert.ok(auditAfter.ok);
      assert.equal(auditAfter.count, auditBefore.count);
    });

    it('updates a public key only with a certificate of the same owner', async () => {
      const dp = await newDataProvider();
      const other = await newDataProvider();
      const c2 = await store.createCertificate({ actor: ADMIN, owner: dp.party.key, certificate: certificateFacts() });
      const key = publicKeyFacts();
      const updated = await store.updatePublicKey({ actor: 'dp', owner: dp.party.key, certificateId: c2.externalCertificateId, publicKey: key });
      assert.equal(updated.publicKey?.certificateId, c2.externalCertificateId);
      const got = await store.getParty(dp.party.key);
      assert.deepEqual(got.publicKey?.publicKey, key.publicKey);
      assert.deepEqual(got.publicKey?.signature, key.signature);
      assert.equal(got.publicKey?.certificateId, c2.externalCertificateId);

      await rejectsWith(
        store.updatePublicKey({ actor: 'dp', owner: dp.party.key, certificateId: other.certificate.externalCertificateId, publicKey: publicKeyFacts() }),
        'FAILED_PRECONDITION',
        'CERTIFICATE_NOT_FOUND',
      );
      await rejectsWith(
        store.updatePublicKey({ actor: 'dp', owner: dataProvider(31337n), certificateId: c2.externalCertificateId, publicKey: publicKeyFacts() }),
        'NOT_FOUND',
        'DATA_PROVIDER_NOT_FOUND',
      );
      await rejectsWith(
        store.updatePublicKey({ actor: 'dp', owner: modelProvider(1n), certificateId: 1n, publicKey: publicKeyFacts() }),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(
        store.updatePublicKey({
          actor: 'dp',
          owner: dp.party.key,
          certificateId: c2.externalCertificateId,
          publicKey: { ...publicKeyFacts(), signature: new Uint8Array() },
        }),
        'INVALID_ARGUMENT',
        'REQUIRED_FIELD_NOT_SET',
      );
      // Upstream lets a key point at a revoked certificate; strict callers ask the store to refuse it.
      await store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: dp.certificate.externalCertificateId, revocationState: 2 });
      await rejectsWith(
        store.updatePublicKey({
          actor: 'dp',
          owner: dp.party.key,
          certificateId: dp.certificate.externalCertificateId,
          publicKey: publicKeyFacts(),
          requireValidCertificate: true,
        }),
        'FAILED_PRECONDITION',
        'CERTIFICATE_IS_INVALID',
      );
      assert.equal((await store.getParty(dp.party.key)).publicKey?.certificateId, c2.externalCertificateId);
      const compat = await store.updatePublicKey({
        actor: 'dp',
        owner: dp.party.key,
        certificateId: dp.certificate.externalCertificateId,
        publicKey: publicKeyFacts(),
      });
      assert.equal(compat.publicKey?.certificateId, dp.certificate.externalCertificateId);
    });

    it('runs a measurement to SUCCEEDED, FAILED by refusal, and CANCELLED', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const mcCert = mc.certificate.externalCertificateId;
      const dp1 = await newDataProvider();
      const dp2 = await newDataProvider();
      const [d1, d2] = [dp1.party.key.id as bigint, dp2.party.key.id as bigint];

      const m = await newMeasurement(mcId, mcCert, [d1, d2]);
      assert.equal(m.state, 'AWAITING_REQUISITION_FULFILLMENT');
      assert.deepEqual(m.dataProviders.map((e) => e.dataProviderId), [d1, d2]);
      assert.deepEqual(m.dataProviders.map((e) => e.dataProviderCertificateId), [
        dp1.certificate.externalCertificateId,
        dp2.certificate.externalCertificateId,
      ]);
      const open = await store.listRequisitions({ dataProviderId: d1, states: ['UNFULFILLED'] });
      assert.ok(open.items.some((r) => r.externalMeasurementId === m.externalMeasurementId));

      const r1 = await fulfill(d1, requisitionOf(m, d1));
      assert.equal(r1.state, 'FULFILLED');
      assert.equal(r1.measurementState, 'AWAITING_REQUISITION_FULFILLMENT');
      await rejectsWith(fulfill(d1, requisitionOf(m, d1)), 'FAILED_PRECONDITION', 'REQUISITION_STATE_ILLEGAL');
      // A certificate of another DataProvider cannot sign this result.
      await rejectsWith(
        fulfill(d2, requisitionOf(m, d2), dp1.certificate.externalCertificateId),
        'FAILED_PRECONDITION',
        'CERTIFICATE_NOT_FOUND',
      );
      const r2 = await fulfill(d2, requisitionOf(m, d2));
      assert.equal(r2.measurementState, 'SUCCEEDED');
      const done = await store.getMeasurement(mcId, m.externalMeasurementId);
      assert.equal(done.state, 'SUCCEEDED');
      assert.deepEqual(
        done.results.map((r) => [r.certificateOwner.id, r.certificateId]),
        [
          [d1, dp1.certificate.externalCertificateId],
          [d2, dp2.certificate.externalCertificateId],
        ],
      );
      assert.deepEqual(done.results[1]?.encryptedResult, new Uint8Array([0xaa, Number(requisitionOf(m, d2) % 200n)]));
      await rejectsWith(
        store.cancelMeasurement({ actor: 'mc', measurementConsumerId: mcId, externalMeasurementId: m.externalMeasurementId }),
        'FAILED_PRECONDITION',
        'MEASUREMENT_STATE_ILLEGAL',
      );

      const refused = await newMeasurement(mcId, mcCert, [d1, d2]);
      const rr = await store.refuseRequisition({
        actor: 'dp',
        dataProviderId: d2,
        externalRequisitionId: requisitionOf(refused, d2),
        justification: 1,
        message: 'signature did not verify',
      });
      assert.equal(rr.state, 'REFUSED');
      assert.deepEqual(rr.refusal, { justification: 1, message: 'signature did not verify' });
      const refusedNow = await store.getMeasurement(mcId, refused.externalMeasurementId);
      assert.equal(refusedNow.state, 'FAILED');
      assert.equal(refusedNow.failure?.reason, 'REQUISITION_REFUSED');
      assert.deepEqual(refusedNow.dataProviders.map((e) => e.requisitionState), ['WITHDRAWN', 'REFUSED']);
      await rejectsWith(fulfill(d1, requisitionOf(refused, d1)), 'FAILED_PRECONDITION', 'MEASUREMENT_STATE_ILLEGAL');

      const cancelled = await newMeasurement(mcId, mcCert, [d1]);
      const c = await store.cancelMeasurement({ actor: 'mc', measurementConsumerId: mcId, externalMeasurementId: cancelled.externalMeasurementId });
      assert.equal(c.state, 'CANCELLED');
      assert.equal(c.dataProviders[0]?.requisitionState, 'WITHDRAWN');

      // Idempotent creation by request id.
      const first = await newMeasurement(mcId, mcCert, [d1], 'req-1');
      const second = await newMeasurement(mcId, mcCert, [d1], 'req-1');
      assert.equal(second.externalMeasurementId, first.externalMeasurementId);

      // Listing by state with pagination.
      const states = await store.listMeasurements({ measurementConsumerId: mcId, states: ['SUCCEEDED', 'CANCELLED'] });
      assert.deepEqual(states.items.map((x) => x.state).sort(), ['CANCELLED', 'SUCCEEDED']);
      const seen: bigint[] = [];
      let after: bigint | null = null;
      do {
        const page: Awaited<ReturnType<KingdomStore['listMeasurements']>> = await store.listMeasurements({
          measurementConsumerId: mcId,
          limit: 2,
          ...(after === null ? {} : { after }),
        });
        seen.push(...page.items.map((x) => x.externalMeasurementId));
        after = page.next;
      } while (after !== null);
      assert.equal(seen.length, 4);
      assert.deepEqual(seen, [...seen].sort((x, y) => (x < y ? -1 : 1)));
      await rejectsWith(store.getMeasurement(mcId, 5n), 'NOT_FOUND', 'MEASUREMENT_NOT_FOUND');
      await rejectsWith(
        store.listMeasurements({ measurementConsumerId: mcId, states: ['NOPE' as 'FAILED'] }),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
    });

    it('refuses to create a measurement on an invalid certificate', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const dp = await newDataProvider();
      const dpId = dp.party.key.id as bigint;
      const otherMc = await newMeasurementConsumer();
      const future = await store.createCertificate({
        actor: ADMIN,
        owner: mc.party.key,
        certificate: certificateFacts({ notValidBefore: new Date(NOW.getTime() + DAY) }),
      });
      await rejectsWith(newMeasurement(mcId, future.externalCertificateId, [dpId]), 'FAILED_PRECONDITION', 'CERTIFICATE_IS_INVALID');
      await rejectsWith(
        newMeasurement(mcId, otherMc.certificate.externalCertificateId, [dpId]),
        'FAILED_PRECONDITION',
        'CERTIFICATE_NOT_FOUND',
      );
      await rejectsWith(
        newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId, 55555n]),
        'FAILED_PRECONDITION',
        'DATA_PROVIDER_NOT_FOUND',
      );
      await rejectsWith(newMeasurement(777n, mc.certificate.externalCertificateId, [dpId]), 'NOT_FOUND', 'MEASUREMENT_CONSUMER_NOT_FOUND');
      await rejectsWith(newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId, dpId]), 'INVALID_ARGUMENT', 'INVALID_FIELD_VALUE');
      await rejectsWith(newMeasurement(mcId, mc.certificate.externalCertificateId, []), 'INVALID_ARGUMENT', 'REQUIRED_FIELD_NOT_SET');
      // The DataProvider's current key certificate on hold.
      await store.revokeCertificate({ actor: ADMIN, owner: dp.party.key, externalCertificateId: dp.certificate.externalCertificateId, revocationState: 1 });
      await rejectsWith(newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId]), 'FAILED_PRECONDITION', 'CERTIFICATE_IS_INVALID');
      await store.releaseCertificateHold({ actor: ADMIN, owner: dp.party.key, externalCertificateId: dp.certificate.externalCertificateId });
      const ok = await newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId]);
      assert.equal(ok.state, 'AWAITING_REQUISITION_FULFILLMENT');
      // The validity window is inclusive at notValidAfter and closed after it.
      const atEnd = new Date(mc.certificate.notValidAfter.getTime());
      clock.set(atEnd);
      try {
        assert.equal((await newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId])).state, 'AWAITING_REQUISITION_FULFILLMENT');
        clock.set(atEnd.getTime() + 1);
        await rejectsWith(newMeasurement(mcId, mc.certificate.externalCertificateId, [dpId]), 'FAILED_PRECONDITION', 'CERTIFICATE_IS_INVALID');
      } finally {
        clock.set(NOW);
      }
    });

    it('reports SUCCEEDED measurements whose result certificate is revoked afterwards', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const dp1 = await newDataProvider();
      const dp2 = await newDataProvider();
      const [d1, d2] = [dp1.party.key.id as bigint, dp2.party.key.id as bigint];
      const m = await newMeasurement(mcId, mc.certificate.externalCertificateId, [d1, d2]);
      const resultCert = await store.createCertificate({ actor: ADMIN, owner: dp2.party.key, certificate: certificateFacts() });
      await fulfill(d1, requisitionOf(m, d1));
      await fulfill(d2, requisitionOf(m, d2), resultCert.externalCertificateId);
      const clean = await store.listUntrustedResults({ measurementConsumerId: mcId });
      assert.deepEqual(clean, []);

      const res = await store.revokeCertificate({ actor: ADMIN, owner: dp2.party.key, externalCertificateId: resultCert.externalCertificateId, revocationState: 2 });
      assert.deepEqual(res.failedMeasurements, []);
      assert.equal((await store.getMeasurement(mcId, m.externalMeasurementId)).state, 'SUCCEEDED');
      const untrusted = await store.listUntrustedResults({ measurementConsumerId: mcId });
      assert.equal(untrusted.length, 1);
      assert.equal(keyOf(untrusted[0]?.measurement as MeasurementKey), keyOf(m));
      assert.equal(untrusted[0]?.certificateId, resultCert.externalCertificateId);
      assert.deepEqual(untrusted[0]?.certificateOwner, dp2.party.key);
      assert.equal(untrusted[0]?.revocationState, 2);
      const blast = await store.certificateBlastRadius(dp2.party.key, resultCert.externalCertificateId);
      assert.deepEqual(blast.signedResults.map(keyOf), [keyOf(m)]);
      assert.equal(blast.publicKeyReferences, false);
      assert.ok((await store.listUntrustedResults()).some((u) => keyOf(u.measurement) === keyOf(m)));
    });

    it('keeps EventGroups and metadata re-encryption requests', async () => {
      const dp = await newDataProvider();
      const dpId = dp.party.key.id as bigint;
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const mc2 = await newMeasurementConsumer();
      const mc2Id = mc2.party.key.id as bigint;
      const made = [];
      for (let i = 0; i < 5; i++) {
        made.push(
          await store.createEventGroup({
            actor: 'dp',
            dataProviderId: dpId,
            measurementConsumerId: i < 4 ? mcId : mc2Id,
            eventGroupReferenceId: `ref-${i}`,
            encryptedMetadata: new Uint8Array([1, i]),
            measurementConsumerPublicKey: new Uint8Array([2, i]),
            apiVersion: 'v2alpha',
          }),
        );
      }
      const eg = made[0];
      assert.ok(eg);
      assert.equal(eg.revision, 1n);
      const got = await store.getEventGroup(dpId, eg.externalEventGroupId);
      assert.deepEqual(got.encryptedMetadata, new Uint8Array([1, 0]));
      assert.equal(got.measurementConsumerId, mcId);
      await rejectsWith(
        store.createEventGroup({ actor: 'dp', dataProviderId: dpId, measurementConsumerId: mcId, encryptedMetadata: new Uint8Array([1]) }),
        'INVALID_ARGUMENT',
        'EVENT_GROUP_INVALID_ARGS',
      );
      await rejectsWith(
        store.createEventGroup({ actor: 'dp', dataProviderId: dpId, measurementConsumerId: 999n }),
        'NOT_FOUND',
        'MEASUREMENT_CONSUMER_NOT_FOUND',
      );

      const updated = await store.updateEventGroup({
        actor: 'dp',
        dataProviderId: dpId,
        externalEventGroupId: eg.externalEventGroupId,
        expectedRevision: 1n,
        eventGroupReferenceId: 'ref-0b',
        encryptedMetadata: new Uint8Array([3]),
        measurementConsumerPublicKey: new Uint8Array([4]),
        apiVersion: 'v2alpha',
      });
      assert.equal(updated.revision, 2n);
      assert.equal(updated.eventGroupReferenceId, 'ref-0b');
      await rejectsWith(
        store.updateEventGroup({ actor: 'dp', dataProviderId: dpId, externalEventGroupId: eg.externalEventGroupId, expectedRevision: 1n }),
        'FAILED_PRECONDITION',
        'EVENT_GROUP_ETAG_MISMATCH',
      );
      await rejectsWith(
        store.updateEventGroup({ actor: 'dp', dataProviderId: dpId, externalEventGroupId: eg.externalEventGroupId, measurementConsumerId: mc2Id }),
        'INVALID_ARGUMENT',
        'EVENT_GROUP_INVALID_ARGS',
      );

      // Set-based: every live group of the MC still encrypted to the key (only eg now: key [4]), once.
      const fingerprint = new Uint8Array(createHash('sha256').update(new Uint8Array([4])).digest());
      const byKey = { actor: 'mc', measurementConsumerId: mcId, measurementConsumerKeyFingerprint: fingerprint };
      assert.deepEqual(await store.createMetadataReencryptionRequests(byKey), { created: 1, open: 1 });
      assert.deepEqual(await store.createMetadataReencryptionRequests(byKey), { created: 0, open: 1 });
      assert.deepEqual(await store.createMetadataReencryptionRequests({ ...byKey, measurementConsumerId: mc2Id }), { created: 0, open: 0 });
      const [req] = await store.listOpenMetadataReencryptionRequests(dpId);
      assert.ok(req);
      assert.equal(req.externalEventGroupId, eg.externalEventGroupId);
      assert.deepEqual(req.measurementConsumerKeyFingerprint, fingerprint);
      assert.deepEqual((await store.listOpenMetadataReencryptionRequests(dpId)).map((r) => r.externalRequestId), [req.externalRequestId]);
      const close = { actor: 'dp', dataProviderId: dpId, requests: [{ externalRequestId: req.externalRequestId, externalEventGroupId: eg.externalEventGroupId }] };
      // Not closed while the group is still encrypted to the key; closed once it is re-encrypted.
      await rejectsWith(store.closeMetadataReencryptionRequests(close), 'FAILED_PRECONDITION', 'EVENT_GROUP_METADATA_NOT_REENCRYPTED');
      await store.updateEventGroup({ actor: 'dp', dataProviderId: dpId, externalEventGroupId: eg.externalEventGroupId, encryptedMetadata: new Uint8Array([5]), measurementConsumerPublicKey: new Uint8Array([6]) });
      const [closed] = await store.closeMetadataReencryptionRequests(close);
      assert.equal(closed?.state, 'CLOSED');
      assert.equal(closed?.measurementConsumerId, mcId);
      assert.deepEqual(await store.listOpenMetadataReencryptionRequests(dpId), []);

      const deleted = await store.deleteEventGroup({ actor: 'dp', dataProviderId: dpId, externalEventGroupId: eg.externalEventGroupId });
      assert.equal(deleted.state, 'DELETED');
      assert.equal(deleted.encryptedMetadata, null);
      await rejectsWith(
        store.deleteEventGroup({ actor: 'dp', dataProviderId: dpId, externalEventGroupId: eg.externalEventGroupId }),
        'FAILED_PRECONDITION',
        'EVENT_GROUP_STATE_ILLEGAL',
      );
      const live = await store.listEventGroups({ dataProviderId: dpId });
      assert.equal(live.items.length, 4);
      assert.ok(live.items.every((e) => e.state === 'ACTIVE'));
      const withDeleted = await store.listEventGroups({ dataProviderId: dpId, showDeleted: true, limit: 2 });
      assert.equal(withDeleted.items.length, 2);
      assert.ok(withDeleted.next);
      const rest = await store.listEventGroups({ dataProviderId: dpId, showDeleted: true, limit: 10, after: withDeleted.next });
      assert.equal(rest.items.length, 3);
      assert.equal(rest.next, null);
      const forMc2 = await store.listEventGroups({ dataProviderId: dpId, measurementConsumerId: mc2Id });
      assert.deepEqual(forMc2.items.map((e) => e.eventGroupReferenceId), ['ref-4']);
      await rejectsWith(store.getEventGroup(dpId, 3n), 'NOT_FOUND', 'EVENT_GROUP_NOT_FOUND');
    });

    it('finds a MeasurementConsumer\'s EventGroup by its id alone, as the first match of its list with deleted groups', async () => {
      const [dpA, dpB, dpC] = [await newDataProvider(), await newDataProvider(), await newDataProvider()].map((d) => d.party.key.id as bigint);
      const [mc, mc2] = [await newMeasurementConsumer(), await newMeasurementConsumer()].map((m) => m.party.key.id as bigint);
      const make = async (dp: bigint, consumer: bigint, ref: string) =>
        store.createEventGroup({ actor: 'dp', dataProviderId: dp, measurementConsumerId: consumer, eventGroupReferenceId: ref });
      const a = await make(dpA!, mc!, 'a');
      const b = await make(dpB!, mc!, 'b');
      const other = await make(dpC!, mc2!, 'other');
      const lone = await make(dpB!, mc!, 'lone');
      // Ids are unique per DataProvider only: b and other take a's id (drawn at random, they coincide only by hand).
      for (const g of [b, other]) {
        await store.database.query(
          'UPDATE event_groups SET external_event_group_id = $1 WHERE data_provider_external_id = $2 AND external_event_group_id = $3',
          [a.externalEventGroupId, g.dataProviderId, g.externalEventGroupId],
        );
      }
      const id = a.externalEventGroupId;
      /** What GetEventGroup by the MC-form name returned when it walked the list. */
      const firstListed = async (consumer: bigint, eg: bigint) =>
        (await store.listEventGroups({ measurementConsumerId: consumer, showDeleted: true, limit: 1000 })).items.find((g) => g.externalEventGroupId === eg);
      const refOf = async (consumer: bigint, eg: bigint) => (await store.getEventGroupByConsumer(consumer, eg)).eventGroupReferenceId;

      const first = dpA! < dpB! ? 'a' : 'b';
      assert.equal(await refOf(mc!, id), first);
      assert.equal((await firstListed(mc!, id))?.eventGroupReferenceId, first);
      assert.equal(await refOf(mc2!, id), 'other');
      assert.equal(await refOf(mc!, lone.externalEventGroupId), 'lone');
      assert.deepEqual(await store.getEventGroupByConsumer(mc!, lone.externalEventGroupId), await store.getEventGroup(dpB!, lone.externalEventGroupId));
      await rejectsWith(store.getEventGroupByConsumer(mc2!, lone.externalEventGroupId), 'NOT_FOUND', 'EVENT_GROUP_NOT_FOUND');
      await rejectsWith(store.getEventGroupByConsumer(mc!, 3n), 'NOT_FOUND', 'EVENT_GROUP_NOT_FOUND');
      await rejectsWith(store.getEventGroupByConsumer(dpA!, lone.externalEventGroupId), 'NOT_FOUND', 'EVENT_GROUP_NOT_FOUND');
      await rejectsWith(store.getEventGroupByConsumer(mc!, 0n), 'INVALID_ARGUMENT', 'INVALID_FIELD_VALUE');

      // Deleted, the first is still the one found, as in the list with deleted groups.
      await store.deleteEventGroup({ actor: 'dp', dataProviderId: first === 'a' ? dpA! : dpB!, externalEventGroupId: id });
      const found = await store.getEventGroupByConsumer(mc!, id);
      assert.equal(found.eventGroupReferenceId, first);
      assert.equal(found.state, 'DELETED');
      assert.deepEqual(found, await firstListed(mc!, id));
    });

    it('stores only the hash of an API key, and maps AKIDs to principals', async () => {
      const mc = await newMeasurementConsumer();
      const mcId = mc.party.key.id as bigint;
      const { apiKey, authenticationKey } = await store.createApiKey({ actor: ADMIN, measurementConsumerId: mcId, nickname: 'ci' });
      const found = await store.authenticateApiKey(authenticationKey);
      assert.equal(found?.measurementConsumerId, mcId);
      assert.equal(found?.externalApiKeyId, apiKey.externalApiKeyId);
      assert.equal(await store.authenticateApiKey(authenticationKey ^ 1n), null);
      const stored = await store.database.query<{ authentication_key_hash: Uint8Array }>(
        'SELECT authentication_key_hash FROM api_keys WHERE external_api_key_id = $1',
        [apiKey.externalApiKeyId],
      );
      const be = Buffer.alloc(8);
      be.writeBigUInt64BE(authenticationKey);
      assert.equal(Buffer.from(stored[0]?.authentication_key_hash ?? []).toString('hex'), sha256(be));
      await store.deleteApiKey({ actor: ADMIN, measurementConsumerId: mcId, externalApiKeyId: apiKey.externalApiKeyId });
      assert.equal(await store.authenticateApiKey(authenticationKey), null);
      await rejectsWith(store.createApiKey({ actor: ADMIN, measurementConsumerId: 4n }), 'NOT_FOUND', 'MEASUREMENT_CONSUMER_NOT_FOUND');

      const akid = randomSkid();
      await store.setAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: akid, principalResourceName: 'dataProviders/AAAAAAAAAHs' });
      assert.equal(await store.lookupAkidPrincipal(akid), 'dataProviders/AAAAAAAAAHs');
      await store.setAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: akid, principalResourceName: 'modelProviders/AAAAAAAAAHs' });
      assert.equal(await store.lookupAkidPrincipal(akid), 'modelProviders/AAAAAAAAAHs');
      assert.ok((await store.listAkidPrincipals()).some((e) => Buffer.from(e.authorityKeyIdentifier).equals(Buffer.from(akid))));
      await rejectsWith(
        store.setAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: akid, principalResourceName: 'not a name' }),
        'INVALID_ARGUMENT',
        'INVALID_FIELD_VALUE',
      );
      await store.removeAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: akid });
      assert.equal(await store.lookupAkidPrincipal(akid), null);
      await rejectsWith(store.removeAkidPrincipal({ actor: ADMIN, authorityKeyIdentifier: akid }), 'NOT_FOUND', 'AKID_PRINCIPAL_NOT_FOUND');
    });

    it('hash-chains the audit log and finds an edited, deleted or reordered row', async () => {
      const ok = await store.verifyAuditChain();
      assert.ok(ok.ok);
      assert.ok(ok.count > 20n);
      const entries = await store.exportAudit();
      assert.equal(BigInt(entries.length), ok.count);
      assert.deepEqual(entries.at(-1)?.hash, ok.headHash);
      assert.deepEqual(
        (await store.exportAudit({ since: ok.count - 2n })).map((e) => e.seq),
        [ok.count - 1n, ok.count],
      );
      const revoke = entries.find((e) => e.action === 'RevokeCertificate');
      assert.ok(revoke);
      assert.equal(revoke.actor, ADMIN);
      assert.match(revoke.resource, /^(dataProviders|measurementConsumers)\/[A-Za-z0-9_-]{11}\/certificates\/[A-Za-z0-9_-]{11}$/);
      assert.ok(revoke.before !== null && revoke.after !== null);

      const db = store.database;
      const target = 5n;
      // Renumbering below passes through negative sequence numbers.
      await db.query('ALTER TABLE audit_log DROP CONSTRAINT audit_log_seq_check');
      // Edit one field of one row.
      await db.query(`UPDATE audit_log SET after = jsonb_set(after, '{tampered}', 'true') WHERE seq = $1`, [target]);
      assert.deepEqual(await store.verifyAuditChain(), { ok: false, seq: target, problem: 'HASH_MISMATCH' });
      await db.query(`UPDATE audit_log SET after = after - 'tampered' WHERE seq = $1`, [target]);
      assert.ok((await store.verifyAuditChain()).ok);
      await db.query(`UPDATE audit_log SET actor = 'someone else' WHERE seq = $1`, [target]);
      assert.deepEqual(await store.verifyAuditChain(), { ok: false, seq: target, problem: 'HASH_MISMATCH' });
      await db.query(`UPDATE audit_log SET actor = $2 WHERE seq = $1`, [target, entries[Number(target) - 1]?.actor]);
      assert.ok((await store.verifyAuditChain()).ok);

      // Delete a row: the sequence has a gap there.
      await db.query('CREATE TABLE halo_test_saved AS SELECT * FROM audit_log WHERE seq = $1', [target]);
      await db.query('DELETE FROM audit_log WHERE seq = $1', [target]);
      assert.deepEqual(await store.verifyAuditChain(), { ok: false, seq: target, problem: 'SEQUENCE_GAP' });
      // Delete it and renumber the rest to hide the gap: the chain still breaks there.
      await db.query('UPDATE audit_log SET seq = -seq WHERE seq > $1', [target]);
      await db.query('UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0');
      assert.deepEqual(await store.verifyAuditChain(), { ok: false, seq: target, problem: 'PREVIOUS_HASH_MISMATCH' });
      await db.query('UPDATE audit_log SET seq = -(seq + 1) WHERE seq >= $1', [target]);
      await db.query('UPDATE audit_log SET seq = -seq WHERE seq < 0');
      await db.query('INSERT INTO audit_log SELECT * FROM halo_test_saved');
      await db.query('DROP TABLE halo_test_saved');
      assert.ok((await store.verifyAuditChain()).ok);

      // Swap two rows' positions.
      await db.query('UPDATE audit_log SET seq = -1 WHERE seq = $1', [target]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = $2', [target, target + 1n]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = -1', [target + 1n]);
      const swapped = await store.verifyAuditChain();
      assert.equal(swapped.ok, false);
      assert.equal(swapped.ok ? 0n : swapped.seq, target);
      await db.query('UPDATE audit_log SET seq = -1 WHERE seq = $1', [target]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = $2', [target, target + 1n]);
      await db.query('UPDATE audit_log SET seq = $1 WHERE seq = -1', [target + 1n]);
      await db.query('ALTER TABLE audit_log ADD CONSTRAINT audit_log_seq_check CHECK (seq > 0)');
      const restored = await store.verifyAuditChain();
      assert.ok(restored.ok);
      assert.equal(restored.count, ok.count);
    });

    it('keeps its data across a reopen, and migrations are idempotent', async () => {
      const dp = await newDataProvider();
      const head = await store.verifyAuditChain();
      assert.ok(head.ok);
      await store.close();
      store = await backend.reopen(clock);
      const got = await store.getParty(dp.party.key);
      assert.equal(got.publicKey?.certificateId, dp.certificate.externalCertificateId);
      const again = await store.verifyAuditChain();
      assert.ok(again.ok);
      assert.equal(again.count, head.count);
      assert.deepEqual(again.headHash, head.headHash);
      assert.deepEqual(await migrate(store.database), []);
      const versions = await store.database.query<{ version: number }>('SELECT version FROM schema_migrations');
      assert.deepEqual(versions.map((v) => Number(v.version)).sort((x, y) => x - y), migrations.map((m) => m.version));
      // A database from a newer release is refused rather than written with this schema.
      await store.database.query(`INSERT INTO schema_migrations (version, name) VALUES (999, 'future')`);
      await rejectsWith(migrate(store.database), 'FAILED_PRECONDITION', 'SCHEMA_VERSION_UNKNOWN');
      await store.database.query('DELETE FROM schema_migrations WHERE version = 999');
      // The store keeps working after the reopen.
      const c = await store.createCertificate({ actor: ADMIN, owner: dp.party.key, certificate: certificateFacts() });
      assert.equal((await store.getCertificate(dp.party.key, c.externalCertificateId)).revocationState, 0);
      assert.ok((await store.verifyAuditChain()).ok);
    });
  });
}

storeSuite('KingdomStore on PGlite', async () => {
  const dir = tempDataDir();
  return {
    open: (clock) => openKingdomStore({ dataDir: dir.dir, clock }),
    reopen: (clock) => openKingdomStore({ dataDir: dir.dir, clock }),
    async cleanup() {
      dir.remove();
    },
  };
});

storeSuite('KingdomStore on PostgreSQL', async () => {
  const db = await freshPostgresDatabase();
  return {
    open: (clock) => openKingdomStore({ databaseUrl: db.url, clock, poolSize: 4 }),
    reopen: (clock) => openKingdomStore({ databaseUrl: db.url, clock, poolSize: 4 }),
    cleanup: () => db.drop(),
  };
});
