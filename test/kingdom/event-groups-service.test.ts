// EventGroups and EventGroupMetadataReencryption over connect's in-memory
// router transport and a real PGlite store (the mTLS server is tested end to
// end elsewhere). Metadata is really encrypted to MC Tink keysets (the CMMS
// test MC's among them) and decrypted on the MC's side.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clone, create, equals, toBinary } from '@bufbuild/protobuf';
import { DurationSchema, anyPack, anyUnpack } from '@bufbuild/protobuf/wkt';
import { Code, type Client } from '@connectrpc/connect';
import { decryptMessage, encryptMessage } from '../../src/crypto/encrypted-message.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { keysetBytes, publicKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import {
  BatchReencryptEventGroupsResponse_Result_Outcome,
  CreateMetadataReencryptionRequestsResponseSchema,
  EventGroupMetadataReencryption,
  MetadataReencryptionRequest_State,
} from '../../src/gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  EventGroupSchema,
  EventGroup_AggregatedActivitySchema,
  EventGroup_EntityKeySchema,
  EventGroup_MetadataSchema,
  EventGroup_State,
  EventGroup_View,
  type EventGroup,
  type EventGroup_Metadata,
} from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { CreateEventGroupRequestSchema, EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { parseApiId } from '../../src/api/index.js';
import { keyFingerprint } from '../../src/kingdom/service/service-support.js';
import {
  auditDigest,
  cmmsDataProvider,
  cmmsMeasurementConsumer,
  encryptionPublicKeyAny,
  encryptionPublicKeyBytes,
  freshDataProvider,
  freshMeasurementConsumer,
  openTestKingdom,
  rejectsWith,
  type MeasurementConsumerParticipant,
  type Participant,
  type TestKingdom,
} from './measurement-fixtures.js';

const METADATA_TYPE_URL = 'type.googleapis.com/wfa.measurement.api.v2alpha.EventGroup.Metadata';

function metadataFor(label: string): EventGroup_Metadata {
  return create(EventGroup_MetadataSchema, {
    eventGroupMetadataDescriptor: `dataProviders/AAAAAAAAAHs/eventGroupMetadataDescriptors/${label}`,
    metadata: anyPack(DurationSchema, create(DurationSchema, { seconds: BigInt(label.length) * 60n })),
  });
}

/** An EventGroup whose metadata is encrypted to `keyset` (public), with the key attached as upstream wants. */
function eventGroupFor(mc: Participant, publicKeys: Keyset, label: string): EventGroup {
  return create(EventGroupSchema, {
    measurementConsumer: mc.name,
    eventGroupReferenceId: label,
    eventTemplates: [{ type: 'halo_cmm.test.TestEvent' }],
    dataAvailabilityInterval: { startTime: { seconds: 1_700_000_000n }, endTime: { seconds: 1_800_000_000n } },
    measurementConsumerPublicKey: encryptionPublicKeyAny(encryptionPublicKeyBytes(publicKeys)),
    encryptedMetadata: encryptMessage(publicKeys, EventGroup_MetadataSchema, metadataFor(label)),
  });
}

describe('EventGroups service', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let edp1: Participant;
  let edp2: Participant;
  let otherMc: MeasurementConsumerParticipant;
  let eventGroups: Client<typeof EventGroups>;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await cmmsMeasurementConsumer(kingdom);
    edp1 = await cmmsDataProvider(kingdom, 'edp1');
    edp2 = await cmmsDataProvider(kingdom, 'edp2');
    otherMc = await freshMeasurementConsumer(kingdom, 'other-mc');
    eventGroups = kingdom.client(EventGroups);
  });
  after(async () => {
    await kingdom.close();
  });

  it('keeps only ciphertext and key; the MC decrypts the metadata with its private keyset, read any way it may', async () => {
    const sent = eventGroupFor(mc, mc.encryptionPublicKeyset, 'round-trip');
    const created = await eventGroups.createEventGroup({ parent: edp1.name, eventGroup: sent }, edp1.mtls);
    assert.match(created.name, new RegExp(`^${edp1.name}/eventGroups/[A-Za-z0-9_-]{11}$`));
    assert.equal(created.state, EventGroup_State.ACTIVE);
    assert.equal(created.measurementConsumer, mc.name);
    const egId = created.name.split('/').pop()!;
    const reads = [
      await eventGroups.getEventGroup({ name: created.name }, edp1.mtls),
      await eventGroups.getEventGroup({ name: created.name }, mc.apiKey),
      await eventGroups.getEventGroup({ name: `${mc.name}/eventGroups/${egId}` }, mc.mtls),
    ];
    for (const eg of [created, ...reads]) {
      assert.equal(eg.name, created.name);
      assert.equal(eg.eventGroupReferenceId, 'round-trip');
      assert.deepEqual(eg.eventTemplates.map((t) => t.type), ['halo_cmm.test.TestEvent']);
      assert.equal(eg.dataAvailabilityInterval?.endTime?.seconds, 1_800_000_000n);
      assert.equal(eg.encryptedMetadata?.typeUrl, METADATA_TYPE_URL);
      assert.deepEqual(eg.encryptedMetadata?.ciphertext, sent.encryptedMetadata!.ciphertext);
      assert.deepEqual(eg.serializedEncryptedMetadata, sent.encryptedMetadata!.ciphertext);
      assert.equal(eg.measurementConsumerPublicKey?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
      assert.deepEqual(eg.measurementConsumerPublicKey?.value, mc.encryptionPublicKey);
      assert.deepEqual(eg.signedMeasurementConsumerPublicKey?.message?.value, mc.encryptionPublicKey);
      assert.deepEqual(eg.signedMeasurementConsumerPublicKey?.data, mc.encryptionPublicKey);
      const metadata = decryptMessage(mc.encryptionPrivateKeyset, eg.encryptedMetadata!, EventGroup_MetadataSchema);
      assert.equal(metadata.eventGroupMetadataDescriptor, 'dataProviders/AAAAAAAAAHs/eventGroupMetadataDescriptors/round-trip');
      assert.equal(anyUnpack(metadata.metadata!, DurationSchema)?.seconds, 600n);
    }
    // Only the MC's private keyset opens it.
    assert.throws(() => decryptMessage(edp1.encryptionPrivateKeyset, created.encryptedMetadata!, EventGroup_MetadataSchema));
  });

  it('accepts the deprecated signed key and bare ciphertext, and gives the signature back', async () => {
    const signedKey = signMessage(
      EncryptionPublicKeySchema,
      create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(mc.encryptionPublicKeyset) }),
      mc.certificate.signingKey,
    );
    const ciphertext = encryptMessage(mc.encryptionPublicKeyset, EventGroup_MetadataSchema, metadataFor('legacy')).ciphertext;
    const created = await eventGroups.createEventGroup(
      {
        parent: edp2.name,
        eventGroup: { measurementConsumer: mc.name, signedMeasurementConsumerPublicKey: signedKey, serializedEncryptedMetadata: ciphertext },
      },
      edp2.mtls,
    );
    const read = await eventGroups.getEventGroup({ name: created.name }, mc.apiKey);
    assert.deepEqual(read.measurementConsumerPublicKey?.value, signedKey.message?.value);
    assert.deepEqual(read.signedMeasurementConsumerPublicKey?.signature, signedKey.signature);
    assert.equal(read.signedMeasurementConsumerPublicKey?.signatureAlgorithmOid, signedKey.signatureAlgorithmOid);
    assert.equal(read.encryptedMetadata?.typeUrl, METADATA_TYPE_URL);
    const metadata = decryptMessage(mc.encryptionPrivateKeyset, read.encryptedMetadata!, EventGroup_MetadataSchema);
    assert.equal(metadata.eventGroupMetadataDescriptor.endsWith('/legacy'), true);
  });

  describe('refuses a bad EventGroup with a reason and changes nothing', () => {
    const otherKeys = publicKeyset(generateKeyset());
    type Case = [string, (eg: EventGroup) => void, Code, string];
    const cases: Case[] = [
      ['metadata without a key', (eg) => { eg.measurementConsumerPublicKey = undefined; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['metadata declaring another type', (eg) => { eg.encryptedMetadata!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.EventGroup'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['metadata without ciphertext', (eg) => { eg.encryptedMetadata!.ciphertext = new Uint8Array(); }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['a key of another type', (eg) => { eg.measurementConsumerPublicKey!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage'; }, Code.InvalidArgument, 'TYPE_URL_MISMATCH'],
      ['a key that does not parse', (eg) => { eg.measurementConsumerPublicKey!.value = new Uint8Array([0x0a, 0xff]); }, Code.InvalidArgument, 'MESSAGE_MALFORMED'],
      ['a key that is not a Tink keyset', (eg) => { eg.measurementConsumerPublicKey = encryptionPublicKeyAny(new Uint8Array([8, 1, 18, 2, 0, 1])); }, Code.InvalidArgument, 'ENCRYPTION_PUBLIC_KEY_INVALID'],
      ['a private keyset as the key', (eg) => { eg.measurementConsumerPublicKey = encryptionPublicKeyAny(toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(mc.encryptionPrivateKeyset) }))); }, Code.InvalidArgument, 'ENCRYPTION_PUBLIC_KEY_INVALID'],
      ['new and deprecated keys that differ', (eg) => { eg.signedMeasurementConsumerPublicKey = { $typeName: 'wfa.measurement.api.v2alpha.SignedMessage', data: encryptionPublicKeyBytes(otherKeys), signature: new Uint8Array([1]), signatureAlgorithmOid: '', message: undefined }; }, Code.InvalidArgument, 'INVALID_FIELD_VALUE'],
      ['new and deprecated ciphertexts that differ', (eg) => { eg.serializedEncryptedMetadata = new Uint8Array([1, 2, 3]); }, Code.InvalidArgument, 'INVALID_FIELD_VALUE'],
      ['no measurement_consumer', (eg) => { eg.measurementConsumer = ''; }, Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET'],
      ['a malformed measurement_consumer', (eg) => { eg.measurementConsumer = 'measurementConsumers/!'; }, Code.InvalidArgument, 'INVALID_RESOURCE_NAME'],
      ['a measurement_consumer that does not exist', (eg) => { eg.measurementConsumer = 'measurementConsumers/AAAAAAAAAAE'; }, Code.FailedPrecondition, 'MEASUREMENT_CONSUMER_NOT_FOUND'],
    ];
    for (const [label, mutate, code, reason] of cases) {
      it(label, async () => {
        const eg = clone(EventGroupSchema, eventGroupFor(mc, mc.encryptionPublicKeyset, 'bad'));
        mutate(eg);
        const before = await auditDigest(kingdom);
        await rejectsWith(eventGroups.createEventGroup({ parent: edp1.name, eventGroup: eg }, edp1.mtls), code, reason);
        assert.equal(await auditDigest(kingdom), before);
      });
    }
    it('no event_group, or a malformed parent', async () => {
      const before = await auditDigest(kingdom);
      await rejectsWith(eventGroups.createEventGroup({ parent: edp1.name }, edp1.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      await rejectsWith(
        eventGroups.createEventGroup(create(CreateEventGroupRequestSchema, { parent: `${edp1.name}/x`, eventGroup: eventGroupFor(mc, mc.encryptionPublicKeyset, 'p') }), edp1.mtls),
        Code.InvalidArgument,
        'INVALID_RESOURCE_NAME',
      );
      assert.equal(await auditDigest(kingdom), before);
    });
  });

  it('applies upstream\'s access rules', async () => {
    const shared = await eventGroups.createEventGroup({ parent: edp1.name, eventGroup: eventGroupFor(mc, mc.encryptionPublicKeyset, 'acl') }, edp1.mtls);
    const egId = shared.name.split('/').pop()!;
    const before = await auditDigest(kingdom);
    const eg = eventGroupFor(mc, mc.encryptionPublicKeyset, 'x');
    await rejectsWith(eventGroups.createEventGroup({ parent: edp1.name, eventGroup: eg }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.createEventGroup({ parent: edp1.name, eventGroup: eg }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.createEventGroup({ parent: edp1.name, eventGroup: eg }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(eventGroups.getEventGroup({ name: shared.name }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.getEventGroup({ name: shared.name }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    // A missing group looks the same to an MC as someone else's.
    await rejectsWith(eventGroups.getEventGroup({ name: `${edp1.name}/eventGroups/AAAAAAAAAAE` }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.getEventGroup({ name: `${edp1.name}/eventGroups/AAAAAAAAAAE` }, edp1.mtls), Code.NotFound, 'EVENT_GROUP_NOT_FOUND');
    await rejectsWith(eventGroups.getEventGroup({ name: `${mc.name}/eventGroups/${egId}` }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.getEventGroup({ name: `${otherMc.name}/eventGroups/${egId}` }, otherMc.apiKey), Code.NotFound, 'EVENT_GROUP_NOT_FOUND');
    await rejectsWith(eventGroups.getEventGroup({ name: `${mc.name}/eventGroups/${egId}` }, edp1.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.listEventGroups({ parent: edp1.name }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.listEventGroups({ parent: edp1.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.listEventGroups({ parent: mc.name }, otherMc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.updateEventGroup({ eventGroup: { ...shared, eventGroupReferenceId: 'stolen' } }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.updateEventGroup({ eventGroup: { ...shared, eventGroupReferenceId: 'stolen' } }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.deleteEventGroup({ name: shared.name }, edp2.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.deleteEventGroup({ name: shared.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.deleteEventGroup({ name: `${mc.name}/eventGroups/${egId}` }, edp1.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    assert.equal(await auditDigest(kingdom), before);
  });

  it('reads by the MC-form name: only that MC\'s group, deleted or not, in the view asked for, the first DataProvider\'s when ids coincide', async () => {
    const [dpA, dpB, dpC] = [await freshDataProvider(kingdom, 'mc-name-a'), await freshDataProvider(kingdom, 'mc-name-b'), await freshDataProvider(kingdom, 'mc-name-c')];
    const mcX = await freshMeasurementConsumer(kingdom, 'mc-name-x');
    const make = async (dp: Participant, owner: Participant, label: string) => {
      const eg = eventGroupFor(owner, owner.encryptionPublicKeyset, label);
      eg.aggregatedActivities = [create(EventGroup_AggregatedActivitySchema, { interval: { startDate: { year: 2026, month: 11, day: 1 }, endDate: { year: 2026, month: 11, day: 20 } } })];
      return eventGroups.createEventGroup({ parent: dp.name, eventGroup: eg }, dp.mtls);
    };
    const a = await make(dpA, mc, 'mc-name-a');
    const b = await make(dpB, mc, 'mc-name-b');
    const x = await make(dpC, mcX, 'mc-name-x');
    const idOf = (g: EventGroup) => parseApiId(g.name.split('/').pop()!)!;
    const under = (owner: Participant, g: EventGroup) => `${owner.name}/eventGroups/${g.name.split('/').pop()!}`;

    const basic = await eventGroups.getEventGroup({ name: under(mc, a) }, mc.apiKey);
    const withActivity = await eventGroups.getEventGroup({ name: under(mc, a), view: EventGroup_View.WITH_ACTIVITY_SUMMARY }, mc.mtls);
    assert.ok(equals(EventGroupSchema, basic, await eventGroups.getEventGroup({ name: a.name }, mc.apiKey)));
    assert.ok(equals(EventGroupSchema, withActivity, await eventGroups.getEventGroup({ name: a.name, view: EventGroup_View.WITH_ACTIVITY_SUMMARY }, mc.apiKey)));
    assert.equal(basic.aggregatedActivities.length, 0);
    assert.equal(withActivity.aggregatedActivities.length, 1);
    // Another MC's group: not found under either MC's name, and only an MC reads under its own.
    await rejectsWith(eventGroups.getEventGroup({ name: under(mc, x) }, mc.apiKey), Code.NotFound, 'EVENT_GROUP_NOT_FOUND');
    await rejectsWith(eventGroups.getEventGroup({ name: under(mcX, a) }, mcX.apiKey), Code.NotFound, 'EVENT_GROUP_NOT_FOUND');
    await rejectsWith(eventGroups.getEventGroup({ name: under(mcX, x) }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(eventGroups.getEventGroup({ name: under(mcX, x) }, dpC.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');

    // EventGroup ids are unique per DataProvider only; drawn at random, they coincide here only by hand.
    for (const [dp, g] of [[dpB, b], [dpC, x]] as const) {
      await kingdom.store.database.query(
        'UPDATE event_groups SET external_event_group_id = $1 WHERE data_provider_external_id = $2 AND external_event_group_id = $3',
        [idOf(a), dp.id, idOf(g)],
      );
    }
    // The lower DataProvider id comes first; the groups now share a's id.
    const sharedId = a.name.split('/').pop()!;
    const [firstDp, secondDp] = dpA.id < dpB.id ? [dpA, dpB] : [dpB, dpA];
    const firstName = `${firstDp.name}/eventGroups/${sharedId}`;
    const sharedName = under(mc, a);
    assert.equal((await eventGroups.getEventGroup({ name: sharedName }, mc.apiKey)).name, firstName);
    assert.equal((await eventGroups.getEventGroup({ name: under(mcX, a) }, mcX.apiKey)).name, `${dpC.name}/eventGroups/${sharedId}`);
    // The first stays the answer once deleted, as the MC's list with deleted groups shows it first.
    await eventGroups.deleteEventGroup({ name: firstName }, firstDp.mtls);
    const read = await eventGroups.getEventGroup({ name: sharedName }, mc.apiKey);
    assert.equal(read.name, firstName);
    assert.equal(read.state, EventGroup_State.DELETED);
    assert.equal((await eventGroups.getEventGroup({ name: `${secondDp.name}/eventGroups/${sharedId}` }, mc.apiKey)).state, EventGroup_State.ACTIVE, 'the other DataProvider\'s group is live');
  });

  it('updates as a full replacement, keeps the MC immutable, and deletes by clearing the metadata', async () => {
    const created = await eventGroups.createEventGroup({ parent: edp2.name, eventGroup: eventGroupFor(mc, mc.encryptionPublicKeyset, 'v1') }, edp2.mtls);
    const next = eventGroupFor(mc, mc.encryptionPublicKeyset, 'version-two');
    next.name = created.name;
    next.eventTemplates = [];
    const updated = await eventGroups.updateEventGroup({ eventGroup: next }, edp2.mtls);
    assert.equal(updated.eventGroupReferenceId, 'version-two');
    assert.equal(updated.eventTemplates.length, 0);
    assert.equal(decryptMessage(mc.encryptionPrivateKeyset, updated.encryptedMetadata!, EventGroup_MetadataSchema).eventGroupMetadataDescriptor.endsWith('/version-two'), true);
    const before = await auditDigest(kingdom);
    await rejectsWith(
      eventGroups.updateEventGroup({ eventGroup: { ...next, measurementConsumer: otherMc.name } }, edp2.mtls),
      Code.InvalidArgument,
      'EVENT_GROUP_INVALID_ARGS',
    );
    await rejectsWith(eventGroups.updateEventGroup({ eventGroup: { ...next, measurementConsumerPublicKey: undefined } }, edp2.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(eventGroups.updateEventGroup({ eventGroup: { ...next, name: `${edp2.name}/eventGroups/AAAAAAAAAAE` } }, edp2.mtls), Code.NotFound, 'EVENT_GROUP_NOT_FOUND');
    await rejectsWith(eventGroups.updateEventGroup({}, edp2.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    assert.equal(await auditDigest(kingdom), before);

    const deleted = await eventGroups.deleteEventGroup({ name: created.name }, edp2.mtls);
    assert.equal(deleted.state, EventGroup_State.DELETED);
    assert.equal(deleted.encryptedMetadata, undefined);
    assert.equal(deleted.measurementConsumerPublicKey, undefined);
    assert.equal((await eventGroups.getEventGroup({ name: created.name }, mc.apiKey)).state, EventGroup_State.DELETED);
    await rejectsWith(eventGroups.updateEventGroup({ eventGroup: next }, edp2.mtls), Code.FailedPrecondition, 'EVENT_GROUP_STATE_ILLEGAL');
    await rejectsWith(eventGroups.deleteEventGroup({ name: created.name }, edp2.mtls), Code.FailedPrecondition, 'EVENT_GROUP_STATE_ILLEGAL');
  });

  it('lists for a DataProvider or an MC, narrowed by filters, page by page', async () => {
    const dpA = await freshDataProvider(kingdom, 'list-a');
    const dpB = await freshDataProvider(kingdom, 'list-b');
    const mcX = await freshMeasurementConsumer(kingdom, 'list-x');
    const mcY = await freshMeasurementConsumer(kingdom, 'list-y');
    const make = async (dp: Participant, owner: Participant, label: string) =>
      (await eventGroups.createEventGroup({ parent: dp.name, eventGroup: eventGroupFor(owner, owner.encryptionPublicKeyset, label) }, dp.mtls)).name;
    const g1 = await make(dpA, mcX, 'g1');
    const g2 = await make(dpA, mcX, 'g2');
    const g3 = await make(dpA, mcY, 'g3');
    const g4 = await make(dpB, mcX, 'g4');
    const names = async (parent: string, who: { headers: Record<string, string> }, filter = {}, showDeleted = false) =>
      (await eventGroups.listEventGroups({ parent, filter, showDeleted, pageSize: 100 }, who)).eventGroups.map((g) => g.name).sort();
    assert.deepEqual(await names(dpA.name, dpA.mtls), [g1, g2, g3].sort());
    assert.deepEqual(await names(dpA.name, dpA.mtls, { measurementConsumerIn: [mcX.name] }), [g1, g2].sort());
    assert.deepEqual(await names(dpA.name, dpA.mtls, { measurementConsumerIn: [mcX.name, mcY.name] }), [g1, g2, g3].sort());
    assert.deepEqual(await names(mcX.name, mcX.apiKey), [g1, g2, g4].sort());
    assert.deepEqual(await names(mcX.name, mcX.mtls, { dataProviderIn: [dpB.name] }), [g4]);
    assert.deepEqual(await names(mcX.name, mcX.apiKey, { dataProviderIn: [dpA.name, dpB.name] }), [g1, g2, g4].sort());
    assert.deepEqual(await names(mcX.name, mcX.apiKey, { measurementConsumerIn: [mcY.name] }), []);

    const paged: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await eventGroups.listEventGroups({ parent: mcX.name, pageSize: 1, pageToken }, mcX.apiKey);
      pages++;
      paged.push(...page.eventGroups.map((g) => g.name));
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    assert.equal(pages, 3);
    assert.deepEqual(paged.sort(), [g1, g2, g4].sort());
    // Post-filtered pages (two MCs) page too.
    const first = await eventGroups.listEventGroups({ parent: dpA.name, pageSize: 2, filter: { measurementConsumerIn: [mcX.name, mcY.name] } }, dpA.mtls);
    assert.equal(first.eventGroups.length, 2);
    const second = await eventGroups.listEventGroups(
      { parent: dpA.name, pageSize: 2, pageToken: first.nextPageToken, filter: { measurementConsumerIn: [mcX.name, mcY.name] } },
      dpA.mtls,
    );
    assert.equal(second.eventGroups.length, 1);
    assert.equal(second.nextPageToken, '');
    await rejectsWith(
      eventGroups.listEventGroups({ parent: dpA.name, pageSize: 2, pageToken: first.nextPageToken, showDeleted: true, filter: { measurementConsumerIn: [mcX.name, mcY.name] } }, dpA.mtls),
      Code.InvalidArgument,
      'PAGE_TOKEN_MISMATCH',
    );
    await rejectsWith(eventGroups.listEventGroups({ parent: dpA.name, filter: { measurementConsumerIn: ['nope'] } }, dpA.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    await rejectsWith(eventGroups.listEventGroups({ parent: dpA.name, pageSize: -5 }, dpA.mtls), Code.InvalidArgument, 'INVALID_PAGE_SIZE');

    await eventGroups.deleteEventGroup({ name: g2 }, dpA.mtls);
    assert.deepEqual(await names(mcX.name, mcX.apiKey), [g1, g4].sort());
    assert.deepEqual(await names(mcX.name, mcX.apiKey, {}, true), [g1, g2, g4].sort());
  });
});

describe('EventGroupMetadataReencryption service', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let dpA: Participant;
  let dpB: Participant;
  let stranger: MeasurementConsumerParticipant;
  let eventGroups: Client<typeof EventGroups>;
  let reencryption: Client<typeof EventGroupMetadataReencryption>;
  /** The DataProviders' own copies of the plaintext, by EventGroup name. */
  const plaintext = new Map<string, EventGroup_Metadata>();
  const groups: Record<string, string> = {};

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await freshMeasurementConsumer(kingdom, 'rotating-mc');
    dpA = await freshDataProvider(kingdom, 'dp-a');
    dpB = await freshDataProvider(kingdom, 'dp-b');
    stranger = await freshMeasurementConsumer(kingdom, 'stranger');
    eventGroups = kingdom.client(EventGroups);
    reencryption = kingdom.client(EventGroupMetadataReencryption);
    const otherKeys = publicKeyset(generateKeyset());
    const make = async (label: string, dp: Participant, owner: Participant, keys: Keyset | null) => {
      const eg = keys === null ? create(EventGroupSchema, { measurementConsumer: owner.name, eventGroupReferenceId: label }) : eventGroupFor(owner, keys, label);
      const created = await eventGroups.createEventGroup({ parent: dp.name, eventGroup: eg }, dp.mtls);
      groups[label] = created.name;
      plaintext.set(created.name, metadataFor(label));
    };
    await make('a1', dpA, mc, mc.encryptionPublicKeyset);
    await make('a2', dpA, mc, mc.encryptionPublicKeyset);
    await make('b1', dpB, mc, mc.encryptionPublicKeyset);
    await make('a3-other-key', dpA, mc, otherKeys);
    await make('a4-no-metadata', dpA, mc, null);
    // Another MC's group, encrypted (oddly) to the same key bytes: not this MC's to ask about.
    await make('s1', dpA, stranger, mc.encryptionPublicKeyset);
  });
  after(async () => {
    await kingdom.close();
  });

  it('creates one request per EventGroup of this MC encrypted to the leaked key, idempotently', async () => {
    const leaked = encryptionPublicKeyAny(mc.encryptionPublicKey);
    const first = await reencryption.createMetadataReencryptionRequests({ parent: mc.name, key: { case: 'measurementConsumerPublicKey', value: leaked } }, mc.apiKey);
    assert.deepEqual([first.createdCount, first.openCount], [3, 3]);
    const listed = [
      ...(await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests,
      ...(await reencryption.listMetadataReencryptionRequests({ parent: dpB.name }, dpB.mtls)).requests,
    ];
    assert.deepEqual(listed.map((r) => r.eventGroup).sort(), [groups.a1, groups.a2, groups.b1].sort());
    for (const r of listed) {
      assert.equal(r.state, MetadataReencryptionRequest_State.OPEN);
      assert.equal(r.measurementConsumer, mc.name);
      assert.deepEqual(r.measurementConsumerKeyFingerprint, keyFingerprint(mc.encryptionPublicKey));
      assert.ok(r.name.startsWith(`${r.eventGroup}/metadataReencryptionRequests/`));
    }
    const digest = await auditDigest(kingdom);
    const again = await reencryption.createMetadataReencryptionRequests(
      { parent: mc.name, key: { case: 'measurementConsumerKeyFingerprint', value: keyFingerprint(mc.encryptionPublicKey) } },
      mc.mtls,
    );
    assert.deepEqual([again.createdCount, again.openCount], [0, 3], 'the open requests are counted, not duplicated');
    assert.equal(await auditDigest(kingdom), digest, 'a repeated request records nothing new');
  });

  it('lets each DataProvider list only its own open requests', async () => {
    const a = await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls);
    assert.deepEqual(a.requests.map((r) => r.eventGroup).sort(), [groups.a1, groups.a2].sort());
    const b = await reencryption.listMetadataReencryptionRequests({ parent: dpB.name }, dpB.mtls);
    assert.deepEqual(b.requests.map((r) => [r.eventGroup, r.measurementConsumer]), [[groups.b1, mc.name]]);
  });

  it('closes a request only after the metadata was re-encrypted to the new key', async () => {
    const [request] = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests.filter(
      (r) => r.eventGroup === groups.a1,
    );
    assert.ok(request);
    const before = await auditDigest(kingdom);
    await rejectsWith(
      reencryption.closeMetadataReencryptionRequest({ name: request.name }, dpA.mtls),
      Code.FailedPrecondition,
      'EVENT_GROUP_METADATA_NOT_REENCRYPTED',
    );
    assert.equal(await auditDigest(kingdom), before);

    // The MC rotated: the DataProvider re-encrypts its own plaintext to the new key.
    const newPrivate = generateKeyset();
    const newPublic = publicKeyset(newPrivate);
    const current = await eventGroups.getEventGroup({ name: groups.a1! }, dpA.mtls);
    const replacement = clone(EventGroupSchema, current);
    replacement.measurementConsumerPublicKey = encryptionPublicKeyAny(encryptionPublicKeyBytes(newPublic));
    replacement.signedMeasurementConsumerPublicKey = undefined;
    replacement.encryptedMetadata = encryptMessage(newPublic, EventGroup_MetadataSchema, plaintext.get(groups.a1!)!);
    replacement.serializedEncryptedMetadata = new Uint8Array();
    const updated = await eventGroups.updateEventGroup({ eventGroup: replacement }, dpA.mtls);
    const reread = decryptMessage(newPrivate, updated.encryptedMetadata!, EventGroup_MetadataSchema);
    assert.equal(reread.eventGroupMetadataDescriptor, plaintext.get(groups.a1!)!.eventGroupMetadataDescriptor);
    assert.throws(() => decryptMessage(mc.encryptionPrivateKeyset, updated.encryptedMetadata!, EventGroup_MetadataSchema));

    const closed = await reencryption.closeMetadataReencryptionRequest({ name: request.name }, dpA.mtls);
    assert.equal(closed.state, MetadataReencryptionRequest_State.CLOSED);
    assert.ok(closed.closeTime);
    const open = await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls);
    assert.deepEqual(open.requests.map((r) => r.eventGroup), [groups.a2]);
    // Closing again changes nothing.
    const digest = await auditDigest(kingdom);
    assert.equal((await reencryption.closeMetadataReencryptionRequest({ name: request.name }, dpA.mtls)).state, MetadataReencryptionRequest_State.CLOSED);
    assert.equal(await auditDigest(kingdom), digest);
    // A new request for the old key now skips the re-encrypted group.
    const again = await reencryption.createMetadataReencryptionRequests(
      { parent: mc.name, key: { case: 'measurementConsumerKeyFingerprint', value: keyFingerprint(mc.encryptionPublicKey) } },
      mc.apiKey,
    );
    assert.deepEqual([again.createdCount, again.openCount], [0, 2], 'a2 and b1 are still open; a1 is no longer encrypted to the key');
  });

  it('closes a request of a deleted EventGroup: nothing is left to re-encrypt', async () => {
    const [request] = (await reencryption.listMetadataReencryptionRequests({ parent: dpB.name }, dpB.mtls)).requests;
    assert.ok(request);
    await eventGroups.deleteEventGroup({ name: groups.b1! }, dpB.mtls);
    assert.equal((await reencryption.closeMetadataReencryptionRequest({ name: request.name }, dpB.mtls)).state, MetadataReencryptionRequest_State.CLOSED);
  });

  it('refuses the wrong callers and malformed requests without changing anything', async () => {
    const [request] = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests;
    assert.ok(request);
    const fingerprint = keyFingerprint(mc.encryptionPublicKey);
    const before = await auditDigest(kingdom);
    const create_ = (parent: string, who: { headers: Record<string, string> }, value = fingerprint) =>
      reencryption.createMetadataReencryptionRequests({ parent, key: { case: 'measurementConsumerKeyFingerprint', value } }, who);
    await rejectsWith(create_(mc.name, dpA.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(create_(mc.name, stranger.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(create_(mc.name, {} as { headers: Record<string, string> }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(create_(mc.name, mc.apiKey, new Uint8Array(31)), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(reencryption.createMetadataReencryptionRequests({ parent: mc.name }, mc.apiKey), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(
      reencryption.createMetadataReencryptionRequests(
        { parent: mc.name, key: { case: 'measurementConsumerPublicKey', value: { $typeName: 'google.protobuf.Any', typeUrl: 'type.googleapis.com/x.Y', value: new Uint8Array() } } },
        mc.apiKey,
      ),
      Code.InvalidArgument,
      'TYPE_URL_MISMATCH',
    );
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpB.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.closeMetadataReencryptionRequest({ name: request.name }, dpB.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.closeMetadataReencryptionRequest({ name: request.name }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    const wrongGroup = request.name.replace(request.eventGroup, groups['a3-other-key']!);
    await rejectsWith(reencryption.closeMetadataReencryptionRequest({ name: wrongGroup }, dpA.mtls), Code.NotFound, 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND');
    await rejectsWith(reencryption.closeMetadataReencryptionRequest({ name: `${request.eventGroup}/metadataReencryptionRequests/AAAAAAAAAAE` }, dpA.mtls), Code.NotFound, 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND');
    await rejectsWith(reencryption.closeMetadataReencryptionRequest({ name: `${request.eventGroup}/requests/x` }, dpA.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    assert.equal(await auditDigest(kingdom), before);
  });

  it('records every step in an intact audit chain', async () => {
    assert.equal((await kingdom.store.verifyAuditChain()).ok, true);
    const entries = await kingdom.store.exportAudit();
    const count = (action: string) => entries.filter((e) => e.action === action).length;
    assert.equal(count('CreateMetadataReencryptionRequest'), 3);
    assert.equal(count('CloseMetadataReencryptionRequest'), 2);
    assert.ok(entries.filter((e) => e.action === 'CloseMetadataReencryptionRequest').every((e) => e.actor === dpA.name || e.actor === dpB.name));
  });

  it('answers with counts only, however many EventGroups are encrypted to the key', async () => {
    const many = await freshMeasurementConsumer(kingdom, 'many-groups-mc');
    const keyBytes = encryptionPublicKeyBytes(many.encryptionPublicKeyset);
    const groupCount = 1500;
    for (const dp of [dpA, dpB]) {
      await kingdom.store.batchCreateEventGroups({
        actor: dp.name,
        inputs: Array.from({ length: groupCount / 2 }, (_, i) => ({
          dataProviderId: dp.id,
          measurementConsumerId: many.id,
          eventGroupReferenceId: `bulk-${i}`,
          encryptedMetadata: new Uint8Array([1, 2, 3]),
          measurementConsumerPublicKey: keyBytes,
          apiVersion: 'v2alpha',
        })),
      });
    }
    const fingerprint = keyFingerprint(keyBytes);
    const res = await reencryption.createMetadataReencryptionRequests({ parent: many.name, key: { case: 'measurementConsumerKeyFingerprint', value: fingerprint } }, many.apiKey);
    assert.deepEqual([res.createdCount, res.openCount], [groupCount, groupCount]);
    assert.ok(toBinary(CreateMetadataReencryptionRequestsResponseSchema, res).length < 16, 'the response does not grow with the groups');
    const entries = await kingdom.store.exportAudit();
    assert.equal(entries.filter((e) => e.action === 'CreateMetadataReencryptionRequest' && e.actor === many.name).length, groupCount, 'one audit entry per request');
    // Every page of each DataProvider's open requests.
    const open = [];
    for (const dp of [dpA, dpB]) {
      let pageToken = '';
      do {
        const page = await reencryption.listMetadataReencryptionRequests({ parent: dp.name, pageSize: 1000, pageToken }, dp.mtls);
        open.push(...page.requests.filter((r) => r.measurementConsumer === many.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
    }
    assert.equal(new Set(open.map((r) => r.eventGroup)).size, groupCount, 'one request per group');
    assert.equal(new Set(open.map((r) => r.name)).size, groupCount, 'distinct names');
    const again = await reencryption.createMetadataReencryptionRequests({ parent: many.name, key: { case: 'measurementConsumerKeyFingerprint', value: fingerprint } }, many.apiKey);
    assert.deepEqual([again.createdCount, again.openCount], [0, groupCount]);
  });
});

/**
 * A Kingdom whose MC's key leaked: two DataProviders with `counts` EventGroups
 * encrypted to it (`decorate` adds fields), one open request each.
 */
async function leakedKeyKingdom(label: string, counts: readonly [number, number], decorate: (eg: EventGroup, i: number) => void = () => {}) {
  const kingdom = await openTestKingdom('strict');
  const mc = await freshMeasurementConsumer(kingdom, `${label}-mc`);
  const dpA = await freshDataProvider(kingdom, `${label}-dp-a`);
  const dpB = await freshDataProvider(kingdom, `${label}-dp-b`);
  const eventGroups = kingdom.client(EventGroups);
  const reencryption = kingdom.client(EventGroupMetadataReencryption);
  for (const [dp, n, prefix] of [[dpA, counts[0], 'a'], [dpB, counts[1], 'b']] as const) {
    for (let i = 0; i < n; i++) {
      const eg = eventGroupFor(mc, mc.encryptionPublicKeyset, `${prefix}${i}`);
      decorate(eg, i);
      await eventGroups.createEventGroup({ parent: dp.name, eventGroup: eg }, dp.mtls);
    }
  }
  const created = await reencryption.createMetadataReencryptionRequests(
    { parent: mc.name, key: { case: 'measurementConsumerKeyFingerprint', value: keyFingerprint(mc.encryptionPublicKey) } },
    mc.apiKey,
  );
  assert.equal(created.createdCount, counts[0] + counts[1]);
  return { kingdom, mc, dpA, dpB, eventGroups, reencryption };
}

describe('EventGroupMetadataReencryption paging and batch close', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let dpA: Participant;
  let dpB: Participant;
  let eventGroups: Client<typeof EventGroups>;
  let reencryption: Client<typeof EventGroupMetadataReencryption>;
  const newPublic = publicKeyset(generateKeyset());

  before(async () => {
    ({ kingdom, mc, dpA, dpB, eventGroups, reencryption } = await leakedKeyKingdom('paging', [7, 2]));
  });
  after(async () => {
    await kingdom.close();
  });

  /** The DataProvider's update of a group to the MC's new key (as its tooling does from its plaintext). */
  async function reencrypt(dp: Participant, eventGroup: string): Promise<void> {
    const current = await eventGroups.getEventGroup({ name: eventGroup }, dp.mtls);
    const replacement = clone(EventGroupSchema, current);
    replacement.measurementConsumerPublicKey = encryptionPublicKeyAny(encryptionPublicKeyBytes(newPublic));
    replacement.signedMeasurementConsumerPublicKey = undefined;
    replacement.encryptedMetadata = encryptMessage(newPublic, EventGroup_MetadataSchema, metadataFor(current.eventGroupReferenceId));
    replacement.serializedEncryptedMetadata = new Uint8Array();
    await eventGroups.updateEventGroup({ eventGroup: replacement }, dp.mtls);
  }

  it('pages the open requests oldest first, with the count on the first page, none skipped when one closes meanwhile', async () => {
    const all = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageSize: 1000 }, dpA.mtls)).requests;
    assert.equal(all.length, 7);
    const first = await reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageSize: 3 }, dpA.mtls);
    assert.deepEqual(first.requests.map((r) => r.name), all.slice(0, 3).map((r) => r.name));
    assert.equal(first.totalSize, 7);
    assert.notEqual(first.nextPageToken, '');
    // The first request of the next page closes before it is listed: the page starts after it, nothing else is lost.
    await reencrypt(dpA, all[3]!.eventGroup);
    await reencryption.closeMetadataReencryptionRequest({ name: all[3]!.name }, dpA.mtls);
    const second = await reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageSize: 3, pageToken: first.nextPageToken }, dpA.mtls);
    assert.deepEqual(second.requests.map((r) => r.name), all.slice(4, 7).map((r) => r.name));
    assert.equal(second.totalSize, 0, 'the count is on the first page only');
    assert.equal(second.nextPageToken, '', 'the last page');
    for (const r of [...first.requests, ...second.requests]) {
      assert.equal(r.measurementConsumer, mc.name);
      assert.equal(r.state, MetadataReencryptionRequest_State.OPEN);
    }
    assert.deepEqual(first.eventGroups, [], 'EventGroups only when asked for');
    // With the EventGroups: each request's, as GetEventGroup shows it, in the order of the requests.
    const withGroups = await reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageSize: 3, includeEventGroups: true }, dpA.mtls);
    assert.deepEqual(withGroups.eventGroups.map((g) => g.name), withGroups.requests.map((r) => r.eventGroup));
    for (const g of withGroups.eventGroups) assert.ok(equals(EventGroupSchema, g, await eventGroups.getEventGroup({ name: g.name }, dpA.mtls)), `${g.name} as GetEventGroup shows it`);
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageToken: withGroups.nextPageToken }, dpA.mtls), Code.InvalidArgument, 'PAGE_TOKEN_MISMATCH');
    // A token is bound to its parent and must be one this server wrote.
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpB.name, pageToken: first.nextPageToken }, dpB.mtls), Code.InvalidArgument, 'PAGE_TOKEN_MISMATCH');
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageToken: 'not a token' }, dpA.mtls), Code.InvalidArgument, 'INVALID_PAGE_TOKEN');
    await rejectsWith(reencryption.listMetadataReencryptionRequests({ parent: dpA.name, pageSize: -1 }, dpA.mtls), Code.InvalidArgument, 'INVALID_PAGE_SIZE');
  });

  it("refuses to batch-close another DataProvider's requests, and unauthenticated or MC callers, changing nothing", async () => {
    const a = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests;
    for (const r of a.slice(0, 2)) await reencrypt(dpA, r.eventGroup);
    const names = a.slice(0, 2).map((r) => r.name);
    const before = await auditDigest(kingdom);
    // dpB names dpA as the parent; dpB names itself as the parent but lists dpA's requests; the MC; nobody.
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names }, dpB.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpB.name, names }, dpB.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names }, {} as { headers: Record<string, string> }), Code.Unauthenticated, 'UNAUTHENTICATED');
    // A name under dpB's parent whose request id is dpA's: not found, not closed.
    const b = (await reencryption.listMetadataReencryptionRequests({ parent: dpB.name }, dpB.mtls)).requests[0]!;
    const forged = `${b.eventGroup}/metadataReencryptionRequests/${names[0]!.split('/').at(-1)}`;
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpB.name, names: [forged] }, dpB.mtls), Code.NotFound, 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: [] }, dpA.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: [names[0]!, names[0]!] }, dpA.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: ['dataProviders/x'] }, dpA.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    assert.equal(await auditDigest(kingdom), before);
    const still = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests.map((r) => r.name);
    for (const n of names) assert.ok(still.includes(n), `${n} still open`);
  });

  it('closes all of a batch or none: one group still encrypted to the leaked key fails the whole batch', async () => {
    const open = (await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests;
    // The first two were re-encrypted above; the third was not.
    const batch = open.slice(0, 3).map((r) => r.name);
    const before = await auditDigest(kingdom);
    await rejectsWith(reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: batch }, dpA.mtls), Code.FailedPrecondition, 'EVENT_GROUP_METADATA_NOT_REENCRYPTED');
    assert.equal(await auditDigest(kingdom), before);
    assert.equal((await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests.length, open.length, 'none closed');

    await reencrypt(dpA, open[2]!.eventGroup);
    const closed = await reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: batch }, dpA.mtls);
    assert.deepEqual(closed.requests.map((r) => r.name), batch);
    assert.ok(closed.requests.every((r) => r.state === MetadataReencryptionRequest_State.CLOSED && r.closeTime));
    assert.deepEqual((await reencryption.listMetadataReencryptionRequests({ parent: dpA.name }, dpA.mtls)).requests.map((r) => r.name), open.slice(3).map((r) => r.name));
    // Again: returned unchanged, nothing recorded.
    const digest = await auditDigest(kingdom);
    const again = await reencryption.batchCloseMetadataReencryptionRequests({ parent: dpA.name, names: batch }, dpA.mtls);
    assert.deepEqual(again.requests.map((r) => r.closeTime), closed.requests.map((r) => r.closeTime));
    assert.equal(await auditDigest(kingdom), digest);
    const entries = await kingdom.store.exportAudit();
    assert.equal(entries.filter((e) => e.action === 'CloseMetadataReencryptionRequest').length, 4, 'one entry per request closed');
  });
});

describe('BatchReencryptEventGroups: answering requests in one transaction', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let dpA: Participant;
  let dpB: Participant;
  let eventGroups: Client<typeof EventGroups>;
  let reencryption: Client<typeof EventGroupMetadataReencryption>;
  const newPrivate = generateKeyset();
  const newPublic = publicKeyset(newPrivate);
  const newKey = () => encryptionPublicKeyAny(encryptionPublicKeyBytes(newPublic));

  before(async () => {
    ({ kingdom, mc, dpA, dpB, eventGroups, reencryption } = await leakedKeyKingdom('answer', [6, 1], (eg, i) => {
      eg.entityKey = create(EventGroup_EntityKeySchema, { entityType: 'campaign', entityId: `c${i}` });
    }));
  });
  after(async () => {
    await kingdom.close();
  });

  /** The answer a DataProvider's tooling makes from its plaintext copy. */
  function answer(r: { name: string; eventGroupReferenceId: string }, keys: Keyset = newPublic) {
    return {
      request: r.name,
      encryptedMetadata: encryptMessage(keys, EventGroup_MetadataSchema, metadataFor(r.eventGroupReferenceId)),
      measurementConsumerPublicKey: encryptionPublicKeyAny(encryptionPublicKeyBytes(keys)),
    };
  }
  const open = async (dp: Participant) => (await reencryption.listMetadataReencryptionRequests({ parent: dp.name }, dp.mtls)).requests;

  it('lists each request with its group\'s reference id and whether it is still encrypted to the key', async () => {
    const requests = await open(dpA);
    assert.deepEqual(requests.map((r) => r.eventGroupReferenceId).sort(), ['a0', 'a1', 'a2', 'a3', 'a4', 'a5']);
    assert.ok(requests.every((r) => r.stillEncryptedToKey));
  });

  it("refuses another DataProvider's requests, the MC, no credentials and malformed batches, changing nothing", async () => {
    const a = await open(dpA);
    const b = (await open(dpB))[0]!;
    const before = await auditDigest(kingdom);
    const batch = [answer(a[0]!)];
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: batch }, dpB.mtls), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpB.name, reencryptions: batch }, dpB.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: batch }, mc.apiKey), Code.PermissionDenied, 'PERMISSION_DENIED');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: batch }, {} as { headers: Record<string, string> }), Code.Unauthenticated, 'UNAUTHENTICATED');
    // dpB names its own group with dpA's request id: not found, and dpA's group keeps its metadata.
    const forged = `${b.eventGroup}/metadataReencryptionRequests/${a[0]!.name.split('/').at(-1)}`;
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpB.name, reencryptions: [{ ...answer(a[0]!), request: forged }] }, dpB.mtls), Code.NotFound, 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [] }, dpA.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [answer(a[0]!), answer(a[0]!)] }, dpA.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    const tooMany = Array.from({ length: 1001 }, (_, i) => ({ request: `${a[0]!.eventGroup}/metadataReencryptionRequests/${i}` }));
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: tooMany }, dpA.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ request: 'dataProviders/x' }] }, dpA.mtls), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    // A ciphertext without its key; a key that is a private keyset; a key without a ciphertext.
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ ...answer(a[0]!), measurementConsumerPublicKey: undefined }] }, dpA.mtls), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    const privateAsKey = encryptionPublicKeyAny(toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(newPrivate) })));
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ ...answer(a[0]!), measurementConsumerPublicKey: privateAsKey }] }, dpA.mtls), Code.InvalidArgument, 'ENCRYPTION_PUBLIC_KEY_INVALID');
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ request: a[0]!.name, measurementConsumerPublicKey: newKey() }] }, dpA.mtls), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    assert.equal(await auditDigest(kingdom), before);
    assert.equal((await open(dpA)).length, a.length, 'none closed');
  });

  it('checks the key of every answer of a batch, however many answers before it carried a good key', async () => {
    const a = await open(dpA);
    const before = await auditDigest(kingdom);
    const privateAsKey = encryptionPublicKeyAny(toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(newPrivate) })));
    const good = answer(a[0]!);
    const signed = (key: ReturnType<typeof newKey>) => create(SignedMessageSchema, { message: key, signature: new Uint8Array([1]), signatureAlgorithmOid: '1.2.840.10045.4.3.2' });
    // The bad key in each place a key can be: the field, the signed message, the signed message's deprecated data; and the good key under another type URL.
    const bad: Array<[string, object]> = [
      ['a private keyset as the key', { measurementConsumerPublicKey: privateAsKey }],
      ['a private keyset as the signed key', { measurementConsumerPublicKey: undefined, signedMeasurementConsumerPublicKey: signed(privateAsKey) }],
      ['a private keyset as the signed key data', { measurementConsumerPublicKey: undefined, signedMeasurementConsumerPublicKey: create(SignedMessageSchema, { data: privateAsKey.value, signature: new Uint8Array([1]) }) }],
      ['the good key under another type URL', { measurementConsumerPublicKey: { ...newKey(), typeUrl: 'type.googleapis.com/google.protobuf.StringValue' } }],
    ];
    for (const [what, fields] of bad) {
      // The good answers first: each carries the same good key, in every form the bad one then takes.
      const goods = [good, { ...answer(a[1]!), signedMeasurementConsumerPublicKey: signed(newKey()) }, { ...answer(a[2]!), signedMeasurementConsumerPublicKey: create(SignedMessageSchema, { data: newKey().value, signature: new Uint8Array([1]) }) }];
      const code = what.includes('type URL') ? 'TYPE_URL_MISMATCH' : 'ENCRYPTION_PUBLIC_KEY_INVALID';
      const err = await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [...goods, { ...answer(a[3]!), ...fields }] }, dpA.mtls), Code.InvalidArgument, code);
      assert.match(err.rawMessage, /reencryptions\[3\]/, what);
    }
    assert.equal(await auditDigest(kingdom), before);
    assert.equal((await open(dpA)).length, a.length, 'none closed');
  });

  it('answers all of a batch or none: a request left unanswered, or answered with the leaked key itself, fails it', async () => {
    const a = await open(dpA);
    const before = await auditDigest(kingdom);
    // The second group is still encrypted to the leaked key, and its answer has no ciphertext.
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [answer(a[0]!), { request: a[1]!.name }] }, dpA.mtls), Code.FailedPrecondition, 'EVENT_GROUP_METADATA_NOT_REENCRYPTED');
    // "Re-encrypted" to the very key that leaked.
    await rejectsWith(reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [answer(a[0]!), answer(a[1]!, mc.encryptionPublicKeyset)] }, dpA.mtls), Code.FailedPrecondition, 'EVENT_GROUP_METADATA_NOT_REENCRYPTED');
    assert.equal(await auditDigest(kingdom), before);
    const g0 = await eventGroups.getEventGroup({ name: a[0]!.eventGroup }, dpA.mtls);
    assert.deepEqual(g0.measurementConsumerPublicKey?.value, mc.encryptionPublicKey, 'the first group was not updated either');
  });

  it('replaces the metadata and key, keeps every other field, closes the request, and the MC decrypts with its new key', async () => {
    const a = await open(dpA);
    const beforeGroup = await eventGroups.getEventGroup({ name: a[0]!.eventGroup }, dpA.mtls);
    const signedKey = signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: keysetBytes(newPublic) }), mc.certificate.signingKey);
    const response = await reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ ...answer(a[0]!), signedMeasurementConsumerPublicKey: signedKey }, answer(a[1]!)] }, dpA.mtls);
    assert.deepEqual(response.results.map((r) => r.outcome), [BatchReencryptEventGroupsResponse_Result_Outcome.REENCRYPTED, BatchReencryptEventGroupsResponse_Result_Outcome.REENCRYPTED]);
    assert.deepEqual(response.results.map((r) => r.request?.name), [a[0]!.name, a[1]!.name]);
    assert.ok(response.results.every((r) => r.request?.state === MetadataReencryptionRequest_State.CLOSED && r.request.closeTime));
    const after = await eventGroups.getEventGroup({ name: a[0]!.eventGroup }, mc.apiKey);
    assert.deepEqual(after.measurementConsumerPublicKey?.value, encryptionPublicKeyBytes(newPublic));
    assert.deepEqual(after.signedMeasurementConsumerPublicKey?.signature, signedKey.signature, 'the signature is kept with the group');
    assert.equal(after.eventGroupReferenceId, beforeGroup.eventGroupReferenceId);
    assert.ok(equals(EventGroupSchema, create(EventGroupSchema, { entityKey: after.entityKey, eventTemplates: after.eventTemplates, dataAvailabilityInterval: after.dataAvailabilityInterval }),
      create(EventGroupSchema, { entityKey: beforeGroup.entityKey, eventTemplates: beforeGroup.eventTemplates, dataAvailabilityInterval: beforeGroup.dataAvailabilityInterval })), 'the other fields are kept');
    assert.equal(decryptMessage(newPrivate, after.encryptedMetadata!, EventGroup_MetadataSchema).eventGroupMetadataDescriptor.endsWith(`/${a[0]!.eventGroupReferenceId}`), true);
    assert.deepEqual((await open(dpA)).map((r) => r.name), a.slice(2).map((r) => r.name));
    const entries = await kingdom.store.exportAudit({ limit: 100000 });
    assert.equal(entries.filter((e) => e.action === 'UpdateEventGroup' && e.resource === a[0]!.eventGroup).length, 1);
    assert.equal(entries.filter((e) => e.action === 'CloseMetadataReencryptionRequest').length, 2);
  });

  it('only closes a request whose group is deleted or no longer encrypted to the key, and returns a closed one unchanged', async () => {
    const a = await open(dpA);
    // a[0]'s group is deleted; a[1]'s was re-encrypted by UpdateEventGroup meanwhile.
    await eventGroups.deleteEventGroup({ name: a[0]!.eventGroup }, dpA.mtls);
    const current = await eventGroups.getEventGroup({ name: a[1]!.eventGroup }, dpA.mtls);
    const moved = clone(EventGroupSchema, current);
    moved.measurementConsumerPublicKey = newKey();
    moved.signedMeasurementConsumerPublicKey = undefined;
    moved.encryptedMetadata = encryptMessage(newPublic, EventGroup_MetadataSchema, metadataFor('moved'));
    moved.serializedEncryptedMetadata = new Uint8Array();
    await eventGroups.updateEventGroup({ eventGroup: moved }, dpA.mtls);
    const listed = await open(dpA);
    assert.deepEqual(listed.slice(0, 2).map((r) => r.stillEncryptedToKey), [false, false]);
    // An answer with a ciphertext for the re-encrypted group is not applied over the newer one.
    const response = await reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ request: a[0]!.name }, answer(a[1]!), answer(a[2]!)] }, dpA.mtls);
    const { CLOSED, REENCRYPTED, ALREADY_CLOSED } = BatchReencryptEventGroupsResponse_Result_Outcome;
    assert.deepEqual(response.results.map((r) => r.outcome), [CLOSED, CLOSED, REENCRYPTED]);
    const kept = await eventGroups.getEventGroup({ name: a[1]!.eventGroup }, dpA.mtls);
    assert.deepEqual(kept.encryptedMetadata?.ciphertext, moved.encryptedMetadata.ciphertext);
    // Again, as a retry after a lost response: nothing changes and nothing is recorded.
    const digest = await auditDigest(kingdom);
    const again = await reencryption.batchReencryptEventGroups({ parent: dpA.name, reencryptions: [{ request: a[0]!.name }, answer(a[1]!), answer(a[2]!)] }, dpA.mtls);
    assert.deepEqual(again.results.map((r) => r.outcome), [ALREADY_CLOSED, ALREADY_CLOSED, ALREADY_CLOSED]);
    assert.deepEqual(again.results.map((r) => r.request?.closeTime), response.results.map((r) => r.request?.closeTime));
    assert.equal(await auditDigest(kingdom), digest);
    assert.equal((await kingdom.store.verifyAuditChain()).ok, true);
  });
});
