/**
 * The rehearsal's workload: what the participants' own tooling does over
 * mTLS with their keyrings (there is no operator command for it). DataProviders
 * create EventGroups with metadata encrypted to the MeasurementConsumer and keep
 * the plaintext by reference id; the MC creates direct measurements and keeps
 * each RequisitionSpec by nonce hash; DataProviders fulfill (results signed
 * with their active signing certificate) or refuse requisitions; the MC
 * cancels. Measurements cycle through the kinds below so every state occurs.
 *
 * Items are generated one at a time and run a few at once: memory does not
 * grow with N or M; only counts and a bounded sample of names are kept.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema, StringValueSchema } from '@bufbuild/protobuf/wkt';
import type { KingdomClient } from '../client/index.js';
import {
  decryptMessage,
  encryptMessage,
  parseKeyset,
  type Keyset,
  signMessage,
  verifyAndUnpack,
} from '../crypto/index.js';
import { EncryptionPublicKeySchema, SignedMessageSchema, type SignedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema } from '../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { MeasurementSchema, Measurement_ResultSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Requisition_Refusal_Justification, Requisition_State, type Requisition } from '../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { RequisitionSpecSchema } from '../gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { systemClock } from '../lib/clock.js';
import { packAny, typeUrlOf } from '../lib/type-url.js';
import { nonceHash, randomNonce } from '../api/index.js';
import { hex } from '../lib/bytes.js';
import { activeEntry, connectKingdomClient, KeyringSession } from '../rotation/index.js';
import { copiesDir, type Cast, type Participant } from './participants.js';

/**
 * What happens to a measurement of each kind: `succeeded` (both DataProviders
 * answer), `awaiting-edp1` (edp2 answered, edp1 not yet), `awaiting-edp2`
 * (edp2 alone, not yet answered), `failed` (edp2 refuses), `cancelled` (the MC cancels).
 */
export const MEASUREMENT_KINDS = ['succeeded', 'awaiting-edp1', 'awaiting-edp2', 'failed', 'cancelled'] as const;
export type MeasurementKind = (typeof MEASUREMENT_KINDS)[number];

export interface WorkloadSize {
  readonly eventGroups: number;
  readonly measurements: number;
}

export const DEFAULT_WORKLOAD: WorkloadSize = { eventGroups: 8, measurements: 10 };

/** Names kept per kind for the drills' checks; the counts are exact. */
const SAMPLE = 50;
const CONCURRENCY = 4;

export interface WorkloadSummary {
  readonly eventGroups: { readonly edp1: number; readonly edp2: number };
  readonly measurements: Record<MeasurementKind, { count: number; sample: string[] }>;
  readonly requisitions: { fulfilled: number; unfulfilled: number; refused: number };
  readonly ms: number;
}

/** A participant's tooling: its keyring (opened read-only here) and an mTLS client. */
class Tooling {
  readonly session: KeyringSession;
  readonly client: KingdomClient;
  constructor(readonly party: Participant, passphrase: string) {
    this.session = KeyringSession.open(party.dir, { clock: systemClock, passphrase: () => passphrase });
    this.client = connectKingdomClient(this.session);
  }
  signing() {
    const e = activeEntry(this.session.keyring, 'signing');
    if (!e?.kingdomCertificate) throw new Error(`${this.party.label} has no registered active signing certificate`);
    return { name: e.kingdomCertificate, key: this.session.material.privateKey(e) };
  }
  keyset(): Keyset {
    return this.session.material.loadEncryptionKeyset(this.session.keyring.encryptionKeyset);
  }
}

function publishedKeyset(signed: SignedMessage | undefined): Keyset {
  if (!signed?.message) throw new Error('no published encryption key');
  return parseKeyset(fromBinary(EncryptionPublicKeySchema, signed.message.value).data);
}

/** Runs `work` over `items` with at most `limit` at once, pulling items only as slots free up. */
export async function forEachLimited<T>(items: Iterable<T>, limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const it = items[Symbol.iterator]();
  const lane = async () => {
    for (let next = it.next(); !next.done; next = it.next()) await work(next.value);
  };
  await Promise.all(Array.from({ length: limit }, lane));
}

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

export interface WorkloadProgress {
  (done: number, total: number): void;
}

export async function runWorkload(cast: Cast, passphrase: string, size: WorkloadSize, progress: WorkloadProgress = () => {}): Promise<WorkloadSummary> {
  const started = Date.now();
  const mc = new Tooling(cast.mc, passphrase);
  const edp1 = new Tooling(cast.edp1, passphrase);
  const edp2 = new Tooling(cast.edp2, passphrase);
  const total = size.eventGroups + size.measurements;
  let done = 0;
  const tick = () => progress(++done, total);
  progress(0, total);

  const consumer = await edp1.client.measurementConsumers.getMeasurementConsumer({ name: cast.mc.name });
  const mcKey = publishedKeyset(consumer.publicKey);
  const eventGroups = { edp1: 0, edp2: 0 };
  await forEachLimited(range(size.eventGroups), CONCURRENCY, async (i) => {
    const dp = i % 2 === 0 ? edp1 : edp2;
    const referenceId = `eg-${i}`;
    const metadata = create(EventGroup_MetadataSchema, {
      eventGroupMetadataDescriptor: `${dp.party.name}/eventGroupMetadataDescriptors/AAAAAAAAAHs`,
      metadata: packAny(StringValueSchema, create(StringValueSchema, { value: `rehearsal campaign ${i}` })),
    });
    writeFileSync(join(copiesDir(dp.party), `${referenceId}.binpb`), toBinary(EventGroup_MetadataSchema, metadata), { mode: 0o600 });
    await dp.client.eventGroups.createEventGroup({
      parent: dp.party.name,
      eventGroup: {
        measurementConsumer: cast.mc.name,
        eventGroupReferenceId: referenceId,
        encryptedMetadata: encryptMessage(mcKey, EventGroup_MetadataSchema, metadata),
        measurementConsumerPublicKey: consumer.publicKey!.message!,
        signedMeasurementConsumerPublicKey: consumer.publicKey!,
      },
    });
    eventGroups[dp === edp1 ? 'edp1' : 'edp2']++;
    tick();
  });

  const shown = new Map<string, Awaited<ReturnType<KingdomClient['dataProviders']['getDataProvider']>>>();
  for (const dp of [edp1, edp2]) shown.set(dp.party.name, await mc.client.dataProviders.getDataProvider({ name: dp.party.name }));
  const mcSigning = mc.signing();
  const measurementKey = create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: consumer.publicKey!.message!.value });
  const measurements = Object.fromEntries(MEASUREMENT_KINDS.map((k) => [k, { count: 0, sample: [] as string[] }])) as WorkloadSummary['measurements'];
  const requisitions = { fulfilled: 0, unfulfilled: 0, refused: 0 };

  const createMeasurement = async (dps: Tooling[], referenceId: string) => {
    const hashes: Uint8Array[] = [];
    const entries = dps.map((dp) => {
      const p = shown.get(dp.party.name)!;
      const nonce = randomNonce();
      const spec = create(RequisitionSpecSchema, {
        measurementPublicKey: measurementKey,
        nonce,
        requisitionType: { case: 'events', value: { eventGroups: [{ key: `${dp.party.name}/eventGroups/AAAAAAAAAHs`, value: { filter: { expression: 'person.age_group == 1' } } }] } },
      });
      writeFileSync(join(copiesDir(cast.mc), `${hex(nonceHash(nonce))}.binpb`), toBinary(RequisitionSpecSchema, spec), { mode: 0o600 });
      hashes.push(nonceHash(nonce));
      return {
        key: dp.party.name,
        value: {
          dataProviderCertificate: p.certificate,
          dataProviderPublicKey: p.publicKey!.message!,
          encryptedRequisitionSpec: encryptMessage(publishedKeyset(p.publicKey), SignedMessageSchema, signMessage(RequisitionSpecSchema, spec, mcSigning.key)),
          nonceHash: nonceHash(nonce),
        },
      };
    });
    const spec = create(MeasurementSpecSchema, { measurementPublicKey: measurementKey, nonceHashes: hashes, measurementType: { case: 'reach', value: {} }, vidSamplingInterval: { start: 0, width: 1 } });
    return mc.client.measurements.createMeasurement({
      parent: cast.mc.name,
      measurement: create(MeasurementSchema, {
        measurementConsumerCertificate: mcSigning.name,
        measurementSpec: signMessage(MeasurementSpecSchema, spec, mcSigning.key),
        dataProviders: entries,
        measurementReferenceId: referenceId,
      }),
    });
  };

  const requisitionOf = async (dp: Tooling, measurement: string): Promise<Requisition> => {
    // The same Requisition the DataProvider finds among its UNFULFILLED ones, found by measurement (the MC may list
    // a measurement's requisitions) so the cost stays flat however many are open.
    const page = await mc.client.requisitions.listRequisitions({ parent: measurement, pageSize: 10 });
    const found = page.requisitions.find((r) => r.name.startsWith(`${dp.party.name}/`) && r.state === Requisition_State.UNFULFILLED);
    if (!found) throw new Error(`${dp.party.label} has no unfulfilled requisition of ${measurement}`);
    return found;
  };

  const fulfill = async (dp: Tooling, measurement: string) => {
    const requisition = await requisitionOf(dp, measurement);
    const mcCertificate = await dp.client.certificates.getCertificate({ name: requisition.measurementConsumerCertificate });
    const signedSpec = decryptMessage(dp.keyset(), requisition.encryptedRequisitionSpec!, SignedMessageSchema);
    const spec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mcCertificate.x509Der);
    const measurementSpec = verifyAndUnpack(MeasurementSpecSchema, requisition.measurementSpec!, mcCertificate.x509Der);
    if (!measurementSpec.nonceHashes.some((h) => hex(h) === hex(nonceHash(spec.nonce)))) throw new Error(`${requisition.name}: nonce not in the MeasurementSpec`);
    const signing = dp.signing();
    const result = signMessage(Measurement_ResultSchema, create(Measurement_ResultSchema, { reach: { value: 1000n } }), signing.key);
    const key = parseKeyset(fromBinary(EncryptionPublicKeySchema, measurementSpec.measurementPublicKey!.value).data);
    await dp.client.requisitions.fulfillDirectRequisition({ name: requisition.name, nonce: spec.nonce, encryptedResult: encryptMessage(key, SignedMessageSchema, result), certificate: signing.name });
    requisitions.fulfilled++;
  };

  await forEachLimited(range(size.measurements), CONCURRENCY, async (i) => {
    const kind = MEASUREMENT_KINDS[i % MEASUREMENT_KINDS.length]!;
    const referenceId = `m-${i}-${kind}`;
    let name: string;
    switch (kind) {
      case 'succeeded':
        name = (await createMeasurement([edp1, edp2], referenceId)).name;
        await fulfill(edp1, name);
        await fulfill(edp2, name);
        break;
      case 'awaiting-edp1':
        name = (await createMeasurement([edp1, edp2], referenceId)).name;
        await fulfill(edp2, name);
        requisitions.unfulfilled++;
        break;
      case 'awaiting-edp2':
        name = (await createMeasurement([edp2], referenceId)).name;
        requisitions.unfulfilled++;
        break;
      case 'failed': {
        name = (await createMeasurement([edp2], referenceId)).name;
        const requisition = await requisitionOf(edp2, name);
        await edp2.client.requisitions.refuseRequisition({ name: requisition.name, refusal: { justification: Requisition_Refusal_Justification.CONSENT_SIGNAL_INVALID, message: 'rehearsal: refused on purpose' } });
        requisitions.refused++;
        break;
      }
      case 'cancelled':
        name = (await createMeasurement([edp1], referenceId)).name;
        await mc.client.measurements.cancelMeasurement({ name });
        break;
    }
    const m = measurements[kind];
    m.count++;
    if (m.sample.length < SAMPLE) m.sample.push(name);
    tick();
  });
  return { eventGroups, measurements, requisitions, ms: Date.now() - started };
}
