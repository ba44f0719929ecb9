/**
 * Tink hybrid encryption over a keyset: `encrypt` uses the primary key and
 * writes Tink's output prefix; `decrypt` picks keys by the 5-byte prefix
 * (TINK 0x01 / LEGACY and CRUNCHY 0x00, then the key id) and also tries
 * every RAW key, as Tink does. Prepared keys are cached per keyset object.
 */
import { KeyData_KeyMaterialType, KeyStatusType, type Keyset, type KeyData } from '../gen/google/crypto/tink/tink_pb.js';
import { EciesPrivateKey, EciesPublicKey } from './ecies.js';
import { CryptoError } from './errors.js';
import { HpkePrivateKey, HpkePublicKey } from './hpke.js';
import { TYPE_URL } from './keyset-proto.js';
import { outputPrefix, primaryKey, publicKeyData, validateKeyset } from './keyset.js';

/** Largest plaintext or ciphertext accepted by default (256 MiB). */
export const MAX_HYBRID_BYTES = 256 * 1024 * 1024;

export interface HybridOptions {
  /** Size limit for the input, in bytes (default `MAX_HYBRID_BYTES`). */
  maxBytes?: number;
}

interface Encrypter {
  encrypt(plaintext: Uint8Array, contextInfo: Uint8Array): Uint8Array;
}

interface Decrypter {
  decrypt(ciphertext: Uint8Array, contextInfo: Uint8Array): Uint8Array;
}

const EMPTY = new Uint8Array(0);

function prepareEncrypter(keyData: KeyData): Encrypter {
  const pub = publicKeyData(keyData);
  switch (pub.typeUrl) {
    case TYPE_URL.eciesPublic:
      return EciesPublicKey.fromBytes(pub.value);
    case TYPE_URL.hpkePublic:
      return HpkePublicKey.fromBytes(pub.value);
    default:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', `unsupported hybrid key type ${pub.typeUrl}`);
  }
}

function prepareDecrypter(keyData: KeyData): Decrypter {
  switch (keyData.typeUrl) {
    case TYPE_URL.eciesPrivate:
      return EciesPrivateKey.fromBytes(keyData.value);
    case TYPE_URL.hpkePrivate:
      return HpkePrivateKey.fromBytes(keyData.value);
    default:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', `unsupported hybrid key type ${keyData.typeUrl}`);
  }
}

interface PreparedEncrypt {
  prefix: Uint8Array;
  key: Encrypter;
}

interface PreparedDecrypt {
  byPrefix: Map<number, Decrypter[]>;
  raw: Decrypter[];
}

const encryptCache = new WeakMap<Keyset, PreparedEncrypt>();
const decryptCache = new WeakMap<Keyset, PreparedDecrypt>();

function prefixKey(prefix: Uint8Array): number {
  return prefix[0]! * 2 ** 32 + new DataView(prefix.buffer, prefix.byteOffset, 5).getUint32(1);
}

function prepareEncrypt(keyset: Keyset): PreparedEncrypt {
  let prepared = encryptCache.get(keyset);
  if (!prepared) {
    validateKeyset(keyset);
    const primary = primaryKey(keyset);
    prepared = { prefix: outputPrefix(primary), key: prepareEncrypter(primary.keyData!) };
    encryptCache.set(keyset, prepared);
  }
  return prepared;
}

function prepareDecrypt(keyset: Keyset): PreparedDecrypt {
  let prepared = decryptCache.get(keyset);
  if (!prepared) {
    validateKeyset(keyset, { requirePrimary: false });
    prepared = { byPrefix: new Map(), raw: [] };
    for (const key of keyset.key) {
      if (key.status !== KeyStatusType.ENABLED || !key.keyData) continue;
      if (key.keyData.keyMaterialType !== KeyData_KeyMaterialType.ASYMMETRIC_PRIVATE) {
        throw new CryptoError('KEYSET_INVALID', 'decryption needs a private keyset');
      }
      const decrypter = prepareDecrypter(key.keyData);
      const prefix = outputPrefix(key);
      if (prefix.length === 0) prepared.raw.push(decrypter);
      else {
        const k = prefixKey(prefix);
        const list = prepared.byPrefix.get(k);
        if (list) list.push(decrypter);
        else prepared.byPrefix.set(k, [decrypter]);
      }
    }
    decryptCache.set(keyset, prepared);
  }
  return prepared;
}

function checkSize(input: Uint8Array, options: HybridOptions): void {
  const max = options.maxBytes ?? MAX_HYBRID_BYTES;
  if (input.length > max) throw new CryptoError('INPUT_TOO_LARGE', `input of ${input.length} bytes exceeds the ${max}-byte limit`);
}

/**
 * Encrypts to the primary key of `publicKeyset` (a private keyset works too:
 * its public part is used). Output: Tink prefix ‖ scheme ciphertext.
 */
export function encrypt(publicKeyset: Keyset, plaintext: Uint8Array, contextInfo: Uint8Array = EMPTY, options: HybridOptions = {}): Uint8Array {
  checkSize(plaintext, options);
  const { prefix, key } = prepareEncrypt(publicKeyset);
  const body = key.encrypt(plaintext, contextInfo);
  if (prefix.length === 0) return body;
  const out = new Uint8Array(prefix.length + body.length);
  out.set(prefix, 0);
  out.set(body, prefix.length);
  return out;
}

/**
 * Decrypts with the matching key of `privateKeyset`. Any failure (wrong key,
 * unknown key id, tampering, truncation, wrong context info) is
 * `DECRYPTION_FAILED`; no partial plaintext is ever returned.
 */
export function decrypt(privateKeyset: Keyset, ciphertext: Uint8Array, contextInfo: Uint8Array = EMPTY, options: HybridOptions = {}): Uint8Array {
  checkSize(ciphertext, options);
  const { byPrefix, raw } = prepareDecrypt(privateKeyset);
  if (ciphertext.length > 5) {
    const candidates = byPrefix.get(prefixKey(ciphertext));
    if (candidates) {
      const body = ciphertext.subarray(5);
      for (const key of candidates) {
        const out = tryDecrypt(key, body, contextInfo);
        if (out) return out;
      }
    }
  }
  for (const key of raw) {
    const out = tryDecrypt(key, ciphertext, contextInfo);
    if (out) return out;
  }
  throw new CryptoError('DECRYPTION_FAILED', 'decryption failed');
}

function tryDecrypt(key: Decrypter, body: Uint8Array, contextInfo: Uint8Array): Uint8Array | undefined {
  try {
    return key.decrypt(body, contextInfo);
  } catch (err) {
    if (err instanceof CryptoError && err.code !== 'DECRYPTION_FAILED') throw err;
    return undefined; // this key does not open it; try the next candidate
  }
}
