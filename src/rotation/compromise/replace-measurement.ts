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
 * Idempotent: the replacement's `measurement_reference_id` ends with
 * `replaces:<old id>`; a re-run finds it instead of creating a second one,
 * and cancels the old one if a crash came between the two calls.
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
import { nonceHash, randomNonce } from '../../api/index.js';
import { listMeasurements } from './kingdom-calls.js';
import { verifiedPeerKey } from './peer-keys.js';
import { recordOutcome } from './workspace.js';
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

async function createReplacement(ctx: StepContext, old: Measurement, specsDir: string, trustedRoots: string, compromisedKeyId: number): Promise<Measurement> {
  const s = ctx.session;
  const client = ctx.client();
  const signing = activeEntry(s.keyring, 'signing');
  if (!signing?.kingdomCertificate) throw new RotationError('PRECONDITION_FAILED', 'no active registered signing certificate to sign the replacement with');
  // Re-sign only what we signed: the old spec must verify with one of our own certificates.
  const oldCertificate = await client.certificates.getCertificate({ name: old.measurementConsumerCertificate });
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
  const signingKey = s.signingKey(signing);
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
    const peer = await verifiedPeerKey(client, e.key, trustedRoots, s.now());
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
  return client.measurements.createMeasurement({ parent: s.participant, measurement });
}

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
