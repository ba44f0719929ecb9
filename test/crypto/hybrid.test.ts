/** Negative and edge cases of hybrid encryption: every byte flipped, wrong keys and ids, truncation, context, sizes. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clone } from '@bufbuild/protobuf';
import { KeysetSchema, OutputPrefixType } from '../../src/gen/google/crypto/tink/tink_pb.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { decryptMessage, encryptMessage } from '../../src/crypto/encrypted-message.js';
import { CryptoError, type CryptoErrorCode } from '../../src/crypto/errors.js';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { addKey, disableKey } from '../../src/crypto/keyset-ops.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { publicKeyset } from '../../src/crypto/keyset.js';
import { typeUrlOf } from '../../src/lib/type-url.js';
import { hex, readTestdata } from './testdata.js';
import { parseKeyset } from '../../src/crypto/keyset.js';

function fails(code: CryptoErrorCode, fn: () => unknown, message?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CryptoError && e.code === code, message);
}

const TEMPLATES = [
  'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM',
  'ECIES_P256_COMPRESSED_HKDF_HMAC_SHA256_AES128_GCM_RAW',
  'ECIES_P256_HKDF_HMAC_SHA256_AES128_CTR_HMAC_SHA256',
  'DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM',
  'DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_128_GCM_RAW',
];

describe('hybrid encryption: tampering', () => {
  for (const template of TEMPLATES) {
    it(`${template}: every flipped byte, every truncation and a wrong context fail with DECRYPTION_FAILED`, () => {
      const priv = generateKeyset(template);
      const pub = publicKeyset(priv);
      const ctx = hex('0a0b');
      const pt = new TextEncoder().encode('a sample requisition spec');
      const ct = encrypt(pub, pt, ctx);
      assert.deepEqual(decrypt(priv, ct, ctx), pt);
      for (let i = 0; i < ct.length; i++) {
        const bad = Uint8Array.from(ct);
        bad[i]! ^= 0x01;
        fails('DECRYPTION_FAILED', () => decrypt(priv, bad, ctx), `byte ${i}`);
      }
      for (let len = 0; len < ct.length; len++) fails('DECRYPTION_FAILED', () => decrypt(priv, ct.subarray(0, len), ctx), `length ${len}`);
      fails('DECRYPTION_FAILED', () => decrypt(priv, ct, hex('0a0c')));
      fails('DECRYPTION_FAILED', () => decrypt(priv, ct));
      fails('DECRYPTION_FAILED', () => decrypt(priv, new Uint8Array([...ct, 0])), 'trailing byte');
    });
  }

  it('the real Tink ciphertext with each byte flipped fails', () => {
    const priv = parseKeyset(readTestdata('cmms-panelmatch-tink/mp-blob-encryption-private-key'));
    const ct = readTestdata('cmms-panelmatch-tink/edp-encrypted-hkdf-pepper');
    let failed = 0;
    for (let i = 0; i < ct.length; i++) {
      const bad = Uint8Array.from(ct);
      bad[i]! ^= 0x80;
      fails('DECRYPTION_FAILED', () => decrypt(priv, bad), `byte ${i}`);
      failed++;
    }
    assert.equal(failed, 130);
  });
});

describe('hybrid encryption: keys and key ids', () => {
  it('a ciphertext for another keyset fails; an unknown key id fails; a RAW key is tried without prefix', () => {
    const a = generateKeyset();
    const b = generateKeyset();
    const ct = encrypt(publicKeyset(a), hex('01'));
    fails('DECRYPTION_FAILED', () => decrypt(b, ct));
    // Same key material, different id in the prefix: no key matches.
    const renumbered = clone(KeysetSchema, a);
    renumbered.key[0]!.keyId = (renumbered.key[0]!.keyId ^ 1) >>> 0; // key ids are uint32: keep the top bit unsigned
    renumbered.primaryKeyId = renumbered.key[0]!.keyId;
    fails('DECRYPTION_FAILED', () => decrypt(renumbered, ct));
    // As a RAW key it sees the whole ciphertext (prefix included), so TINK output does not open.
    const raw = clone(KeysetSchema, a);
    raw.key[0]!.outputPrefixType = OutputPrefixType.RAW;
    fails('DECRYPTION_FAILED', () => decrypt(raw, ct));
    assert.deepEqual(decrypt(raw, encrypt(publicKeyset(raw), hex('02'))), hex('02'));
  });

  it('LEGACY and CRUNCHY prefixes are 0x00 ‖ key id', () => {
    for (const prefix of [OutputPrefixType.LEGACY, OutputPrefixType.CRUNCHY]) {
      const ks = clone(KeysetSchema, generateKeyset());
      ks.key[0]!.outputPrefixType = prefix;
      const ct = encrypt(publicKeyset(ks), hex('03'));
      assert.equal(ct[0], 0);
      assert.equal(Buffer.from(ct.subarray(1, 5)).readUInt32BE(0), ks.primaryKeyId);
      assert.deepEqual(decrypt(ks, ct), hex('03'));
    }
  });

  it('after rotation, old ciphertexts still decrypt; disabled keys do not decrypt', () => {
    const v1 = generateKeyset();
    const old = encrypt(publicKeyset(v1), hex('aa'));
    const { keyset: v2, keyId } = addKey(v1, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM', { primary: true });
    const fresh = encrypt(publicKeyset(v2), hex('bb'));
    assert.equal(Buffer.from(fresh.subarray(1, 5)).readUInt32BE(0), keyId);
    assert.deepEqual(decrypt(v2, old), hex('aa'));
    assert.deepEqual(decrypt(v2, fresh), hex('bb'));
    const v3 = disableKey(v2, v1.primaryKeyId);
    fails('DECRYPTION_FAILED', () => decrypt(v3, old));
    assert.deepEqual(decrypt(v3, fresh), hex('bb'));
  });

  it('decrypting with a public keyset is a keyset error, not a crash', () => {
    const priv = generateKeyset();
    fails('KEYSET_INVALID', () => decrypt(publicKeyset(priv), encrypt(priv, hex('01'))));
  });

  it('oversized inputs are refused before any work', () => {
    const priv = generateKeyset();
    fails('INPUT_TOO_LARGE', () => encrypt(priv, new Uint8Array(1025), undefined, { maxBytes: 1024 }));
    fails('INPUT_TOO_LARGE', () => decrypt(priv, new Uint8Array(2048), undefined, { maxBytes: 1024 }));
  });

  it('empty plaintext and a 1 MiB plaintext round-trip', () => {
    const priv = generateKeyset();
    assert.deepEqual(decrypt(priv, encrypt(priv, new Uint8Array(0))), new Uint8Array(0));
    const big = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
    assert.deepEqual(decrypt(priv, encrypt(priv, big)), big);
  });
});

describe('EncryptedMessage', () => {
  it('encrypts a protobuf message with its type URL and decrypts it back', () => {
    const priv = generateKeyset();
    const message = { $typeName: 'wfa.measurement.api.v2alpha.EncryptionPublicKey', format: 1, data: hex('0102') } as const;
    const enc = encryptMessage(publicKeyset(priv), EncryptionPublicKeySchema, message);
    assert.equal(enc.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    assert.equal(typeUrlOf(SignedMessageSchema), 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage');
    const back = decryptMessage(priv, enc, EncryptionPublicKeySchema);
    assert.equal(back.format, 1);
    assert.deepEqual(back.data, hex('0102'));
    // Only the name after the last '/' counts, as upstream's Any.unpack.
    assert.equal(decryptMessage(priv, { ...enc, typeUrl: 'example.com/x/wfa.measurement.api.v2alpha.EncryptionPublicKey' }, EncryptionPublicKeySchema).format, 1);
    fails('MESSAGE_MALFORMED', () => decryptMessage(priv, enc, SignedMessageSchema));
    fails('DECRYPTION_FAILED', () => decryptMessage(generateKeyset(), enc, EncryptionPublicKeySchema));
  });

  it('a decrypted payload that is not the expected message is MESSAGE_MALFORMED', () => {
    const priv = generateKeyset();
    const enc = { $typeName: 'wfa.measurement.api.v2alpha.EncryptedMessage', ciphertext: encrypt(priv, hex('ffffffff')), typeUrl: typeUrlOf(SignedMessageSchema) } as const;
    fails('MESSAGE_MALFORMED', () => decryptMessage(priv, enc, SignedMessageSchema));
  });
});
