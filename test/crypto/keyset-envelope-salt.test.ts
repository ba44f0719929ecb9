// A caller-chosen salt in the passphrase envelope (the rotation keyring
// rewrites its keyset under one salt so a run derives one key).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { CryptoError } from '../../src/crypto/errors.js';
import { decryptKeyset, encryptKeyset } from '../../src/crypto/keyset-encryption.js';
import { keysetBytes } from '../../src/crypto/keyset.js';
import { EncryptedKeysetSchema } from '../../src/gen/google/crypto/tink/tink_pb.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';

const FAST = { log2N: 10, r: 8, p: 1 };
const keyset = generateKeyset('ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM');

describe('passphrase envelope with a given salt', () => {
  it('writes that salt, with a fresh IV each time, and opens with the passphrase only', () => {
    const salt = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    const a = encryptKeyset(keyset, { passphrase: 'salted passphrase', scrypt: FAST, salt }).encryptedKeyset;
    const b = encryptKeyset(keyset, { passphrase: 'salted passphrase', scrypt: FAST, salt }).encryptedKeyset;
    assert.deepEqual(a.subarray(0, 26), b.subarray(0, 26), 'same header: magic, version, scrypt, parameters, salt');
    assert.deepEqual(a.subarray(10, 26), salt);
    assert.notDeepEqual(a.subarray(26, 38), b.subarray(26, 38), 'a fresh IV per encryption');
    for (const env of [a, b]) {
      const opened = decryptKeyset(create(EncryptedKeysetSchema, { encryptedKeyset: env }), { passphrase: 'salted passphrase' });
      assert.deepEqual(keysetBytes(opened), keysetBytes(keyset));
    }
    // The derived key is remembered per passphrase and salt, never across them.
    assert.throws(
      () => decryptKeyset(create(EncryptedKeysetSchema, { encryptedKeyset: a }), { passphrase: 'salted passphrasf' }),
      (e: unknown) => e instanceof CryptoError && e.code === 'KEYSET_DECRYPTION_FAILED',
    );
  });

  it('refuses a salt shorter than 8 or longer than 255 bytes', () => {
    for (const length of [0, 7, 256]) {
      assert.throws(
        () => encryptKeyset(keyset, { passphrase: 'salted passphrase', scrypt: FAST, salt: new Uint8Array(length) }),
        (e: unknown) => e instanceof CryptoError && e.code === 'KEY_MALFORMED',
        `salt of ${length} bytes`,
      );
    }
  });
});
