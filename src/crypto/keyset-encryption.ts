/**
 * Private keysets encrypted at rest. The stored form is Tink's
 * `EncryptedKeyset` (so it round-trips through Tink tooling that only reads
 * the metadata): `keyset_info` is filled in, and `encrypted_keyset` holds our
 * envelope:
 *
 *   "HKEK" ‖ version 1 ‖ kdf (1 = scrypt, 2 = caller key)
 *         [‖ log2 N ‖ r ‖ p ‖ salt length ‖ salt]   (scrypt only)
 *         ‖ IV (12) ‖ AES-256-GCM(binary Keyset) ‖ tag (16)
 *
 * Everything before the IV is the associated data, so the KDF parameters
 * cannot be altered without the decryption failing.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from '@bufbuild/protobuf';
import { randomBytes } from 'node:crypto';
import { EncryptedKeysetSchema, KeysetSchema, type EncryptedKeyset, type Keyset } from '../gen/google/crypto/tink/tink_pb.js';
import { concatBytes } from '../lib/index.js';
import { aeadOpen, aeadSeal } from './aead.js';
import { CryptoError } from './errors.js';
import { deriveScryptKey, type ScryptParams } from './scrypt.js';
import { decodeUtf8, detectKeysetFormat, keysetInfo, parseKeyset, type KeysetFormat } from './keyset.js';

export type { EncryptedKeyset };

export type { ScryptParams };

/** N = 2^15, r = 8, p = 1: about 32 MiB and a tenth of a second per derivation. */
export const DEFAULT_SCRYPT: ScryptParams = { log2N: 15, r: 8, p: 1 };

// Upper bounds when reading, so a crafted file cannot demand gigabytes of memory.
const MAX_LOG2N = 20;
const MAX_R = 32;
const MAX_P = 16;

export type KeysetProtection =
  | {
      passphrase: string | Uint8Array;
      scrypt?: ScryptParams;
      /**
       * Encrypt with this salt (8-255 bytes) instead of a fresh one, so a
       * process rewriting one keyset under one passphrase derives its key once.
       */
      salt?: Uint8Array;
    }
  | { key: Uint8Array };

const MAGIC = Uint8Array.from([0x48, 0x4b, 0x45, 0x4b]); // "HKEK"
const VERSION = 1;
const KDF_SCRYPT = 1;
const KDF_RAW_KEY = 2;
const SALT_LENGTH = 16;
const IV_LENGTH = 12;

function scryptKey(passphrase: string | Uint8Array, salt: Uint8Array, params: ScryptParams): Uint8Array {
  try {
    return deriveScryptKey(passphrase, salt, params);
  } catch (err) {
    throw new CryptoError('KEYSET_MALFORMED', 'invalid scrypt parameters', { cause: err });
  }
}

function checkScrypt(params: ScryptParams): void {
  if (params.log2N < 1 || params.log2N > MAX_LOG2N || params.r < 1 || params.r > MAX_R || params.p < 1 || params.p > MAX_P) {
    throw new CryptoError('KEYSET_MALFORMED', 'scrypt parameters out of range');
  }
}

function rawKey(key: Uint8Array): Uint8Array {
  if (key.length !== 32) throw new CryptoError('KEY_MALFORMED', 'a keyset encryption key must be 32 bytes');
  return key;
}

/** Encrypts a keyset under a passphrase (scrypt) or a 32-byte key. */
export function encryptKeyset(keyset: Keyset, protection: KeysetProtection): EncryptedKeyset {
  let header: Uint8Array;
  let key: Uint8Array;
  if ('key' in protection) {
    header = concatBytes(MAGIC, Uint8Array.of(VERSION, KDF_RAW_KEY));
    key = rawKey(protection.key);
  } else {
    const params = protection.scrypt ?? DEFAULT_SCRYPT;
    checkScrypt(params);
    const salt = protection.salt ?? randomBytes(SALT_LENGTH);
    if (salt.length < 8 || salt.length > 255) throw new CryptoError('KEY_MALFORMED', 'a keyset salt must be 8 to 255 bytes');
    header = concatBytes(MAGIC, Uint8Array.of(VERSION, KDF_SCRYPT, params.log2N, params.r, params.p, salt.length), salt);
    key = scryptKey(protection.passphrase, salt, params);
  }
  const iv = randomBytes(IV_LENGTH);
  const sealed = aeadSeal('aes-256-gcm', key, iv, toBinary(KeysetSchema, keyset), header);
  return create(EncryptedKeysetSchema, { encryptedKeyset: concatBytes(header, iv, sealed), keysetInfo: keysetInfo(keyset) });
}

/** True when `envelope` starts with our magic (an `EncryptedKeyset.encrypted_keyset` we wrote). */
export function isKeysetEnvelope(envelope: Uint8Array): boolean {
  return envelope.length >= 4 && MAGIC.every((b, i) => envelope[i] === b);
}

/** Decrypts; a wrong passphrase or key, or any alteration, is `KEYSET_DECRYPTION_FAILED`. */
export function decryptKeyset(encrypted: EncryptedKeyset, protection: KeysetProtection): Keyset {
  const env = encrypted.encryptedKeyset;
  if (!isKeysetEnvelope(env) || env.length < 6) throw new CryptoError('KEYSET_MALFORMED', 'not a halo-keys encrypted keyset');
  if (env[4] !== VERSION) throw new CryptoError('KEYSET_MALFORMED', `unknown encrypted keyset version ${env[4]}`);
  const kdf = env[5];
  let headerLength: number;
  let key: Uint8Array;
  if (kdf === KDF_RAW_KEY) {
    if (!('key' in protection)) throw new CryptoError('KEYSET_DECRYPTION_FAILED', 'keyset is encrypted under a key, not a passphrase');
    headerLength = 6;
    key = rawKey(protection.key);
  } else if (kdf === KDF_SCRYPT) {
    if (!('passphrase' in protection)) throw new CryptoError('KEYSET_DECRYPTION_FAILED', 'keyset is encrypted under a passphrase, not a key');
    if (env.length < 10) throw new CryptoError('KEYSET_MALFORMED', 'encrypted keyset header is truncated');
    const params = { log2N: env[6]!, r: env[7]!, p: env[8]! };
    checkScrypt(params);
    const saltLength = env[9]!;
    headerLength = 10 + saltLength;
    if (saltLength < 8 || env.length < headerLength) throw new CryptoError('KEYSET_MALFORMED', 'encrypted keyset header is truncated');
    key = scryptKey(protection.passphrase, env.subarray(10, headerLength), params);
  } else {
    throw new CryptoError('KEYSET_MALFORMED', `unknown keyset key derivation ${kdf}`);
  }
  if (env.length < headerLength + IV_LENGTH + 16) throw new CryptoError('KEYSET_MALFORMED', 'encrypted keyset is truncated');
  let plain: Uint8Array;
  try {
    plain = aeadOpen('aes-256-gcm', key, env.subarray(headerLength, headerLength + IV_LENGTH), env.subarray(headerLength + IV_LENGTH), env.subarray(0, headerLength));
  } catch (err) {
    throw new CryptoError('KEYSET_DECRYPTION_FAILED', 'cannot decrypt the keyset: wrong passphrase or key, or the file was altered', { cause: err });
  }
  return parseKeyset(plain, { format: 'binary' });
}

/** Serializes an EncryptedKeyset (binary protobuf or Tink's JSON form). */
export function serializeEncryptedKeyset(encrypted: EncryptedKeyset, format: KeysetFormat = 'binary'): Uint8Array {
  return format === 'binary' ? toBinary(EncryptedKeysetSchema, encrypted) : new TextEncoder().encode(toJsonString(EncryptedKeysetSchema, encrypted));
}

/**
 * Reads `bytes` as one of our encrypted keysets; undefined when they are
 * something else (for example a cleartext keyset).
 */
export function parseEncryptedKeyset(bytes: Uint8Array): { encrypted: EncryptedKeyset; format: KeysetFormat } | undefined {
  const format = detectKeysetFormat(bytes);
  try {
    if (format === 'json') {
      const text = decodeUtf8(bytes, 'keyset');
      const obj: unknown = JSON.parse(text);
      if (!obj || typeof obj !== 'object' || !('encryptedKeyset' in obj)) return undefined;
      const encrypted = fromJsonString(EncryptedKeysetSchema, text, { ignoreUnknownFields: false });
      return isKeysetEnvelope(encrypted.encryptedKeyset) ? { encrypted, format } : undefined;
    }
    // A cleartext Keyset's field 2 is a Key message, which never starts with the magic.
    const encrypted = fromBinary(EncryptedKeysetSchema, bytes, { readUnknownFields: false });
    return isKeysetEnvelope(encrypted.encryptedKeyset) ? { encrypted, format } : undefined;
  } catch {
    return undefined; // not an EncryptedKeyset; the caller reports it as a keyset
  }
}
