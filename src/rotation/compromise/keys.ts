/**
 * Recognizing a key wherever the CMMS carries it (an `Any` of
 * `EncryptionPublicKey` in MeasurementSpecs, requisitions and EventGroups),
 * and the nonces of consent signaling. A key is recognized by the SHA-256 of
 * its Tink public key data, the fingerprint the keyring records for every
 * encryption key, so it is found in any keyset that carries it.
 */
import { createHash } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { KeysetSchema } from '../../gen/google/crypto/tink/tink_pb.js';
import { EncryptionPublicKeySchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { typeUrlMatches } from '../../lib/type-url.js';
import { hex } from '../../lib/bytes.js';

export function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
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
    return fromBinary(KeysetSchema, key.data).key.map((k) => hex(sha256(k.keyData?.value ?? new Uint8Array(0))));
  } catch {
    return [];
  }
}

/** True when the serialized EncryptionPublicKey carries the key with this fingerprint. */
export function carriesKey(serializedEncryptionPublicKey: Uint8Array | undefined, fingerprintHex: string): boolean {
  return keyFingerprintsOf(serializedEncryptionPublicKey).includes(fingerprintHex);
}

