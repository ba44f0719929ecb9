/**
 * `UpdatePublicKey`: the current primary encryption key, as a one-key public
 * Tink keyset in an `EncryptionPublicKey`, signed with the signing key whose
 * certificate the request names. One call serves an API certificate
 * rotation (re-sign), an encryption key rotation (new key), or both.
 *
 * Idempotent: when the Kingdom already shows this exact key under this
 * certificate with a signature that verifies, nothing is sent.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { keysetBytes, publicKeyset, type Keyset, signMessage, verifySignedMessage } from '../../crypto/index.js';
import { KeysetSchema } from '../../gen/google/crypto/tink/tink_pb.js';
import { EncryptionPublicKey_Format, EncryptionPublicKeySchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { RotationError } from '../errors.js';
import { sha256Hex } from '../keyring-files.js';
import type { KeyEntry } from '../keyring.js';
import { auditIds } from '../session.js';
import { type StepHandler, stepEntry } from './context.js';

/** The serialized EncryptionPublicKey for the private keyset's primary key alone. */
export function encryptionPublicKeyBytes(privateKeyset: Keyset): Uint8Array {
  const pub = publicKeyset(privateKeyset);
  const primaryOnly = create(KeysetSchema, { primaryKeyId: pub.primaryKeyId, key: pub.key.filter((k) => k.keyId === pub.primaryKeyId) });
  return toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(primaryOnly) }));
}

function requireRegistered(entry: KeyEntry): string {
  if (!entry.kingdomCertificate) throw new RotationError('PRECONDITION_FAILED', `signing certificate ${entry.id} is not registered at the Kingdom (run halo-keys sync)`);
  return entry.kingdomCertificate;
}

export const publishStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const signing = stepEntry(ctx, step, 'signingEntry');
    const encryption = stepEntry(ctx, step, 'encryptionEntry');
    const certificateName = requireRegistered(signing);
    const keyset = s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
    if (keyset.primaryKeyId !== encryption.tinkKeyId) {
      throw new RotationError('STEP_FAILED', `Tink key ${encryption.tinkKeyId} is not primary in the private keyset; the promote step has not run`);
    }
    const message = encryptionPublicKeyBytes(keyset);
    const messageSha256 = sha256Hex(message);
    const cert = s.material.certificate(signing);
    const kingdom = ctx.kingdom();
    const shown = await kingdom.getParticipant(s.participant);
    const shownBytes = shown.publicKey?.message?.value ?? shown.publicKey?.data;
    let already = false;
    if (shown.certificate === certificateName && shownBytes && sha256Hex(shownBytes) === messageSha256 && shown.publicKey) {
      try {
        verifySignedMessage(shown.publicKey, cert.der);
        already = true;
      } catch {
        already = false;
      }
    }
    if (!already) {
      // Sign the exact bytes whose hash is recorded, packed as upstream's Any.
      const packed = create(AnySchema, { typeUrl: `type.googleapis.com/${EncryptionPublicKeySchema.typeName}`, value: message });
      const signed = signMessage(packed, s.material.privateKey(signing));
      await kingdom.updatePublicKey(s.participant, signed, certificateName);
    }
    const before = s.keyring.publication;
    s.keyring.publication = {
      publicKey: `${s.participant}/publicKey`,
      certificate: certificateName,
      signingEntryId: signing.id,
      primaryKeyId: keyset.primaryKeyId,
      keyIds: [keyset.primaryKeyId],
      messageSha256,
      at: s.now().toISOString(),
    };
    s.save();
    s.record({
      action: 'public-key.publish',
      resource: `${s.participant}/publicKey`,
      ...auditIds(signing, encryption),
      before: before ? { certificate: before.certificate, primaryKeyId: before.primaryKeyId } : null,
      after: { certificate: certificateName, primaryKeyId: keyset.primaryKeyId, messageSha256 },
      outcome: 'ok',
      detail: already ? 'the Kingdom already showed this key and certificate' : 'UpdatePublicKey',
    });
    return already ? `already published (Tink key ${keyset.primaryKeyId}, ${certificateName})` : `published Tink key ${keyset.primaryKeyId} signed for ${certificateName}`;
  },
  async preview(ctx, step) {
    const current = ctx.session.keyring.publication;
    return `would call UpdatePublicKey for ${ctx.session.participant}/publicKey (now: ${current ? `Tink key ${current.primaryKeyId} under ${current.certificate}` : 'nothing recorded locally'}) naming the ${step.signingEntry === current?.signingEntryId ? 'current' : 'new'} signing certificate`;
  },
};
