/**
 * Wycheproof X25519 through `x25519SharedSecret` (the DH of HPKE's
 * DHKEM(X25519)). Policy for `acceptable` cases: any public key is accepted
 * as RFC 7748 defines the function for all 32-byte strings, except that an
 * all-zero shared secret (low-order public key) is rejected as RFC 9180
 * requires. The decisions are printed per flag.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import { x25519SharedSecret } from '../../src/crypto/hpke.js';
import { hex, toHex } from './testdata.js';
import { loadWycheproof, report, runWycheproof } from './wycheproof.js';

describe('Wycheproof X25519', () => {
  it('computes every valid case; rejects exactly the all-zero shared secrets', () => {
    const file = loadWycheproof('x25519_test.json');
    let zeroRejected = 0;
    const t = runWycheproof(file, (test) => {
      let out: Uint8Array;
      try {
        out = x25519SharedSecret(hex(test.private as string), hex(test.public as string));
      } catch (err) {
        assert.ok(err instanceof CryptoError && err.code === 'KEY_MALFORMED', `tc ${test.tcId}`);
        assert.match(test.shared as string, /^(00)+$/, `tc ${test.tcId}: rejected a non-zero shared secret`);
        zeroRejected++;
        return false;
      }
      assert.equal(toHex(out), test.shared, `tc ${test.tcId}`);
      return true;
    });
    report('X25519', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 264);
    assert.equal(t.acceptableRejected.length, zeroRejected);
    assert.equal(t.acceptableByFlag.get('ZeroSharedSecret')?.rejected, 31);
    assert.equal(t.acceptableAccepted.length + t.acceptableRejected.length, 254);
  });
});
