/**
 * Wycheproof RSA 2048 signatures (PKCS#1 v1.5 with SHA-256; RSASSA-PSS with
 * SHA-256, MGF1-SHA-256, salt 32 and salt 0) through the SignedMessage
 * verification path.
 *
 * Acceptable-case policy: strict. PKCS#1 v1.5 verification compares the
 * whole encoded DigestInfo, so a DigestInfo without the NULL parameter
 * (`MissingNull`, which RFC 8017 §8.2.2 note 2 tolerates) is rejected: one
 * signature, one accepted encoding. Our signers always write the NULL.
 */
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { CryptoError } from '../../src/crypto/errors.js';
import { SignatureAlgorithms, rsaPss, type SignatureAlgorithm } from '../../src/crypto/signature-algorithm.js';
import { verifyBytes, verifySignedMessage } from '../../src/crypto/signed-message.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';

const vectors = new URL('../../../shared/testdata/wycheproof/testvectors_v1/', import.meta.url);

interface Test {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Group {
  publicKeyDer: string;
  sha: string;
  mgfSha?: string;
  sLen?: number;
  tests: Test[];
}

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

function accepts(msg: Uint8Array, sig: Uint8Array, key: KeyObject, algorithm: SignatureAlgorithm): boolean {
  const signed = create(SignedMessageSchema, {
    message: create(AnySchema, { typeUrl: 'type.googleapis.com/wycheproof.Message', value: msg }),
    signature: sig,
    signatureAlgorithmOid: algorithm.oid,
  });
  try {
    // A bare PSS OID in a SignedMessage means salt 32; other parameters go to verifyBytes, the step beneath.
    if (algorithm.pss && algorithm.pss.saltLength !== 32) verifyBytes(msg, sig, key, algorithm);
    else verifySignedMessage(signed, key);
    return true;
  } catch (err) {
    if (err instanceof CryptoError) return false;
    throw err;
  }
}

/** Acceptable cases we decided to accept (by flag); every other acceptable case must be rejected. */
const ACCEPTED_FLAGS = new Set<string>();

function run(file: string, algorithmFor: (g: Group) => SignatureAlgorithm) {
  const suite = JSON.parse(readFileSync(new URL(file, vectors), 'utf8')) as { numberOfTests: number; testGroups: Group[] };
  const tally = { valid: 0, validAccepted: 0, invalid: 0, invalidRejected: 0, acceptable: [] as string[] };
  const failures: string[] = [];
  for (const group of suite.testGroups) {
    const algorithm = algorithmFor(group);
    const key = createPublicKey({ key: Buffer.from(group.publicKeyDer, 'hex'), format: 'der', type: 'spki' });
    for (const t of group.tests) {
      const ok = accepts(hex(t.msg), hex(t.sig), key, algorithm);
      if (t.result === 'valid') {
        tally.valid++;
        if (ok) tally.validAccepted++;
        else failures.push(`tc ${t.tcId} valid but rejected: ${t.comment}`);
      } else if (t.result === 'invalid') {
        tally.invalid++;
        if (!ok) tally.invalidRejected++;
        else failures.push(`tc ${t.tcId} invalid but accepted: ${t.comment}`);
      } else {
        tally.acceptable.push(`tc ${t.tcId} [${t.flags.join(',')}] ${ok ? 'accepted' : 'rejected'}`);
        const policy = t.flags.some((f) => ACCEPTED_FLAGS.has(f));
        if (ok !== policy) failures.push(`tc ${t.tcId} acceptable ${t.flags.join(',')}: ${ok ? 'accepted' : 'rejected'} against policy`);
      }
    }
  }
  const total = tally.valid + tally.invalid + tally.acceptable.length;
  console.log(
    `${file}: ${total}/${suite.numberOfTests} tests; valid accepted ${tally.validAccepted}/${tally.valid}; ` +
      `invalid rejected ${tally.invalidRejected}/${tally.invalid}; acceptable ${tally.acceptable.length}` +
      (tally.acceptable.length ? `: ${tally.acceptable.join('; ')}` : ''),
  );
  assert.equal(total, suite.numberOfTests);
  assert.deepEqual(failures, []);
  assert.ok(tally.valid > 0 && tally.invalid > 0);
}

const hashName = (sha: string | undefined) => {
  assert.ok(sha === 'SHA-256' || sha === 'SHA-384' || sha === 'SHA-512', `hash ${sha}`);
  return sha.replace('SHA-', 'sha') as 'sha256' | 'sha384' | 'sha512';
};

describe('Wycheproof RSA 2048', () => {
  it('PKCS#1 v1.5 SHA-256: every valid accepted, every invalid rejected, MissingNull rejected', () => {
    run('rsa_signature_2048_sha256_test.json', (g) => {
      assert.equal(g.sha, 'SHA-256');
      return SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION;
    });
  });

  for (const file of ['rsa_pss_2048_sha256_mgf1_32_test.json', 'rsa_pss_2048_sha256_mgf1_0_test.json']) {
    it(`RSASSA-PSS ${file}: every valid accepted, every invalid rejected`, () => {
      run(file, (g) => rsaPss({ hash: hashName(g.sha), mgf1Hash: hashName(g.mgfSha), saltLength: g.sLen! }));
    });
  }
});
