// MeasurementTrust over connect's in-memory router transport and a real
// PGlite store (the mTLS server is tested end to end elsewhere): results
// signed with a certificate that is later put on hold or revoked are
// reported untrusted, while the measurement itself stays SUCCEEDED.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code, type Client } from '@connectrpc/connect';
import { externalIdToApiId } from '../../src/api/index.js';
import { MeasurementTrust } from '../../src/gen/halo/keys/v1/measurement_trust_pb.js';
import { Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { Measurements } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { Requisition_State } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { Requisitions } from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { RevocationState } from '../../src/kingdom/store/index.js';
import {
  cmmsDataProvider,
  cmmsMeasurementConsumer,
  freshMeasurementConsumer,
  openResult,
  openTestKingdom,
  planMeasurement,
  prepareFulfillment,
  rejectsWith,
  type MeasurementConsumerParticipant,
  type Participant,
  type ParticipantCertificate,
  type TestKingdom,
} from './measurement-fixtures.js';

describe('MeasurementTrust service', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let edp1: Participant;
  let edp2: Participant;
  let measurements: Client<typeof Measurements>;
  let requisitions: Client<typeof Requisitions>;
  let trust: Client<typeof MeasurementTrust>;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await cmmsMeasurementConsumer(kingdom);
    edp1 = await cmmsDataProvider(kingdom, 'edp1');
    edp2 = await cmmsDataProvider(kingdom, 'edp2');
    measurements = kingdom.client(Measurements);
    requisitions = kingdom.client(Requisitions);
    trust = kingdom.client(MeasurementTrust);
  });
  after(async () => {
    await kingdom.close();
  });

  /** Runs a measurement to SUCCEEDED, each DataProvider signing with the given certificate. */
  async function succeeded(signers: Array<[Participant, ParticipantCertificate]>) {
    const plan = planMeasurement(mc, signers.map(([dp]) => dp));
    const created = await measurements.createMeasurement(plan.request, mc.apiKey);
    for (const [dp, certificate] of signers) {
      const list = await requisitions.listRequisitions({ parent: dp.name, filter: { states: [Requisition_State.UNFULFILLED] } }, dp.mtls);
      const r = list.requisitions.find((x) => x.measurement === created.name);
      assert.ok(r);
      await requisitions.fulfillDirectRequisition(prepareFulfillment(dp, r, mc.certificate.der, 500n, certificate), dp.mtls);
    }
    const done = await measurements.getMeasurement({ name: created.name }, mc.apiKey);
    assert.equal(done.state, Measurement_State.SUCCEEDED);
    return { measurement: done, plan };
  }

  it('reports a SUCCEEDED measurement untrusted once a result certificate is revoked, and names that certificate', async () => {
    const resultCertificate = await edp1.addCertificate();
    const { measurement, plan } = await succeeded([
      [edp1, resultCertificate],
      [edp2, edp2.certificate],
    ]);
    const fresh = await trust.getMeasurementTrust({ measurement: measurement.name }, mc.apiKey);
    assert.deepEqual([fresh.measurement, fresh.trusted, fresh.untrustedResultCertificates], [measurement.name, true, []]);

    await kingdom.store.revokeCertificate({
      actor: edp1.name,
      owner: edp1.key,
      externalCertificateId: resultCertificate.id,
      revocationState: RevocationState.REVOKED,
    });
    const revoked = await trust.getMeasurementTrust({ measurement: measurement.name }, mc.mtls);
    assert.equal(revoked.trusted, false);
    assert.deepEqual(revoked.untrustedResultCertificates, [resultCertificate.name]);
    // Nothing about the measurement itself changes: it stays SUCCEEDED and its results still open.
    const still = await measurements.getMeasurement({ name: measurement.name }, mc.apiKey);
    assert.equal(still.state, Measurement_State.SUCCEEDED);
    assert.equal(openResult(still.results[0]!, plan.measurementPrivateKeyset, resultCertificate.der).reach?.value, 500n);
  });

  it('counts a HOLD as untrusted too, and trusts again after the hold is released', async () => {
    const held = await edp2.addCertificate();
    const { measurement } = await succeeded([[edp2, held]]);
    await kingdom.store.revokeCertificate({ actor: edp2.name, owner: edp2.key, externalCertificateId: held.id, revocationState: RevocationState.HOLD });
    const onHold = await trust.getMeasurementTrust({ measurement: measurement.name }, mc.apiKey);
    assert.deepEqual([onHold.trusted, onHold.untrustedResultCertificates], [false, [held.name]]);
    await kingdom.store.releaseCertificateHold({ actor: edp2.name, owner: edp2.key, externalCertificateId: held.id });
    assert.equal((await trust.getMeasurementTrust({ measurement: measurement.name }, mc.apiKey)).trusted, true);
  });

  it('trusts a measurement without results: nothing was signed', async () => {
    const created = await measurements.createMeasurement(planMeasurement(mc, [edp1]).request, mc.apiKey);
    const info = await trust.getMeasurementTrust({ measurement: created.name }, mc.apiKey);
    assert.deepEqual([info.trusted, info.untrustedResultCertificates], [true, []]);
  });

  it('answers only the MeasurementConsumer that owns the measurement', async () => {
    const created = await measurements.createMeasurement(planMeasurement(mc, [edp1]).request, mc.apiKey);
    const stranger = await freshMeasurementConsumer(kingdom, 'stranger');
    await rejectsWith(trust.getMeasurementTrust({ measurement: created.name }, stranger.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(trust.getMeasurementTrust({ measurement: created.name }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(trust.getMeasurementTrust({ measurement: created.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(trust.getMeasurementTrust({ measurement: `${mc.name}/measurements/AAAAAAAAAAE` }, mc.apiKey), Code.NotFound, 'MEASUREMENT_NOT_FOUND');
    await rejectsWith(trust.getMeasurementTrust({ measurement: mc.name }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(trust.getMeasurementTrust({ measurement: '' }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
  });

  it('agrees with the store\'s list of untrusted results', async () => {
    const listed = await kingdom.store.listUntrustedResults({ measurementConsumerId: mc.id });
    const measurementsWithUntrusted = new Set(listed.map((u) => `${mc.name}/measurements/${externalIdToApiId(u.measurement.externalMeasurementId)}`));
    assert.equal(measurementsWithUntrusted.size, 1);
    for (const name of measurementsWithUntrusted) {
      assert.equal((await trust.getMeasurementTrust({ measurement: name }, mc.apiKey)).trusted, false);
    }
  });
});
