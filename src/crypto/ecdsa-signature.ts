/**
 * ECDSA signature encodings. CMMS (JCA/Conscrypt) writes ECDSA signatures as
 * DER `SEQUENCE { INTEGER r, INTEGER s }`; WebCrypto and JOSE use IEEE P1363
 * `r ‖ s` with each half fixed at the field size. Both directions are strict:
 * a signature that is not the one canonical encoding is rejected, so one
 * signature value never has two accepted byte forms (malleability).
 */
import { CryptoError } from './errors.js';

/** The field size (bytes per half of a P1363 signature) for a node curve name, or undefined. */
export function ecdsaFieldSize(namedCurve: string | undefined): number | undefined {
  switch (namedCurve) {
    case 'prime256v1':
    case 'P-256':
      return 32;
    case 'secp384r1':
    case 'P-384':
      return 48;
    case 'secp521r1':
    case 'P-521':
      return 66;
    default:
      return undefined;
  }
}

function invalid(why: string): CryptoError {
  return new CryptoError('SIGNATURE_INVALID', `ECDSA signature ${why}`);
}

/**
 * Reads one DER length at `offset` of `sig`. Only the short form and the
 * one-byte long form can occur: r and s are at most 66 bytes each.
 */
function readLength(sig: Uint8Array, offset: number): { length: number; next: number } {
  const first = sig[offset];
  if (first === undefined) throw invalid('is truncated');
  if (first < 0x80) return { length: first, next: offset + 1 };
  if (first !== 0x81) throw invalid('has an unsupported or non-DER length');
  const length = sig[offset + 1];
  if (length === undefined) throw invalid('is truncated');
  if (length < 0x80) throw invalid('has a non-minimal length');
  return { length, next: offset + 2 };
}

/** Reads one positive, minimally encoded INTEGER; returns its magnitude (no sign byte). */
function readPositiveInteger(sig: Uint8Array, offset: number, maxBytes: number): { magnitude: Uint8Array; next: number } {
  if (sig[offset] !== 0x02) throw invalid('is not SEQUENCE { INTEGER, INTEGER }');
  const { length, next: start } = readLength(sig, offset + 1);
  const end = start + length;
  if (length === 0) throw invalid('has an empty INTEGER');
  if (end > sig.length) throw invalid('is truncated');
  const b0 = sig[start]!;
  if (b0 & 0x80) throw invalid('has a negative INTEGER');
  let from = start;
  if (b0 === 0) {
    if (length === 1) throw invalid('has a zero INTEGER');
    if (!(sig[start + 1]! & 0x80)) throw invalid('has a non-minimal INTEGER');
    from = start + 1;
  }
  if (end - from > maxBytes) throw invalid('has an INTEGER longer than the curve order');
  return { magnitude: sig.subarray(from, end), next: end };
}

/**
 * Checks that `der` is a canonical DER ECDSA signature for a curve whose
 * field is `fieldSize` bytes, and returns r and s (magnitudes, no padding).
 * Range checks against the group order are left to the verifier.
 */
export function parseDerEcdsaSignature(der: Uint8Array, fieldSize: number): { r: Uint8Array; s: Uint8Array } {
  if (der[0] !== 0x30) throw invalid('is not a DER SEQUENCE');
  const { length, next } = readLength(der, 1);
  if (next + length !== der.length) throw invalid(next + length > der.length ? 'is truncated' : 'has trailing data');
  const r = readPositiveInteger(der, next, fieldSize);
  const s = readPositiveInteger(der, r.next, fieldSize);
  if (s.next !== der.length) throw invalid('has extra elements');
  return { r: r.magnitude, s: s.magnitude };
}

/** DER → IEEE P1363 (`r ‖ s`, each left-padded to `fieldSize`). */
export function derToP1363(der: Uint8Array, fieldSize: number): Uint8Array {
  const { r, s } = parseDerEcdsaSignature(der, fieldSize);
  const out = new Uint8Array(2 * fieldSize);
  out.set(r, fieldSize - r.length);
  out.set(s, 2 * fieldSize - s.length);
  return out;
}

/** One INTEGER's content octets: leading zeros dropped, a 0x00 added when the high bit is set. */
function integerContents(magnitude: Uint8Array): Uint8Array {
  let i = 0;
  while (i < magnitude.length && magnitude[i] === 0) i++;
  const trimmed = magnitude.subarray(i);
  if (trimmed.length === 0) throw invalid('has a zero r or s');
  if (trimmed[0]! & 0x80) {
    const out = new Uint8Array(trimmed.length + 1);
    out.set(trimmed, 1);
    return out;
  }
  return trimmed;
}

function pushLength(out: number[], n: number): void {
  if (n < 0x80) out.push(n);
  else out.push(0x81, n);
}

/**
 * IEEE P1363 → canonical DER. `fieldSize`, when given, must match exactly:
 * P1363 halves have a fixed width, and any other length is invalid.
 */
export function p1363ToDer(raw: Uint8Array, fieldSize?: number): Uint8Array {
  const half = raw.length / 2;
  if (raw.length === 0 || !Number.isInteger(half) || half > 66) throw invalid('has a bad P1363 length');
  if (fieldSize !== undefined && half !== fieldSize) throw invalid('has a bad P1363 length for the curve');
  const r = integerContents(raw.subarray(0, half));
  const s = integerContents(raw.subarray(half));
  const body: number[] = [0x02];
  pushLength(body, r.length);
  body.push(...r, 0x02);
  pushLength(body, s.length);
  body.push(...s);
  const out: number[] = [0x30];
  pushLength(out, body.length);
  out.push(...body);
  return Uint8Array.from(out);
}
