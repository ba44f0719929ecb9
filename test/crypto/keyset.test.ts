/** Keyset parsing (binary/JSON, bad input), validation, templates, rotation operations, encryption at rest and file I/O. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { EciesAeadHkdfPrivateKeySchema, EciesAeadHkdfPublicKeySchema } from '../../src/gen/google/crypto/tink/ecies_aead_hkdf_pb.js';
import { EncryptedKeysetSchema, KeysetSchema, KeyStatusType, OutputPrefixType } from '../../src/gen/google/crypto/tink/tink_pb.js';
import { CryptoError, type CryptoErrorCode } from '../../src/crypto/errors.js';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { decryptKeyset, encryptKeyset, serializeEncryptedKeyset } from '../../src/crypto/keyset-encryption.js';
import { encodeKeysetFile, loadKeyset, readKeyset, saveKeyset } from '../../src/crypto/keyset-io.js';
import { addKey, deleteKey, destroyKey, disableKey, enableKey, promoteKey } from '../../src/crypto/keyset-ops.js';
import { toTwosComplement } from '../../src/crypto/keyset-proto.js';
import { describeKeyset } from '../../src/crypto/keyset-describe.js';
import { KEY_TEMPLATE_NAMES, generateKeyset, keyTemplate, templateNameOf } from '../../src/crypto/keyset-templates.js';
import {
  assertPublicKeyset,
  detectKeysetFormat,
  keysetBytes,
  keysetToJson,
  parseKeyset,
  publicKeyset,
  serializeKeyset,
  validateKeyset,
} from '../../src/crypto/keyset.js';
import { hex, readTestdata, toHex } from './testdata.js';

function fails(code: CryptoErrorCode, fn: () => unknown, message?: string): void {
  assert.throws(fn, (e: unknown) => e instanceof CryptoError && e.code === code, message);
}

const FAST_SCRYPT = { log2N: 10, r: 8, p: 1 };

describe('keyset parsing', () => {
  it('detects binary and JSON and keeps the received binary bytes', () => {
    const bytes = readTestdata('cmms-secretfiles/mc_enc_public.tink');
    assert.equal(detectKeysetFormat(bytes), 'binary');
    const ks = parseKeyset(bytes);
    assert.deepEqual(keysetBytes(ks), bytes);
    const json = serializeKeyset(ks, 'json');
    assert.equal(detectKeysetFormat(json), 'json');
    assert.equal(detectKeysetFormat(new TextEncoder().encode(`\n  ${keysetToJson(ks)}`)), 'json');
    const back = parseKeyset(json);
    assert.deepEqual(serializeKeyset(back), bytes);
    assert.equal(JSON.parse(new TextDecoder().decode(json)).key[0].keyData.keyMaterialType, 'ASYMMETRIC_PUBLIC');
  });

  it('every truncation of a binary keyset is rejected with a typed error', () => {
    const bytes = readTestdata('cmms-secretfiles/edp1_enc_private.tink');
    let rejected = 0;
    for (let len = 0; len < bytes.length; len++) {
      try {
        const ks = parseKeyset(bytes.subarray(0, len));
        // A prefix can only parse if it is still a whole keyset; then using it must fail typed too.
        decrypt(ks, new Uint8Array(100));
        assert.fail(`truncation at ${len} was accepted`);
      } catch (err) {
        assert.ok(err instanceof CryptoError, `length ${len}: ${String(err)}`);
        rejected++;
      }
    }
    assert.equal(rejected, bytes.length);
  });

  it('garbage, wrong JSON and oversized input are typed errors', () => {
    fails('KEYSET_MALFORMED', () => parseKeyset(new Uint8Array(0)));
    fails('KEYSET_MALFORMED', () => parseKeyset(hex('ffffffffffffffffffff')));
    fails('KEYSET_MALFORMED', () => parseKeyset(new TextEncoder().encode('{"primaryKeyId": "x"}')));
    fails('KEYSET_MALFORMED', () => parseKeyset(new TextEncoder().encode('{not json')));
    fails('KEYSET_MALFORMED', () => parseKeyset(new TextEncoder().encode('{"unknownField": 1}')));
    fails('KEYSET_MALFORMED', () => parseKeyset(hex('7bff')));
    fails('KEYSET_INVALID', () => parseKeyset(hex('0801'))); // primary id, no keys
    fails('INPUT_TOO_LARGE', () => parseKeyset(new Uint8Array(2 << 20)));
    let typed = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const junk = new Uint8Array(64).map((_, i) => (seed * 131 + i * 17 + ((seed * i) >> 3)) & 0xff);
      try {
        parseKeyset(junk);
      } catch (err) {
        assert.ok(err instanceof CryptoError, `seed ${seed}: ${String(err)}`);
        typed++;
      }
    }
    assert.equal(typed, 300);
  });

  it('key material that does not parse is a typed error at use, never a crash', () => {
    const ks = clone(KeysetSchema, generateKeyset());
    ks.key[0]!.keyData!.value = hex('ff00ff');
    fails('KEYSET_MALFORMED', () => encrypt(ks, hex('01')));
    fails('KEYSET_MALFORMED', () => decrypt(ks, new Uint8Array(120)));
  });

  it('keys with a point off the curve or a mismatched scalar are rejected', () => {
    const ks = clone(KeysetSchema, generateKeyset());
    const priv = fromBinary(EciesAeadHkdfPrivateKeySchema, ks.key[0]!.keyData!.value);
    const other = fromBinary(EciesAeadHkdfPrivateKeySchema, generateKeyset().key[0]!.keyData!.value);
    const mismatched = clone(KeysetSchema, ks);
    mismatched.key[0]!.keyData!.value = toBinary(EciesAeadHkdfPrivateKeySchema, { ...priv, keyValue: other.keyValue });
    fails('KEYSET_INVALID', () => decrypt(mismatched, new Uint8Array(120)));
    const pub = clone(KeysetSchema, publicKeyset(ks));
    const p = fromBinary(EciesAeadHkdfPublicKeySchema, pub.key[0]!.keyData!.value);
    const y = Uint8Array.from(p.y);
    y[y.length - 1]! ^= 1;
    pub.key[0]!.keyData!.value = toBinary(EciesAeadHkdfPublicKeySchema, { ...p, y });
    fails('KEYSET_INVALID', () => encrypt(pub, hex('01')));
  });

  it('validation: primary must exist and be ENABLED, ids unique, statuses and prefixes known', () => {
    const base = generateKeyset();
    const noPrimary = clone(KeysetSchema, base);
    noPrimary.primaryKeyId = (noPrimary.primaryKeyId ^ 1) >>> 0; // key ids are uint32: keep the top bit unsigned
    fails('KEYSET_INVALID', () => validateKeyset(noPrimary));
    fails('KEYSET_INVALID', () => parseKeyset(toBinary(KeysetSchema, noPrimary)), 'a private keyset needs a primary');
    const disabledPrimary = clone(KeysetSchema, base);
    disabledPrimary.key[0]!.status = KeyStatusType.DISABLED;
    fails('KEYSET_INVALID', () => validateKeyset(disabledPrimary));
    const dup = clone(KeysetSchema, base);
    dup.key.push(clone(KeysetSchema, base).key[0]!);
    fails('KEYSET_INVALID', () => validateKeyset(dup));
    const unknownPrefix = clone(KeysetSchema, base);
    unknownPrefix.key[0]!.outputPrefixType = OutputPrefixType.UNKNOWN_PREFIX;
    fails('KEYSET_INVALID', () => validateKeyset(unknownPrefix));
    const unknownStatus = clone(KeysetSchema, base);
    unknownStatus.key[0]!.status = KeyStatusType.UNKNOWN_STATUS;
    fails('KEYSET_INVALID', () => validateKeyset(unknownStatus));
    // A public keyset without primary parses (verification-style use) but cannot encrypt.
    const pubNoPrimary = publicKeyset(base);
    pubNoPrimary.primaryKeyId = (pubNoPrimary.primaryKeyId ^ 1) >>> 0;
    const parsed = parseKeyset(toBinary(KeysetSchema, pubNoPrimary));
    fails('KEYSET_INVALID', () => encrypt(parsed, hex('01')));
  });

  it('public keysets carry no secret; private ones are refused as public', () => {
    const priv = generateKeyset();
    assertPublicKeyset(publicKeyset(priv));
    fails('KEYSET_HAS_SECRET', () => assertPublicKeyset(priv));
  });
});

describe('templates', () => {
  it('every template generates a keyset that round-trips, is recognised by name, and has the right prefix', () => {
    for (const name of KEY_TEMPLATE_NAMES) {
      const ks = generateKeyset(name);
      const key = ks.key[0]!;
      assert.equal(key.outputPrefixType, name.endsWith('_RAW') ? OutputPrefixType.RAW : OutputPrefixType.TINK, name);
      assert.equal(key.keyData!.typeUrl, keyTemplate(name).typeUrl, name);
      assert.equal(templateNameOf(key.keyData, key.outputPrefixType), name);
      assert.equal(describeKeyset(publicKeyset(ks)).keys[0]!.template, name);
      const again = parseKeyset(serializeKeyset(ks));
      assert.deepEqual(decrypt(again, encrypt(publicKeyset(again), hex('42'))), hex('42'), name);
    }
    fails('UNSUPPORTED_KEY_TYPE', () => generateKeyset('AES128_GCM'));
  });

  it('the CMMS template matches the fixture byte for byte apart from key material', () => {
    const fixture = parseKeyset(readTestdata('cmms-secretfiles/mc_enc_public.tink'));
    const ours = publicKeyset(generateKeyset('ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM'));
    const params = (ks: typeof fixture) => toBinary(EciesAeadHkdfPublicKeySchema, { ...fromBinary(EciesAeadHkdfPublicKeySchema, ks.key[0]!.keyData!.value), x: new Uint8Array(0), y: new Uint8Array(0) });
    assert.equal(toHex(params(ours)), toHex(params(fixture)));
    assert.equal(ours.key[0]!.keyData!.typeUrl, fixture.key[0]!.keyData!.typeUrl);
  });

  it('coordinates are written in minimal two\'s complement, as Tink Java does', () => {
    assert.equal(toHex(toTwosComplement(hex('00ff'))), '00ff');
    assert.equal(toHex(toTwosComplement(hex('0000007f'))), '7f');
    assert.equal(toHex(toTwosComplement(hex('80'))), '0080');
    for (let i = 0; i < 20; i++) {
      const pub = fromBinary(EciesAeadHkdfPublicKeySchema, publicKeyset(generateKeyset()).key[0]!.keyData!.value);
      for (const c of [pub.x, pub.y]) {
        assert.ok(c.length <= 33);
        if (c.length === 33) assert.ok(c[0] === 0 && c[1]! >= 0x80);
        else assert.ok(c[0]! < 0x80 && (c.length === 1 || c[0] !== 0 || c[1]! >= 0x80));
      }
    }
  });
});

describe('keyset operations', () => {
  it('add, promote, disable, enable, destroy, delete', () => {
    const v1 = generateKeyset();
    const first = v1.primaryKeyId;
    const { keyset: v2, keyId: second } = addKey(v1, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM');
    assert.notEqual(second, first);
    assert.equal(v2.primaryKeyId, first, 'added keys are not primary until promoted');
    assert.equal(v1.key.length, 1, 'the input keyset is unchanged');
    const v3 = promoteKey(v2, second);
    assert.equal(v3.primaryKeyId, second);
    fails('KEYSET_INVALID', () => disableKey(v3, second));
    fails('KEYSET_INVALID', () => destroyKey(v3, second));
    fails('KEY_NOT_FOUND', () => promoteKey(v3, 12345));
    const v4 = disableKey(v3, first);
    assert.equal(v4.key.find((k) => k.keyId === first)!.status, KeyStatusType.DISABLED);
    fails('KEYSET_INVALID', () => promoteKey(v4, first));
    const v5 = enableKey(v4, first);
    assert.equal(v5.key.find((k) => k.keyId === first)!.status, KeyStatusType.ENABLED);
    const v6 = destroyKey(v5, first);
    const destroyed = v6.key.find((k) => k.keyId === first)!;
    assert.equal(destroyed.status, KeyStatusType.DESTROYED);
    assert.equal(destroyed.keyData, undefined);
    fails('KEYSET_INVALID', () => enableKey(v6, first));
    // A destroyed key survives serialization, public extraction and use.
    const reread = parseKeyset(serializeKeyset(v6));
    const pub = publicKeyset(reread);
    assert.equal(pub.key.length, 2);
    assert.deepEqual(decrypt(reread, encrypt(pub, hex('77'))), hex('77'));
    const v7 = deleteKey(v6, first);
    assert.deepEqual(v7.key.map((k) => k.keyId), [second]);
    fails('KEYSET_INVALID', () => deleteKey(v7, second));
    const { keyset: mixed } = addKey(v7, 'DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM', { primary: true });
    assert.equal(describeKeyset(mixed).keys.find((k) => k.primary)!.template, 'DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM');
  });
});

describe('keysets encrypted at rest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'halo-keyset-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('passphrase (scrypt) round trip; wrong passphrase and tampering fail; metadata stays readable', () => {
    const ks = generateKeyset();
    const enc = encryptKeyset(ks, { passphrase: 'correct horse', scrypt: FAST_SCRYPT });
    assert.equal(enc.keysetInfo!.primaryKeyId, ks.primaryKeyId);
    assert.equal(enc.keysetInfo!.keyInfo[0]!.typeUrl, ks.key[0]!.keyData!.typeUrl);
    const bytes = serializeEncryptedKeyset(enc);
    const reparsed = fromBinary(EncryptedKeysetSchema, bytes);
    assert.deepEqual(serializeKeyset(decryptKeyset(reparsed, { passphrase: 'correct horse' })), serializeKeyset(ks));
    fails('KEYSET_DECRYPTION_FAILED', () => decryptKeyset(reparsed, { passphrase: 'wrong horse' }));
    fails('KEYSET_DECRYPTION_FAILED', () => decryptKeyset(reparsed, { key: new Uint8Array(32) }));
    // Flipping any envelope byte fails typed (header bytes are authenticated as associated data).
    const env = reparsed.encryptedKeyset;
    for (let i = 0; i < env.length; i++) {
      const bad = Uint8Array.from(env);
      bad[i]! ^= 0x01;
      assert.throws(
        () => decryptKeyset(create(EncryptedKeysetSchema, { encryptedKeyset: bad }), { passphrase: 'correct horse' }),
        (e: unknown) => e instanceof CryptoError && (e.code === 'KEYSET_DECRYPTION_FAILED' || e.code === 'KEYSET_MALFORMED'),
        `byte ${i}`,
      );
    }
  });

  it('caller-supplied 32-byte key round trip', () => {
    const ks = generateKeyset('DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_128_GCM');
    const key = new Uint8Array(32).fill(9);
    const enc = encryptKeyset(ks, { key });
    assert.deepEqual(serializeKeyset(decryptKeyset(enc, { key })), serializeKeyset(ks));
    fails('KEYSET_DECRYPTION_FAILED', () => decryptKeyset(enc, { key: new Uint8Array(32).fill(8) }));
    fails('KEY_MALFORMED', () => encryptKeyset(ks, { key: new Uint8Array(16) }));
  });

  it('files: binary, JSON and encrypted forms load; private files are 0600; encrypted without passphrase is KEYSET_ENCRYPTED', () => {
    const ks = generateKeyset();
    const cases = [
      { file: 'plain.bin', options: {} },
      { file: 'plain.json', options: { format: 'json' as const } },
      { file: 'enc.bin', options: { protection: { passphrase: 'pw', scrypt: FAST_SCRYPT } } },
      { file: 'enc.json', options: { format: 'json' as const, protection: { passphrase: 'pw', scrypt: FAST_SCRYPT } } },
    ];
    for (const c of cases) {
      const path = join(dir, c.file);
      saveKeyset(path, ks, c.options);
      assert.equal(statSync(path).mode & 0o777, 0o600, c.file);
      const loaded = loadKeyset(path, { passphrase: 'pw' });
      assert.equal(loaded.encrypted, 'protection' in c.options, c.file);
      assert.equal(loaded.format, c.options.format ?? 'binary', c.file);
      assert.deepEqual(serializeKeyset(loaded.keyset), serializeKeyset(ks), c.file);
      if ('protection' in c.options) {
        fails('KEYSET_ENCRYPTED', () => loadKeyset(path));
        fails('KEYSET_DECRYPTION_FAILED', () => loadKeyset(path, { passphrase: 'nope' }));
      }
    }
    const pubPath = join(dir, 'public.bin');
    saveKeyset(pubPath, publicKeyset(ks));
    assert.equal(statSync(pubPath).mode & 0o777, 0o644);
    assert.deepEqual(loadKeyset(pubPath).bytes, encodeKeysetFile(publicKeyset(ks)));
    writeFileSync(join(dir, 'junk'), 'not a keyset at all');
    assert.throws(() => loadKeyset(join(dir, 'junk')), CryptoError);
    assert.throws(() => readKeyset(new Uint8Array(2 << 20)), (e: unknown) => e instanceof CryptoError && e.code === 'INPUT_TOO_LARGE');
  });
});
