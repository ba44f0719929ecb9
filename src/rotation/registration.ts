/**
 * The keyring and the Kingdom's registration of its participant: the
 * material the operator needs to register it (root, first signing
 * certificate, signed EncryptionPublicKey), and `sync`, which records what
 * the Kingdom shows (the participant's name, the `Certificate` names of our
 * signing certificates, the published key) in the inventory, so a keyring
 * made before registration, or rebuilt after a loss, knows where it stands.
 */
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { fromBinary } from '@bufbuild/protobuf';
import { signMessage } from '../crypto/index.js';
import { KeysetSchema } from '../gen/google/crypto/tink/tink_pb.js';
import { EncryptionPublicKeySchema, type SignedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { isRegisteredName, participantKindOf, publishesPublicKey } from './config.js';
import { RotationError } from './errors.js';
import { activeEntry } from './keyring.js';
import type { KingdomPort } from './kingdom-port.js';
import { sha256Hex } from './keyring-files.js';
import type { KeyringSession } from './session.js';
import { encryptionPublicKeyBytes } from './steps/publish-step.js';

export interface RegistrationMaterial {
  rootCertificateDer: Uint8Array;
  certificateDer: Uint8Array;
  /** Absent for participants without an encryption key (Duchies, ModelProviders). */
  publicKey?: SignedMessage;
  /** The serialized EncryptionPublicKey that `publicKey` signs. */
  encryptionPublicKey?: Uint8Array;
}

export function registrationMaterial(session: KeyringSession): RegistrationMaterial {
  const signing = activeEntry(session.keyring, 'signing');
  if (!signing) throw new RotationError('PRECONDITION_FAILED', 'no active signing certificate to register');
  const out: RegistrationMaterial = {
    rootCertificateDer: session.ca().certificate.der,
    certificateDer: session.material.certificate(signing).der,
  };
  if (publishesPublicKey(session.config.participantKind) && activeEntry(session.keyring, 'encryption')) {
    const message = encryptionPublicKeyBytes(session.material.loadEncryptionKeyset(session.keyring.encryptionKeyset));
    const packed = create(AnySchema, { typeUrl: `type.googleapis.com/${EncryptionPublicKeySchema.typeName}`, value: message });
    out.publicKey = signMessage(packed, session.material.privateKey(signing));
    out.encryptionPublicKey = message;
  }
  return out;
}

export interface SyncResult {
  participant: string;
  registered: Array<{ entry: string; certificate: string }>;
  publication?: { certificate: string; primaryKeyId: number };
}

/** Reads the participant from the Kingdom and records names and the publication it shows. */
export async function syncWithKingdom(session: KeyringSession, port: KingdomPort, participant?: string): Promise<SyncResult> {
  if (participant !== undefined) {
    if (!isRegisteredName(participant) || participantKindOf(participant) !== session.config.participantKind) {
      throw new RotationError('CONFIG_INVALID', `${participant} is not a ${session.config.participantKind} name`);
    }
    session.keyring.participant = participant;
  }
  const name = session.participant;
  if (!isRegisteredName(name)) throw new RotationError('KINGDOM_NOT_CONFIGURED', 'the participant has no Kingdom name yet: pass --participant NAME');
  const view = await port.getParticipant(name);
  const registered: SyncResult['registered'] = [];
  for (const entry of session.keyring.entries) {
    if (entry.kind !== 'signing' || entry.kingdomCertificate || !entry.skid) continue;
    const found = (await port.listCertificatesBySkid(name, Buffer.from(entry.skid, 'hex'))).find((c) => sha256Hex(c.der) === entry.fingerprint);
    if (found) {
      entry.kingdomCertificate = found.name;
      if (found.revocation !== 'NONE') entry.kingdomRevocation = found.revocation;
      registered.push({ entry: entry.id, certificate: found.name });
    }
  }
  let publication: SyncResult['publication'];
  const shown = view.publicKey?.message?.value ?? view.publicKey?.data;
  const signer = session.keyring.entries.find((e) => e.kind === 'signing' && e.kingdomCertificate === view.certificate);
  if (shown && signer) {
    let primaryKeyId: number | undefined;
    try {
      primaryKeyId = fromBinary(KeysetSchema, fromBinary(EncryptionPublicKeySchema, shown).data).primaryKeyId;
    } catch {
      primaryKeyId = undefined;
    }
    if (primaryKeyId !== undefined && session.keyring.entries.some((e) => e.kind === 'encryption' && e.tinkKeyId === primaryKeyId)) {
      session.keyring.publication = {
        publicKey: `${name}/publicKey`,
        certificate: view.certificate,
        signingEntryId: signer.id,
        primaryKeyId,
        keyIds: [primaryKeyId],
        messageSha256: sha256Hex(shown),
        at: session.now().toISOString(),
      };
      publication = { certificate: view.certificate, primaryKeyId };
    }
  }
  session.save();
  session.record({ action: 'keyring.sync', resource: name, outcome: 'ok', after: { registered, publication: publication ?? null } });
  return { participant: name, registered, ...(publication ? { publication } : {}) };
}
