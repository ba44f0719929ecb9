/**
 * Wycheproof ECDSA P-256/SHA-256, DER and IEEE P1363, run through the
 * SignedMessage verification path (the signed bytes packed in an Any).
 * Neither file has `acceptable` cases; the report below would list any.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import { p1363ToDer } from '../../src/crypto/ecdsa-signature.js';
import { SignatureAlgorithms } from '../../src/crypto/signature-algorithm.js';
import { hex } from './testdata.js';
import { loadWycheproof, report, runWycheproof } from './wycheproof.js';
import { groupPublicKey, signedMessageAccepts } from './wycheproof-signatures.js';

function run(file: string, toDer: (sig: Uint8Array) => Uint8Array) {
  const suite = loadWycheproof(file);
  const t = runWycheproof(suite, (test, group) => {
    assert.equal(group.sha, 'SHA-256');
    let der: Uint8Array;
    try {
      der = toDer(hex(test.sig as string));
    } catch (err) {
      if (!(err instanceof CryptoError)) throw err;
      return false; // the encoding conversion itself rejected it
    }
    return signedMessageAccepts(hex(test.msg as string), der, groupPublicKey(group), SignatureAlgorithms.ECDSA_WITH_SHA256);
  });
  report(file, t);
  assert.equal(t.total, suite.numberOfTests);
  assert.deepEqual(t.validRejected, []);
  assert.deepEqual(t.invalidAccepted, []);
  assert.ok(t.validAccepted > 100 && t.invalidRejected > 50);
}

describe('Wycheproof ECDSA P-256/SHA-256', () => {
  it('DER signatures: every valid accepted, every invalid rejected', () => {
    run('ecdsa_secp256r1_sha256_test.json', (sig) => sig);
  });

  it('P1363 signatures, converted to DER by p1363ToDer: every valid accepted, every invalid rejected', () => {
    run('ecdsa_secp256r1_sha256_p1363_test.json', (sig) => p1363ToDer(sig, 32));
  });
});
