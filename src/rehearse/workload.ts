/**
 * The rehearsal's workload: what the participants' own tooling does over
 * mTLS with their keyrings (there is no operator command for it). DataProviders
 * create EventGroups with metadata encrypted to the MeasurementConsumer and keep
 * the plaintext by reference id; the MC creates direct measurements and keeps
 * each RequisitionSpec by nonce hash; DataProviders fulfill (results signed
 * with their active signing certificate) or refuse requisitions; the MC
 * cancels. Measurements cycle through the kinds below so every state occurs.
 *
 * EventGroups and measurements are created in batches (BatchCreateEventGroups,
 * BatchCreateMeasurements, 50 a call, a few calls in flight), generated as the
 * calls go: memory does not grow with N or M; only counts and a bounded sample
 * of names are kept, and each plaintext copy is written to its file at once.
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
/** Batches (or, for settling measurements, items) in flight at once. */
const CONCURRENCY = 4;
const SETTLE_CONCURRENCY = 2;
/** Upstream's limit on the requests of one BatchCreateEventGroups or BatchCreateMeasurements. */
const BATCH = 50;

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
  #signing: { name: string; key: ReturnType<KeyringSession['material']['privateKey']> } | undefined;
  constructor(readonly party: Participant, passphrase: string) {
    this.session = KeyringSession.open(party.dir, { clock: systemClock, passphrase: () => passphrase });
    this.client = connectKingdomClient(this.session);
  }
  /** The active signing certificate and key, decrypted once: the workload runs between rotations. */
  signing() {
    if (this.#signing) return this.#signing;
    const e = activeEntry(this.session.keyring, 'signing');
    if (!e?.kingdomCertificate) throw new Error(`${this.party.label} has no registered active signing certificate`);
    this.#signing = { name: e.kingdomCertificate, key: this.session.material.privateKey(e) };
    return this.#signing;
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

/** Consecutive runs of `[0, n)`, each at most `size` long. */
function* chunks(n: number, size: number): Generator<number[]> {
  for (let start = 0; start < n; start += size) yield Array.from({ length: Math.min(size, n - start) }, (_, k) => start + k);
}

/** The reference id and plaintext metadata of EventGroup `i` (its DataProvider: edp1 for even i, edp2 for odd). */
function eventGroupMetadata(dataProvider: string, i: number) {
  return {
    referenceId: `eg-${i}`,
    metadata: create(EventGroup_MetadataSchema, {
      eventGroupMetadataDescriptor: `${dataProvider}/eventGroupMetadataDescriptors/AAAAAAAAAHs`,
      metadata: packAny(StringValueSchema, create(StringValueSchema, { value: `rehearsal campaign ${i}` })),
    }),
  };
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
  const tick = (n = 1) => progress((done += n), total);
  progress(0, total);

  const consumer = await edp1.client.measurementConsumers.getMeasurementConsumer({ name: cast.mc.name });
  const mcKey = publishedKeyset(consumer.publicKey);
  const eventGroups = { edp1: 0, edp2: 0 };
  // Each DataProvider's EventGroups in batches (even indices edp1, odd edp2); the plaintext copy is written before
  // its group exists, as a DataProvider keeps what it encrypts, and nothing of a batch is kept once it is created.
  const batches = function* () {
    for (const indices of chunks(Math.ceil(size.eventGroups / 2), BATCH)) {
      for (const [dp, parity] of [[edp1, 0], [edp2, 1]] as const) {
        const mine = indices.map((k) => 2 * k + parity).filter((i) => i < size.eventGroups);
        if (mine.length > 0) yield { dp, indices: mine };
      }
    }
  };
  await forEachLimited(batches(), CONCURRENCY, async ({ dp, indices }) => {
    const requests = indices.map((i) => {
      const { referenceId, metadata } = eventGroupMetadata(dp.party.name, i);
      writeFileSync(join(copiesDir(dp.party), `${referenceId}.binpb`), toBinary(EventGroup_MetadataSchema, metadata), { mode: 0o600 });
      return {
        parent: dp.party.name,
        eventGroup: {
          measurementConsumer: cast.mc.name,
          eventGroupReferenceId: referenceId,
          encryptedMetadata: encryptMessage(mcKey, EventGroup_MetadataSchema, metadata),
          measurementConsumerPublicKey: consumer.publicKey!.message!,
          signedMeasurementConsumerPublicKey: consumer.publicKey!,
        },
      };
    });
    const created = await dp.client.eventGroups.batchCreateEventGroups({ parent: dp.party.name, requests });
    if (created.eventGroups.length !== requests.length) throw new Error(`${dp.party.label}: ${created.eventGroups.length} EventGroups created of ${requests.length}`);
    eventGroups[dp === edp1 ? 'edp1' : 'edp2'] += requests.length;
    tick(requests.length);
  });

  const shown = new Map<string, { dataProvider: Awaited<ReturnType<KingdomClient['dataProviders']['getDataProvider']>>; key: Keyset }>();
  for (const dp of [edp1, edp2]) {
    const dataProvider = await mc.client.dataProviders.getDataProvider({ name: dp.party.name });
    shown.set(dp.party.name, { dataProvider, key: publishedKeyset(dataProvider.publicKey) });
  }
  const mcSigning = mc.signing();
  const measurementKey = create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: consumer.publicKey!.message!.value });
  const measurements = Object.fromEntries(MEASUREMENT_KINDS.map((k) => [k, { count: 0, sample: [] as string[] }])) as WorkloadSummary['measurements'];
  const requisitions = { fulfilled: 0, unfulfilled: 0, refused: 0 };

  /** A measurement of `dps` as CreateMeasurement takes it; the RequisitionSpecs' plaintext copies are written first. */
  const newMeasurement = (dps: Tooling[], referenceId: string) => {
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
          dataProviderCertificate: p.dataProvider.certificate,
          dataProviderPublicKey: p.dataProvider.publicKey!.message!,
          encryptedRequisitionSpec: encryptMessage(p.key, SignedMessageSchema, signMessage(RequisitionSpecSchema, spec, mcSigning.key)),
          nonceHash: nonceHash(nonce),
        },
      };
    });
    const spec = create(MeasurementSpecSchema, { measurementPublicKey: measurementKey, nonceHashes: hashes, measurementType: { case: 'reach', value: {} }, vidSamplingInterval: { start: 0, width: 1 } });
    return create(MeasurementSchema, {
      measurementConsumerCertificate: mcSigning.name,
      measurementSpec: signMessage(MeasurementSpecSchema, spec, mcSigning.key),
      dataProviders: entries,
      measurementReferenceId: referenceId,
    });
  };

  /** The MC's certificates by name, fetched once: every requisition names the same few. */
  const certificates = new Map<string, Promise<Uint8Array>>();
  const certificateDer = (dp: Tooling, name: string) => {
    let der = certificates.get(name);
    if (!der) {
      der = dp.client.certificates.getCertificate({ name }).then((c) => c.x509Der);
      certificates.set(name, der);
    }
    return der;
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
    const mcCertificate = await certificateDer(dp, requisition.measurementConsumerCertificate);
    const signedSpec = decryptMessage(dp.keyset(), requisition.encryptedRequisitionSpec!, SignedMessageSchema);
    const spec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mcCertificate);
    const measurementSpec = verifyAndUnpack(MeasurementSpecSchema, requisition.measurementSpec!, mcCertificate);
    if (!measurementSpec.nonceHashes.some((h) => hex(h) === hex(nonceHash(spec.nonce)))) throw new Error(`${requisition.name}: nonce not in the MeasurementSpec`);
    const signing = dp.signing();
    const result = signMessage(Measurement_ResultSchema, create(Measurement_ResultSchema, { reach: { value: 1000n } }), signing.key);
    const key = parseKeyset(fromBinary(EncryptionPublicKeySchema, measurementSpec.measurementPublicKey!.value).data);
    await dp.client.requisitions.fulfillDirectRequisition({ name: requisition.name, nonce: spec.nonce, encryptedResult: encryptMessage(key, SignedMessageSchema, result), certificate: signing.name });
    requisitions.fulfilled++;
  };

  const participantsOf: Record<MeasurementKind, Tooling[]> = {
    succeeded: [edp1, edp2],
    'awaiting-edp1': [edp1, edp2],
    'awaiting-edp2': [edp2],
    failed: [edp2],
    cancelled: [edp1],
  };
  const kindOf = (i: number) => MEASUREMENT_KINDS[i % MEASUREMENT_KINDS.length]!;
  /** What each kind's participants do once its measurement exists. */
  const settle = async (kind: MeasurementKind, name: string) => {
    switch (kind) {
      case 'succeeded':
        await fulfill(edp1, name);
        await fulfill(edp2, name);
        break;
      case 'awaiting-edp1':
        await fulfill(edp2, name);
        requisitions.unfulfilled++;
        break;
      case 'awaiting-edp2':
        requisitions.unfulfilled++;
        break;
      case 'failed': {
        const requisition = await requisitionOf(edp2, name);
        await edp2.client.requisitions.refuseRequisition({ name: requisition.name, refusal: { justification: Requisition_Refusal_Justification.CONSENT_SIGNAL_INVALID, message: 'rehearsal: refused on purpose' } });
        requisitions.refused++;
        break;
      }
      case 'cancelled':
        await mc.client.measurements.cancelMeasurement({ name });
        break;
    }
    const m = measurements[kind];
    m.count++;
    if (m.sample.length < SAMPLE) m.sample.push(name);
    tick();
  };
  // Measurements created a batch at a time, then each settled (a few at once within the batch).
  await forEachLimited(chunks(size.measurements, BATCH), CONCURRENCY, async (indices) => {
    const requests = indices.map((i) => ({ parent: cast.mc.name, measurement: newMeasurement(participantsOf[kindOf(i)], `m-${i}-${kindOf(i)}`) }));
    const created = await mc.client.measurements.batchCreateMeasurements({ parent: cast.mc.name, requests });
    if (created.measurements.length !== requests.length) throw new Error(`${created.measurements.length} measurements created of ${requests.length}`);
    await forEachLimited(created.measurements.entries(), SETTLE_CONCURRENCY, async ([k, m]) => settle(kindOf(indices[k]!), m.name));
  });
  return { eventGroups, measurements, requisitions, ms: Date.now() - started };
}
