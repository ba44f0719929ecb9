/**
 * HKDF (RFC 5869) and HMAC over node:crypto. `hkdf` is one OpenSSL call (the
 * hot path of ECIES); `hkdfExtract`/`hkdfExpand` exist separately because
 * HPKE's labeled KDF needs the two halves.
 */
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { CryptoError } from './errors.js';

export type HashName = 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

const HASH_LENGTHS: Record<HashName, number> = { sha1: 20, sha224: 28, sha256: 32, sha384: 48, sha512: 64 };

export function hashLength(hash: HashName): number {
  return HASH_LENGTHS[hash];
}

function checkLength(hash: HashName, length: number): void {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_LENGTHS[hash]) {
    throw new CryptoError('INPUT_TOO_LARGE', `HKDF output length ${length} is out of range for ${hash}`);
  }
}

/** HKDF-Extract-then-Expand. An empty salt means HashLen zero bytes, as RFC 5869 says. */
export function hkdf(hash: HashName, ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkLength(hash, length);
  if (length === 0) return new Uint8Array(0);
  return new Uint8Array(hkdfSync(hash, ikm, salt, info, length));
}

export function hmac(hash: HashName, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const h = createHmac(hash, key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest());
}

/**
 * Constant-time check of a (possibly truncated) HMAC tag. `tagLength` is the
 * tag size the key is configured for; a tag of any other length is rejected.
 */
export function verifyHmac(hash: HashName, key: Uint8Array, data: Uint8Array, tag: Uint8Array, tagLength = HASH_LENGTHS[hash]): boolean {
  if (tagLength < 1 || tagLength > HASH_LENGTHS[hash] || tag.length !== tagLength) return false;
  const expected = hmac(hash, key, data).subarray(0, tagLength);
  return timingSafeEqual(expected, tag);
}

export function hkdfExtract(hash: HashName, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return hmac(hash, salt.length ? salt : new Uint8Array(HASH_LENGTHS[hash]), ikm);
}

export function hkdfExpand(hash: HashName, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  checkLength(hash, length);
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  for (let offset = 0, counter = 1; offset < length; counter++) {
    previous = hmac(hash, prk, previous, info, Uint8Array.of(counter));
    out.set(previous.subarray(0, Math.min(previous.length, length - offset)), offset);
    offset += previous.length;
  }
  return out;
}
