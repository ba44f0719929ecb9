/**
 * RequisitionSpec nonces (cmms-reference §1.8): a random fixed64 per
 * DataProvider, and the MeasurementSpec lists SHA-256 of each as 8
 * big-endian bytes (`nonce_hash`).
 */
import { createHash, randomBytes } from 'node:crypto';

export function nonceHash(nonce: bigint): Uint8Array {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt.asUintN(64, nonce));
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** A random non-zero fixed64 nonce. */
export function randomNonce(): bigint {
  for (;;) {
    const n = randomBytes(8).readBigUInt64BE(0);
    if (n !== 0n) return n;
  }
}
