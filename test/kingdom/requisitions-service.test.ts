// The Requisitions service over connect's in-memory router transport and a
// real PGlite store (the mTLS server is tested end to end elsewhere), with
// real keys: DataProviders decrypt requisition specs and sign and encrypt
// results the MC then opens.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clone } from '@bufbuild/protobuf';
import { Code, type Client } from '@connectrpc/connect';
import {
  Measurement_Failure_Reason,
  Measurement_State,
  type Measurement,
} from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { Measurements } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import {
  Requisition_Refusal_Justification,
  Requisition_State,
  type Requisition,
} from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import {
  FulfillDirectRequisitionRequestSchema,
  Requisitions,
  type FulfillDirectRequisitionRequest,
} from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { RevocationState } from '../../src/kingdom/store/index.js';
import {
  auditDigest,
  cmmsDataProvider,
  cmmsMeasurementConsumer,
  freshDataProvider,
  freshMeasurementConsumer,
  openResult,
  openTestKingdom,
  planMeasurement,
  prepareFulfillment,
  rejectsWith,
  type MeasurementConsumerParticipant,
  type Participant,
  type TestKingdom,
} from './measurement-fixtures.js';

describe('Requisitions service', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let edp1: Participant;
  let edp2: Participant;
  let measurements: Client<typeof Measurements>;
  let requisitions: Client<typeof Requisitions>;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await cmmsMeasurementConsumer(kingdom);
    edp1 = await cmmsDataProvider(kingdom, 'edp1');
    edp2 = await cmmsDataProvider(kingdom, 'edp2');
    measurements = kingdom.client(Measurements);
    requisitions = kingdom.client(Requisitions);
  });
  after(async () => {
    await kingdom.close();
  });

  async function newMeasurement(dps: Participant[] = [edp1, edp2]): Promise<{ measurement: Measurement; plan: ReturnType<typeof planMeasurement> }> {
    const plan = planMeasurement(mc, dps);
    return { measurement: await measurements.createMeasurement(plan.request, mc.apiKey), plan };
  }

  async function requisitionOf(dp: Participant, measurementName: string): Promise<Requisition> {
    const all = await requisitions.listRequisitions({ parent: dp.name, pageSize: 1000 }, dp.mtls);
    const found = all.requisitions.find((r) => r.measurement === measurementName);
    assert.ok(found, `${dp.name} has a requisition for ${measurementName}`);
    return found;
  }

  it('renders a requisition as upstream: measurement, certificates, spec, key, encrypted spec, no duchies', async () => {
    const { measurement, plan } = await newMeasurement();
    const r = await requisitionOf(edp1, measurement.name);
    assert.match(r.name, new RegExp(`^${edp1.name}/requisitions/[A-Za-z0-9_-]{11}$`));
    assert.equal(r.measurement, measurement.name);
    assert.equal(r.measurementConsumerCertificate, mc.certificate.name);
    assert.equal(r.dataProviderCertificate, edp1.certificate.name);
    assert.deepEqual(r.dataProviderPublicKey?.value, edp1.encryptionPublicKey);
    assert.equal(r.dataProviderPublicKey?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    const sentEntry = plan.request.measurement!.dataProviders[0]!.value!;
    assert.deepEqual(r.encryptedRequisitionSpec?.ciphertext, sentEntry.encryptedRequisitionSpec?.ciphertext);
    assert.deepEqual(r.encryptedRequisitionSpecCiphertext, sentEntry.encryptedRequisitionSpec?.ciphertext);
    assert.equal(r.encryptedRequisitionSpec?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage');
    assert.deepEqual(r.measurementSpec?.signature, plan.request.measurement!.measurementSpec!.signature);
    assert.equal(r.duchies.length, 0);
    assert.equal(r.state, Requisition_State.UNFULFILLED);
    assert.equal(r.measurementState, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
    assert.equal(r.protocolConfig?.protocols[0]?.protocol.case, 'direct');
    // Another DataProvider cannot decrypt the spec encrypted to edp1.
    assert.throws(() => prepareFulfillment(edp2, r, mc.certificate.der, 1n));
  });

  it('GetRequisition: only the DataProvider of the canonical name reads it; others are refused as if it did not exist', async () => {
    const { measurement } = await newMeasurement();
    const r = await requisitionOf(edp1, measurement.name);
    assert.deepEqual(await requisitions.getRequisition({ name: r.name }, edp1.mtls), r);
    // Attacks: another DataProvider, the MeasurementConsumer itself, the same id under another DataProvider, no caller.
    await rejectsWith(requisitions.getRequisition({ name: r.name }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(requisitions.getRequisition({ name: r.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    const moved = r.name.replace(edp1.name, edp2.name);
    await rejectsWith(requisitions.getRequisition({ name: moved }, edp2.mtls), Code.NotFound, 'REQUISITION_NOT_FOUND');
    await rejectsWith(requisitions.getRequisition({ name: r.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    // The Measurement-form alias is not a canonical name.
    const alias = `${measurement.name}/requisitions/${r.name.split('/').pop()}`;
    await rejectsWith(requisitions.getRequisition({ name: alias }, edp1.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
  });

  it('fulfills with a named certificate of the DataProvider; the result names it and verifies with it', async () => {
    const resultCertificate = await edp1.addCertificate();
    const { measurement, plan } = await newMeasurement([edp1]);
    const r = await requisitionOf(edp1, measurement.name);
    const request = prepareFulfillment(edp1, r, mc.certificate.der, 77n, resultCertificate);
    assert.equal(request.certificate, resultCertificate.name);
    await requisitions.fulfillDirectRequisition(request, edp1.mtls);
    const done = await measurements.getMeasurement({ name: measurement.name }, mc.apiKey);
    assert.equal(done.state, Measurement_State.SUCCEEDED);
    assert.equal(done.results[0]?.certificate, resultCertificate.name);
    assert.equal(openResult(done.results[0]!, plan.measurementPrivateKeyset, resultCertificate.der).reach?.value, 77n);
    const fulfilled = await requisitions.listRequisitions({ parent: edp1.name, filter: { states: [Requisition_State.FULFILLED] } }, edp1.mtls);
    const mine = fulfilled.requisitions.find((x) => x.name === r.name);
    assert.equal(mine?.nonce, request.nonce);
    assert.equal(mine?.measurementState, Measurement_State.SUCCEEDED);
    // Fulfilling again is a state error and changes nothing.
    const before = await auditDigest(kingdom);
    await rejectsWith(requisitions.fulfillDirectRequisition(request, edp1.mtls), Code.FailedPrecondition, 'MEASUREMENT_STATE_ILLEGAL');
    assert.equal(await auditDigest(kingdom), before);
  });

  it('refuses: the requisition is REFUSED, the measurement FAILED with REQUISITION_REFUSED, the others WITHDRAWN', async () => {
    const { measurement } = await newMeasurement();
    const r1 = await requisitionOf(edp1, measurement.name);
    const r2 = await requisitionOf(edp2, measurement.name);
    const refused = await requisitions.refuseRequisition(
      { name: r1.name, refusal: { justification: Requisition_Refusal_Justification.CONSENT_SIGNAL_INVALID, message: 'spec signature does not verify' } },
      edp1.mtls,
    );
    assert.equal(refused.state, Requisition_State.REFUSED);
    assert.equal(refused.refusal?.justification, Requisition_Refusal_Justification.CONSENT_SIGNAL_INVALID);
    assert.equal(refused.refusal?.message, 'spec signature does not verify');
    assert.equal(refused.measurementState, Measurement_State.FAILED);
    const failed = await measurements.getMeasurement({ name: measurement.name }, mc.apiKey);
    assert.equal(failed.state, Measurement_State.FAILED);
    assert.equal(failed.failure?.reason, Measurement_Failure_Reason.REQUISITION_REFUSED);
    assert.match(failed.failure?.message ?? '', new RegExp(r1.name.split('/').pop()!));
    const other = await requisitions.listRequisitions({ parent: edp2.name, filter: { states: [Requisition_State.WITHDRAWN] } }, edp2.mtls);
    assert.ok(other.requisitions.some((x) => x.name === r2.name));
    await rejectsWith(
      requisitions.fulfillDirectRequisition(prepareFulfillment(edp2, r2, mc.certificate.der, 5n), edp2.mtls),
      Code.FailedPrecondition,
      'MEASUREMENT_STATE_ILLEGAL',
    );
  });

  it('refuses a refusal without a justification', async () => {
    const { measurement } = await newMeasurement([edp1]);
    const r = await requisitionOf(edp1, measurement.name);
    const before = await auditDigest(kingdom);
    await rejectsWith(requisitions.refuseRequisition({ name: r.name }, edp1.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(requisitions.refuseRequisition({ name: r.name, refusal: { message: 'no' } }, edp1.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(requisitions.refuseRequisition({ name: r.name, refusal: { justification: 99 as Requisition_Refusal_Justification } }, edp1.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(
      requisitions.refuseRequisition({ name: r.name, refusal: { justification: Requisition_Refusal_Justification.DECLINED } }, edp2.mtls),
      Code.PermissionDenied,
      'PERMISSION_DENIED',
    );
    assert.equal(await auditDigest(kingdom), before);
    assert.equal((await requisitionOf(edp1, measurement.name)).state, Requisition_State.UNFULFILLED);
  });

  describe('bad fulfillments are refused with a reason and change nothing', () => {
    let measurement: Measurement;
    let requisition: Requisition;
    let good: FulfillDirectRequisitionRequest;
    let revokedCertificateName: string;

    before(async () => {
      ({ measurement } = await newMeasurement([edp1]));
      requisition = await requisitionOf(edp1, measurement.name);
      good = prepareFulfillment(edp1, requisition, mc.certificate.der, 10n);
      const revoked = await edp1.addCertificate();
      await kingdom.store.revokeCertificate({ actor: edp1.name, owner: edp1.key, externalCertificateId: revoked.id, revocationState: RevocationState.REVOKED });
      revokedCertificateName = revoked.name;
    });

    type Case = [string, (r: FulfillDirectRequisitionRequest) => void, Code, string, 'edp1' | 'edp2' | 'mc'];
    const cases: Case[] = [
      ['result declaring another type', (r) => { r.encryptedResult!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.Measurement.Result'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH', 'edp1'],
      ['no result', (r) => { r.encryptedResult = undefined; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET', 'edp1'],
      ['empty ciphertext', (r) => { r.encryptedResult!.ciphertext = new Uint8Array(); }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET', 'edp1'],
      ['no nonce', (r) => { r.nonce = 0n; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET', 'edp1'],
      ['a nonce that does not match the nonce hash', (r) => { r.nonce += 1n; }, Code.InvalidArgument, 'NONCE_MISMATCH', 'edp1'],
      ['a certificate of another DataProvider', (r) => { r.certificate = edp2.certificate.name; }, Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH', 'edp1'],
      ['an MC certificate', (r) => { r.certificate = mc.certificate.name; }, Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH', 'edp1'],
      ['a malformed certificate name', (r) => { r.certificate = 'dataProviders/certificates'; }, Code.InvalidArgument, 'INVALID_RESOURCE_NAME', 'edp1'],
      ['a certificate that does not exist', (r) => { r.certificate = `${edp1.name}/certificates/AAAAAAAAAAE`; }, Code.FailedPrecondition, 'CERTIFICATE_NOT_FOUND', 'edp1'],
      ['a revoked certificate', (r) => { r.certificate = revokedCertificateName; }, Code.FailedPrecondition, 'CERTIFICATE_IS_INVALID', 'edp1'],
      ['the measurement form of the name', (r) => { r.name = `${measurement.name}/requisitions/${r.name.split('/').pop()}`; }, Code.InvalidArgument, 'INVALID_RESOURCE_NAME', 'edp1'],
      ['a requisition that does not exist', (r) => { r.name = `${edp1.name}/requisitions/AAAAAAAAAAE`; }, Code.NotFound, 'REQUISITION_NOT_FOUND', 'edp1'],
      ['another DataProvider', () => {}, Code.PermissionDenied, 'PERMISSION_DENIED', 'edp2'],
      ['the MeasurementConsumer', () => {}, Code.PermissionDenied, 'PERMISSION_DENIED', 'mc'],
    ];
    for (const [label, mutate, code, reason, caller] of cases) {
      it(label, async () => {
        const request = clone(FulfillDirectRequisitionRequestSchema, good);
        mutate(request);
        const options = caller === 'edp1' ? edp1.mtls : caller === 'edp2' ? edp2.mtls : mc.apiKey;
        const before = await auditDigest(kingdom);
        await rejectsWith(requisitions.fulfillDirectRequisition(request, options), code, reason);
        assert.equal(await auditDigest(kingdom), before);
        assert.equal((await requisitionOf(edp1, measurement.name)).state, Requisition_State.UNFULFILLED);
      });
    }

    it('and the untouched request still fulfills', async () => {
      assert.equal((await requisitions.fulfillDirectRequisition(good, edp1.mtls)).state, Requisition_State.FULFILLED);
    });
  });

  it('lists by state and measurement state, page by page, only for the DataProvider itself', async () => {
    const dp = await freshDataProvider(kingdom, 'list-dp');
    const made: Measurement[] = [];
    for (let i = 0; i < 3; i++) made.push((await newMeasurement([dp])).measurement);
    await measurements.cancelMeasurement({ name: made[0]!.name }, mc.apiKey);
    const names: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await requisitions.listRequisitions({ parent: dp.name, pageSize: 2, pageToken }, dp.mtls);
      pages++;
      names.push(...page.requisitions.map((r) => r.measurement));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    assert.equal(pages, 2);
    assert.deepEqual(names.sort(), made.map((m) => m.name).sort());
    const unfulfilled = await requisitions.listRequisitions(
      { parent: dp.name, filter: { states: [Requisition_State.UNFULFILLED], measurementStates: [Measurement_State.AWAITING_REQUISITION_FULFILLMENT] } },
      dp.mtls,
    );
    assert.deepEqual(unfulfilled.requisitions.map((r) => r.measurement).sort(), [made[1]!.name, made[2]!.name].sort());
    const cancelled = await requisitions.listRequisitions({ parent: dp.name, filter: { measurementStates: [Measurement_State.CANCELLED] } }, dp.mtls);
    assert.deepEqual(cancelled.requisitions.map((r) => r.state), [Requisition_State.WITHDRAWN]);
    const first = await requisitions.listRequisitions({ parent: dp.name, pageSize: 1 }, dp.mtls);
    await rejectsWith(
      requisitions.listRequisitions({ parent: dp.name, pageSize: 1, pageToken: first.nextPageToken, filter: { states: [Requisition_State.FULFILLED] } }, dp.mtls),
      Code.InvalidArgument,
      'PAGE_TOKEN_MISMATCH',
    );
    await rejectsWith(requisitions.listRequisitions({ parent: dp.name, pageToken: 'garbage!' }, dp.mtls), Code.InvalidArgument, 'INVALID_PAGE_TOKEN');
    await rejectsWith(requisitions.listRequisitions({ parent: dp.name }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(requisitions.listRequisitions({ parent: dp.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(requisitions.listRequisitions({ parent: dp.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(requisitions.listRequisitions({ parent: 'dataProviders/nope' }, dp.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
  });

  it('lets the MeasurementConsumer list the requisitions of its own measurement', async () => {
    const { measurement } = await newMeasurement();
    const listed = await requisitions.listRequisitions({ parent: measurement.name }, mc.apiKey);
    assert.deepEqual(listed.requisitions.map((r) => r.dataProviderCertificate), [edp1.certificate.name, edp2.certificate.name]);
    const stranger = await freshMeasurementConsumer(kingdom, 'stranger');
    await rejectsWith(requisitions.listRequisitions({ parent: measurement.name }, stranger.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(requisitions.listRequisitions({ parent: measurement.name }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
  });

  it('keeps the audit chain intact', async () => {
    assert.equal((await kingdom.store.verifyAuditChain()).ok, true);
    const actions = new Set((await kingdom.store.exportAudit()).map((e) => e.action));
    for (const action of ['FulfillDirectRequisition', 'RefuseRequisition']) assert.ok(actions.has(action), action);
  });
});
