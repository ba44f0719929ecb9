import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../lib/index.js';
import { ApiError } from './errors.js';

/**
 * API IDs: every non-Duchy resource ID is a positive int64 ("external ID")
 * written as its 8 big-endian bytes in unpadded base64url, i.e. exactly 11
 * characters (e.g. `OljiQHRz-E4`).
 *
 * Decoding is stricter than upstream's Java decoder, which also accepts
 * padding and ignores non-zero trailing bits: we accept only the canonical
 * spelling, so one resource never has two names.
 */

const MAX_INT64 = (1n << 63n) - 1n;
const API_ID = /^[A-Za-z0-9_-]{10}[AEIMQUYcgkosw048]$/; // last char carries 4 bits + 2 zero bits

/** True when `id` is a valid external ID (1 ..= 2^63-1). */
export function isExternalId(id: bigint): boolean {
  return id > 0n && id <= MAX_INT64;
}

/** The 11-character API ID of `externalId`; throws INVALID_API_ID if not a positive int64. */
export function externalIdToApiId(externalId: bigint): string {
  if (typeof externalId !== 'bigint' || !isExternalId(externalId)) {
    throw new ApiError('INVALID_API_ID', 'external ID must be a positive int64');
  }
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(externalId);
  return bytes.toString('base64url');
}

/** The external ID spelt by `apiId`, or undefined when it is not a canonical API ID. */
export function parseApiId(apiId: string): bigint | undefined {
  if (typeof apiId !== 'string' || !API_ID.test(apiId)) return undefined;
  const bytes = Buffer.from(apiId, 'base64url');
  if (bytes.length !== 8) return undefined;
  const value = bytes.readBigUInt64BE();
  return isExternalId(value) ? value : undefined;
}

/** Like `parseApiId`, but throws INVALID_API_ID. */
export function apiIdToExternalId(apiId: string): bigint {
  const value = parseApiId(apiId);
  if (value === undefined) {
    throw new ApiError('INVALID_API_ID', `not an API ID: ${JSON.stringify(truncate(apiId))}`);
  }
  return value;
}

export interface ExternalIdSource {
  clock?: Clock;
  /** Returns `n` random bytes; defaults to node:crypto. */
  random?: (n: number) => Uint8Array;
}

/**
 * A new external ID shaped like upstream's RandomIdGenerator: random high 32
 * bits, the low 32 bits of the epoch milliseconds below. Upstream takes the
 * absolute value, which can yield 0 or a negative (Long.MIN_VALUE); we clear
 * the sign bit instead and draw again in the one case that gives 0.
 */
export function generateExternalId(source: ExternalIdSource = {}): bigint {
  const clock = source.clock ?? systemClock;
  const random = source.random ?? ((n: number) => randomBytes(n));
  const low = BigInt(clock.now().getTime()) & 0xffff_ffffn;
  for (;;) {
    const r = random(4);
    if (r.length !== 4) throw new RangeError('random source must return the requested length');
    const high = BigInt(((r[0]! & 0x7f) << 24) | (r[1]! << 16) | (r[2]! << 8) | r[3]!);
    const id = (high << 32n) | low;
    if (id !== 0n) return id;
  }
}

function truncate(s: unknown): string {
  const text = String(s);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}
