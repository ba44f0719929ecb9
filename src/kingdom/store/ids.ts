/** External ids (upstream's random int64s), API authentication keys, and their encodings. */
import { randomBytes } from 'node:crypto';

const TWO_63 = 1n << 63n;
const TWO_64 = 1n << 64n;

/**
 * A new external id as upstream's `RandomIdGenerator` makes them: random high
 * 32 bits, epoch millis in the low 32 bits, made positive. Callers retry on a
 * collision with an existing id.
 */
export function generateExternalId(now: Date, random: (n: number) => Uint8Array = randomBytes): bigint {
  for (;;) {
    const high = BigInt(Buffer.from(random(4)).readUInt32BE(0));
    let v = (high << 32n) | (BigInt(now.getTime()) & 0xffffffffn);
    if (v >= TWO_63) v = TWO_64 - v; // two's-complement abs() of the signed value
    if (v > 0n && v < TWO_63) return v;
  }
}

/**
 * Inserts a row under a fresh external id, drawing again while the id is
 * taken: `insert` runs an INSERT ... ON CONFLICT (external id) DO NOTHING and
 * returns undefined when it inserted nothing. Other unique violations raise.
 */
export async function insertWithExternalId<T>(
  now: Date,
  insert: (externalId: bigint) => Promise<T | undefined>,
): Promise<{ externalId: bigint; inserted: T }> {
  for (;;) {
    const externalId = generateExternalId(now);
    const inserted = await insert(externalId);
    if (inserted !== undefined) return { externalId, inserted };
  }
}

/** A uniformly random positive int64, for secrets such as API authentication keys. */
export function generateRandomPositiveInt64(random: (n: number) => Uint8Array = randomBytes): bigint {
  for (;;) {
    const v = Buffer.from(random(8)).readBigUInt64BE(0) & (TWO_63 - 1n);
    if (v > 0n) return v;
  }
}

/** The 8-byte big-endian form of a positive int64 (API keys are hashed over this). */
export function int64Bytes(v: bigint): Uint8Array {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, v));
  return new Uint8Array(b);
}

/**
 * The 11-character base64url "API id" of an external id, used only to name
 * resources in audit entries and error metadata the way the public API does.
 */
export function apiId(v: bigint): string {
  return Buffer.from(int64Bytes(v)).toString('base64url');
}

