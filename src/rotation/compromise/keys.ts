/**
 * Recognizing a key wherever the CMMS carries it (an `Any` of
 * `EncryptionPublicKey` in MeasurementSpecs, requisitions and EventGroups),
 * and the nonces of consent signaling. A key is recognized by the SHA-256 of
 * its Tink public key data, the fingerprint the keyring records for every
 * encryption key, so it is found in any keyset that carries it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { KeysetSchema } from '../../gen/google/crypto/tink/tink_pb.js';
import { EncryptionPublicKeySchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { typeUrlMatches } from '../../lib/index.js';

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

/** The serialized EncryptionPublicKey an Any carries, or undefined when it carries something else. */
export function encryptionKeyBytes(any: Any | undefined): Uint8Array | undefined {
  if (!any || !typeUrlMatches(any.typeUrl, EncryptionPublicKeySchema)) return undefined;
  return any.value;
}

/** Fingerprints (SHA-256 of the public key data, hex) of every key in a serialized EncryptionPublicKey; empty when it does not parse. */
export function keyFingerprintsOf(serializedEncryptionPublicKey: Uint8Array | undefined): string[] {
  if (!serializedEncryptionPublicKey) return [];
  try {
    const key = fromBinary(EncryptionPublicKeySchema, serializedEncryptionPublicKey);
    return fromBinary(KeysetSchema, key.data).key.map((k) => toHex(sha256(k.keyData?.value ?? new Uint8Array(0))));
  } catch {
    return [];
  }
}

/** True when the serialized EncryptionPublicKey carries the key with this fingerprint. */
export function carriesKey(serializedEncryptionPublicKey: Uint8Array | undefined, fingerprintHex: string): boolean {
  return keyFingerprintsOf(serializedEncryptionPublicKey).includes(fingerprintHex);
}

/** SHA-256 of the nonce as 8 big-endian bytes (cmms-reference §1.8 `nonce_hash`). */
export function nonceHash(nonce: bigint): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt.asUintN(64, nonce));
  return sha256(bytes);
}

/** A random non-zero fixed64 nonce. */
export function randomNonce(): bigint {
  let n = 0n;
  while (n === 0n) n = randomBytes(8).readBigUInt64BE();
  return n;
}
