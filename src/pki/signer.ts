/**
 * Key custody for a CA: whatever signs certificates and CRLs is either a
 * private key in memory (decrypted from the CA directory's key file) or a
 * `KeySigner` whose private key stays elsewhere (a PKCS#11 token) and which
 * only hands back signatures.
 */
import { KeyObject, createPublicKey } from 'node:crypto';

/** How a private key signs: the AlgorithmIdentifier to declare and the sign function. */
export interface SignatureScheme {
  oid: string;
  /** The DER AlgorithmIdentifier (RSA carries NULL parameters, ECDSA and EdDSA none). */
  algorithmIdentifier: Uint8Array;
  sign(data: Uint8Array): Uint8Array;
}

export interface KeySigner {
  /** The public half, for the certificate's SPKI and to check the key belongs to it. */
  readonly publicKey: KeyObject;
  /** The algorithm declared in what it signs, and the signing call (synchronous). */
  readonly scheme: SignatureScheme;
  /** Where the private key lives, for people: a PKCS#11 URI, never a secret. */
  readonly custody: string;
}

/** What a CA signs with. */
export type SigningKey = KeyObject | KeySigner;

export function isKeySigner(key: SigningKey): key is KeySigner {
  return !(key instanceof KeyObject);
}

/** The public key of either custody. */
export function publicKeyOfSigner(key: SigningKey): KeyObject {
  if (isKeySigner(key)) return key.publicKey;
  return key.type === 'private' ? createPublicKey(key) : key;
}
