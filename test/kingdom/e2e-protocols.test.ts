/**
 * The real server process over real mTLS, called in each client protocol it
 * speaks (gRPC, gRPC-Web, Connect/JSON): EventGroups and a direct
 * measurement carrying the fields upstream added lately are written in one
 * protocol and read back in all three; then every method the Kingdom routes
 * is called in all three protocols with a well-formed request, and none may
 * answer INTERNAL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { create, equals, fromBinary, type DescMessage, type DescMethod, type DescService } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError, createClient, createConnectRouter, type Client } from '@connectrpc/connect';
import { unpackAny } from '../../src/api/index.js';
import { decryptMessage, encryptMessage } from '../../src/crypto/encrypted-message.js';
import { parseKeyset, publicKeyset } from '../../src/crypto/keyset.js';
import { signMessage, verifyAndUnpack } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { EventGroupSchema, EventGroup_View, type EventGroup } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MediaType } from '../../src/gen/wfa/measurement/api/v2alpha/media_type_pb.js';
import { MeasurementSpecSchema, MeasurementSpec_ReportingMetadataSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Measurement_ResultSchema, Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { Measurements } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { ProtocolConfig_MeasurementType, ProtocolConfig_NoiseMechanism } from '../../src/gen/wfa/measurement/api/v2alpha/protocol_config_pb.js';
import { Requisitions } from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { RequisitionSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { kingdomRoutes } from '../../src/kingdom/service/routes.js';
import type { KingdomServices } from '../../src/kingdom/service/context.js';
import { nonceHash } from '../../src/api/index.js';
import { encryptionPublicKeyBytes, planMeasurement, type Participant } from './measurement-fixtures.js';
import { PROTOCOLS, protocolTransport, type Protocol } from './protocol-transports.js';
import { participantPki, scratchDir, signedEncryptionKey, startServerProcess, type ParticipantPki, type ServerProcess } from './server-fixtures.js';

interface Party {
  readonly pki: ParticipantPki;
  readonly name: string;
  readonly certificateName: string;
  readonly signing: ReturnType<ParticipantPki['signingLeaf']>;
  readonly keyset: ReturnType<typeof signedEncryptionKey>['keyset'];
  /** The serialized EncryptionPublicKey it registered. */
  readonly publicKey: Uint8Array;
}

/** What planMeasurement needs of a participant. */
function asParticipant(p: Party): Participant {
  return {
    name: p.name,
    certificate: { id: 0n, name: p.certificateName, der: p.signing.der, signingKey: p.signing.privateKey },
    encryptionPrivateKeyset: p.keyset,
    encryptionPublicKeyset: publicKeyset(p.keyset),
    encryptionPublicKey: encryptionPublicKeyBytes(publicKeyset(p.keyset)),
  } as unknown as Participant;
}

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 10, 1);

/** An EventGroup with every field upstream added since 0.5: media types, plaintext metadata, entity key, activities. */
function newerEventGroup(mc: string, i: number, mediaTypes: MediaType[]): EventGroup {
  return create(EventGroupSchema, {
    measurementConsumer: mc,
    eventGroupReferenceId: `ref-${i}`,
    mediaTypes,
    eventGroupMetadata: {
      selector: { case: 'adMetadata', value: { campaignMetadata: { brandName: `Brand ${i}`, campaignName: `Winter sale ${i}` } } },
      entityMetadata: { channel: 'web', tags: ['a', `t${i}`] },
    },
    entityKey: { entityType: 'campaign', entityId: `campaign-${i}` },
    dataAvailabilityInterval: { startTime: timestampFromMs(T0 + i * DAY), endTime: timestampFromMs(T0 + (i + 30) * DAY) },
    aggregatedActivities: [{ interval: { startDate: { year: 2026, month: 11, day: 1 + i }, endDate: { year: 2026, month: 11, day: 20 } } }],
  });
}

/** The fields a DataProvider wrote, as the Kingdom must give them back. */
function writtenFields(eg: EventGroup): EventGroup {
  return create(EventGroupSchema, {
    measurementConsumer: eg.measurementConsumer,
    eventGroupReferenceId: eg.eventGroupReferenceId,
    mediaTypes: eg.mediaTypes,
    aggregatedActivities: eg.aggregatedActivities,
    ...(eg.eventGroupMetadata ? { eventGroupMetadata: eg.eventGroupMetadata } : {}),
    ...(eg.entityKey ? { entityKey: eg.entityKey } : {}),
    ...(eg.dataAvailabilityInterval ? { dataAvailabilityInterval: eg.dataAvailabilityInterval } : {}),
  });
}

describe('Kingdom server, every client protocol, the newer upstream fields', () => {
  const scratch = scratchDir('halo-e2e-protocols-');
  let server: ServerProcess;
  let dp: Party;
  let mc: Party;
  const eventGroups: EventGroup[] = [];
  let measurementName = '';
  let requisitionName = '';

  const client = <S extends DescService>(service: S, protocol: Protocol, who: Party): Client<S> =>
    createClient(service, protocolTransport(server, protocol, { tls: who.pki.tls }));

  before(async () => {
    server = await startServerProcess({ dataDir: scratch.path('kingdom') });
    const admin = server.client({ adminToken: server.adminToken }).admin;
    const party = async (label: string, kind: 'dp' | 'mc'): Promise<Party> => {
      const pki = participantPki(label);
      const signing = pki.signingLeaf();
      const key = signedEncryptionKey(signing.privateKey);
      const registration = { rootCertificateDer: pki.root.der, certificateDer: signing.der, publicKey: key.signed, displayName: label };
      const created = kind === 'dp' ? await admin.createDataProvider({ registration }) : await admin.createMeasurementConsumer({ registration });
      return { pki, name: created.name, certificateName: created.certificate, signing, keyset: key.keyset, publicKey: key.signed.message!.value };
    };
    dp = await party('EDP protocols', 'dp');
    mc = await party('MC protocols', 'mc');
  });

  after(async () => {
    await server.stop('SIGKILL');
    scratch.remove();
  });

  test('GetDataProvider answers in every protocol, its packed public key included', async () => {
    for (const protocol of PROTOCOLS) {
      const got = await client(DataProviders, protocol, mc).getDataProvider({ name: dp.name });
      assert.equal(got.name, dp.name, protocol);
      assert.ok(equals(EncryptionPublicKeySchema, unpackAny(EncryptionPublicKeySchema, got.publicKey?.message), fromBinary(EncryptionPublicKeySchema, dp.publicKey)), protocol);
    }
    // Our own client in its Connect (JSON) mode.
    const ours = await server.client({ tls: mc.pki.tls, protocol: 'connect' }).dataProviders.getDataProvider({ name: dp.name });
    assert.ok(equals(EncryptionPublicKeySchema, unpackAny(EncryptionPublicKeySchema, ours.publicKey?.message), fromBinary(EncryptionPublicKeySchema, dp.publicKey)));
  });

  test('EventGroups with media types, metadata, entity key and activities: created in each protocol, read back in all three', async () => {
    const media = [[MediaType.VIDEO], [MediaType.DISPLAY, MediaType.NATIVE], [MediaType.VIDEO, MediaType.OTHER]];
    for (const [i, protocol] of PROTOCOLS.entries()) {
      const input = newerEventGroup(mc.name, i, media[i]!);
      const created = await client(EventGroups, protocol, dp).createEventGroup({ parent: dp.name, eventGroup: input });
      eventGroups.push(created);
      // Create answers in the BASIC view: everything but the activities.
      assert.ok(equals(EventGroupSchema, pick(created), create(EventGroupSchema, { ...writtenFields(input), aggregatedActivities: [] })), `${protocol} create`);
      for (const reader of PROTOCOLS) {
        for (const who of [dp, mc]) {
          const got = await client(EventGroups, reader, who).getEventGroup({ name: created.name, view: EventGroup_View.WITH_ACTIVITY_SUMMARY });
          assert.ok(equals(EventGroupSchema, pick(got), writtenFields(input)), `${protocol} -> ${reader} as ${who === dp ? 'DP' : 'MC'}`);
        }
      }
    }
  });

  test('ListEventGroups applies media_types_intersect, the availability filters, the text search and order_by in every protocol', async () => {
    const names = (groups: EventGroup[]) => groups.map((g) => g.name);
    const [g0, g1, g2] = eventGroups.map((g) => g.name);
    for (const protocol of PROTOCOLS) {
      const list = (request: Parameters<Client<typeof EventGroups>['listEventGroups']>[0], who: Party = mc) =>
        client(EventGroups, protocol, who).listEventGroups({ parent: who.name, ...request }).then((r) => names(r.eventGroups));
      assert.deepEqual((await list({ filter: { mediaTypesIntersect: [MediaType.VIDEO] } })).sort(), [g0, g2].sort(), protocol);
      assert.deepEqual(await list({ filter: { mediaTypesIntersect: [MediaType.NATIVE], dataProviderIn: [dp.name] } }), [g1], protocol);
      assert.deepEqual(await list({ filter: { measurementConsumerIn: [mc.name], metadataSearchQuery: 'winter SALE 2' } }, dp), [g2], protocol);
      assert.deepEqual(
        (await list({ filter: { dataAvailabilityStartTimeOnOrAfter: timestampFromMs(T0 + DAY) } })).sort(),
        [g1, g2].sort(),
        protocol,
      );
      assert.deepEqual(await list({ filter: { dataAvailabilityEndTimeOnOrBefore: timestampFromMs(T0 + 30 * DAY) } }), [g0], protocol);
      assert.deepEqual(await list({ filter: { activityContains: { startDate: { year: 2026, month: 11, day: 1 }, endDate: { year: 2026, month: 11, day: 2 } } } }), [g0], protocol);
      assert.deepEqual(await list({ filter: { entityTypeIn: ['creative'] } }), [], protocol);
      assert.deepEqual(await list({ orderBy: { field: 1, descending: true } }), [g2, g1, g0], protocol);
      const firstPage = await client(EventGroups, protocol, mc).listEventGroups({ parent: mc.name, pageSize: 2, orderBy: { field: 1 } });
      assert.deepEqual(names(firstPage.eventGroups), [g0, g1], protocol);
      const secondPage = await client(EventGroups, protocol, mc).listEventGroups({ parent: mc.name, pageSize: 2, orderBy: { field: 1 }, pageToken: firstPage.nextPageToken });
      assert.deepEqual(names(secondPage.eventGroups), [g2], protocol);
      // Activities come only with the activity view.
      const basic = await client(EventGroups, protocol, mc).listEventGroups({ parent: mc.name });
      assert.ok(basic.eventGroups.every((g) => g.aggregatedActivities.length === 0), protocol);
      const withActivity = await client(EventGroups, protocol, mc).listEventGroups({ parent: mc.name, view: EventGroup_View.WITH_ACTIVITY_SUMMARY });
      assert.ok(withActivity.eventGroups.every((g) => g.aggregatedActivities.length === 1), protocol);
    }
  });

  test('a direct reach measurement: reporting metadata, protocol config, times and a result with its methodology, in every protocol', async () => {
    const planned = planMeasurement(asParticipant(mc), [asParticipant(dp)], { referenceId: 'protocols' });
    const spec = unpackAny(MeasurementSpecSchema, planned.request.measurement!.measurementSpec!.message);
    spec.reportingMetadata = create(MeasurementSpec_ReportingMetadataSchema, { report: 'measurementConsumers/x/reports/r1', metric: 'measurementConsumers/x/metrics/m1' });
    planned.request.measurement!.measurementSpec = signMessage(MeasurementSpecSchema, spec, mc.signing.privateKey);
    const created = await client(Measurements, 'connect-json', mc).createMeasurement(planned.request);
    measurementName = created.name;

    for (const protocol of PROTOCOLS) {
      const m = await client(Measurements, protocol, mc).getMeasurement({ name: measurementName });
      assert.equal(m.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT, protocol);
      assert.ok(m.createTime !== undefined && m.updateTime !== undefined, protocol);
      assert.deepEqual(unpackAny(MeasurementSpecSchema, m.measurementSpec?.message).reportingMetadata, spec.reportingMetadata, protocol);
      assert.equal(m.protocolConfig?.measurementType, ProtocolConfig_MeasurementType.REACH, protocol);
      const direct = m.protocolConfig?.protocols[0]?.protocol;
      assert.equal(direct?.case, 'direct', protocol);
      assert.ok(direct?.case === 'direct' && direct.value.deterministicCountDistinct !== undefined, protocol);
      assert.ok(direct?.case === 'direct' && direct.value.noiseMechanisms.includes(ProtocolConfig_NoiseMechanism.NONE), protocol);
    }

    // The DataProvider finds it in every protocol, fulfills it in gRPC-Web with a result naming its methodology.
    let requisition;
    for (const protocol of PROTOCOLS) {
      const page = await client(Requisitions, protocol, dp).listRequisitions({ parent: dp.name });
      requisition = page.requisitions.find((r) => r.measurement === measurementName);
      assert.ok(requisition, protocol);
      const direct = requisition.protocolConfig?.protocols[0]?.protocol;
      assert.ok(direct?.case === 'direct' && direct.value.deterministicCountDistinct !== undefined, protocol);
    }
    requisitionName = requisition!.name;
    const signedSpec = decryptMessage(dp.keyset, requisition!.encryptedRequisitionSpec!, SignedMessageSchema);
    const requisitionSpec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mc.signing.der);
    assert.ok(Buffer.from(nonceHash(requisitionSpec.nonce)).equals(Buffer.from(spec.nonceHashes[0]!)));
    const result = create(Measurement_ResultSchema, {
      reach: { value: 1234n, noiseMechanism: ProtocolConfig_NoiseMechanism.NONE, methodology: { case: 'deterministicCountDistinct', value: {} } },
    });
    const measurementKey = unpackAny(EncryptionPublicKeySchema, spec.measurementPublicKey);
    await client(Requisitions, 'grpc-web', dp).fulfillDirectRequisition({
      name: requisitionName,
      nonce: requisitionSpec.nonce,
      encryptedResult: encryptMessage(parseKeyset(measurementKey.data), SignedMessageSchema, signMessage(Measurement_ResultSchema, result, dp.signing.privateKey)),
    });

    for (const protocol of PROTOCOLS) {
      const m = await client(Measurements, protocol, mc).getMeasurement({ name: measurementName });
      assert.equal(m.state, Measurement_State.SUCCEEDED, protocol);
      const output = m.results[0]!;
      const opened = verifyAndUnpack(Measurement_ResultSchema, decryptMessage(mc.keyset, output.encryptedResult!, SignedMessageSchema), dp.signing.der);
      assert.ok(equals(Measurement_ResultSchema, opened, result), protocol);
    }
  });

  test('every routed method, in every protocol, answers a well-formed request without INTERNAL', async () => {
    const router = createConnectRouter();
    kingdomRoutes({} as KingdomServices)(router);
    const services = [...new Map(router.handlers.map((h) => [h.service.typeName, h.service])).values()];
    const eventGroup = eventGroups[0]!.name;
    const names: Record<string, string> = {
      Certificates: dp.certificateName,
      DataProviders: dp.name,
      EventGroups: eventGroup,
      MeasurementConsumers: mc.name,
      Measurements: measurementName,
      Requisitions: requisitionName,
      ModelProviders: 'modelProviders/AAAAAAAAAHs',
      Accounts: 'accounts/AAAAAAAAAHs',
      ApiKeys: `${mc.name}/apiKeys/AAAAAAAAAHs`,
    };
    const parents: Record<string, string> = { Certificates: dp.name, EventGroups: dp.name, Measurements: mc.name, Requisitions: dp.name, ApiKeys: mc.name };
    const tally = new Map<string, number>();
    let calls = 0;
    for (const service of services) {
      for (const method of service.methods) {
        const request = wellFormed(method, names[service.name] ?? '', parents[service.name] ?? dp.name);
        for (const protocol of PROTOCOLS) {
          for (const caller of [{ tls: dp.pki.tls }, { tls: mc.pki.tls }, { adminToken: server.adminToken }]) {
            const call = createClient(service, protocolTransport(server, protocol, caller))[method.localName] as unknown as (r: unknown) => Promise<unknown>;
            let code = 'OK';
            try {
              await call(request);
            } catch (err) {
              const e = ConnectError.from(err);
              code = Code[e.code];
              assert.notEqual(e.code, Code.Internal, `${service.typeName}.${method.name} over ${protocol}: ${e.message}`);
              assert.notEqual(e.code, Code.Unknown, `${service.typeName}.${method.name} over ${protocol}: ${e.message}`);
              if (e.code === Code.Unimplemented) assert.match(e.rawMessage, new RegExp(`${service.typeName}\\.${method.name}`));
            }
            calls++;
            tally.set(code, (tally.get(code) ?? 0) + 1);
          }
        }
      }
    }
    const methods = services.reduce((n, s) => n + s.methods.length, 0);
    console.log(`e2e-protocols: ${services.length} services, ${methods} methods, ${calls} calls (3 protocols x 3 callers): ${[...tally].map(([c, n]) => `${c} ${n}`).join(', ')}`);
    assert.equal(calls, methods * 9);
  });
});

/** An EventGroup's stored fields only (name, state and the deprecated mirrors left out). */
function pick(eg: EventGroup): EventGroup {
  return writtenFields(eg);
}

/** A request whose `name`/`parent` fields hold real resources of the right kind; other fields stay empty. */
function wellFormed(method: DescMethod, name: string, parent: string): unknown {
  const init: Record<string, unknown> = {};
  const fields = (method.input as DescMessage).fields;
  if (fields.some((f) => f.localName === 'name')) init['name'] = name;
  if (fields.some((f) => f.localName === 'parent')) init['parent'] = parent;
  return create(method.input, init);
}
