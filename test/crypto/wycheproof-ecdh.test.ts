/**
 * Wycheproof ECDH P-256 in all three encodings the suite gives (DER SPKI, raw
 * X9.62 point, JWK), through our `ecdhSharedSecret` (the ECDH step of ECIES).
 *
 * Policy for `acceptable` cases: a compressed peer point is accepted (Tink's
 * COMPRESSED format needs it). SPKI input is read with our strict DER reader
 * and must name the curve by OID (id-ecPublicKey + prime256v1): explicit
 * curve parameters and non-DER encodings are rejected, whatever OpenSSL
 * would make of them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ecdhSharedSecret } from '../../src/crypto/ecies.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { parse, readBitString, readOid, sequence } from '../../src/lib/der.js';
import { hex, toHex } from './testdata.js';
import { loadWycheproof, report, runWycheproof, type WycheproofTest } from './wycheproof.js';

function shared(test: WycheproofTest, peerPoint: () => Uint8Array, privateKey: Uint8Array): boolean {
  let point: Uint8Array;
  try {
    point = peerPoint();
  } catch {
    return false; // the public key encoding itself was rejected
  }
  let out: Uint8Array;
  try {
    out = ecdhSharedSecret('P-256', privateKey, point);
  } catch (err) {
    assert.ok(err instanceof CryptoError && err.code === 'KEY_MALFORMED', `tc ${test.tcId}: untyped error ${String(err)}`);
    return false;
  }
  if (test.result === 'valid') assert.equal(toHex(out), test.shared, `tc ${test.tcId}`);
  return toHex(out) === test.shared;
}

function b64url(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

/** SubjectPublicKeyInfo { { id-ecPublicKey, prime256v1 }, BIT STRING point }, strictly. */
function pointFromSpki(spki: Uint8Array): Uint8Array {
  const [algorithm, key, ...rest] = sequence(parse(spki), 'SubjectPublicKeyInfo');
  const [oid, curve, ...more] = sequence(algorithm, 'AlgorithmIdentifier');
  if (rest.length || more.length) throw new Error('extra fields');
  if (readOid(oid) !== '1.2.840.10045.2.1' || readOid(curve) !== '1.2.840.10045.3.1.7') throw new Error('not a named P-256 key');
  const { bytes, unusedBits } = readBitString(key);
  if (unusedBits !== 0) throw new Error('unused bits in the point');
  return bytes;
}

describe('Wycheproof ECDH P-256', () => {
  it('raw X9.62 points (ecdh_secp256r1_ecpoint_test.json)', () => {
    const file = loadWycheproof('ecdh_secp256r1_ecpoint_test.json');
    const t = runWycheproof(file, (test) => shared(test, () => hex(test.public as string), hex(test.private as string)));
    report('ECDH P-256 ecpoint', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 330);
    assert.equal(t.invalidRejected, 24);
    assert.equal(t.acceptableAccepted.length + t.acceptableRejected.length, 1);
    assert.equal(t.acceptableAccepted.length, 1, 'compressed points are accepted by policy');
  });

  it('DER SPKI public keys (ecdh_secp256r1_test.json)', () => {
    const file = loadWycheproof('ecdh_secp256r1_test.json');
    const t = runWycheproof(file, (test) => shared(test, () => pointFromSpki(hex(test.public as string)), hex(test.private as string)));
    report('ECDH P-256 SPKI', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 330);
    assert.equal(t.invalidRejected, 52);
    assert.equal(t.acceptableAccepted.length + t.acceptableRejected.length, 230);
    assert.deepEqual(t.acceptableAccepted, [2], 'only the compressed point is accepted; explicit curves and BER are rejected');
  });

  it('JWK keys (ecdh_secp256r1_webcrypto_test.json)', () => {
    const file = loadWycheproof('ecdh_secp256r1_webcrypto_test.json');
    const t = runWycheproof(file, (test) => {
      const pub = test.public as { crv: string; x: string; y: string };
      const priv = test.private as { crv: string; d: string };
      return shared(
        test,
        () => {
          if (pub.crv !== 'P-256' || priv.crv !== 'P-256') throw new Error('wrong curve');
          const x = b64url(pub.x);
          const y = b64url(pub.y);
          if (x.length !== 32 || y.length !== 32) throw new Error('bad coordinate length');
          return Uint8Array.from([4, ...x, ...y]);
        },
        b64url(priv.d),
      );
    });
    report('ECDH P-256 JWK', t);
    assert.deepEqual(t.validRejected, []);
    assert.deepEqual(t.invalidAccepted, []);
    assert.equal(t.validAccepted, 330);
    assert.equal(t.invalidRejected, 23);
  });
});
