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
import { describe, it } from 'node:test';
import { SignatureAlgorithms, rsaPss, type SignatureAlgorithm } from '../../src/crypto/signature-algorithm.js';
import { verifyBytes } from '../../src/crypto/signed-message.js';
import { hex } from './testdata.js';
import { type WycheproofGroup, loadWycheproof, report, runWycheproof } from './wycheproof.js';
import { groupPublicKey, signedMessageAccepts } from './wycheproof-signatures.js';

function run(file: string, algorithmFor: (g: WycheproofGroup) => SignatureAlgorithm) {
  const suite = loadWycheproof(file);
  const t = runWycheproof(suite, (test, group) => {
    const algorithm = algorithmFor(group);
    const key = groupPublicKey(group);
    const msg = hex(test.msg as string);
    const sig = hex(test.sig as string);
    // A bare PSS OID in a SignedMessage means salt 32; other parameters go to verifyBytes, the step beneath.
    const beneath = algorithm.pss && algorithm.pss.saltLength !== 32 ? () => verifyBytes(msg, sig, key, algorithm) : undefined;
    return signedMessageAccepts(msg, sig, key, algorithm, beneath);
  });
  report(file, t);
  assert.equal(t.total, suite.numberOfTests);
  assert.deepEqual(t.validRejected, []);
  assert.deepEqual(t.invalidAccepted, []);
  assert.deepEqual(t.acceptableAccepted, [], 'strict policy: every acceptable case is rejected');
  assert.ok(t.validAccepted > 0 && t.invalidRejected > 0);
}

const hashName = (sha: unknown) => {
  assert.ok(sha === 'SHA-256' || sha === 'SHA-384' || sha === 'SHA-512', `hash ${String(sha)}`);
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
      run(file, (g) => rsaPss({ hash: hashName(g.sha), mgf1Hash: hashName(g.mgfSha), saltLength: g.sLen as number }));
    });
  }
});
