/**
 * scrypt (RFC 7914) key derivation shared by everything we encrypt under a
 * passphrase: keysets (keyset-encryption.ts) and PKCS#8 private keys
 * (pkcs8-encryption.ts).
 */
import { createHmac, randomBytes, scryptSync } from 'node:crypto';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  log2N: number;
  r: number;
  p: number;
}

/** Memory one scrypt run takes, as OpenSSL counts it (V plus B). */
export function scryptMemory(params: ScryptParams): number {
  return 128 * params.r * (2 ** params.log2N + 2) + 128 * params.r * params.p;
}

// Keys derived in this process, so reading and rewriting files under one
// passphrase and salt costs one scrypt run, not one per call. Entries are
// named by an HMAC under a per-process random key: no passphrase is kept.
const CACHE_NAME_KEY = randomBytes(32);
const MAX_CACHED_KEYS = 16;
const derivedKeys = new Map<string, Uint8Array>();

function passphraseBytes(p: string | Uint8Array): Uint8Array {
  return typeof p === 'string' ? new TextEncoder().encode(p) : p;
}

/**
 * scrypt(passphrase, salt) to `length` bytes. Throws what `scryptSync` throws
 * for parameters it refuses; callers check their own bounds first.
 */
export function deriveScryptKey(passphrase: string | Uint8Array, salt: Uint8Array, params: ScryptParams, length = 32): Uint8Array {
  const secret = passphraseBytes(passphrase);
  const secretLength = Buffer.alloc(4);
  secretLength.writeUInt32BE(secret.length);
  const name = createHmac('sha256', CACHE_NAME_KEY)
    .update(Uint8Array.of(params.log2N, params.r, params.p, salt.length, length))
    .update(salt)
    .update(secretLength)
    .update(secret)
    .digest('hex');
  const cached = derivedKeys.get(name);
  if (cached) return cached;
  const N = 2 ** params.log2N;
  const key = new Uint8Array(scryptSync(secret, salt, length, { N, r: params.r, p: params.p, maxmem: scryptMemory(params) + (1 << 20) }));
  if (derivedKeys.size >= MAX_CACHED_KEYS) derivedKeys.delete(derivedKeys.keys().next().value!);
  derivedKeys.set(name, key);
  return key;
}
