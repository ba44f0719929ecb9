/**
 * Tink `Keyset`s: reading and writing the binary (protobuf) and JSON forms,
 * structural validation, and deriving the public keyset of a private one.
 *
 * Keysets are plain protobuf-es messages. Treat them as immutable: the
 * operations in `keyset-ops.ts` return new keysets, and `hybrid.ts` caches
 * prepared keys per keyset object.
 */
import { create, fromBinary, fromJsonString, toBinary, toJsonString } from '@bufbuild/protobuf';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import {
  KeyData_KeyMaterialType,
  KeyDataSchema,
  KeysetInfoSchema,
  KeysetInfo_KeyInfoSchema,
  KeysetSchema,
  Keyset_KeySchema,
  KeyStatusType,
  OutputPrefixType,
  type KeyData,
  type Keyset,
  type KeysetInfo,
  type Keyset_Key,
} from '../gen/google/crypto/tink/tink_pb.js';
import { CryptoError } from './errors.js';
import { TYPE_URL } from './keyset-proto.js';

export type { Keyset, Keyset_Key as KeysetKey, KeyData, KeysetInfo };
export { KeyStatusType, OutputPrefixType, KeyData_KeyMaterialType as KeyMaterialType };

export type KeysetFormat = 'binary' | 'json';

/** Keysets are small; anything larger is refused before parsing. */
export const MAX_KEYSET_BYTES = 1 << 20;

const receivedBytes = new WeakMap<Keyset, Uint8Array>();

/** 'json' when the first non-blank byte is `{` (never a valid first byte of a binary Keyset). */
export function detectKeysetFormat(bytes: Uint8Array): KeysetFormat {
  let i = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) i = 3; // UTF-8 BOM
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  return bytes[i] === 0x7b ? 'json' : 'binary';
}

export interface ParseKeysetOptions {
  /** Force a format instead of detecting it. */
  format?: KeysetFormat;
  /** Size limit in bytes (default `MAX_KEYSET_BYTES`). */
  maxBytes?: number;
}

export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (err) {
    throw new CryptoError('KEYSET_MALFORMED', `${what} is not valid UTF-8`, { cause: err });
  }
}

/**
 * Parses a keyset in binary or Tink JSON form (detected) and checks its
 * structure. The exact bytes of a binary keyset stay available through
 * `keysetBytes`, so a signed public keyset is never re-serialized.
 */
export function parseKeyset(bytes: Uint8Array, options: ParseKeysetOptions = {}): Keyset {
  const max = options.maxBytes ?? MAX_KEYSET_BYTES;
  if (bytes.length > max) throw new CryptoError('INPUT_TOO_LARGE', `keyset of ${bytes.length} bytes exceeds the ${max}-byte limit`);
  if (bytes.length === 0) throw new CryptoError('KEYSET_MALFORMED', 'keyset is empty');
  const format = options.format ?? detectKeysetFormat(bytes);
  let keyset: Keyset;
  try {
    keyset =
      format === 'json'
        ? fromJsonString(KeysetSchema, decodeUtf8(bytes, 'keyset'), { ignoreUnknownFields: false })
        : fromBinary(KeysetSchema, bytes, { readUnknownFields: false });
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('KEYSET_MALFORMED', `not a Tink keyset (${format})`, { cause: err });
  }
  validateKeyset(keyset, { requirePrimary: false });
  if (format === 'binary') receivedBytes.set(keyset, Uint8Array.from(bytes));
  return keyset;
}

/** The binary form: the bytes as received when the keyset was parsed from binary, else a fresh encoding. */
export function keysetBytes(keyset: Keyset): Uint8Array {
  return receivedBytes.get(keyset) ?? toBinary(KeysetSchema, keyset);
}

/** Encodes a keyset. JSON is Tink's: camelCase fields, enum names, key values in base64. */
export function serializeKeyset(keyset: Keyset, format: KeysetFormat = 'binary'): Uint8Array {
  if (format === 'binary') return toBinary(KeysetSchema, keyset);
  return new TextEncoder().encode(keysetToJson(keyset));
}

export function keysetToJson(keyset: Keyset): string {
  return toJsonString(KeysetSchema, keyset);
}

export interface ValidateOptions {
  /** Require an ENABLED primary key even for a public keyset (needed to encrypt). Default true. */
  requirePrimary?: boolean;
}

/** Checks Tink's keyset rules (and unique key ids); throws `KEYSET_INVALID`. */
export function validateKeyset(keyset: Keyset, options: ValidateOptions = {}): void {
  if (keyset.key.length === 0) throw new CryptoError('KEYSET_INVALID', 'keyset has no keys');
  const ids = new Set<number>();
  let primary: Keyset_Key | undefined;
  let allPublic = true;
  for (const key of keyset.key) {
    if (ids.has(key.keyId)) throw new CryptoError('KEYSET_INVALID', `duplicate key id ${key.keyId}`);
    ids.add(key.keyId);
    if (!(key.status in KeyStatusType) || key.status === KeyStatusType.UNKNOWN_STATUS) {
      throw new CryptoError('KEYSET_INVALID', `key ${key.keyId} has an unknown status`);
    }
    if (!(key.outputPrefixType in OutputPrefixType) || key.outputPrefixType === OutputPrefixType.UNKNOWN_PREFIX) {
      throw new CryptoError('KEYSET_INVALID', `key ${key.keyId} has an unknown output prefix type`);
    }
    if (key.status !== KeyStatusType.DESTROYED) {
      if (!key.keyData || !key.keyData.typeUrl) throw new CryptoError('KEYSET_INVALID', `key ${key.keyId} has no key data`);
      if (key.keyData.keyMaterialType !== KeyData_KeyMaterialType.ASYMMETRIC_PUBLIC) allPublic = false;
    }
    if (key.keyId === keyset.primaryKeyId) primary = key;
  }
  if (primary) {
    if (primary.status !== KeyStatusType.ENABLED) throw new CryptoError('KEYSET_INVALID', `primary key ${primary.keyId} is not ENABLED`);
  } else if (options.requirePrimary !== false || !allPublic) {
    throw new CryptoError('KEYSET_INVALID', 'keyset has no primary key');
  }
}

/** The primary key, which must exist and be ENABLED. */
export function primaryKey(keyset: Keyset): Keyset_Key {
  const key = keyset.key.find((k) => k.keyId === keyset.primaryKeyId);
  if (!key) throw new CryptoError('KEYSET_INVALID', 'keyset has no primary key');
  if (key.status !== KeyStatusType.ENABLED) throw new CryptoError('KEYSET_INVALID', `primary key ${key.keyId} is not ENABLED`);
  return key;
}

/** True when some key carries secret (private or symmetric) material. */
export function hasSecretMaterial(keyset: Keyset): boolean {
  return keyset.key.some(
    (k) => k.keyData !== undefined && k.keyData.value.length > 0 && k.keyData.keyMaterialType !== KeyData_KeyMaterialType.ASYMMETRIC_PUBLIC,
  );
}

/** Throws `KEYSET_HAS_SECRET` unless the keyset is public-only (what an EncryptionPublicKey must carry). */
export function assertPublicKeyset(keyset: Keyset): void {
  if (hasSecretMaterial(keyset)) throw new CryptoError('KEYSET_HAS_SECRET', 'keyset contains secret key material; a public keyset is expected');
}

const PUBLIC_TYPE_URL: Record<string, string> = {
  [TYPE_URL.eciesPrivate]: TYPE_URL.eciesPublic,
  [TYPE_URL.hpkePrivate]: TYPE_URL.hpkePublic,
};

/**
 * Field 2 (`public_key`) of a serialized private key proto, byte for byte, so
 * the public keyset carries exactly the encoding the private key holds.
 */
function publicKeyField(value: Uint8Array): Uint8Array {
  try {
    const reader = new BinaryReader(value);
    let found: Uint8Array | undefined;
    while (reader.pos < reader.len) {
      const [fieldNo, wireType] = reader.tag();
      if (fieldNo === 2 && wireType === WireType.LengthDelimited) found = reader.bytes();
      else reader.skip(wireType, fieldNo);
    }
    if (found) return Uint8Array.from(found);
  } catch (err) {
    throw new CryptoError('KEYSET_MALFORMED', 'private key is not a valid protobuf message', { cause: err });
  }
  throw new CryptoError('KEYSET_INVALID', 'private key has no public key');
}

/** The public KeyData of a private KeyData (ECIES and HPKE keys). */
export function publicKeyData(keyData: KeyData): KeyData {
  if (keyData.keyMaterialType === KeyData_KeyMaterialType.ASYMMETRIC_PUBLIC) return keyData;
  const typeUrl = PUBLIC_TYPE_URL[keyData.typeUrl];
  if (!typeUrl) throw new CryptoError('UNSUPPORTED_KEY_TYPE', `no public key for key type ${keyData.typeUrl}`);
  if (keyData.keyMaterialType !== KeyData_KeyMaterialType.ASYMMETRIC_PRIVATE) {
    throw new CryptoError('KEYSET_INVALID', `key of type ${keyData.typeUrl} is not marked ASYMMETRIC_PRIVATE`);
  }
  return create(KeyDataSchema, {
    typeUrl,
    value: publicKeyField(keyData.value),
    keyMaterialType: KeyData_KeyMaterialType.ASYMMETRIC_PUBLIC,
  });
}

/** The public keyset of a private one: same ids, statuses, prefixes and primary. */
export function publicKeyset(keyset: Keyset): Keyset {
  validateKeyset(keyset, { requirePrimary: false });
  return create(KeysetSchema, {
    primaryKeyId: keyset.primaryKeyId,
    key: keyset.key.map((k) =>
      create(Keyset_KeySchema, {
        keyId: k.keyId,
        status: k.status,
        outputPrefixType: k.outputPrefixType,
        keyData: k.status === KeyStatusType.DESTROYED || !k.keyData ? undefined : publicKeyData(k.keyData),
      }),
    ),
  });
}

/** Tink's KeysetInfo: ids, statuses, prefixes and type URLs, no key material. */
export function keysetInfo(keyset: Keyset): KeysetInfo {
  return create(KeysetInfoSchema, {
    primaryKeyId: keyset.primaryKeyId,
    keyInfo: keyset.key.map((k) =>
      create(KeysetInfo_KeyInfoSchema, {
        typeUrl: k.keyData?.typeUrl ?? '',
        status: k.status,
        keyId: k.keyId,
        outputPrefixType: k.outputPrefixType,
      }),
    ),
  });
}

/** The 0/5-byte output prefix Tink puts in front of a ciphertext. */
export function outputPrefix(key: Pick<Keyset_Key, 'keyId' | 'outputPrefixType'>): Uint8Array {
  switch (key.outputPrefixType) {
    case OutputPrefixType.RAW:
      return new Uint8Array(0);
    case OutputPrefixType.TINK:
    case OutputPrefixType.LEGACY:
    case OutputPrefixType.CRUNCHY: {
      const out = new Uint8Array(5);
      out[0] = key.outputPrefixType === OutputPrefixType.TINK ? 1 : 0;
      new DataView(out.buffer).setUint32(1, key.keyId);
      return out;
    }
    default:
      throw new CryptoError('KEYSET_INVALID', `key ${key.keyId} has an unknown output prefix type`);
  }
}
