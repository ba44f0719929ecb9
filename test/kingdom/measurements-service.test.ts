// The Measurements service over connect's in-memory router transport and a
// real PGlite store (the mTLS server is tested end to end elsewhere). All
// crypto is real: CMMS test certificates and keysets, signed specs, hybrid
// encryption between the MC and the DataProviders.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clone, create, equals, fromBinary, toBinary, toJson } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Code, type Client } from '@connectrpc/connect';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { keysetBytes } from '../../src/crypto/keyset.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import {
  Measurement_DataProviderEntrySchema,
  Measurement_Failure_Reason,
  Measurement_State,
  MeasurementSchema,
} from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import {
  CreateMeasurementRequestSchema,
  ListMeasurementsResponseSchema,
  Measurements,
  type CreateMeasurementRequest,
} from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { Requisition_State } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { Requisitions } from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { ProtocolConfig_MeasurementType } from '../../src/gen/wfa/measurement/api/v2alpha/protocol_config_pb.js';
import { RevocationState } from '../../src/kingdom/store/index.js';
import {
  auditDigest,
  cmmsDataProvider,
  cmmsMeasurementConsumer,
  encryptionPublicKeyAny,
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

describe('Measurements service', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let edp1: Participant;
  let edp2: Participant;
  let otherMc: MeasurementConsumerParticipant;
  let measurements: Client<typeof Measurements>;
  let requisitions: Client<typeof Requisitions>;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await cmmsMeasurementConsumer(kingdom);
    edp1 = await cmmsDataProvider(kingdom, 'edp1');
    edp2 = await cmmsDataProvider(kingdom, 'edp2');
    otherMc = await freshMeasurementConsumer(kingdom, 'other-mc');
    measurements = kingdom.client(Measurements);
    requisitions = kingdom.client(Requisitions);
  });
  after(async () => {
    await kingdom.close();
  });

  /** The DP's UNFULFILLED requisition of a measurement. */
  async function requisitionOf(dp: Participant, measurementName: string) {
    const list = await requisitions.listRequisitions(
      { parent: dp.name, filter: { states: [Requisition_State.UNFULFILLED] } },
      dp.mtls,
    );
    const found = list.requisitions.find((r) => r.measurement === measurementName);
    assert.ok(found, `${dp.name} sees a requisition for ${measurementName}`);
    return found;
  }

  it('runs a direct measurement from creation to SUCCEEDED with results only the MC can open', async () => {
    const plan = planMeasurement(mc, [edp1, edp2], { referenceId: 'lifecycle' });
    const created = await measurements.createMeasurement(plan.request, mc.apiKey);
    assert.match(created.name, new RegExp(`^${mc.name}/measurements/[A-Za-z0-9_-]{11}$`));
    assert.equal(created.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
    assert.equal(created.measurementConsumerCertificate, mc.certificate.name);
    assert.equal(created.measurementReferenceId, 'lifecycle');
    assert.equal(created.protocolConfig?.measurementType, ProtocolConfig_MeasurementType.REACH);
    assert.equal(created.protocolConfig?.protocols[0]?.protocol.case, 'direct');
    // The spec comes back byte for byte, with the deprecated `data` filled too.
    const sent = plan.request.measurement!.measurementSpec!;
    assert.deepEqual(created.measurementSpec?.message?.value, sent.message?.value);
    assert.deepEqual(created.measurementSpec?.data, sent.message?.value);
    assert.deepEqual(created.measurementSpec?.signature, sent.signature);
    assert.deepEqual(
      created.dataProviders.map((e) => [e.key, e.value?.dataProviderCertificate]),
      [
        [edp1.name, edp1.certificate.name],
        [edp2.name, edp2.certificate.name],
      ],
    );
    const entry = created.dataProviders[0]!.value!;
    assert.equal(entry.encryptedRequisitionSpec?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage');
    assert.equal(entry.dataProviderPublicKey?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    assert.deepEqual(entry.dataProviderPublicKey?.value, edp1.encryptionPublicKey);
    assert.equal(created.results.length, 0);

    // The MC may read it with its API key or over mTLS.
    assert.equal((await measurements.getMeasurement({ name: created.name }, mc.mtls)).name, created.name);

    const r1 = await requisitionOf(edp1, created.name);
    assert.equal(r1.measurementConsumerCertificate, mc.certificate.name);
    assert.equal(r1.dataProviderCertificate, edp1.certificate.name);
    assert.equal(r1.duchies.length, 0);
    assert.equal(r1.measurementState, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
    const f1 = await requisitions.fulfillDirectRequisition(prepareFulfillment(edp1, r1, mc.certificate.der, 1200n), edp1.mtls);
    assert.equal(f1.state, Requisition_State.FULFILLED);
    assert.equal((await measurements.getMeasurement({ name: created.name }, mc.apiKey)).state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);

    const r2 = await requisitionOf(edp2, created.name);
    await requisitions.fulfillDirectRequisition(prepareFulfillment(edp2, r2, mc.certificate.der, 3400n), edp2.mtls);

    const done = await measurements.getMeasurement({ name: created.name }, mc.apiKey);
    assert.equal(done.state, Measurement_State.SUCCEEDED);
    assert.equal(done.failure, undefined);
    assert.deepEqual(
      done.results.map((r) => r.certificate),
      [edp1.certificate.name, edp2.certificate.name],
    );
    const reaches = done.results.map((r, i) => openResult(r, plan.measurementPrivateKeyset, [edp1, edp2][i]!.certificate.der).reach?.value);
    assert.deepEqual(reaches, [1200n, 3400n]);
    // A result verifies only with the certificate that signed it.
    assert.throws(() => openResult(done.results[0]!, plan.measurementPrivateKeyset, edp2.certificate.der), /signature/i);
    // And opens only with the measurement private keyset.
    assert.throws(() => openResult(done.results[0]!, edp1.encryptionPrivateKeyset, edp1.certificate.der));
  });

  it('cancels a pending measurement, withdrawing its requisitions; a cancelled one cannot be cancelled or fulfilled', async () => {
    const created = await measurements.createMeasurement(planMeasurement(mc, [edp1, edp2]).request, mc.apiKey);
    const r1 = await requisitionOf(edp1, created.name);
    const cancelled = await measurements.cancelMeasurement({ name: created.name }, mc.apiKey);
    assert.equal(cancelled.state, Measurement_State.CANCELLED);
    const withdrawn = await requisitions.listRequisitions(
      { parent: edp1.name, filter: { states: [Requisition_State.WITHDRAWN] } },
      edp1.mtls,
    );
    assert.ok(withdrawn.requisitions.some((r) => r.name === r1.name && r.measurementState === Measurement_State.CANCELLED));
    const before = await auditDigest(kingdom);
    await rejectsWith(measurements.cancelMeasurement({ name: created.name }, mc.apiKey), Code.FailedPrecondition, 'MEASUREMENT_STATE_ILLEGAL');
    await rejectsWith(
      requisitions.fulfillDirectRequisition(prepareFulfillment(edp1, r1, mc.certificate.der, 1n), edp1.mtls),
      Code.FailedPrecondition,
      'MEASUREMENT_STATE_ILLEGAL',
    );
    assert.equal(await auditDigest(kingdom), before);
  });

  it('fails a pending measurement with CERTIFICATE_REVOKED when its MC certificate is revoked, and refuses new ones with it', async () => {
    const certificate = await mc.addCertificate();
    const plan = planMeasurement(mc, [edp1], { certificate });
    const created = await measurements.createMeasurement(plan.request, mc.apiKey);
    assert.equal(created.measurementConsumerCertificate, certificate.name);
    await kingdom.store.revokeCertificate({
      actor: mc.name,
      owner: mc.key,
      externalCertificateId: certificate.id,
      revocationState: RevocationState.REVOKED,
    });
    const failed = await measurements.getMeasurement({ name: created.name }, mc.apiKey);
    assert.equal(failed.state, Measurement_State.FAILED);
    assert.equal(failed.failure?.reason, Measurement_Failure_Reason.CERTIFICATE_REVOKED);
    assert.equal(failed.failure?.message, 'The associated Measurement Consumer certificate has been revoked.');
    const before = await auditDigest(kingdom);
    await rejectsWith(
      measurements.createMeasurement(planMeasurement(mc, [edp1], { certificate }).request, mc.apiKey),
      Code.FailedPrecondition,
      'CERTIFICATE_IS_INVALID',
    );
    assert.equal(await auditDigest(kingdom), before);
  });

  it('refuses a DataProvider whose public-key certificate is not valid, or that does not exist', async () => {
    const dp = await freshDataProvider(kingdom, 'held-dp');
    await kingdom.store.revokeCertificate({ actor: dp.name, owner: dp.key, externalCertificateId: dp.certificate.id, revocationState: RevocationState.HOLD });
    const before = await auditDigest(kingdom);
    const err = await rejectsWith(
      measurements.createMeasurement(planMeasurement(mc, [edp1, dp]).request, mc.apiKey),
      Code.FailedPrecondition,
      'CERTIFICATE_IS_INVALID',
    );
    assert.match(err.rawMessage, /invalid/i);
    const ghost = { ...edp2, name: 'dataProviders/AAAAAAAAAAE', certificate: { ...edp2.certificate, name: 'dataProviders/AAAAAAAAAAE/certificates/AAAAAAAAAAE' } };
    await rejectsWith(
      measurements.createMeasurement(planMeasurement(mc, [edp1, ghost]).request, mc.apiKey),
      Code.FailedPrecondition,
      'DATA_PROVIDER_NOT_FOUND',
    );
    assert.equal(await auditDigest(kingdom), before);
  });

  it('refuses every certificate once the clock passes its validity', async () => {
    const before = await auditDigest(kingdom);
    const saved = kingdom.clock.now();
    kingdom.clock.set('2033-01-01T00:00:00Z');
    try {
      await rejectsWith(
        measurements.createMeasurement(planMeasurement(mc, [edp1]).request, mc.apiKey),
        Code.FailedPrecondition,
        'CERTIFICATE_IS_INVALID',
      );
    } finally {
      kingdom.clock.set(saved);
    }
    assert.equal(await auditDigest(kingdom), before);
  });

  describe('bad input is INVALID_ARGUMENT (or FAILED_PRECONDITION) with a reason and changes nothing', () => {
    type Mutation = (r: CreateMeasurementRequest) => void;
    const spec = (r: CreateMeasurementRequest) => r.measurement!.measurementSpec!;
    const entry0 = (r: CreateMeasurementRequest) => r.measurement!.dataProviders[0]!.value!;
    /** Re-signs a modified MeasurementSpec with the MC's key, so only the modification is wrong. */
    const resign = (r: CreateMeasurementRequest, edit: (s: ReturnType<typeof decodeSpec>) => void) => {
      const s = decodeSpec(r);
      edit(s);
      r.measurement!.measurementSpec = signMessage(MeasurementSpecSchema, s, mc.certificate.signingKey);
    };
    const decodeSpec = (r: CreateMeasurementRequest) => fromBinary(MeasurementSpecSchema, spec(r).message!.value);
    const cases: Array<[string, Mutation, Code, string]> = [
      ['no measurement', (r) => { r.measurement = undefined; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['malformed MC certificate name', (r) => { r.measurement!.measurementConsumerCertificate = 'measurementConsumers/x/certificates/y'; }, Code.InvalidArgument, 'INVALID_RESOURCE_NAME'],
      ['certificate of another MC', (r) => { r.measurement!.measurementConsumerCertificate = otherMc.certificate.name; }, Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH'],
      ['a DataProvider certificate as the MC certificate', (r) => { r.measurement!.measurementConsumerCertificate = edp1.certificate.name; }, Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH'],
      ['no measurement_spec', (r) => { r.measurement!.measurementSpec = undefined; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['unsigned measurement_spec', (r) => { spec(r).signature = new Uint8Array(); }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['measurement_spec of another type', (r) => { spec(r).message!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.RequisitionSpec'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['measurement_spec that does not parse', (r) => { spec(r).message!.value = new Uint8Array([0xff, 0xff, 0xff]); }, Code.InvalidArgument, 'MESSAGE_MALFORMED'],
      ['measurement_public_key of another type', (r) => resign(r, (s) => { s.measurementPublicKey!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage'; }), Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['no measurement_public_key', (r) => resign(r, (s) => { s.measurementPublicKey = undefined; }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['measurement_public_key that is not a Tink keyset', (r) => resign(r, (s) => { s.measurementPublicKey = encryptionPublicKeyAny(new Uint8Array([8, 1, 18, 3, 1, 2, 3])); }), Code.InvalidArgument, 'ENCRYPTION_PUBLIC_KEY_INVALID'],
      ['a private keyset as measurement_public_key', (r) => resign(r, (s) => { s.measurementPublicKey = create(AnySchema, { typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey', value: privateKeyAsPublicKey() }); }), Code.InvalidArgument, 'ENCRYPTION_PUBLIC_KEY_INVALID'],
      ['one nonce hash too many', (r) => resign(r, (s) => { s.nonceHashes.push(new Uint8Array(32)); }), Code.InvalidArgument, 'NONCE_HASH_COUNT_MISMATCH'],
      ['one nonce hash too few', (r) => resign(r, (s) => { s.nonceHashes.pop(); }), Code.InvalidArgument, 'NONCE_HASH_COUNT_MISMATCH'],
      ['a nonce hash the spec does not list', (r) => { entry0(r).nonceHash = new Uint8Array(32).fill(7); }, Code.InvalidArgument, 'NONCE_HASH_MISMATCH'],
      ['measurement_spec signed by another key', (r) => { r.measurement!.measurementSpec = signMessage(spec(r).message!, otherMc.certificate.signingKey); }, Code.InvalidArgument, 'MEASUREMENT_SPEC_SIGNATURE_INVALID'],
      ['no data_providers', (r) => { r.measurement!.dataProviders = []; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['malformed DataProvider name', (r) => { r.measurement!.dataProviders[0]!.key = 'dataProviders/'; }, Code.InvalidArgument, 'INVALID_RESOURCE_NAME'],
      ['DataProvider certificate of another DataProvider', (r) => { entry0(r).dataProviderCertificate = edp2.certificate.name; }, Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH'],
      ['data_provider_public_key of another type', (r) => { entry0(r).dataProviderPublicKey!.typeUrl = 'type.googleapis.com/google.protobuf.Duration'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['no data_provider_public_key', (r) => { entry0(r).dataProviderPublicKey = undefined; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['encrypted_requisition_spec declaring another type', (r) => { entry0(r).encryptedRequisitionSpec!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.RequisitionSpec'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['encrypted_requisition_spec without ciphertext', (r) => { entry0(r).encryptedRequisitionSpec!.ciphertext = new Uint8Array(); }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['the same DataProvider twice', (r) => { r.measurement!.dataProviders[1] = clone(Measurement_DataProviderEntrySchema, r.measurement!.dataProviders[0]!); }, Code.InvalidArgument, 'INVALID_FIELD_VALUE'],
      ['an MC certificate that does not exist', (r) => { r.measurement!.measurementConsumerCertificate = `${mc.name}/certificates/AAAAAAAAAAE`; }, Code.FailedPrecondition, 'CERTIFICATE_NOT_FOUND'],
    ];
    for (const [label, mutate, code, reason] of cases) {
      it(label, async () => {
        const request = clone(CreateMeasurementRequestSchema, planMeasurement(mc, [edp1, edp2]).request);
        mutate(request);
        const before = await auditDigest(kingdom);
        const count = (await measurements.listMeasurements({ parent: mc.name, pageSize: 1000 }, mc.apiKey)).measurements.length;
        await rejectsWith(measurements.createMeasurement(request, mc.apiKey), code, reason);
        assert.equal(await auditDigest(kingdom), before);
        assert.equal((await measurements.listMeasurements({ parent: mc.name, pageSize: 1000 }, mc.apiKey)).measurements.length, count);
      });
    }
  });

  it('lists measurements by state, page by page, and refuses a changed filter with the same token', async () => {
    const owner = await freshMeasurementConsumer(kingdom, 'lister');
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await measurements.createMeasurement(planMeasurement(owner, [edp1]).request, owner.apiKey));
    await measurements.cancelMeasurement({ name: made[1]!.name }, owner.apiKey);
    const seen: string[] = [];
    let pageToken = '';
    do {
      const page = await measurements.listMeasurements({ parent: owner.name, pageSize: 1, pageToken }, owner.mtls);
      assert.ok(page.measurements.length <= 1);
      seen.push(...page.measurements.map((m) => m.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    assert.deepEqual([...seen].sort(), made.map((m) => m.name).sort());
    const awaiting = await measurements.listMeasurements(
      { parent: owner.name, filter: { states: [Measurement_State.AWAITING_REQUISITION_FULFILLMENT] } },
      owner.apiKey,
    );
    assert.deepEqual(awaiting.measurements.map((m) => m.name).sort(), [made[0]!.name, made[2]!.name].sort());
    const first = await measurements.listMeasurements({ parent: owner.name, pageSize: 1 }, owner.apiKey);
    await rejectsWith(
      measurements.listMeasurements(
        { parent: owner.name, pageSize: 1, pageToken: first.nextPageToken, filter: { states: [Measurement_State.CANCELLED] } },
        owner.apiKey,
      ),
      Code.InvalidArgument,
      'PAGE_TOKEN_MISMATCH',
    );
    await rejectsWith(measurements.listMeasurements({ parent: owner.name, pageSize: -1 }, owner.apiKey), Code.InvalidArgument, 'INVALID_PAGE_SIZE');
    await rejectsWith(measurements.listMeasurements({ parent: owner.name, filter: { states: [0] } }, owner.apiKey), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
  });

  it('lets only the MeasurementConsumer itself create, read, list and cancel its measurements', async () => {
    const created = await measurements.createMeasurement(planMeasurement(mc, [edp1]).request, mc.mtls);
    const before = await auditDigest(kingdom);
    await rejectsWith(measurements.createMeasurement(planMeasurement(mc, [edp1]).request, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.createMeasurement(planMeasurement(mc, [edp1]).request, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    // Without a parent (older clients) the caller is the parent, and the certificate names another MC.
    await rejectsWith(measurements.createMeasurement({ ...planMeasurement(mc, [edp1]).request, parent: '' }, otherMc.apiKey), Code.InvalidArgument, 'CERTIFICATE_PARENT_MISMATCH');
    await rejectsWith(measurements.getMeasurement({ name: created.name }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.getMeasurement({ name: created.name }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.listMeasurements({ parent: mc.name }, otherMc.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.cancelMeasurement({ name: created.name }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.cancelMeasurement({ name: created.name }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.getMeasurement({ name: created.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(measurements.getMeasurement({ name: created.name }, { headers: { 'x-api-key': 'AAAAAAAAAAE' } }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(measurements.getMeasurement({ name: created.name }, { headers: { 'x-api-key': 'not an api key' } }), Code.Unauthenticated, 'UNAUTHENTICATED');
    assert.equal(await auditDigest(kingdom), before);
    assert.equal((await measurements.getMeasurement({ name: created.name }, mc.apiKey)).state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
  });

  it('takes parent as upstream does (the caller, or empty for older clients) and makes a request_id creation idempotent', async () => {
    const before = await auditDigest(kingdom);
    const plan = planMeasurement(mc, [edp1]);
    await rejectsWith(measurements.createMeasurement({ ...plan.request, parent: 'measurementConsumers/' }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(measurements.createMeasurement({ ...plan.request, parent: edp1.name }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(measurements.createMeasurement({ ...plan.request, parent: otherMc.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    assert.equal(await auditDigest(kingdom), before, 'refused creations change nothing');

    const count = async () => (await measurements.listMeasurements({ parent: mc.name, pageSize: 1000 }, mc.apiKey)).measurements.length;
    const n = await count();
    const legacy = await measurements.createMeasurement({ ...planMeasurement(mc, [edp1], { referenceId: 'no-parent' }).request, parent: '' }, mc.apiKey);
    assert.ok(legacy.name.startsWith(`${mc.name}/measurements/`));
    assert.equal(legacy.measurementReferenceId, 'no-parent');

    const first = await measurements.createMeasurement({ ...plan.request, requestId: 'create-once' }, mc.apiKey);
    const again = await measurements.createMeasurement({ ...plan.request, requestId: 'create-once' }, mc.mtls);
    assert.equal(again.name, first.name, 'the same MC and request_id return the first Measurement');
    const other = await measurements.createMeasurement({ ...plan.request, requestId: 'create-twice' }, mc.apiKey);
    assert.notEqual(other.name, first.name);
    // Another MC's request_id space is its own.
    const theirs = await measurements.createMeasurement({ ...planMeasurement(otherMc, [edp1]).request, requestId: 'create-once' }, otherMc.apiKey);
    assert.ok(theirs.name.startsWith(`${otherMc.name}/measurements/`));
    assert.equal(await count(), n + 3);
  });

  it('offers each measurement type upstream\'s direct methodologies in protocol_config', async () => {
    const cases = [
      ['reach', { case: 'reach', value: {} }, ProtocolConfig_MeasurementType.REACH, ['deterministicCountDistinct', 'liquidLegionsCountDistinct']],
      ['reachAndFrequency', { case: 'reachAndFrequency', value: { maximumFrequency: 5 } }, ProtocolConfig_MeasurementType.REACH_AND_FREQUENCY,
        ['deterministicCountDistinct', 'liquidLegionsCountDistinct', 'deterministicDistribution', 'liquidLegionsDistribution']],
      ['impression', { case: 'impression', value: { maximumFrequencyPerUser: 3 } }, ProtocolConfig_MeasurementType.IMPRESSION, ['deterministicCount']],
      ['duration', { case: 'duration', value: { maximumWatchDurationPerUser: { seconds: 60n } } }, ProtocolConfig_MeasurementType.DURATION, ['deterministicSum']],
      ['population', { case: 'population', value: {} }, ProtocolConfig_MeasurementType.POPULATION, ['deterministicCount']],
    ] as const;
    for (const [label, measurementType, expected, methodologies] of cases) {
      const plan = planMeasurement(mc, [edp1], { referenceId: `type-${label}` });
      const planned = fromBinary(MeasurementSpecSchema, plan.request.measurement!.measurementSpec!.message!.value);
      const spec = create(MeasurementSpecSchema, {
        measurementPublicKey: planned.measurementPublicKey,
        nonceHashes: planned.nonceHashes,
        vidSamplingInterval: planned.vidSamplingInterval,
        measurementType,
      });
      plan.request.measurement!.measurementSpec = signMessage(MeasurementSpecSchema, spec, mc.certificate.signingKey);
      const created = await measurements.createMeasurement(plan.request, mc.apiKey);
      assert.equal(created.protocolConfig?.measurementType, expected, label);
      const direct = created.protocolConfig?.protocols[0]?.protocol;
      assert.equal(direct?.case, 'direct', label);
      const set = Object.entries(direct!.value as unknown as Record<string, unknown>)
        .filter(([k, v]) => k !== '$typeName' && k !== 'noiseMechanisms' && k !== 'customDirectMethodology' && v !== undefined)
        .map(([k]) => k);
      assert.deepEqual(set.sort(), [...methodologies].sort(), label);
      assert.ok((direct!.value as { noiseMechanisms: number[] }).noiseMechanisms.length > 0, label);
    }
  });

  it('batch-creates the caller\'s measurements all or none', async () => {
    const count = async () => (await measurements.listMeasurements({ parent: mc.name, pageSize: 1000 }, mc.apiKey)).measurements.length;
    const n = await count();
    const before = await auditDigest(kingdom);
    const child = (ref: string) => ({ ...planMeasurement(mc, [edp1], { referenceId: ref }).request, parent: '' });
    // Attacks first: another MC, a DataProvider, nobody; a child naming another parent.
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('x')] }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('x')] }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('x')] }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(
      measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('x'), { ...child('y'), parent: otherMc.name }] }, mc.apiKey),
      Code.InvalidArgument,
      'INVALID_FIELD_VALUE',
    );
    // Bad requests; one bad child refuses them all.
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: [] }, mc.apiKey), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: Array(51).fill(child('x')) }, mc.apiKey), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    const unsigned = child('unsigned');
    unsigned.measurement!.measurementSpec!.signature = new Uint8Array(0);
    await rejectsWith(measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('x'), unsigned] }, mc.apiKey), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    assert.equal(await auditDigest(kingdom), before, 'no refused batch changed anything');
    assert.equal(await count(), n);

    const created = await measurements.batchCreateMeasurements({ parent: mc.name, requests: [child('batch-1'), { ...child('batch-2'), parent: mc.name }] }, mc.apiKey);
    assert.deepEqual(created.measurements.map((m) => m.measurementReferenceId), ['batch-1', 'batch-2']);
    assert.equal(created.measurements[0]!.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
    assert.equal(await count(), n + 2);
  });

  it('batch-gets only the caller\'s own measurements, in the order named', async () => {
    const a = await measurements.createMeasurement(planMeasurement(mc, [edp1], { referenceId: 'batch-a' }).request, mc.mtls);
    const b = await measurements.createMeasurement(planMeasurement(mc, [edp1], { referenceId: 'batch-b' }).request, mc.mtls);
    const theirs = await measurements.createMeasurement(planMeasurement(otherMc, [edp1]).request, otherMc.apiKey);
    // Attacks first: another MC, a DataProvider, nobody; another MC's measurement under our parent.
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [a.name] }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [a.name] }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [a.name] }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [a.name, theirs.name] }, mc.apiKey), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    // Bad requests.
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [] }, mc.apiKey), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: Array(51).fill(a.name) }, mc.apiKey), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [`${mc.name}/measurements/`] }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(measurements.batchGetMeasurements({ parent: mc.name, names: [a.name, `${mc.name}/measurements/AAAAAAAAAAE`] }, mc.apiKey), Code.NotFound, 'MEASUREMENT_NOT_FOUND');

    const got = await measurements.batchGetMeasurements({ parent: mc.name, names: [b.name, a.name, b.name] }, mc.apiKey);
    assert.deepEqual(got.measurements.map((m) => m.measurementReferenceId), ['batch-b', 'batch-a', 'batch-b']);
    assert.ok(equals(MeasurementSchema, got.measurements[1]!, await measurements.getMeasurement({ name: a.name }, mc.apiKey)));
  });

  it('names the ListMeasurementsResponse field `measurements` in JSON, as upstream', async () => {
    const res = await measurements.listMeasurements({ parent: mc.name, pageSize: 1 }, mc.apiKey);
    assert.equal(res.measurements.length, 1);
    const field = ListMeasurementsResponseSchema.fields.find((f) => f.number === 1);
    assert.equal(field?.jsonName, 'measurements');
    // The JSON form of an empty page still shows the name a JSON client reads.
    const json = toJson(ListMeasurementsResponseSchema, create(ListMeasurementsResponseSchema, { nextPageToken: 'x' }), { alwaysEmitImplicit: true }) as Record<string, unknown>;
    assert.deepEqual(Object.keys(json).sort(), ['measurements', 'nextPageToken']);
    assert.equal(CreateMeasurementRequestSchema.fields.find((f) => f.name === 'parent')?.number, 3);
    assert.equal(CreateMeasurementRequestSchema.fields.find((f) => f.name === 'request_id')?.number, 2);
  });

  it('answers NOT_FOUND for a missing measurement and INVALID_ARGUMENT for a malformed name', async () => {
    await rejectsWith(measurements.getMeasurement({ name: `${mc.name}/measurements/AAAAAAAAAAE` }, mc.apiKey), Code.NotFound, 'MEASUREMENT_NOT_FOUND');
    await rejectsWith(measurements.cancelMeasurement({ name: `${mc.name}/measurements/AAAAAAAAAAE` }, mc.apiKey), Code.NotFound, 'MEASUREMENT_NOT_FOUND');
    await rejectsWith(measurements.getMeasurement({ name: `${mc.name}/measurements/` }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(measurements.getMeasurement({ name: 'x'.repeat(5000) }, mc.apiKey), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
  });

  it('in compatible mode relays what upstream relays: an unverified spec and keys that are not Tink keysets', async () => {
    const compatible = await openTestKingdom('compatible');
    try {
      const cmc = await freshMeasurementConsumer(compatible, 'compat-mc');
      const cdp = await freshDataProvider(compatible, 'compat-dp');
      const request = planMeasurement(cmc, [cdp]).request;
      const m = request.measurement!;
      // Signed by a key that is not the certificate's, and a key that is no keyset.
      m.measurementSpec = signMessage(m.measurementSpec!.message!, cdp.certificate.signingKey);
      m.dataProviders[0]!.value!.dataProviderPublicKey = encryptionPublicKeyAny(new Uint8Array([8, 1, 18, 1, 0]));
      const created = await compatible.client(Measurements).createMeasurement(request, cmc.apiKey);
      assert.equal(created.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
      // The shape checks stay.
      const bad = planMeasurement(cmc, [cdp]).request;
      bad.measurement!.dataProviders[0]!.value!.encryptedRequisitionSpec!.typeUrl = 'x/y';
      await rejectsWith(compatible.client(Measurements).createMeasurement(bad, cmc.apiKey), Code.InvalidArgument, 'TYPE_URL_MISMATCH');
    } finally {
      await compatible.close();
    }
  });

  it('keeps the audit chain intact through all of it', async () => {
    const verification = await kingdom.store.verifyAuditChain();
    assert.equal(verification.ok, true);
    const actions = new Set((await kingdom.store.exportAudit()).map((e) => e.action));
    for (const action of ['CreateMeasurement', 'FulfillDirectRequisition', 'SucceedMeasurement', 'CancelMeasurement']) {
      assert.ok(actions.has(action), `audit has ${action}`);
    }
  });
});

/** A serialized EncryptionPublicKey whose "public" keyset carries private key material. */
function privateKeyAsPublicKey(): Uint8Array {
  return toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(generateKeyset()) }));
}
