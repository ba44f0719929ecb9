import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { derToP1363, ecdsaFieldSize, p1363ToDer, parseDerEcdsaSignature } from '../../src/crypto/ecdsa-signature.js';
import { CryptoError } from '../../src/crypto/errors.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));
const invalid = (fn: () => unknown, why: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof CryptoError && err.code === 'SIGNATURE_INVALID' && why.test(err.message));

describe('ecdsa-signature', () => {
  it('round-trips real signatures of every curve between DER and P1363', () => {
    for (const namedCurve of ['P-256', 'P-384', 'P-521']) {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
      const size = ecdsaFieldSize(publicKey.asymmetricKeyDetails?.namedCurve)!;
      for (let i = 0; i < 20; i++) {
        const data = Buffer.from(`message ${i}`);
        const der = new Uint8Array(sign('sha256', data, privateKey));
        const raw = derToP1363(der, size);
        assert.equal(raw.length, 2 * size);
        // node's own P1363 verification agrees with our conversion, and back again gives the same DER.
        assert.ok(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw));
        assert.deepEqual(p1363ToDer(raw, size), der);
      }
    }
  });

  it('writes minimal integers: leading zeros dropped, a sign byte added for a high bit', () => {
    const raw = new Uint8Array(64);
    raw[31] = 1; // r = 1
    raw[32] = 0x80; // s = 0x80 << 248
    const der = p1363ToDer(raw, 32);
    assert.deepEqual(der.subarray(0, 5), hex('30 26 02 01 01'));
    assert.deepEqual(der.subarray(5, 8), hex('02 21 00'));
    assert.deepEqual(derToP1363(der, 32), raw);
  });

  it('uses the long length form for P-521', () => {
    const raw = new Uint8Array(132).fill(0x01);
    const der = p1363ToDer(raw, 66);
    assert.deepEqual(der.subarray(0, 3), hex('30 81 88'));
    assert.deepEqual(derToP1363(der, 66), raw);
  });

  it('rejects non-canonical and malformed DER', () => {
    const good = hex('3006 020101 020102');
    assert.deepEqual(parseDerEcdsaSignature(good, 32), { r: hex('01'), s: hex('02') });
    invalid(() => parseDerEcdsaSignature(hex('3007 02020001 020102'), 32), /non-minimal INTEGER/);
    invalid(() => parseDerEcdsaSignature(hex('3006 0201ff 020102'), 32), /negative/);
    invalid(() => parseDerEcdsaSignature(hex('3006 020100 020102'), 32), /zero/);
    invalid(() => parseDerEcdsaSignature(hex('3006 020101 020102 00'), 32), /trailing data/);
    invalid(() => parseDerEcdsaSignature(hex('3009 020101 020102 020103'), 32), /extra elements/);
    invalid(() => parseDerEcdsaSignature(hex('3006 020101 0201'), 32), /truncated/);
    invalid(() => parseDerEcdsaSignature(hex('3081 06 020101 020102'), 32), /non-minimal length/);
    invalid(() => parseDerEcdsaSignature(hex('3080 020101 020102 0000'), 32), /length/);
    invalid(() => parseDerEcdsaSignature(hex('3106 020101 020102'), 32), /not a DER SEQUENCE/);
    invalid(() => parseDerEcdsaSignature(hex('3006 040101 020102'), 32), /INTEGER/);
    invalid(() => parseDerEcdsaSignature(hex('3005 020101 0200'), 32), /empty/);
    invalid(() => parseDerEcdsaSignature(new Uint8Array(0), 32), /SEQUENCE/);
    // 33 significant bytes cannot be a P-256 scalar.
    const long = new Uint8Array([0x30, 0x26, 0x02, 0x21, ...new Array(33).fill(0x11), 0x02, 0x01, 0x01]);
    invalid(() => parseDerEcdsaSignature(long, 32), /longer than the curve order/);
    // A 0x00 sign byte before a high bit is required and allowed: 33 bytes on the wire, 32 significant.
    const padded = new Uint8Array([0x30, 0x26, 0x02, 0x21, 0x00, ...new Array(32).fill(0x91), 0x02, 0x01, 0x01]);
    assert.equal(parseDerEcdsaSignature(padded, 32).r.length, 32);
  });

  it('rejects P1363 of the wrong length and zero halves', () => {
    invalid(() => p1363ToDer(new Uint8Array(63), 32), /P1363 length/);
    invalid(() => p1363ToDer(new Uint8Array(96).fill(1), 32), /for the curve/);
    invalid(() => p1363ToDer(new Uint8Array(0)), /P1363 length/);
    invalid(() => p1363ToDer(new Uint8Array(64)), /zero/);
    invalid(() => derToP1363(hex('3006 020101 020102 00'), 32), /trailing/);
  });
});
