/** `halo-keys keyset …`, `encrypt` and `decrypt`, run as the compiled binary. */
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertFails, haloKeys, scratchDir } from './run-cli.js';

const testdata = fileURLToPath(new URL('../../../shared/testdata/', import.meta.url));
const { file } = scratchDir('halo-keys-cli-keyset-');

describe('halo-keys keyset', () => {
  it('generate (README command): plaintext private keyset 0600 with a note, public keyset, inspect both', () => {
    const r = haloKeys(['keyset', 'generate', '--out', file('demo_enc_private.tink'), '--public-out', file('demo_enc_public.tink')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /generated key \d+ \(ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM\)/);
    assert.match(r.stderr, /unencrypted private keyset \(mode 0600\)/);
    assert.equal(statSync(file('demo_enc_private.tink')).mode & 0o777, 0o600);
    const inspect = haloKeys(['keyset', 'inspect', file('demo_enc_public.tink'), '--json']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const info = JSON.parse(inspect.stdout);
    assert.equal(info.keys.length, 1);
    assert.equal(info.keys[0].primary, true);
    assert.equal(info.keys[0].status, 'ENABLED');
    assert.equal(info.keys[0].outputPrefixType, 'TINK');
    assert.equal(info.keys[0].keyMaterialType, 'ASYMMETRIC_PUBLIC');
    assert.equal(info.keys[0].template, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM');
    const text = haloKeys(['keyset', 'inspect', file('demo_enc_private.tink')]);
    assert.match(text.stdout, new RegExp(`key ${info.primaryKeyId} \\(primary\\): ENABLED TINK EciesAeadHkdfPrivateKey`));
  });

  it('encrypted private keyset with a passphrase file; public; encrypt/decrypt with context info', () => {
    writeFileSync(file('pw'), 'a long passphrase\n');
    const g = haloKeys(['keyset', 'generate', '--template', 'DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM', '--out', file('hmss.json'), '--json-format', '--passphrase-file', file('pw')]);
    assert.equal(g.code, 0, g.stderr);
    assert.equal(g.stderr, '');
    assert.match(g.stdout, /\(encrypted\)/);
    assert.ok(JSON.parse(readFileSync(file('hmss.json'), 'utf8')).encryptedKeyset);
    // Without the passphrase, inspect shows the cleartext metadata only.
    const meta = JSON.parse(haloKeys(['keyset', 'inspect', file('hmss.json'), '--json']).stdout);
    assert.equal(meta.form, 'encrypted (metadata only)');
    assert.equal(meta.keys[0].keyType, 'HpkePrivateKey');
    assertFails(haloKeys(['keyset', 'public', '--in', file('hmss.json'), '--out', file('hmss_pub.tink')]), 1, /encrypted; give a passphrase/);
    const p = haloKeys(['keyset', 'public', '--in', file('hmss.json'), '--out', file('hmss_pub.tink')], { HALO_KEYS_PASSPHRASE: 'a long passphrase' });
    assert.equal(p.code, 0, p.stderr);
    writeFileSync(file('seed'), 'random seed bytes');
    const e = haloKeys(['encrypt', '--keyset', file('hmss_pub.tink'), '--in', file('seed'), '--out', file('seed.enc'), '--context-info', '0a0b']);
    assert.equal(e.code, 0, e.stderr);
    const d = haloKeys(['decrypt', '--keyset', file('hmss.json'), '--passphrase-file', file('pw'), '--in', file('seed.enc'), '--out', file('seed.out'), '--context-info', '0a0b']);
    assert.equal(d.code, 0, d.stderr);
    assert.equal(readFileSync(file('seed.out'), 'utf8'), 'random seed bytes');
    assert.equal(statSync(file('seed.out')).mode & 0o777, 0o600);
    assertFails(haloKeys(['decrypt', '--keyset', file('hmss.json'), '--passphrase-file', file('pw'), '--in', file('seed.enc'), '--out', file('x')]), 1, /decryption failed/);
    writeFileSync(file('badpw'), 'wrong');
    assertFails(haloKeys(['decrypt', '--keyset', file('hmss.json'), '--passphrase-file', file('badpw'), '--in', file('seed.enc'), '--out', file('x'), '--context-info', '0a0b']), 1, /wrong passphrase/);
  });

  it('decrypts a real Tink ciphertext with the CMMS fixture keyset', () => {
    const d = haloKeys([
      'decrypt',
      '--keyset',
      join(testdata, 'cmms-panelmatch-tink/mp-blob-encryption-private-key'),
      '--in',
      join(testdata, 'cmms-panelmatch-tink/edp-encrypted-hkdf-pepper'),
      '--out',
      file('pepper'),
    ]);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(readFileSync(file('pepper')), readFileSync(join(testdata, 'cmms-panelmatch-tink/edp-hkdf-pepper')));
    const pub = haloKeys(['keyset', 'public', '--in', join(testdata, 'cmms-secretfiles/mc_enc_private.tink'), '--out', file('mc_pub.tink')]);
    assert.equal(pub.code, 0, pub.stderr);
    assert.deepEqual(readFileSync(file('mc_pub.tink')), readFileSync(join(testdata, 'cmms-secretfiles/mc_enc_public.tink')));
  });

  it('bad input: one line on stderr, non-zero exit, no output file', () => {
    writeFileSync(file('msg'), 'hello');
    assertFails(haloKeys(['keyset', 'inspect', file('missing.tink')]), 1, /not found/);
    writeFileSync(file('junk.tink'), 'this is not a keyset');
    assertFails(haloKeys(['keyset', 'inspect', file('junk.tink')]), 1, /keyset/);
    assertFails(haloKeys(['encrypt', '--keyset', file('junk.tink'), '--in', file('msg'), '--out', file('nope')]), 1, /keyset/);
    assertFails(haloKeys(['encrypt', '--keyset', file('demo_enc_public.tink'), '--in', file('missing'), '--out', file('nope')]), 1, /not found/);
    assertFails(haloKeys(['encrypt', '--keyset', file('demo_enc_public.tink'), '--in', file('msg'), '--out', file('nope'), '--context-info', 'xyz']), 2, /hex/);
    assertFails(haloKeys(['decrypt', '--keyset', file('demo_enc_public.tink'), '--in', file('msg'), '--out', file('nope')]), 1, /private keyset/);
    const e = haloKeys(['encrypt', '--keyset', file('demo_enc_public.tink'), '--in', file('msg'), '--out', file('msg.enc')]);
    assert.equal(e.code, 0, e.stderr);
    // Wrong key: another party's private keyset.
    assertFails(haloKeys(['decrypt', '--keyset', join(testdata, 'cmms-secretfiles/edp1_enc_private.tink'), '--in', file('msg.enc'), '--out', file('nope')]), 1, /decryption failed/);
    assertFails(haloKeys(['keyset', 'generate', '--template', 'NOPE', '--out', file('nope')]), 2, /unknown key template/);
    assert.throws(() => statSync(file('nope')));
  });

  it('--help on every command shows an example', () => {
    for (const args of [['keyset'], ['keyset', 'generate'], ['keyset', 'public'], ['keyset', 'inspect'], ['encrypt'], ['decrypt']]) {
      const r = haloKeys([...args, '--help']);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, /Example/, args.join(' '));
    }
  });
});
