/** Wycheproof HKDF-SHA256 and HMAC-SHA256 (full and truncated tags) through `hkdf`, `hkdfExtract`/`hkdfExpand` and `verifyHmac`. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import { hkdf, hkdfExpand, hkdfExtract, hmac, verifyHmac } from '../../src/crypto/hkdf.js';
import { hex, toHex } from './testdata.js';
import { loadWycheproof, report, runWycheproof } from './wycheproof.js';

describe('Wycheproof HKDF-SHA256', () => {
  it('one-shot and two-step HKDF agree with every valid case; over-long outputs are rejected', () => {
    const file = loadWycheproof('hkdf_sha256_test.json');
    const t = runWycheproof(file, (test) => {
      const ikm = hex(test.ikm as string);
      const salt = hex(test.salt as string);
      const info = hex(test.info as string);
      const size = test.size as number;
      let okm: Uint8Array;
      try {
        okm = hkdf('sha256', ikm, salt, info, size);
      } catch (err) {
        assert.ok(err instanceof CryptoError && err.code === 'INPUT_TOO_LARGE', `tc ${test.tcId}`);
        assert.throws(() => hkdfExpand('sha256', hkdfExtract('sha256', salt, ikm), info, size), CryptoError);
        return false;
      }
      assert.equal(toHex(okm), test.okm, `tc ${test.tcId}`);
      assert.equal(toHex(hkdfExpand('sha256', hkdfExtract('sha256', salt, ikm), info, size)), test.okm, `tc ${test.tcId} (two-step)`);
      return true;
    });
    report('HKDF-SHA256', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 83);
    assert.equal(t.invalidRejected, 3);
  });
});

describe('Wycheproof HMAC-SHA256', () => {
  it('verifies every valid tag (full and truncated) and rejects every invalid one', () => {
    const file = loadWycheproof('hmac_sha256_test.json');
    const t = runWycheproof(file, (test, group) => {
      const key = hex(test.key as string);
      const msg = hex(test.msg as string);
      const tag = hex(test.tag as string);
      const tagLength = (group.tagSize as number) / 8;
      const ok = verifyHmac('sha256', key, msg, tag, tagLength);
      if (test.result === 'valid') assert.equal(toHex(hmac('sha256', key, msg).subarray(0, tagLength)), test.tag, `tc ${test.tcId}`);
      return ok;
    });
    report('HMAC-SHA256', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 66);
    assert.equal(t.invalidRejected, 108);
  });
});
