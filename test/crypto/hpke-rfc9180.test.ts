/**
 * RFC 9180 Appendix A vectors (all 7 suites × 4 modes): DeriveKeyPair,
 * Encap with the given ephemeral key, Decap, the key schedule, every
 * encryption at its sequence number and every export.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import { deriveKeyPair, loadKemPrivateKey, openBase, sealBase, setupReceiver, setupSender } from '../../src/crypto/hpke.js';
import { hex, readTestdataJson, toHex } from './testdata.js';

interface Case {
  suite: string;
  mode: 0 | 1 | 2 | 3;
  mode_name: string;
  kem_id: number;
  kdf_id: number;
  aead_id: number;
  info: string;
  ikmE: string;
  ikmR: string;
  ikmS?: string;
  skEm: string;
  pkEm: string;
  skRm: string;
  pkRm: string;
  skSm?: string;
  pkSm?: string;
  psk?: string;
  psk_id?: string;
  enc: string;
  shared_secret: string;
  key: string;
  base_nonce: string;
  exporter_secret: string;
  encryptions: { seq: number; pt: string; aad: string; nonce: string; ct: string }[];
  exports: { exporter_context: string; L: number; exported_value: string }[];
}

const cases = readTestdataJson<Case[]>('hpke-rfc9180/rfc9180_appendix_a_all_suites.json');

describe('HPKE RFC 9180 Appendix A', () => {
  it('reproduces every case (X25519, P-256, P-521; AES-GCM, ChaCha20-Poly1305, export-only; all modes)', () => {
    let passed = 0;
    let sealed = 0;
    const suites = new Set<string>();
    for (const c of cases) {
      const label = `${c.suite} / ${c.mode_name}`;
      const suite = { kemId: c.kem_id, kdfId: c.kdf_id, aeadId: c.aead_id };
      const derivedR = deriveKeyPair(c.kem_id, hex(c.ikmR));
      assert.equal(toHex(derivedR.privateKey), c.skRm, label);
      assert.equal(toHex(derivedR.publicKey), c.pkRm, label);
      assert.equal(toHex(deriveKeyPair(c.kem_id, hex(c.ikmE)).publicKey), c.pkEm, label);
      const psk = c.psk ? { psk: hex(c.psk), pskId: hex(c.psk_id!) } : {};
      const sender = setupSender(suite, hex(c.pkRm), {
        mode: c.mode,
        info: hex(c.info),
        ...psk,
        ephemeralPrivateKey: loadKemPrivateKey(c.kem_id, hex(c.skEm)),
        ...(c.skSm ? { senderPrivateKey: loadKemPrivateKey(c.kem_id, hex(c.skSm)) } : {}),
      });
      assert.equal(toHex(sender.enc), c.enc, label);
      assert.equal(toHex(sender.context.sharedSecret), c.shared_secret, label);
      const receiver = setupReceiver(suite, hex(c.enc), loadKemPrivateKey(c.kem_id, hex(c.skRm)), {
        mode: c.mode,
        info: hex(c.info),
        ...psk,
        ...(c.pkSm ? { senderPublicKey: hex(c.pkSm) } : {}),
      });
      for (const ctx of [sender.context, receiver]) {
        assert.equal(toHex(ctx.key), c.key, label);
        assert.equal(toHex(ctx.baseNonce), c.base_nonce, label);
        assert.equal(toHex(ctx.exporterSecret), c.exporter_secret, label);
      }
      if (c.aead_id !== 0xffff) {
        for (const e of c.encryptions) {
          assert.equal(toHex(sender.context.nonce(e.seq)), e.nonce, `${label} seq ${e.seq}`);
          assert.equal(toHex(sender.context.seal(hex(e.pt), hex(e.aad), e.seq)), e.ct, `${label} seq ${e.seq}`);
          assert.equal(toHex(receiver.open(hex(e.ct), hex(e.aad), e.seq)), e.pt, `${label} seq ${e.seq}`);
          sealed++;
        }
      } else {
        assert.throws(() => receiver.seal(new Uint8Array(1)), (e: unknown) => e instanceof CryptoError && e.code === 'UNSUPPORTED_KEY_TYPE');
      }
      for (const x of c.exports) {
        assert.equal(toHex(receiver.export(hex(x.exporter_context), x.L)), x.exported_value, label);
      }
      suites.add(c.suite);
      passed++;
    }
    console.log(`RFC 9180 Appendix A: ${passed}/${cases.length} cases, ${sealed} encryptions, ${suites.size} suites`);
    assert.equal(passed, 28);
  });

  it('base-mode single-shot seal/open round-trips and rejects tampering', () => {
    const suite = { kemId: 0x10, kdfId: 1, aeadId: 1 };
    const r = deriveKeyPair(0x10, new Uint8Array(32).fill(1));
    const recipient = loadKemPrivateKey(0x10, r.privateKey);
    const info = hex('0102');
    const { enc, ciphertext } = sealBase(suite, r.publicKey, info, hex('aa'), hex('cafe'));
    assert.equal(toHex(openBase(suite, enc, recipient, info, hex('aa'), ciphertext)), 'cafe');
    const failed = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof CryptoError && e.code === 'DECRYPTION_FAILED');
    failed(() => openBase(suite, enc, recipient, info, hex('ab'), ciphertext));
    failed(() => openBase(suite, enc, recipient, hex('0103'), hex('aa'), ciphertext));
    const badEnc = Uint8Array.from(enc);
    badEnc[64]! ^= 1; // off the curve
    failed(() => openBase(suite, badEnc, recipient, info, hex('aa'), ciphertext));
    failed(() => openBase(suite, enc.subarray(0, 33), recipient, info, hex('aa'), ciphertext)); // compressed / wrong length
  });

  it('X25519: rejects a low-order ephemeral key (all-zero DH output) and bad PSK inputs', () => {
    const suite = { kemId: 0x20, kdfId: 1, aeadId: 1 };
    const r = deriveKeyPair(0x20, new Uint8Array(32).fill(2));
    const recipient = loadKemPrivateKey(0x20, r.privateKey);
    const failed = (fn: () => unknown) => assert.throws(fn, (e: unknown) => e instanceof CryptoError && e.code === 'DECRYPTION_FAILED');
    failed(() => setupReceiver(suite, new Uint8Array(32), recipient, { info: new Uint8Array(0) }));
    failed(() => setupReceiver(suite, r.publicKey, recipient, { mode: 1, psk: new Uint8Array(0), pskId: hex('01') }));
    failed(() => setupReceiver(suite, r.publicKey, recipient, { mode: 0, psk: hex('01'), pskId: hex('01') }));
  });
});
