/**
 * What the Kingdom checks in a signed `EncryptionPublicKey` (§2.7).
 *
 * Always (upstream): `message` unpacks as an EncryptionPublicKey (so the
 * legacy `data`-only form is refused) and the signature is not empty; the
 * stored key is `message.value`, byte for byte.
 *
 * Strict mode adds: the signature verifies with the named certificate
 * (`SIGNATURE_INVALID`), and the key is a TINK_KEYSET holding a public-only
 * keyset whose primary key can encrypt (`ENCRYPTION_PUBLIC_KEY_INVALID`).
 */
import type { SignedMessage } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  EncryptionPublicKey_Format,
  EncryptionPublicKeySchema,
  type EncryptionPublicKey,
} from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { unpackAny } from '../../api/index.js';
import { CryptoError, encrypt, assertPublicKeyset, parseKeyset, verifySignedMessage } from '../../crypto/index.js';
import type { PublicKeyInput } from '../store/index.js';
import { API_VERSION } from './context.js';
import { invalidArgument } from './errors.js';

export interface CheckedPublicKey {
  readonly input: PublicKeyInput;
  readonly encryptionPublicKey: EncryptionPublicKey;
}

/** The upstream checks; returns what the store keeps. */
export function checkSignedPublicKey(signed: SignedMessage | undefined, field = 'public_key'): CheckedPublicKey {
  if (signed === undefined) throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field} is not specified`);
  if (signed.message === undefined) {
    throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field}.message is not specified (the legacy data-only form is not accepted)`);
  }
  const encryptionPublicKey = unpackAny(EncryptionPublicKeySchema, signed.message);
  if (signed.signature.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field}.signature is not specified`);
  return {
    encryptionPublicKey,
    input: {
      publicKey: signed.message.value,
      signature: signed.signature,
      signatureAlgorithmOid: signed.signatureAlgorithmOid,
      apiVersion: API_VERSION,
    },
  };
}

/** Strict: the signature over `message.value` verifies with the certificate's key. */
export function requireSignatureByCertificate(signed: SignedMessage, certificateDer: Uint8Array, certificateName: string): void {
  try {
    verifySignedMessage(signed, certificateDer);
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    throw invalidArgument('SIGNATURE_INVALID', `public key signature does not verify with ${certificateName}: ${err.message}`, {
      certificate: certificateName,
      cryptoError: err.code,
    });
  }
}

/**
 * Strict: a Tink keyset of public keys only, whose primary key encrypts.
 * Encrypting an empty plaintext proves that exactly as a MeasurementConsumer
 * or DataProvider will use the key, without a second parser for key types.
 */
export function requireUsableEncryptionKey(key: EncryptionPublicKey): void {
  if (key.format !== EncryptionPublicKey_Format.TINK_KEYSET) {
    throw invalidArgument('ENCRYPTION_PUBLIC_KEY_INVALID', 'EncryptionPublicKey.format must be TINK_KEYSET');
  }
  try {
    const keyset = parseKeyset(key.data, { format: 'binary' });
    assertPublicKeyset(keyset);
    encrypt(keyset, new Uint8Array(0));
  } catch (err) {
    if (!(err instanceof CryptoError)) throw err;
    throw invalidArgument('ENCRYPTION_PUBLIC_KEY_INVALID', `EncryptionPublicKey.data is not a usable public Tink keyset: ${err.message}`, {
      cryptoError: err.code,
    });
  }
}
