/**
 * A MeasurementConsumer's unfinished measurement whose results would be
 * encrypted to its compromised key is replaced: a new MeasurementSpec (the
 * old one, verified as ours, with the new key and new nonce hashes) signed
 * with the active signing certificate, and per DataProvider the MC's own
 * RequisitionSpec with the new key and a fresh nonce, signed, and encrypted
 * to the DataProvider's current, verified key. Then the old one is cancelled.
 *
 * Where the RequisitionSpecs come from: the MC cannot decrypt what it
 * encrypted to a DataProvider, and nothing should be decrypted here anyway,
 * so the MC's tooling keeps the RequisitionSpec of every requisition it
 * creates in `compromise.requisitionSpecs`, named by its nonce hash (which
 * the Measurement shows): `<sha256(nonce) hex>.binpb`. A copy whose nonce
 * does not hash to the entry's nonce hash is refused. The replacement's specs
 * are stored there the same way, so it can be replaced in turn.
 *
 * One journal step (`compromise.replace-measurements`) replaces them all: it
 * pages through the MC's AWAITING_REQUISITION_FULFILLMENT and COMPUTING
 * measurements at the Kingdom, replaces those whose MeasurementSpec carries
 * the compromised key, and appends each outcome to the workspace's
 * `replacements.jsonl`, so the journal and each write stay the same size
 * whatever the number of measurements. Idempotent: the replacement is created
 * with the request id `replaces:<old id>`, so a re-run after a crash gets the
 * one created before instead of a second; a cancelled old measurement is no
 * longer listed, so a resumed run does not touch it again. The page a run was
 * in is recorded (`replace-progress.json`): a resumed run starts there.
 *
 * Journals of earlier versions hold one `compromise.replace-measurement` step
 * per measurement; that step is kept: the replacement's
 * `measurement_reference_id` ends with `replaces:<old id>`, so it finds a
 * replacement made before a crash instead of creating a second one.
 */
import { join } from 'node:path';
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { CryptoError, encryptMessage, verifySignedMessage } from '../../crypto/index.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSchema, Measurement_DataProviderEntrySchema, Measurement_State, type Measurement } from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { RequisitionSpecSchema, type RequisitionSpec } from '../../gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { FileError, readFileBytes, writeSecretFile } from '../../lib/files.js';
import { packAny, typeUrlOf } from '../../lib/type-url.js';
import { RotationError } from '../errors.js';
import { activeEntry } from '../keyring.js';
import { sha256Hex } from '../keyring-files.js';
import { encryptionPublicKeyBytes } from '../steps/publish-step.js';
import type { StepContext, StepHandler } from '../journal/context.js';
import { die } from '../journal/faults.js';
import type { KeyringSession } from '../session.js';
import type { KingdomClient } from '../../client/index.js';
import type { Certificate } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import type { SigningKey } from '../../pki/index.js';
import { nonceHash, randomNonce } from '../../api/index.js';
import { measurementKeyBytes } from './encryption-key-steps.js';
import { carriesKey } from './keys.js';
import { listMeasurements, measurementPages } from './kingdom-calls.js';
import { verifiedPeerKey, type PeerKey } from './peer-keys.js';
import { appendToList, readList, readRecord, recordOutcome, writeRecord } from './workspace.js';
import { hex } from '../../lib/bytes.js';
import { signMessageWith } from '../token-keys.js';

const PENDING = new Set([Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.COMPUTING]);

export interface Replacement {
  replacement: string | null;
  oldState: string;
  detail: string;
}

export function replacementMarker(measurement: string): string {
  return `replaces:${measurement.slice(measurement.lastIndexOf('/') + 1)}`;
}

function specBytes(m: Measurement): Uint8Array {
  const sm = m.measurementSpec;
  const bytes = sm?.message?.value ?? sm?.data;
  if (!bytes || bytes.length === 0) throw new RotationError('STEP_FAILED', `${m.name} has no MeasurementSpec`);
  return bytes;
}

/** The MC's stored RequisitionSpec for a nonce hash, checked to be the one it names. */
function ownRequisitionSpec(dir: string, hash: Uint8Array): RequisitionSpec {
  const file = join(dir, `${hex(hash)}.binpb`);
  let spec: RequisitionSpec;
  try {
    spec = fromBinary(RequisitionSpecSchema, readFileBytes(file, 'RequisitionSpec copy'));
  } catch (err) {
    const missing = err instanceof FileError && err.code === 'FILE_NOT_FOUND';
    throw new RotationError('PLAINTEXT_MISSING', missing ? `no RequisitionSpec copy ${file}: put the MC's copy there and run again` : `${file} is not a serialized RequisitionSpec`, { cause: err });
  }
  if (hex(nonceHash(spec.nonce)) !== hex(hash)) throw new RotationError('PLAINTEXT_MISSING', `${file}: its nonce does not hash to ${hex(hash)}`);
  return spec;
}

/**
 * What replacing many measurements looks up once: certificates, the
 * DataProviders' verified keys, and the signing key (decrypting it runs the
 * passphrase KDF, by far the largest cost of a replacement).
 */
interface LookupCache {
  certificates: Map<string, Promise<Certificate>>;
  peers: Map<string, Promise<PeerKey>>;
  signingKeys: Map<string, SigningKey>;
}

const noCache = (): LookupCache => ({ certificates: new Map(), peers: new Map(), signingKeys: new Map() });

function cached<T>(map: Map<string, Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  let hit = map.get(key);
  if (!hit) {
    hit = load();
    map.set(key, hit);
    hit.catch(() => map.delete(key));
  }
  return hit;
}

async function createReplacement(
  ctx: StepContext,
  old: Measurement,
  specsDir: string,
  trustedRoots: string,
  compromisedKeyId: number,
  options: { cache?: LookupCache; requestId?: string } = {},
): Promise<Measurement> {
  const s = ctx.session;
  const client = ctx.client();
  const cache = options.cache ?? noCache();
  const signing = activeEntry(s.keyring, 'signing');
  if (!signing?.kingdomCertificate) throw new RotationError('PRECONDITION_FAILED', 'no active registered signing certificate to sign the replacement with');
  // Re-sign only what we signed: the old spec must verify with one of our own certificates.
  const oldCertificate = await cached(cache.certificates, old.measurementConsumerCertificate, () => client.certificates.getCertificate({ name: old.measurementConsumerCertificate }));
  if (!s.keyring.entries.some((e) => e.kind === 'signing' && e.fingerprint === sha256Hex(oldCertificate.x509Der))) {
    throw new RotationError('PRECONDITION_FAILED', `${old.name} names ${old.measurementConsumerCertificate}, which is not a certificate of this keyring`);
  }
  try {
    verifySignedMessage(old.measurementSpec!, oldCertificate.x509Der);
  } catch (err) {
    if (err instanceof CryptoError) throw new RotationError('PRECONDITION_FAILED', `the MeasurementSpec of ${old.name} does not verify with ${old.measurementConsumerCertificate}`, { cause: err });
    throw err;
  }
  const keyset = s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
  if (keyset.primaryKeyId === compromisedKeyId) throw new RotationError('PRECONDITION_FAILED', 'the compromised key is still primary; the rotation did not complete');
  const newKey = create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: encryptionPublicKeyBytes(keyset) });
  let signingKey = cache.signingKeys.get(signing.id);
  if (!signingKey) {
    signingKey = s.signingKey(signing);
    cache.signingKeys.set(signing.id, signingKey);
  }
  const hashes = new Map<string, Uint8Array>();
  const entries = [];
  for (const e of old.dataProviders) {
    const oldHash = e.value?.nonceHash ?? new Uint8Array(0);
    const spec = clone(RequisitionSpecSchema, ownRequisitionSpec(specsDir, oldHash));
    spec.measurementPublicKey = newKey;
    spec.serializedMeasurementPublicKey = new Uint8Array(0);
    spec.nonce = randomNonce();
    const hash = nonceHash(spec.nonce);
    hashes.set(hex(oldHash), hash);
    const peer = await cached(cache.peers, e.key, () => verifiedPeerKey(client, e.key, trustedRoots, s.now()));
    writeSecretFile(join(specsDir, `${hex(hash)}.binpb`), toBinary(RequisitionSpecSchema, spec));
    entries.push(
      create(Measurement_DataProviderEntrySchema, {
        key: e.key,
        value: {
          dataProviderCertificate: peer.certificate,
          dataProviderPublicKey: peer.signed.message!,
          encryptedRequisitionSpec: encryptMessage(peer.keyset, SignedMessageSchema, signMessageWith(packAny(RequisitionSpecSchema, spec), signingKey)),
          nonceHash: hash,
        },
      }),
    );
  }
  const spec = clone(MeasurementSpecSchema, fromBinary(MeasurementSpecSchema, specBytes(old)));
  spec.measurementPublicKey = newKey;
  spec.serializedMeasurementPublicKey = new Uint8Array(0);
  spec.nonceHashes = spec.nonceHashes.map((h) => hashes.get(hex(h)) ?? h);
  const marker = replacementMarker(old.name);
  const measurement = create(MeasurementSchema, {
    measurementConsumerCertificate: signing.kingdomCertificate,
    measurementSpec: signMessageWith(packAny(MeasurementSpecSchema, spec), signingKey),
    dataProviders: entries,
    measurementReferenceId: old.measurementReferenceId ? `${old.measurementReferenceId} ${marker}` : marker,
  });
  return client.measurements.createMeasurement({ parent: s.participant, measurement, ...(options.requestId ? { requestId: options.requestId } : {}) });
}

/** One measurement's line in `replacements.jsonl`; a later line for the same measurement supersedes an earlier one. */
export interface ReplacementLine extends Replacement {
  old: string;
}

export const REPLACEMENTS = 'replacements';
const PROGRESS = 'replace-progress';

/** The request id of a replacement: one per old measurement, so CreateMeasurement returns the first one again. */
export function replacementRequestId(measurement: string): string {
  return replacementMarker(measurement);
}

/** The outcome of each measurement handled so far, by old name (the last line of each wins). */
export function replacementOutcomes(session: KeyringSession, journalId: string): Map<string, Replacement> {
  const out = new Map<string, Replacement>();
  const legacy = readRecord<Record<string, Replacement>>(session, journalId, REPLACEMENTS);
  for (const [old, r] of Object.entries(legacy ?? {})) out.set(old, r);
  for (const line of readList<ReplacementLine>(session, journalId, REPLACEMENTS)) {
    const { old, ...r } = line;
    out.set(old, r);
  }
  return out;
}

export const replaceMeasurementsStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const specsDir = String(step.args?.requisitionSpecs ?? '');
    const trustedRoots = String(step.args?.trustedRoots ?? '');
    const compromisedKeyId = Number(step.args?.compromisedKeyId);
    const fingerprint = String(step.args?.fingerprint ?? '');
    const expected = Number(step.args?.expected ?? 0);
    const client = ctx.client();
    const cache = noCache();
    // Measurements with an outcome already (a crash can come between recording one and cancelling it): counted once.
    const outcomes = new Set(replacementOutcomes(s, ctx.journalId).keys());
    const handled = outcomes.size;
    let done = handled;
    let created = 0;
    let thisRun = 0;
    const progress = () => ctx.items?.(done, Math.max(expected, done));
    progress();
    const start = readRecord<{ pageToken: string }>(s, ctx.journalId, PROGRESS)?.pageToken ?? '';
    for await (const page of measurementPages(client, s.participant, [...PENDING], start)) {
      writeRecord(s, ctx.journalId, PROGRESS, { pageToken: page.pageToken });
      for (const old of page.items) {
        if (!carriesKey(measurementKeyBytes(old.measurementSpec), fingerprint)) continue;
        const replacement = await createReplacement(ctx, old, specsDir, trustedRoots, compromisedKeyId, { cache, requestId: replacementRequestId(old.name) });
        thisRun += 1;
        if (ctx.faultAfterItem === thisRun) die();
        s.record({ action: 'measurement.create', resource: replacement.name, after: { replaces: old.name }, outcome: 'ok', detail: 'replacement with the new measurement public key' });
        // Recorded before the cancel: once cancelled, the old one is no longer listed, so a crash after it must not lose the outcome.
        const line: ReplacementLine = { old: old.name, replacement: replacement.name, oldState: 'CANCELLED', detail: `${replacement.name}, cancelled the old one` };
        appendToList(s, ctx.journalId, REPLACEMENTS, [line]);
        const cancelled = await cancelIfPending(client, old.name);
        if (cancelled !== Measurement_State.CANCELLED) {
          appendToList(s, ctx.journalId, REPLACEMENTS, [{ ...line, oldState: Measurement_State[cancelled], detail: `${replacement.name}; the old one finished (${Measurement_State[cancelled]}) before it was cancelled` }]);
        } else {
          s.record({ action: 'measurement.cancel', resource: old.name, after: { replacedBy: replacement.name }, outcome: 'ok', detail: 'its results would be encrypted to a compromised key' });
        }
        created += 1;
        if (!outcomes.has(old.name)) done += 1;
        progress();
      }
    }
    return `${created} measurement(s) replaced and cancelled in this run, ${done} in all${handled > 0 ? ` (${handled} before a restart)` : ''}`;
  },
  async preview(_ctx, step) {
    return `would page through the ongoing measurements, replace each encrypted to key ${String(step.args?.fingerprint ?? '').slice(0, 16)}… (about ${String(step.args?.expected ?? '?')}) with one using the new key (RequisitionSpecs from ${String(step.args?.requisitionSpecs)}), and cancel it`;
  },
};

/** Cancels the measurement unless it has finished; its state afterwards. */
async function cancelIfPending(client: KingdomClient, name: string): Promise<Measurement_State> {
  try {
    return (await client.measurements.cancelMeasurement({ name })).state;
  } catch (err) {
    // Finished meanwhile (FAILED_PRECONDITION): report its state rather than fail the whole step.
    const now = await client.measurements.getMeasurement({ name });
    if (PENDING.has(now.state)) throw err;
    return now.state;
  }
}

/** The step of journals from earlier versions: one measurement, found by listing all of them. */
export const replaceMeasurementStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const name = String(step.args?.measurement ?? '');
    const specsDir = String(step.args?.requisitionSpecs ?? '');
    const trustedRoots = String(step.args?.trustedRoots ?? '');
    const client = ctx.client();
    const marker = replacementMarker(name);
    let old = await client.measurements.getMeasurement({ name });
    const found = (await listMeasurements(client, s.participant)).find((m) => m.name !== name && m.measurementReferenceId.endsWith(marker));
    let replacement = found?.name;
    let created = false;
    if (!replacement) {
      if (!PENDING.has(old.state)) {
        const outcome: Replacement = { replacement: null, oldState: Measurement_State[old.state], detail: `finished (${Measurement_State[old.state]}) before it could be replaced` };
        recordOutcome(s, ctx.journalId, 'replacements', name, outcome);
        s.record({ action: 'measurement.replace', resource: name, outcome: 'skipped', detail: outcome.detail });
        return `${name}: ${outcome.detail}`;
      }
      replacement = (await createReplacement(ctx, old, specsDir, trustedRoots, Number(step.args?.compromisedKeyId))).name;
      created = true;
      s.record({ action: 'measurement.create', resource: replacement, after: { replaces: name }, outcome: 'ok', detail: 'replacement with the new measurement public key' });
    }
    old = await client.measurements.getMeasurement({ name });
    let cancelled = false;
    if (PENDING.has(old.state)) {
      old = await client.measurements.cancelMeasurement({ name });
      cancelled = true;
      s.record({ action: 'measurement.cancel', resource: name, after: { replacedBy: replacement }, outcome: 'ok', detail: 'its results would be encrypted to a compromised key' });
    }
    const outcome: Replacement = { replacement, oldState: Measurement_State[old.state], detail: `${created ? 'created' : 'found'} ${replacement}${cancelled ? ', cancelled the old one' : ''}` };
    recordOutcome(s, ctx.journalId, 'replacements', name, outcome);
    return `${name} -> ${replacement} (${outcome.detail})`;
  },
  async preview(_ctx, step) {
    return `would create a replacement of ${String(step.args?.measurement)} with the new key (RequisitionSpecs from ${String(step.args?.requisitionSpecs)}) and cancel it`;
  },
};
