/**
 * The AEADs hybrid encryption uses as its data-encapsulation step: AES-GCM
 * (Tink's DEM and HPKE), ChaCha20-Poly1305 (HPKE) and Tink's AES-CTR-HMAC.
 * Every authentication failure is `DECRYPTION_FAILED`; no plaintext is
 * returned unless the tag verified.
 */
import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import { CryptoError } from './errors.js';
import { hmac, type HashName } from './hkdf.js';

const TAG_LENGTH = 16;

export type AeadCipher = 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm' | 'chacha20-poly1305';

export function gcmCipherForKey(key: Uint8Array): AeadCipher {
  switch (key.length) {
    case 16:
      return 'aes-128-gcm';
    case 24:
      return 'aes-192-gcm';
    case 32:
      return 'aes-256-gcm';
    default:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', `AES-GCM key of ${key.length} bytes`);
  }
}

/** Longest GCM IV accepted; OpenSSL refuses longer ones (Tink and HPKE use 12 bytes). */
export const MAX_GCM_IV_LENGTH = 128;

function checkNonce(cipher: AeadCipher, nonce: Uint8Array): void {
  // GCM takes IVs of 1..128 bytes; ChaCha20-Poly1305 exactly 12 bytes.
  if (nonce.length === 0 || nonce.length > MAX_GCM_IV_LENGTH || (cipher === 'chacha20-poly1305' && nonce.length !== 12)) {
    throw new CryptoError('DECRYPTION_FAILED', `invalid ${cipher} nonce length ${nonce.length}`);
  }
}

/** Returns ciphertext ‖ 16-byte tag. */
export function aeadSeal(cipher: AeadCipher, key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkNonce(cipher, nonce);
  // GCM and ChaCha20-Poly1305 default to 16-byte tags; the options object costs a little per call.
  const c = createCipheriv(cipher as 'aes-128-gcm', key, nonce);
  if (aad && aad.length) c.setAAD(aad);
  const head = c.update(plaintext);
  const tail = c.final();
  const out = new Uint8Array(head.length + tail.length + TAG_LENGTH);
  out.set(head, 0);
  out.set(tail, head.length);
  out.set(c.getAuthTag(), head.length + tail.length);
  return out;
}

/** Opens ciphertext ‖ 16-byte tag; throws `DECRYPTION_FAILED` on any mismatch. */
export function aeadOpen(cipher: AeadCipher, key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad?: Uint8Array): Uint8Array {
  checkNonce(cipher, nonce);
  if (sealed.length < TAG_LENGTH) throw new CryptoError('DECRYPTION_FAILED', 'ciphertext is shorter than the tag');
  const body = sealed.subarray(0, sealed.length - TAG_LENGTH);
  try {
    const d = createDecipheriv(cipher as 'aes-128-gcm', key, nonce);
    d.setAuthTag(sealed.subarray(sealed.length - TAG_LENGTH));
    if (aad && aad.length) d.setAAD(aad);
    const head = d.update(body);
    const tail = d.final();
    return tail.length ? new Uint8Array(Buffer.concat([head, tail])) : new Uint8Array(head.buffer, head.byteOffset, head.length);
  } catch (err) {
    throw new CryptoError('DECRYPTION_FAILED', 'decryption failed', { cause: err });
  }
}

const GCM_IV_LENGTH = 12;

/** Tink's raw AES-GCM: IV(12, random) ‖ ciphertext ‖ tag(16), no associated data by default. */
export function aesGcmEncrypt(key: Uint8Array, plaintext: Uint8Array, aad?: Uint8Array): Uint8Array {
  const iv = randomBytes(GCM_IV_LENGTH);
  const sealed = aeadSeal(gcmCipherForKey(key), key, iv, plaintext, aad);
  const out = new Uint8Array(GCM_IV_LENGTH + sealed.length);
  out.set(iv, 0);
  out.set(sealed, GCM_IV_LENGTH);
  return out;
}

export function aesGcmDecrypt(key: Uint8Array, data: Uint8Array, aad?: Uint8Array): Uint8Array {
  if (data.length < GCM_IV_LENGTH + TAG_LENGTH) throw new CryptoError('DECRYPTION_FAILED', 'ciphertext too short');
  return aeadOpen(gcmCipherForKey(key), key, data.subarray(0, GCM_IV_LENGTH), data.subarray(GCM_IV_LENGTH), aad);
}

/** Parameters of Tink's AES-CTR-HMAC AEAD (encrypt-then-MAC). */
export interface AesCtrHmacParams {
  aesKeySize: number;
  ivSize: number;
  hmacHash: HashName;
  hmacKeySize: number;
  tagSize: number;
}

function ctrCipher(size: number): 'aes-128-ctr' | 'aes-256-ctr' {
  if (size === 16) return 'aes-128-ctr';
  if (size === 32) return 'aes-256-ctr';
  throw new CryptoError('UNSUPPORTED_KEY_TYPE', `AES-CTR key of ${size} bytes`);
}

function counterBlock(iv: Uint8Array): Uint8Array {
  // Tink pads a short IV with zero bytes to form the initial counter block.
  const block = new Uint8Array(16);
  block.set(iv);
  return block;
}

function ctrHmacTag(p: AesCtrHmacParams, macKey: Uint8Array, ivAndCt: Uint8Array, aad: Uint8Array): Uint8Array {
  const bits = new Uint8Array(8);
  new DataView(bits.buffer).setBigUint64(0, BigInt(aad.length) * 8n);
  return hmac(p.hmacHash, macKey, aad, ivAndCt, bits).subarray(0, p.tagSize);
}

/** `key` is the AES key followed by the HMAC key (Tink's DEM key layout). */
export function aesCtrHmacEncrypt(p: AesCtrHmacParams, key: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  const aesKey = key.subarray(0, p.aesKeySize);
  const macKey = key.subarray(p.aesKeySize, p.aesKeySize + p.hmacKeySize);
  const iv = randomBytes(p.ivSize);
  const c = createCipheriv(ctrCipher(p.aesKeySize), aesKey, counterBlock(iv));
  const ivAndCt = new Uint8Array(Buffer.concat([iv, c.update(plaintext), c.final()]));
  const tag = ctrHmacTag(p, macKey, ivAndCt, aad);
  const out = new Uint8Array(ivAndCt.length + tag.length);
  out.set(ivAndCt, 0);
  out.set(tag, ivAndCt.length);
  return out;
}

export function aesCtrHmacDecrypt(p: AesCtrHmacParams, key: Uint8Array, data: Uint8Array, aad: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (data.length < p.ivSize + p.tagSize) throw new CryptoError('DECRYPTION_FAILED', 'ciphertext too short');
  const aesKey = key.subarray(0, p.aesKeySize);
  const macKey = key.subarray(p.aesKeySize, p.aesKeySize + p.hmacKeySize);
  const ivAndCt = data.subarray(0, data.length - p.tagSize);
  const tag = data.subarray(data.length - p.tagSize);
  if (!timingSafeEqual(ctrHmacTag(p, macKey, ivAndCt, aad), tag)) throw new CryptoError('DECRYPTION_FAILED', 'decryption failed');
  const d = createDecipheriv(ctrCipher(p.aesKeySize), aesKey, counterBlock(ivAndCt.subarray(0, p.ivSize)));
  return new Uint8Array(Buffer.concat([d.update(ivAndCt.subarray(p.ivSize)), d.final()]));
}
