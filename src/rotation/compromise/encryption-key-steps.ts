/**
 * Encryption key compromise. The assessment (made when the procedure is
 * planned, before anything changes) finds what was encrypted to the key:
 * for a MeasurementConsumer its unfinished measurements whose MeasurementSpec
 * carries the key and the EventGroups whose metadata is encrypted to it; for
 * a DataProvider its UNFULFILLED requisitions whose spec was encrypted to it.
 * After the rotation publishes a new key, the compromised one leaves the
 * private keyset at once (no grace period), re-encryption of the EventGroup
 * metadata is requested, and each affected requisition is refused (a
 * DataProvider, see refuse-requisitions.ts) or measurement replaced (an MC,
 * see replace-measurement.ts).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { KeyStatusType, destroyKey } from '../../crypto/index.js';
import { Measurement_State } from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Requisition_State } from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { RotationError } from '../errors.js';
import { transition, type KeyEntry } from '../keyring.js';
import type { KeyringSession } from '../session.js';
import { encryptionPublicKeyBytes } from '../steps/publish-step.js';
import { type StepHandler, stepEntry } from '../journal/context.js';
import { ASSESSED_EVENT_GROUPS, ASSESSED_MEASUREMENTS, ASSESSED_REQUISITIONS, ASSESSMENT_SAMPLE, eventGroupCountOf, measurementCountOf, requisitionCountOf, type AssessedMeasurement, type AssessedRequisition, type EncryptionKeyAssessment } from './assessment.js';
import { carriesKey, encryptionKeyBytes, sha256 } from './keys.js';
import { eventGroupPages, measurementPages, requisitionPages } from './kingdom-calls.js';
import type { KingdomClient } from '../../client/index.js';
import { appendToList, readRecord, resetList, writeRecord } from './workspace.js';
import { hex } from '../../lib/bytes.js';

const PENDING = [Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.COMPUTING];

/** What CreateMetadataReencryptionRequests answered, as the workspace record `reencryption-requested`. */
export interface ReencryptionRequested {
  created: number;
  open: number;
}
export const REENCRYPTION_REQUESTED = 'reencryption-requested';

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

/** Where an assessment writes its full lists: the journal's workspace (absent in a dry run: counted only). */
export interface AssessmentLists {
  session: KeyringSession;
  journalId: string;
}

/**
 * What was encrypted to the key, read before anything changes. The MC's
 * measurements and EventGroups, and a DataProvider's requisitions, are read
 * a page at a time and counted, with a sample kept inline and, given
 * `lists`, every name appended to the workspace's .jsonl lists: memory does
 * not grow with 100,000s of groups.
 */
export async function assessEncryptionKey(session: KeyringSession, client: KingdomClient, entry: KeyEntry, lists?: AssessmentLists): Promise<EncryptionKeyAssessment> {
  const out: EncryptionKeyAssessment = {
    at: session.now().toISOString(),
    target: { entry: entry.id, tinkKeyId: entry.tinkKeyId!, fingerprint: entry.fingerprint, stateBefore: entry.state },
    measurements: [],
    eventGroups: [],
    requisitions: [],
  };
  // How EventGroups name the key: the SHA-256 of the EncryptionPublicKey as published with it primary.
  const keyset = session.material.loadEncryptionKeyset(session.keyring.encryptionKeyset);
  if (keyset.primaryKeyId === entry.tinkKeyId) out.publishedKeySha256 = hex(sha256(encryptionPublicKeyBytes(keyset)));
  else {
    const published = session.keyring.publication;
    if (published && published.primaryKeyId === entry.tinkKeyId) out.publishedKeySha256 = published.messageSha256;
  }
  const participant = session.participant;
  if (session.config.participantKind === 'measurementConsumer') {
    if (lists) {
      resetList(lists.session, lists.journalId, ASSESSED_MEASUREMENTS);
      resetList(lists.session, lists.journalId, ASSESSED_EVENT_GROUPS);
    }
    let measurements = 0;
    for await (const page of measurementPages(client, participant, PENDING)) {
      const found: AssessedMeasurement[] = [];
      for (const m of page.items) {
        if (carriesKey(measurementKeyBytes(m.measurementSpec), entry.fingerprint)) found.push({ name: m.name, state: Measurement_State[m.state], referenceId: m.measurementReferenceId });
      }
      measurements += found.length;
      for (const m of found) if (out.measurements.length < ASSESSMENT_SAMPLE) out.measurements.push(m);
      if (lists) appendToList(lists.session, lists.journalId, ASSESSED_MEASUREMENTS, found);
    }
    let eventGroups = 0;
    for await (const page of eventGroupPages(client, participant)) {
      const found: string[] = [];
      for (const eg of page) {
        const key = encryptionKeyBytes(eg.measurementConsumerPublicKey);
        if (eg.encryptedMetadata && key && carriesKey(key, entry.fingerprint)) found.push(eg.name);
      }
      eventGroups += found.length;
      for (const name of found) if (out.eventGroups.length < ASSESSMENT_SAMPLE) out.eventGroups.push(name);
      if (lists) appendToList(lists.session, lists.journalId, ASSESSED_EVENT_GROUPS, found);
    }
    out.measurementCount = measurements;
    out.eventGroupCount = eventGroups;
  } else if (session.config.participantKind === 'dataProvider') {
    // As the MC's measurements: a page at a time, counted, a sample inline, every one in the list.
    if (lists) resetList(lists.session, lists.journalId, ASSESSED_REQUISITIONS);
    let requisitions = 0;
    for await (const page of requisitionPages(client, participant, [Requisition_State.UNFULFILLED])) {
      const found: AssessedRequisition[] = [];
      for (const r of page.items) {
        if (carriesKey(encryptionKeyBytes(r.dataProviderPublicKey), entry.fingerprint)) found.push({ name: r.name, measurement: r.measurement });
      }
      requisitions += found.length;
      for (const r of found) if (out.requisitions.length < ASSESSMENT_SAMPLE) out.requisitions.push(r);
      if (lists) appendToList(lists.session, lists.journalId, ASSESSED_REQUISITIONS, found);
    }
    out.requisitionCount = requisitions;
  }
  return out;
}

export function summarizeKeyAssessment(a: EncryptionKeyAssessment): string {
  return `Tink key ${a.target.tinkKeyId}: ${measurementCountOf(a)} unfinished measurement(s) to replace, ${eventGroupCountOf(a)} EventGroup(s) to re-encrypt, ${requisitionCountOf(a)} requisition(s) to refuse`;
}

export const assessEncryptionKeyStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const a = readRecord<EncryptionKeyAssessment>(s, ctx.journalId, 'assessment');
    if (!a) throw new RotationError('JOURNAL_CORRUPT', `the assessment of ${ctx.journalId} is missing from its workspace`);
    const entry = stepEntry(ctx, step);
    // Counts and the sample: the full lists stay in the workspace, not in one audit line.
    const after = {
      measurements: a.measurements.map((m) => m.name),
      measurementCount: measurementCountOf(a),
      eventGroups: a.eventGroups,
      eventGroupCount: eventGroupCountOf(a),
      requisitions: a.requisitions.map((r) => r.name),
      requisitionCount: requisitionCountOf(a),
    };
    s.record({ action: 'compromise.blast-radius', resource: entry.id, fingerprints: [entry.fingerprint], after, outcome: 'ok', detail: summarizeKeyAssessment(a) });
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
    const res = await ctx.client().metadataReencryption.createMetadataReencryptionRequests({
      parent: s.participant,
      key: { case: 'measurementConsumerKeyFingerprint', value: new Uint8Array(Buffer.from(fingerprint, 'hex')) },
    });
    const outcome: ReencryptionRequested = { created: res.createdCount, open: res.openCount };
    writeRecord(s, ctx.journalId, REENCRYPTION_REQUESTED, outcome);
    s.record({ action: 'event-group.request-reencryption', resource: s.participant, after: { fingerprint, created: outcome.created, open: outcome.open }, outcome: 'ok', detail: `${outcome.open} open request(s)` });
    return `${outcome.open} re-encryption request(s) open for the DataProviders (${outcome.created} new)`;
  },
  async preview(_ctx, step) {
    return `would call CreateMetadataReencryptionRequests for every EventGroup encrypted to key ${String(step.args?.publishedKeySha256 ?? '').slice(0, 16)}…`;
  },
};
