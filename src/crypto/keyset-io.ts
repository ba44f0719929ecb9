/**
 * Loading and saving keyset files in any of the forms we accept: binary or
 * JSON Tink keysets, and our encrypted keysets (binary or JSON). Private
 * material is written with mode 0600.
 */
import { readFileBytes, writeFileAtomic, writeSecretFile } from '../lib/index.js';
import { CryptoError } from './errors.js';
import {
  decryptKeyset,
  encryptKeyset,
  parseEncryptedKeyset,
  serializeEncryptedKeyset,
  type KeysetProtection,
} from './keyset-encryption.js';
import { MAX_KEYSET_BYTES, detectKeysetFormat, hasSecretMaterial, parseKeyset, serializeKeyset, type Keyset, type KeysetFormat, type KeysetInfo } from './keyset.js';

export interface KeysetSecrets {
  passphrase?: string | Uint8Array;
  /** A 32-byte key-encryption key. */
  key?: Uint8Array;
}

export interface LoadedKeyset {
  keyset: Keyset;
  format: KeysetFormat;
  encrypted: boolean;
  /** The file's bytes exactly as read. */
  bytes: Uint8Array;
}

function protectionOf(secrets: KeysetSecrets): KeysetProtection | undefined {
  if (secrets.key) return { key: secrets.key };
  if (secrets.passphrase !== undefined) return { passphrase: secrets.passphrase };
  return undefined;
}

/** Reads keyset bytes in any accepted form; an encrypted keyset without a secret is `KEYSET_ENCRYPTED`. */
export function readKeyset(bytes: Uint8Array, secrets: KeysetSecrets = {}): LoadedKeyset {
  if (bytes.length > MAX_KEYSET_BYTES) throw new CryptoError('INPUT_TOO_LARGE', `keyset of ${bytes.length} bytes exceeds the ${MAX_KEYSET_BYTES}-byte limit`);
  const enc = parseEncryptedKeyset(bytes);
  if (enc) {
    const protection = protectionOf(secrets);
    if (!protection) throw new CryptoError('KEYSET_ENCRYPTED', 'keyset is encrypted; give a passphrase (--passphrase-file or HALO_KEYS_PASSPHRASE)');
    return { keyset: decryptKeyset(enc.encrypted, protection), format: enc.format, encrypted: true, bytes };
  }
  return { keyset: parseKeyset(bytes), format: detectKeysetFormat(bytes), encrypted: false, bytes };
}

/** The unencrypted metadata of an encrypted keyset (ids, types, statuses), or undefined for a cleartext one. */
export function readEncryptedKeysetInfo(bytes: Uint8Array): KeysetInfo | undefined {
  return parseEncryptedKeyset(bytes)?.encrypted.keysetInfo;
}

export function loadKeyset(path: string, secrets: KeysetSecrets = {}): LoadedKeyset {
  return readKeyset(readFileBytes(path, 'keyset'), secrets);
}

export interface SaveKeysetOptions {
  format?: KeysetFormat;
  /** Encrypt the keyset at rest (passphrase or key). */
  protection?: KeysetProtection;
}

/** The bytes `saveKeyset` would write. */
export function encodeKeysetFile(keyset: Keyset, options: SaveKeysetOptions = {}): Uint8Array {
  const format = options.format ?? 'binary';
  return options.protection ? serializeEncryptedKeyset(encryptKeyset(keyset, options.protection), format) : serializeKeyset(keyset, format);
}

/** Writes a keyset atomically; mode 0600 when it holds secret material, else 0644. */
export function saveKeyset(path: string, keyset: Keyset, options: SaveKeysetOptions = {}): void {
  const bytes = encodeKeysetFile(keyset, options);
  if (options.protection || hasSecretMaterial(keyset)) writeSecretFile(path, bytes);
  else writeFileAtomic(path, bytes);
}
