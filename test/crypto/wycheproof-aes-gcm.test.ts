/**
 * Wycheproof AES-GCM through our AEAD wrapper (`aeadSeal`/`aeadOpen`, the
 * DEM of ECIES and HPKE). Every IV size the file has is run. The wrapper
 * takes IVs of 1..128 bytes (OpenSSL's range; Tink and HPKE use 12): an
 * empty IV is rejected as Wycheproof requires, and the valid cases with a
 * 257-byte IV are outside the API. Those are asserted to fail with a typed
 * error and counted separately, not passed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_GCM_IV_LENGTH, aeadOpen, aeadSeal, gcmCipherForKey } from '../../src/crypto/aead.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { hex, toHex } from './testdata.js';
import { loadWycheproof, report, runWycheproof } from './wycheproof.js';

describe('Wycheproof AES-GCM', () => {
  it('accepts every valid case with the expected output and rejects every invalid one', () => {
    const file = loadWycheproof('aes_gcm_test.json');
    const outsideApi: number[] = [];
    const t = runWycheproof(file, (test) => {
      const key = hex(test.key as string);
      const iv = hex(test.iv as string);
      const aad = hex(test.aad as string);
      const sealed = hex(`${test.ct as string}${test.tag as string}`);
      const cipher = gcmCipherForKey(key);
      let opened: Uint8Array;
      try {
        opened = aeadOpen(cipher, key, iv, sealed, aad);
      } catch (err) {
        assert.ok(err instanceof CryptoError && err.code === 'DECRYPTION_FAILED', `tc ${test.tcId}`);
        if (iv.length > MAX_GCM_IV_LENGTH) outsideApi.push(test.tcId);
        return false;
      }
      assert.equal(toHex(opened), test.msg, `tc ${test.tcId}: opened to the wrong plaintext`);
      // Sealing is deterministic for a given IV: it must reproduce ct ‖ tag.
      assert.equal(toHex(aeadSeal(cipher, key, iv, hex(test.msg as string), aad)), toHex(sealed), `tc ${test.tcId}`);
      return true;
    });
    report('AES-GCM', t);
    console.log(`  AES-GCM valid cases outside the API (IV > ${MAX_GCM_IV_LENGTH} bytes, rejected with a typed error): ${outsideApi.join(',')}`);
    // The only valid cases rejected are the three with a 257-byte IV.
    assert.deepEqual(t.validRejected, [268, 272, 276]);
    assert.deepEqual(outsideApi.filter((id) => t.validRejected.includes(id)), t.validRejected);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 226);
    assert.equal(t.invalidRejected, 87);
  });
});
