/** Digests of small inputs on hot paths (certificate fingerprints, key identities). */
import crypto from 'node:crypto';

type OneShotHash = (algorithm: string, data: Uint8Array, outputEncoding: 'hex') => string;

// `crypto.hash` (Node >= 20.12) skips the Hash object: several times faster for a certificate.
const oneShot = (crypto as { hash?: OneShotHash }).hash;

/** SHA-256 of `bytes`, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return oneShot ? oneShot('sha256', bytes, 'hex') : crypto.createHash('sha256').update(bytes).digest('hex');
}
