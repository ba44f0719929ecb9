/**
 * Another participant's current EncryptionPublicKey, trusted only after the
 * checks a CMMS participant makes (cmms-reference §4.2-§4.3): the
 * SignedMessage verifies with the certificate the Kingdom names for it, that
 * certificate chains to the participant's root that we hold out of band
 * (`compromise.trustedRoots`), it is valid now and not revoked or on hold at
 * the Kingdom, and the key is a public Tink keyset. The Kingdom relays keys;
 * it is not trusted to choose them.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { KingdomClient } from '../../client/index.js';
import { CryptoError, assertPublicKeyset, parseKeyset, type Keyset, verifySignedMessage } from '../../crypto/index.js';
import { Certificate_RevocationState } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { EncryptionPublicKeySchema, type SignedMessage } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readFileBytes } from '../../lib/index.js';
import { parseCertificate, PkiError, TrustStore, validatePath } from '../../pki/index.js';
import { participantKindOf } from '../config.js';
import { RotationError } from '../errors.js';
import { encryptionKeyBytes } from './keys.js';

export interface PeerKey {
  participant: string;
  /** The Certificate the key is signed with. */
  certificate: string;
  /** The SignedMessage as the Kingdom shows it. */
  signed: SignedMessage;
  /** Serialized EncryptionPublicKey (what was signed). */
  bytes: Uint8Array;
  keyset: Keyset;
}

function untrusted(participant: string, why: string, cause?: unknown): RotationError {
  return new RotationError('PEER_UNTRUSTED', `the public key of ${participant} is not trusted: ${why}`, cause === undefined ? {} : { cause });
}

export async function verifiedPeerKey(client: KingdomClient, participant: string, trustedRootsFile: string, at: Date): Promise<PeerKey> {
  const kind = participantKindOf(participant);
  let shown: { certificate: string; certificateDer: Uint8Array; publicKey?: SignedMessage };
  if (kind === 'dataProvider') shown = await client.dataProviders.getDataProvider({ name: participant });
  else if (kind === 'measurementConsumer') shown = await client.measurementConsumers.getMeasurementConsumer({ name: participant });
  else throw new RotationError('CONFIG_INVALID', `${participant} is neither a DataProvider nor a MeasurementConsumer`);
  const signed = shown.publicKey;
  const bytes = encryptionKeyBytes(signed?.message);
  if (!signed || !bytes) throw untrusted(participant, 'the Kingdom shows no EncryptionPublicKey');
  try {
    verifySignedMessage(signed, shown.certificateDer);
  } catch (err) {
    if (err instanceof CryptoError) throw untrusted(participant, `its signature does not verify with ${shown.certificate} (${err.code})`, err);
    throw err;
  }
  let roots: TrustStore;
  try {
    roots = TrustStore.fromBytes(readFileBytes(trustedRootsFile, 'trusted roots'));
  } catch (err) {
    if (err instanceof PkiError) throw new RotationError('CONFIG_INVALID', `${trustedRootsFile} is not a PEM bundle of root certificates`, { cause: err });
    throw err;
  }
  try {
    await validatePath(parseCertificate(shown.certificateDer), { trustStore: roots, at, purpose: 'signing', profile: 'cmms' });
  } catch (err) {
    if (err instanceof PkiError) throw untrusted(participant, `${shown.certificate} does not chain to a root in ${trustedRootsFile} (${err.code})`, err);
    throw err;
  }
  const certificate = await client.certificates.getCertificate({ name: shown.certificate });
  if (certificate.revocationState !== Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED) {
    throw untrusted(participant, `${shown.certificate} is ${Certificate_RevocationState[certificate.revocationState]} at the Kingdom`);
  }
  let keyset: Keyset;
  try {
    keyset = parseKeyset(fromBinary(EncryptionPublicKeySchema, bytes).data, { format: 'binary' });
    assertPublicKeyset(keyset);
  } catch (err) {
    throw untrusted(participant, 'its EncryptionPublicKey is not a public Tink keyset', err);
  }
  return { participant, certificate: shown.certificate, signed, bytes, keyset };
}
