/**
 * Tink's own hybrid-encryption vectors and keysets (tink-hybrid/), the real
 * Tink ciphertexts of CMMS panel-match (cmms-panelmatch-tink/), and the
 * CMMS test keysets (cmms-secretfiles/).
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { createECDH } from 'node:crypto';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { AesCtrHmacAeadKeyFormatSchema } from '../../src/gen/google/crypto/tink/aes_ctr_hmac_aead_pb.js';
import { AesGcmKeyFormatSchema } from '../../src/gen/google/crypto/tink/aes_gcm_pb.js';
import { AesSivKeyFormatSchema } from '../../src/gen/google/crypto/tink/aes_siv_pb.js';
import { EcPointFormat, EllipticCurveType, HashType } from '../../src/gen/google/crypto/tink/common_pb.js';
import { EciesAeadHkdfPrivateKeySchema } from '../../src/gen/google/crypto/tink/ecies_aead_hkdf_pb.js';
import { HpkeAead, HpkeKdf, HpkeKem, HpkePrivateKeySchema } from '../../src/gen/google/crypto/tink/hpke_pb.js';
import { KeyData_KeyMaterialType, KeysetSchema, KeyStatusType, OutputPrefixType, type Keyset } from '../../src/gen/google/crypto/tink/tink_pb.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { TYPE_URL } from '../../src/crypto/keyset-proto.js';
import { describeKeyset } from '../../src/crypto/keyset-describe.js';
import { assertPublicKeyset, keysetBytes, keysetToJson, parseKeyset, publicKeyset, serializeKeyset } from '../../src/crypto/keyset.js';
import { hex, readTestdata, readTestdataJson, testdataPath, toHex } from './testdata.js';

interface EciesVector {
  id: string;
  params: {
    curve: string;
    hkdf_hash: string;
    hkdf_salt_hex: string;
    point_format: string;
    dem: { type: string; key_size?: number; aes_key_size?: number; hmac_key_size?: number; hmac_hash?: string; iv_size?: number; tag_size?: number };
    variant: string;
    id_requirement: number | null;
  };
  recipient_public_x_hex?: string;
  recipient_public_y_hex?: string;
  recipient_private_hex: string;
  plaintext_hex: string;
  context_info_hex: string;
  ciphertext_hex: string;
  derived_binary_private_keyset_b64?: string;
  derived_binary_public_keyset_b64?: string;
}

interface HpkeVector {
  id: string;
  params: { kem: string; kdf: string; aead: string; variant: string; id_requirement: number | null };
  recipient_public_key_hex: string;
  recipient_private_key_hex: string;
  plaintext_hex: string;
  context_info_hex: string;
  ciphertext_hex: string;
}

const vectors = readTestdataJson<{ ecies: EciesVector[]; hpke_tink_wire_format: HpkeVector[] }>('tink-hybrid/tink_hybrid_vectors.json');

const CURVES: Record<string, [EllipticCurveType, string]> = {
  NIST_P256: [EllipticCurveType.NIST_P256, 'prime256v1'],
  NIST_P384: [EllipticCurveType.NIST_P384, 'secp384r1'],
  NIST_P521: [EllipticCurveType.NIST_P521, 'secp521r1'],
};
const HASHES: Record<string, HashType> = { SHA256: HashType.SHA256, SHA384: HashType.SHA384, SHA512: HashType.SHA512 };
const PREFIXES: Record<string, OutputPrefixType> = { NO_PREFIX: OutputPrefixType.RAW, TINK: OutputPrefixType.TINK, CRUNCHY: OutputPrefixType.CRUNCHY };

function demTemplate(dem: EciesVector['params']['dem']) {
  switch (dem.type) {
    case 'AES_GCM':
      return { typeUrl: TYPE_URL.aesGcm, value: toBinary(AesGcmKeyFormatSchema, create(AesGcmKeyFormatSchema, { keySize: dem.key_size! })) };
    case 'AES_CTR_HMAC_AEAD':
      return {
        typeUrl: TYPE_URL.aesCtrHmacAead,
        value: toBinary(
          AesCtrHmacAeadKeyFormatSchema,
          create(AesCtrHmacAeadKeyFormatSchema, {
            aesCtrKeyFormat: { params: { ivSize: dem.iv_size! }, keySize: dem.aes_key_size! },
            hmacKeyFormat: { params: { hash: HASHES[dem.hmac_hash!]!, tagSize: dem.tag_size! }, keySize: dem.hmac_key_size! },
          }),
        ),
      };
    case 'AES_SIV':
      return { typeUrl: TYPE_URL.aesSiv, value: toBinary(AesSivKeyFormatSchema, create(AesSivKeyFormatSchema, { keySize: dem.key_size! })) };
    default:
      throw new Error(`vector uses unknown DEM ${dem.type}`);
  }
}

function keysetOf(keyId: number, prefix: OutputPrefixType, typeUrl: string, value: Uint8Array): Keyset {
  return create(KeysetSchema, {
    primaryKeyId: keyId,
    key: [{ keyId, status: KeyStatusType.ENABLED, outputPrefixType: prefix, keyData: { typeUrl, value, keyMaterialType: KeyData_KeyMaterialType.ASYMMETRIC_PRIVATE } }],
  });
}

/** A private keyset built from the vector's raw key fields (not from the derived keysets). */
function eciesKeysetFromRaw(v: EciesVector): Keyset {
  const [curveType, opensslName] = CURVES[v.params.curve]!;
  let x = v.recipient_public_x_hex;
  let y = v.recipient_public_y_hex;
  if (!x || !y) {
    // The legacy AES-SIV vectors give only d; the public key is d·G.
    const ecdh = createECDH(opensslName);
    ecdh.setPrivateKey(hex(v.recipient_private_hex));
    const p = ecdh.getPublicKey();
    const size = (p.length - 1) / 2;
    x = toHex(p.subarray(1, 1 + size));
    y = toHex(p.subarray(1 + size));
  }
  const value = toBinary(
    EciesAeadHkdfPrivateKeySchema,
    create(EciesAeadHkdfPrivateKeySchema, {
      keyValue: hex(v.recipient_private_hex),
      publicKey: {
        x: hex(x),
        y: hex(y),
        params: {
          kemParams: { curveType, hkdfHashType: HASHES[v.params.hkdf_hash]!, hkdfSalt: hex(v.params.hkdf_salt_hex) },
          demParams: { aeadDem: demTemplate(v.params.dem) },
          ecPointFormat: EcPointFormat[v.params.point_format as 'UNCOMPRESSED'],
        },
      },
    }),
  );
  return keysetOf(v.params.id_requirement ?? 0x12345678, PREFIXES[v.params.variant]!, TYPE_URL.eciesPrivate, value);
}

describe('Tink ECIES-AEAD-HKDF vectors', () => {
  it('decrypts every vector whose DEM node:crypto supports; AES-SIV reported unsupported', () => {
    let decrypted = 0;
    const unsupported: string[] = [];
    for (const v of vectors.ecies) {
      const ks = eciesKeysetFromRaw(v);
      const ct = hex(v.ciphertext_hex);
      const ctx = hex(v.context_info_hex);
      if (v.params.dem.type === 'AES_SIV') {
        assert.throws(() => decrypt(ks, ct, ctx), (e: unknown) => e instanceof CryptoError && e.code === 'UNSUPPORTED_KEY_TYPE', v.id);
        unsupported.push(v.id);
        continue;
      }
      assert.equal(toHex(decrypt(ks, ct, ctx)), v.plaintext_hex, v.id);
      // Our own encryption with the same key decrypts too (round trip per configuration).
      assert.equal(toHex(decrypt(ks, encrypt(ks, hex(v.plaintext_hex), ctx), ctx)), v.plaintext_hex, v.id);
      decrypted++;
    }
    console.log(`tink ECIES vectors: ${decrypted} decrypted, ${unsupported.length} unsupported (AES-SIV DEM): ${unsupported.join(', ')}`);
    assert.equal(decrypted, 13);
    assert.equal(unsupported.length, 4);
  });

  it('decrypts with the derived binary keysets, and re-encodes their public keysets byte for byte', () => {
    let n = 0;
    for (const v of vectors.ecies) {
      if (!v.derived_binary_private_keyset_b64 || !v.derived_binary_public_keyset_b64) continue;
      const priv = parseKeyset(Buffer.from(v.derived_binary_private_keyset_b64, 'base64'));
      const pubBytes = new Uint8Array(Buffer.from(v.derived_binary_public_keyset_b64, 'base64'));
      assert.equal(toHex(decrypt(priv, hex(v.ciphertext_hex), hex(v.context_info_hex))), v.plaintext_hex, v.id);
      assert.deepEqual(serializeKeyset(publicKeyset(priv)), pubBytes, v.id);
      assert.deepEqual(serializeKeyset(parseKeyset(pubBytes)), pubBytes, v.id);
      n++;
    }
    assert.equal(n, 7);
  });
});

const HPKE_KEM: Record<string, HpkeKem> = { DHKEM_P256_HKDF_SHA256: HpkeKem.DHKEM_P256_HKDF_SHA256, DHKEM_X25519_HKDF_SHA256: HpkeKem.DHKEM_X25519_HKDF_SHA256 };
const HPKE_KDF: Record<string, HpkeKdf> = { HKDF_SHA256: HpkeKdf.HKDF_SHA256, HKDF_SHA384: HpkeKdf.HKDF_SHA384, HKDF_SHA512: HpkeKdf.HKDF_SHA512 };
const HPKE_AEAD: Record<string, HpkeAead> = { AES_128_GCM: HpkeAead.AES_128_GCM, AES_256_GCM: HpkeAead.AES_256_GCM, CHACHA20_POLY1305: HpkeAead.CHACHA20_POLY1305 };

describe('Tink HPKE vectors', () => {
  it('decrypts all of them (P-256 and X25519; AES-GCM and ChaCha20-Poly1305)', () => {
    let n = 0;
    for (const v of vectors.hpke_tink_wire_format) {
      const value = toBinary(
        HpkePrivateKeySchema,
        create(HpkePrivateKeySchema, {
          privateKey: hex(v.recipient_private_key_hex),
          publicKey: {
            publicKey: hex(v.recipient_public_key_hex),
            params: { kem: HPKE_KEM[v.params.kem]!, kdf: HPKE_KDF[v.params.kdf]!, aead: HPKE_AEAD[v.params.aead]! },
          },
        }),
      );
      const ks = keysetOf(v.params.id_requirement ?? 0x12345678, PREFIXES[v.params.variant]!, TYPE_URL.hpkePrivate, value);
      const ctx = hex(v.context_info_hex);
      assert.equal(toHex(decrypt(ks, hex(v.ciphertext_hex), ctx)), v.plaintext_hex, v.id);
      assert.equal(toHex(decrypt(ks, encrypt(publicKeyset(ks), hex(v.plaintext_hex), ctx), ctx)), v.plaintext_hex, v.id);
      n++;
    }
    console.log(`tink HPKE vectors: ${n} of ${vectors.hpke_tink_wire_format.length} decrypted`);
    assert.equal(n, 10);
  });
});

describe('Tinkey keysets', () => {
  it('ECIES AES128_GCM keyset2: parses, re-encodes byte for byte, public of private equals the public file, ciphertext layout', () => {
    const privBytes = readTestdata('tink-hybrid/keysets/ecies_private_keyset2.bin');
    const pubBytes = readTestdata('tink-hybrid/keysets/ecies_public_keyset2.bin');
    const priv = parseKeyset(privBytes);
    const pub = parseKeyset(pubBytes);
    assert.deepEqual(serializeKeyset(pub), pubBytes);
    assert.deepEqual(serializeKeyset(priv), privBytes);
    assert.deepEqual(serializeKeyset(publicKeyset(priv)), pubBytes);
    assert.equal(pub.primaryKeyId, 1285473817);
    assert.equal(describeKeyset(pub).keys[0]!.outputPrefixType, 'TINK');
    const pt = new Uint8Array(100).fill(7);
    const ct = encrypt(pub, pt);
    assert.equal(toHex(ct.subarray(0, 5)), '014c9ec619');
    assert.equal(ct.length, 5 + 65 + 12 + pt.length + 16);
    assert.deepEqual(decrypt(priv, ct), pt);
  });

  it('ECIES AES128_CTR_HMAC keyset (32-byte coordinates): parses and round-trips', () => {
    const priv = parseKeyset(readTestdata('tink-hybrid/keysets/ecies_private_keyset.bin'));
    const pubBytes = readTestdata('tink-hybrid/keysets/ecies_public_keyset.bin');
    const pub = parseKeyset(pubBytes);
    assert.equal(priv.primaryKeyId, 1148916842);
    assert.deepEqual(serializeKeyset(publicKeyset(priv)), pubBytes);
    const ct = encrypt(pub, new Uint8Array([1, 2, 3]), hex('aa'));
    assert.deepEqual(decrypt(priv, ct, hex('aa')), new Uint8Array([1, 2, 3]));
  });

  it('HPKE X25519 AES-256-GCM JSON keysets: parse, re-encode to the same JSON, round-trip', () => {
    const privText = Buffer.from(readTestdata('tink-hybrid/keysets/hpke_x25519_aes256gcm_private_keyset.json')).toString('utf8').trim();
    const pubText = Buffer.from(readTestdata('tink-hybrid/keysets/hpke_x25519_aes256gcm_public_keyset.json')).toString('utf8').trim();
    const priv = parseKeyset(new TextEncoder().encode(privText));
    const pub = parseKeyset(new TextEncoder().encode(pubText));
    assert.equal(keysetToJson(priv), privText);
    assert.equal(keysetToJson(pub), pubText);
    assert.equal(keysetToJson(publicKeyset(priv)), pubText);
    assert.equal(describeKeyset(pub).keys[0]!.template, 'DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM');
    const ct = encrypt(pub, new Uint8Array([9]));
    assert.equal(ct.length, 5 + 32 + 1 + 16);
    assert.deepEqual(decrypt(priv, ct), new Uint8Array([9]));
  });
});

describe('CMMS panel-match Tink ciphertexts (made by Tink Java)', () => {
  it('decrypt to the stored plaintexts with the stored keyset', () => {
    const priv = parseKeyset(readTestdata('cmms-panelmatch-tink/mp-blob-encryption-private-key'));
    const pubBytes = readTestdata('cmms-panelmatch-tink/mp-blob-encryption-public-key');
    assert.deepEqual(serializeKeyset(publicKeyset(priv)), pubBytes);
    for (const [ct, pt] of [
      ['edp-encrypted-hkdf-pepper', 'edp-hkdf-pepper'],
      ['edp-encrypted-identifier-hash-pepper', 'edp-identifier-hash-pepper'],
    ] as const) {
      assert.deepEqual(decrypt(priv, readTestdata(`cmms-panelmatch-tink/${ct}`)), readTestdata(`cmms-panelmatch-tink/${pt}`), ct);
    }
  });
});

describe('CMMS secretfiles encryption keysets', () => {
  it('every *_enc_private.tink / *_enc_public.tink pair loads and works', () => {
    const dir = testdataPath('cmms-secretfiles/');
    const names = readdirSync(dir).filter((f) => f.endsWith('_enc_private.tink')).map((f) => f.slice(0, -'_enc_private.tink'.length));
    for (const name of names) {
      const privBytes = readTestdata(`cmms-secretfiles/${name}_enc_private.tink`);
      const pubBytes = readTestdata(`cmms-secretfiles/${name}_enc_public.tink`);
      const priv = parseKeyset(privBytes);
      const pub = parseKeyset(pubBytes);
      assertPublicKeyset(pub);
      assert.deepEqual(keysetBytes(pub), pubBytes, `${name}: received bytes kept`);
      assert.deepEqual(serializeKeyset(publicKeyset(priv)), pubBytes, `${name}: public of private`);
      assert.equal(describeKeyset(pub).keys[0]!.template, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM', name);
      const message = new TextEncoder().encode(`requisition spec for ${name}`);
      const ct = encrypt(pub, message);
      assert.equal(ct.length, message.length + 98, name);
      assert.deepEqual(decrypt(priv, ct), message, name);
    }
    console.log(`cmms-secretfiles: ${names.length} encryption keyset pairs checked (${names.join(', ')})`);
    assert.ok(names.length >= 10);
  });
});
