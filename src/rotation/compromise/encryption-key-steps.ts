/**
 * Encryption key compromise. The assessment (made when the procedure is
 * planned, before anything changes) finds what was encrypted to the key:
 * for a MeasurementConsumer its unfinished measurements whose MeasurementSpec
 * carries the key and the EventGroups whose metadata is encrypted to it; for
 * a DataProvider its UNFULFILLED requisitions whose spec was encrypted to it.
 * After the rotation publishes a new key, the compromised one leaves the
 * private keyset at once (no grace period), re-encryption of the EventGroup
 * metadata is requested, and each affected requisition is refused (a
 * DataProvider) or measurement replaced (an MC, see replace-measurement.ts).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { KeyStatusType, destroyKey } from '../../crypto/index.js';
import { Measurement_State } from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Requisition_Refusal_Justification, Requisition_State } from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { RotationError } from '../errors.js';
import { transition, type KeyEntry } from '../keyring.js';
import type { KeyringSession } from '../session.js';
import { encryptionPublicKeyBytes } from '../steps/publish-step.js';
import { type StepHandler, stepEntry } from '../steps/context.js';
import type { EncryptionKeyAssessment } from './assessment.js';
import { carriesKey, encryptionKeyBytes, sha256, toHex } from './keys.js';
import { clientOf, listEventGroups, listMeasurements, listRequisitions } from './kingdom-calls.js';
import type { KingdomClient } from '../../client/index.js';
import { readRecord, recordOutcome } from './workspace.js';

const PENDING = [Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.COMPUTING];

/** The MeasurementSpec's measurement public key, as serialized EncryptionPublicKey bytes. */
export function measurementKeyBytes(spec: { message?: { value: Uint8Array }; data: Uint8Array } | undefined): Uint8Array | undefined {
  const bytes = spec?.message?.value ?? (spec?.data.length ? spec.data : undefined);
  if (!bytes) return undefined;
  try {
    const parsed = fromBinary(MeasurementSpecSchema, bytes);
    return encryptionKeyBytes(parsed.measurementPublicKey) ?? (parsed.serializedMeasurementPublicKey.length ? parsed.serializedMeasurementPublicKey : undefined);
  } catch {
    return undefined;
  }
}

/** What was encrypted to the key, read before anything changes. */
export async function assessEncryptionKey(session: KeyringSession, client: KingdomClient, entry: KeyEntry): Promise<EncryptionKeyAssessment> {
  const out: EncryptionKeyAssessment = {
    at: session.now().toISOString(),
    target: { entry: entry.id, tinkKeyId: entry.tinkKeyId!, fingerprint: entry.fingerprint, stateBefore: entry.state },
    measurements: [],
    eventGroups: [],
    requisitions: [],
  };
  // How EventGroups name the key: the SHA-256 of the EncryptionPublicKey as published with it primary.
  const keyset = session.material.loadEncryptionKeyset(session.keyring.encryptionKeyset);
  if (keyset.primaryKeyId === entry.tinkKeyId) out.publishedKeySha256 = toHex(sha256(encryptionPublicKeyBytes(keyset)));
  else {
    const published = session.keyring.publication;
    if (published && published.primaryKeyId === entry.tinkKeyId) out.publishedKeySha256 = published.messageSha256;
  }
  const participant = session.participant;
  if (session.config.participantKind === 'measurementConsumer') {
    for (const m of await listMeasurements(client, participant, PENDING)) {
      if (carriesKey(measurementKeyBytes(m.measurementSpec), entry.fingerprint)) {
        out.measurements.push({ name: m.name, state: Measurement_State[m.state], referenceId: m.measurementReferenceId });
      }
    }
    for (const eg of await listEventGroups(client, participant)) {
      const key = encryptionKeyBytes(eg.measurementConsumerPublicKey);
      if (eg.encryptedMetadata && key && carriesKey(key, entry.fingerprint)) out.eventGroups.push(eg.name);
    }
  } else if (session.config.participantKind === 'dataProvider') {
    for (const r of await listRequisitions(client, participant, [Requisition_State.UNFULFILLED])) {
      if (carriesKey(encryptionKeyBytes(r.dataProviderPublicKey), entry.fingerprint)) out.requisitions.push({ name: r.name, measurement: r.measurement });
    }
  }
  return out;
}

export function summarizeKeyAssessment(a: EncryptionKeyAssessment): string {
  return `Tink key ${a.target.tinkKeyId}: ${a.measurements.length} unfinished measurement(s) to replace, ${a.eventGroups.length} EventGroup(s) to re-encrypt, ${a.requisitions.length} requisition(s) to refuse`;
}

export const assessEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const a = readRecord<EncryptionKeyAssessment>(s, ctx.journalId, 'assessment');
    if (!a) throw new RotationError('JOURNAL_CORRUPT', `the assessment of ${ctx.journalId} is missing from its workspace`);
    const entry = stepEntry(ctx, step);
    s.record({ action: 'compromise.blast-radius', resource: entry.id, fingerprints: [entry.fingerprint], after: { measurements: a.measurements.map((m) => m.name), eventGroups: a.eventGroups, requisitions: a.requisitions.map((r) => r.name) }, outcome: 'ok', detail: summarizeKeyAssessment(a) });
    return summarizeKeyAssessment(a);
  },
  async preview(ctx, step) {
    return `what is encrypted to Tink key ${stepEntry(ctx, step).tinkKeyId}, as found before any change`;
  },
};

export const removeEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const entry = stepEntry(ctx, step);
    const file = s.keyring.encryptionKeyset;
    const keyset = s.material.loadEncryptionKeyset(file);
    if (keyset.primaryKeyId === entry.tinkKeyId) {
      throw new RotationError('PRECONDITION_FAILED', `Tink key ${entry.tinkKeyId} is still primary; the rotation steps before this one did not complete`);
    }
    const key = keyset.key.find((k) => k.keyId === entry.tinkKeyId);
    const destroyed = key !== undefined && key.status !== KeyStatusType.DESTROYED;
    if (destroyed) s.material.saveEncryptionKeyset(file, destroyKey(keyset, entry.tinkKeyId!));
    const before = entry.state;
    const marked = transition(entry, 'compromised', s.now(), `key compromise, ${ctx.journalId}`);
    if (!entry.destroyedAt) entry.destroyedAt = s.now().toISOString();
    if (marked || destroyed) s.save();
    if (!marked && !destroyed) return `Tink key ${entry.tinkKeyId} already removed and marked compromised`;
    s.record({ action: 'key.compromise', resource: entry.id, fingerprints: [entry.fingerprint], before: { state: before }, after: { state: 'compromised', destroyed: true }, outcome: 'ok', detail: 'removed from the private keyset at once (no grace period)' });
    return `Tink key ${entry.tinkKeyId} destroyed in the private keyset; ${entry.id} compromised`;
  },
  async preview(ctx, step) {
    const entry = stepEntry(ctx, step);
    return `would destroy Tink key ${entry.tinkKeyId} in ${ctx.session.keyring.encryptionKeyset} now (no grace period) and mark ${entry.id} compromised`;
  },
};

export const requestReencryptionStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const fingerprint = String(step.args?.publishedKeySha256 ?? '');
    if (!/^[0-9a-f]{64}$/.test(fingerprint)) return 'the compromised key was never published as primary: no EventGroup names it';
    const res = await clientOf(ctx).metadataReencryption.createMetadataReencryptionRequests({
      parent: s.participant,
      key: { case: 'measurementConsumerKeyFingerprint', value: new Uint8Array(Buffer.from(fingerprint, 'hex')) },
    });
    const names = res.requests.map((r) => r.name);
    for (const r of res.requests) recordOutcome(s, ctx.journalId, 'reencryption-requests', r.name, { eventGroup: r.eventGroup });
    s.record({ action: 'event-group.request-reencryption', resource: s.participant, after: { fingerprint, requests: names }, outcome: 'ok', detail: `${names.length} open request(s)` });
    return `${names.length} re-encryption request(s) open for the DataProviders`;
  },
  async preview(_ctx, step) {
    return `would call CreateMetadataReencryptionRequests for every EventGroup encrypted to key ${String(step.args?.publishedKeySha256 ?? '').slice(0, 16)}…`;
  },
};

export const refuseRequisitionStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const name = String(step.args?.requisition ?? '');
    const client = clientOf(ctx);
    const open = (await listRequisitions(client, s.participant, [Requisition_State.UNFULFILLED])).find((r) => r.name === name);
    if (!open) {
      recordOutcome(s, ctx.journalId, 'refusals', name, { refused: false, detail: 'no longer UNFULFILLED' });
      return `${name} is no longer UNFULFILLED; nothing to refuse`;
    }
    const message = `The requisition spec was encrypted to a compromised DataProvider encryption key (fingerprint ${String(step.args?.fingerprint ?? '').slice(0, 16)}); re-create the measurement with the DataProvider's current public key.`;
    await client.requisitions.refuseRequisition({ name, refusal: { justification: Requisition_Refusal_Justification.DECLINED, message } });
    recordOutcome(s, ctx.journalId, 'refusals', name, { refused: true, measurement: open.measurement });
    s.record({ action: 'requisition.refuse', resource: name, after: { justification: 'DECLINED', measurement: open.measurement }, outcome: 'ok', detail: 'encrypted to a compromised key' });
    return `refused ${name} (${open.measurement})`;
  },
  async preview(_ctx, step) {
    return `would call RefuseRequisition on ${String(step.args?.requisition)} (DECLINED, naming the compromised key)`;
  },
};

