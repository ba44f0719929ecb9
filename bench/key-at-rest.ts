/**
 * The cost of opening an encrypted private key (what an offline guesser pays
 * per guess): ours (PBES2 scrypt N=2^14 r=8 p=5) beside the PBKDF2-HMAC-SHA256
 * at 2,048 iterations that `KeyObject.export` writes, and PBKDF2 at 600,000.
 * Each open is of a key with its own salt, written long enough before that
 * the derived-key cache (16 entries) no longer holds it.
 */
import { generateKeyPairSync, pbkdf2Sync, randomBytes } from 'node:crypto';
import { decryptPkcs8, encryptPkcs8 } from '../src/crypto/pkcs8-encryption.js';
import { median, printFigures } from './harness.js';

const PASSPHRASE = 'correct horse battery staple';

function timeMs(fn: () => unknown, runs: number): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

export async function run(): Promise<void> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const legacy = privateKey.export({ format: 'der', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: PASSPHRASE });
  const RUNS = 9;
  // 16 more keys after the timed ones push theirs out of the cache.
  const written = Array.from({ length: RUNS + 16 }, () => encryptPkcs8(privateKey, PASSPHRASE));
  let next = 0;
  const scryptOpen = timeMs(() => decryptPkcs8(written[next++]!, PASSPHRASE), RUNS);
  const legacyOpen = timeMs(() => decryptPkcs8(new Uint8Array(legacy), PASSPHRASE), 9);
  const pbkdf2Strong = timeMs(() => pbkdf2Sync(PASSPHRASE, randomBytes(16), 600_000, 32, 'sha256'), 5);
  printFigures('key-at-rest (ms per key open, each key its own salt)', [
    { name: 'open scrypt PKCS#8', ours: scryptOpen, baseline: legacyOpen, unit: 'ms', baselineName: 'PBKDF2 2,048 (before)' },
    { name: 'open scrypt PKCS#8', ours: scryptOpen, baseline: pbkdf2Strong, unit: 'ms', baselineName: 'PBKDF2 600,000 derive' },
  ]);
}

