import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import {
  type CliResult,
  assertFails as assertCliFails,
  assertUsage,
  buildIfStale,
  fixture,
  haloKeys,
  repo,
  runBin,
  scratchDir,
  secretfiles,
} from './run-cli.js';

const { file } = scratchDir('encryption-public-keys-');

const epk = (args: string[], env: Record<string, string> = {}) => runBin('bin/EncryptionPublicKeys.js', args, env);
const assertFails = (r: CliResult, code: number, pattern: RegExp) => assertCliFails(r, code, pattern, 'EncryptionPublicKeys');

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

function opensslVerify(certDer: string, data: string, signature: string, digest = '-sha256'): boolean {
  const pub = file('openssl-pub.pem');
  writeFileSync(pub, execFileSync('openssl', ['x509', '-inform', 'DER', '-in', certDer, '-pubkey', '-noout']));
  const r = spawnSync('openssl', ['dgst', digest, '-verify', pub, '-signature', signature, data], { encoding: 'utf8' });
  return r.status === 0 && /Verified OK/.test(r.stdout);
}

/** Every fixture family with an encryption public key and a consent-signaling certificate and key. */
const families = readdirSync(secretfiles)
  .filter((n) => n.endsWith('_enc_public.tink'))
  .map((n) => n.slice(0, -'_enc_public.tink'.length))
  .filter((f) => existsSync(fixture(`${f}_cs_cert.der`)) && existsSync(fixture(`${f}_cs_private.der`)))
  .sort();

describe('EncryptionPublicKeys', () => {
  before(() => {
    buildIfStale('src/cli/encryption-public-keys.ts');
  });

  it('runs the upstream flow (serialize, sign, verify; openssl agrees) on every CMMS fixture family', (t) => {
    let passed = 0;
    for (const family of families) {
      const keyset = readFileSync(fixture(`${family}_enc_public.tink`));
      const pb = file(`${family}.pb`);
      const sig = file(`${family}.sig`);
      const s = epk(['serialize', `--data=${fixture(`${family}_enc_public.tink`)}`, `--out=${pb}`]);
      assert.equal(s.code, 0, `${family}: ${s.stderr}`);
      assert.equal(s.stdout, '');
      // Byte-exact: EncryptionPublicKey{format: TINK_KEYSET, data: <keyset bytes as read>}.
      assert.deepEqual(readFileSync(pb), Buffer.concat([Buffer.from([0x08, 0x01, 0x12, ...varint(keyset.length)]), keyset]), family);

      const g = epk(['sign', '--certificate', fixture(`${family}_cs_cert.der`), '--signing-key', fixture(`${family}_cs_private.der`), '--in', pb, '--out', sig]);
      assert.equal(g.code, 0, `${family}: ${g.stderr}`);
      assert.equal(g.stdout, 'Signature algorithm: ECDSA_WITH_SHA256 (1.2.840.10045.4.3.2)\n');
      assert.equal(g.stderr, '', family);
      assert.equal(readFileSync(sig)[0], 0x30, `${family}: DER signature`);

      const v = epk(['verify', '--certificate', fixture(`${family}_cs_cert.der`), '-i', pb, '--signature', sig]);
      assert.equal(v.code, 0, `${family}: ${v.stderr}`);
      assert.equal(v.stdout, 'Signature OK\nSignature algorithm: ECDSA_WITH_SHA256 (1.2.840.10045.4.3.2)\n');
      assert.ok(opensslVerify(fixture(`${family}_cs_cert.der`), pb, sig), `${family}: openssl dgst -verify`);

      const d = epk(['deserialize', '-i', pb, '-o', file(`${family}.tink`)]);
      assert.equal(d.code, 0, d.stderr);
      assert.deepEqual(readFileSync(file(`${family}.tink`)), keyset, `${family}: deserialize gives the keyset back`);
      passed++;
    }
    t.diagnostic(`upstream flow passed for ${passed}/${families.length} fixture families: ${families.join(' ')}`);
    assert.equal(passed, families.length);
    assert.ok(families.length >= 11, `expected at least 11 families, found ${families.length}`);
  });

  it('signs with a PEM certificate and a PEM or passphrase-encrypted key, with short flags', () => {
    const pb = file('edp2-pem.pb');
    assert.equal(epk(['serialize', '--data', fixture('edp2_enc_public.tink'), '-o', pb]).code, 0);
    writeFileSync(file('edp2_cs_cert.pem'), execFileSync('openssl', ['x509', '-inform', 'DER', '-in', fixture('edp2_cs_cert.der')]));
    writeFileSync(file('edp2_cs.key'), execFileSync('openssl', ['pkey', '-inform', 'DER', '-in', fixture('edp2_cs_private.der')]));
    writeFileSync(file('pass.txt'), 'correct horse\n');
    execFileSync('openssl', [
      'pkcs8', '-topk8', '-inform', 'DER', '-in', fixture('edp2_cs_private.der'), '-v2', 'aes-256-cbc',
      '-passout', `file:${file('pass.txt')}`, '-out', file('edp2_cs_enc.key'),
    ]);
    const base = ['sign', '--certificate', file('edp2_cs_cert.pem'), '-i', pb];
    const plain = epk([...base, '--signing-key', file('edp2_cs.key'), '-o', file('s1.sig')]);
    assert.equal(plain.code, 0, plain.stderr);
    const withFile = epk([...base, '--signing-key', file('edp2_cs_enc.key'), '--passphrase-file', file('pass.txt'), '-o', file('s2.sig')]);
    assert.equal(withFile.code, 0, withFile.stderr);
    const withEnv = epk([...base, '--signing-key', file('edp2_cs_enc.key'), '-o', file('s3.sig')], { HALO_KEYS_PASSPHRASE: 'correct horse' });
    assert.equal(withEnv.code, 0, withEnv.stderr);
    for (const s of ['s1.sig', 's2.sig', 's3.sig']) assert.ok(opensslVerify(fixture('edp2_cs_cert.der'), pb, file(s)), s);

    assertFails(epk([...base, '--signing-key', file('edp2_cs_enc.key'), '-o', file('s4.sig')]), 2, /encrypted: give --passphrase-file/);
    writeFileSync(file('wrong.txt'), 'wrong\n');
    const wrong = epk([...base, '--signing-key', file('edp2_cs_enc.key'), '--passphrase-file', file('wrong.txt'), '-o', file('s4.sig')]);
    assertFails(wrong, 1, /edp2_cs_enc\.key/);
    assert.doesNotMatch(wrong.stderr, /correct horse|wrong\n.*wrong/);
    assert.equal(existsSync(file('s4.sig')), false);
  });

  it('takes --signature-algorithm, notes the certificate fallback, and verify honours it', () => {
    const pb = file('edp3.pb');
    assert.equal(epk(['serialize', '--data', fixture('edp3_enc_public.tink'), '--out', pb]).code, 0);
    const r = epk(['sign', '--certificate', fixture('edp3_cs_cert.der'), '--signing-key', fixture('edp3_cs_private.der'),
      '--signature-algorithm=ECDSA_WITH_SHA384', '--in', pb, '--out', file('edp3.sig')]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Signature algorithm: ECDSA_WITH_SHA384 (1.2.840.10045.4.3.3)\n');
    assert.match(r.stderr, /^note: .*ECDSA_WITH_SHA256.*--public-key-signature-algorithm ECDSA_WITH_SHA384 to public-keys update\n$/);
    assert.ok(opensslVerify(fixture('edp3_cs_cert.der'), pb, file('edp3.sig'), '-sha384'));
    const verify = ['verify', '--certificate', fixture('edp3_cs_cert.der'), '--in', pb, '--signature', file('edp3.sig')];
    assertFails(epk(verify), 1, /signature is invalid.*ECDSA_WITH_SHA256/i);
    // Enum values are case-sensitive, as upstream's picocli reads them.
    assertUsage(epk([...verify, '--signature-algorithm', 'ecdsa_with_sha384']), /argument 'ecdsa_with_sha384' is invalid\. Allowed choices are ECDSA_WITH_SHA256, /);
    const ok = epk([...verify, '--signature-algorithm', 'ECDSA_WITH_SHA384', '--json']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), { verified: true, signatureAlgorithm: 'ECDSA_WITH_SHA384', signatureAlgorithmOid: '1.2.840.10045.4.3.3' });
  });

  it("reads flags as upstream's picocli does: -o=FILE, case-sensitive enums, --format FORMAT_UNSPECIFIED", () => {
    // picocli drops the "=" after a short option: -o=x1 writes x1, never "=x1".
    const r = runBin('bin/EncryptionPublicKeys.js', ['serialize', '--data', fixture('edp1_enc_public.tink'), `-o=${file('pc-x1')}`]);
    assert.equal(r.code, 0, r.stderr);
    const serialized = readFileSync(file('pc-x1'));
    assert.deepEqual([...serialized.subarray(0, 2)], [0x08, 0x01], 'format TINK_KEYSET');
    const sign = epk(['sign', '--certificate', fixture('edp1_cs_cert.der'), '--signing-key', fixture('edp1_cs_private.der'), `-i=${file('pc-x1')}`,
      `-o=${file('pc-x1.sig')}`]);
    assert.equal(sign.code, 0, sign.stderr);
    assert.ok(opensslVerify(fixture('edp1_cs_cert.der'), file('pc-x1'), file('pc-x1.sig')));
    // After "--" nothing is rewritten.
    assertUsage(epk(['serialize', '--data', fixture('edp1_enc_public.tink'), '--', '-o=x']), /required option '-o, --out <file>'/);

    // FORMAT_UNSPECIFIED is a value of the enum, so upstream writes it: the format field (0) is left out.
    const unspecified = epk(['serialize', '--format', 'FORMAT_UNSPECIFIED', '--data', fixture('edp1_enc_public.tink'), '--out', file('pc-unspecified.pb')]);
    assert.equal(unspecified.code, 0, unspecified.stderr);
    assert.deepEqual(readFileSync(file('pc-unspecified.pb')), serialized.subarray(2));
    // deserialize reads it back, as upstream's writes `data` whatever the format.
    const back = epk(['deserialize', '--in', file('pc-unspecified.pb'), '--out', file('pc-unspecified.tink'), '--json']);
    assert.equal(back.code, 0, back.stderr);
    assert.equal(JSON.parse(back.stdout).format, 'FORMAT_UNSPECIFIED');
    assert.deepEqual(readFileSync(file('pc-unspecified.tink')), readFileSync(fixture('edp1_enc_public.tink')));
    // Lowercase is not a name of the enum.
    assertUsage(epk(['serialize', '--format', 'tink_keyset', '--data', fixture('edp1_enc_public.tink'), '--out', file('pc-lower.pb')]),
      /argument 'tink_keyset' is invalid\. Allowed choices are FORMAT_UNSPECIFIED, TINK_KEYSET\./);
    assert.equal(existsSync(file('pc-lower.pb')), false);
  });

  it('refuses bad input with one line and a non-zero exit, writing nothing', () => {
    const pb = file('edp1.pb');
    assert.equal(epk(['serialize', '--data', fixture('edp1_enc_public.tink'), '--out', pb]).code, 0);
    writeFileSync(file('empty'), new Uint8Array(0));
    writeFileSync(file('garbage'), Buffer.from('this is not protobuf at all\xff\xff'));
    writeFileSync(file('edp1.json'), execFileSync(process.execPath, ['bin/halo-keys.js', 'keyset', 'inspect', fixture('edp1_enc_public.tink'), '--json'], { cwd: repo }));
    execFileSync(process.execPath, ['bin/halo-keys.js', 'keyset', 'public', '--in', fixture('edp1_enc_private.tink'), '--out', file('edp1_pub.json'), '--json-format'], { cwd: repo });
    // A serialized EncryptionPublicKey whose data is the private keyset.
    const priv = readFileSync(fixture('edp1_enc_private.tink'));
    writeFileSync(file('private.pb'), Buffer.concat([Buffer.from([0x08, 0x01, 0x12, ...varint(priv.length)]), priv]));
    const pub = readFileSync(fixture('edp1_enc_public.tink'));
    writeFileSync(file('unspecified.pb'), Buffer.concat([Buffer.from([0x12, ...varint(pub.length)]), pub]));
    const out = file('never-written');
    const signWith = (cert: string, key: string, input = pb, ...extra: string[]) =>
      epk(['sign', '--certificate', cert, '--signing-key', key, '--in', input, '--out', out, ...extra]);

    // serialize
    assertFails(epk(['serialize', '--data', file('missing.tink'), '--out', out]), 1, /key data not found: .*missing\.tink/);
    assertFails(epk(['serialize', '--data', fixture('edp1_cs_cert.der'), '--out', out]), 1, /edp1_cs_cert\.der: not a Tink keyset/);
    assertFails(epk(['serialize', '--data', fixture('edp1_enc_private.tink'), '--out', out]), 1, /secret key material.*public keyset/);
    assertFails(epk(['serialize', '--data', file('edp1_pub.json'), '--out', out]), 1, /JSON keyset.*binary/);
    assertFails(epk(['serialize', '--data', file('empty'), '--out', out]), 1, /empty/);
    assertFails(epk(['serialize', '--format', 'PEM', '--data', fixture('edp1_enc_public.tink'), '--out', out]), 2, /--format <format>' argument 'PEM' is invalid/);
    assertUsage(epk(['serialize', '--data', fixture('edp1_enc_public.tink')]), /required option '-o, --out <file>'/);

    // deserialize
    assertFails(epk(['deserialize', '--in', file('missing.pb'), '--out', out]), 1, /not found: .*missing\.pb/);
    assertFails(epk(['deserialize', '--in', file('garbage'), '--out', out]), 1, /garbage: not a serialized EncryptionPublicKey/);
    assertFails(epk(['deserialize', '--in', file('empty'), '--out', out]), 1, /empty: EncryptionPublicKey has no data/);
    assertFails(epk(['deserialize', '--in', file('private.pb'), '--out', out]), 1, /private\.pb: EncryptionPublicKey data: .*secret key material/);
    assertFails(epk(['deserialize', '--in', fixture('edp1_enc_public.tink'), '--out', out]), 1, /edp1_enc_public\.tink: /);
    assertUsage(epk(['deserialize', '--out', out]), /required option '-i, --in <file>'/);

    // sign
    const cert = fixture('edp1_cs_cert.der');
    const key = fixture('edp1_cs_private.der');
    assertFails(signWith(file('missing.der'), key), 1, /certificate not found: .*missing\.der/);
    assertFails(signWith(cert, file('missing.key')), 1, /signing key not found: .*missing\.key/);
    assertFails(signWith(cert, key, file('missing.pb')), 1, /input not found: .*missing\.pb/);
    assertFails(signWith(cert, fixture('edp2_cs_private.der')), 1, /edp2_cs_private\.der: the private key does not belong to the certificate/);
    assertFails(signWith(fixture('edp1_enc_public.tink'), key), 1, /edp1_enc_public\.tink: /);
    assertFails(signWith(cert, fixture('edp1_enc_public.tink')), 1, /edp1_enc_public\.tink: /);
    assertFails(signWith(cert, key, fixture('edp1_enc_public.tink')), 1, /not a serialized EncryptionPublicKey|format .* is not supported/);
    assertFails(signWith(cert, key, file('private.pb')), 1, /private\.pb: EncryptionPublicKey data: .*secret key material/);
    // Unlike deserialize, sign keeps to TINK_KEYSET: the Kingdom would refuse a signed key of another format.
    assertFails(signWith(cert, key, file('unspecified.pb')), 1, /unspecified\.pb: EncryptionPublicKey format FORMAT_UNSPECIFIED is not supported/);
    assertFails(signWith(cert, key, file('garbage')), 1, /not a serialized EncryptionPublicKey/);
    assertFails(signWith(cert, key, pb, '--signature-algorithm', 'MD5_WITH_RSA'), 2, /--signature-algorithm <name>' argument 'MD5_WITH_RSA' is invalid/);
    assertFails(signWith(cert, key, pb, '--signature-algorithm', 'SHA_256_WITH_RSA_ENCRYPTION'), 1, /SHA_256_WITH_RSA_ENCRYPTION|ec/i);
    assertUsage(epk(['sign', '--certificate', cert, '--in', pb, '--out', out]), /required option '--signing-key <file>'/);

    // verify
    assert.equal(signWith(cert, key, pb).code, 0);
    const verify = (c: string, input: string, sig: string) => epk(['verify', '--certificate', c, '--in', input, '--signature', sig]);
    assertFails(verify(fixture('edp2_cs_cert.der'), pb, out), 1, /signature is invalid/i);
    const tampered = Buffer.from(readFileSync(pb));
    tampered[tampered.length - 1]! ^= 0x01;
    writeFileSync(file('tampered.pb'), tampered);
    assertFails(verify(cert, file('tampered.pb'), out), 1, /signature is invalid|tampered\.pb/i);
    assertFails(verify(cert, pb, file('missing.sig')), 1, /signature not found/);
    assertFails(verify(cert, pb, file('garbage')), 1, /signature/i);
    rmSync(out);

    assert.equal(existsSync(out), false, 'no output file after failures');
    assertUsage(epk(['frobnicate']), /unknown command 'frobnicate'/);
  });

  it('generates a keyset pair and EncryptionPublicKey that sign, verify and encrypt; encrypts the private keyset on request', () => {
    const r = epk(['generate', '--private-out', file('g_private.tink'), '--public-out', file('g_public.tink'), '--encryption-public-key-out', file('g.pb'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const info = JSON.parse(r.stdout) as { keyId: number; template: string; encrypted: boolean };
    assert.equal(info.template, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM');
    assert.equal(info.encrypted, false);
    assert.match(r.stderr, /^note: .*unencrypted private keyset/);
    assert.equal(statSync(file('g_private.tink')).mode & 0o777, 0o600);
    const pub = readFileSync(file('g_public.tink'));
    assert.deepEqual(readFileSync(file('g.pb')), Buffer.concat([Buffer.from([0x08, 0x01, 0x12, ...varint(pub.length)]), pub]));

    const inspect = epk(['inspect', file('g.pb'), '--json']);
    assert.equal(inspect.code, 0, inspect.stderr);
    const described = JSON.parse(inspect.stdout) as { kind: string; primaryKeyId: number; keys: { keyMaterialType: string; template: string }[] };
    assert.equal(described.kind, 'EncryptionPublicKey');
    assert.equal(described.primaryKeyId, info.keyId);
    assert.equal(described.keys[0]!.keyMaterialType, 'ASYMMETRIC_PUBLIC');
    assert.equal(described.keys[0]!.template, 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM');

    // The generated pair works: encrypt to the public keyset, decrypt with the private one (halo-keys binary).
    writeFileSync(file('plain.txt'), 'requisition spec');
    const hk = (args: string[]) => haloKeys(args);
    assert.equal(hk(['encrypt', '--keyset', file('g_public.tink'), '--in', file('plain.txt'), '--out', file('ct.bin')]).code, 0);
    assert.equal(hk(['decrypt', '--keyset', file('g_private.tink'), '--in', file('ct.bin'), '--out', file('pt.txt')]).code, 0);
    assert.equal(readFileSync(file('pt.txt'), 'utf8'), 'requisition spec');

    // Sign and verify the generated key with a fixture certificate.
    const s = epk(['sign', '--certificate', fixture('mc_cs_cert.der'), '--signing-key', fixture('mc_cs_private.der'), '-i', file('g.pb'), '-o', file('g.sig')]);
    assert.equal(s.code, 0, s.stderr);
    assert.ok(opensslVerify(fixture('mc_cs_cert.der'), file('g.pb'), file('g.sig')));

    // Never replaces files without --force.
    assertFails(epk(['generate', '--private-out', file('g_private.tink'), '--public-out', file('other.tink')]), 2, /g_private\.tink already exists; pass --force/);
    assert.equal(existsSync(file('other.tink')), false);
    assertFails(epk(['generate', '--private-out', file('x.tink'), '--public-out', file('y.tink'), '--template', 'ROT13']), 2, /unknown key template ROT13/);
    assert.equal(existsSync(file('x.tink')), false);

    // With a passphrase the private keyset is encrypted at rest; its metadata stays readable.
    writeFileSync(file('gpass.txt'), 'keyset passphrase\n');
    const e = epk(['generate', '--private-out', file('e_private.tink'), '--public-out', file('e_public.tink'), '--passphrase-file', file('gpass.txt')]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(e.stderr, '');
    assert.match(e.stdout, /^Key id: \d+ \(ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM\)\nPrivate keyset: .*e_private\.tink \(encrypted\)\n/);
    assert.equal(readFileSync(file('e_private.tink')).includes(Buffer.from('EciesAeadHkdfPrivateKey')), true, 'metadata (type url) is cleartext');
    const meta = epk(['inspect', file('e_private.tink')]);
    assert.equal(meta.code, 0, meta.stderr);
    assert.match(meta.stdout, /encrypted keyset \(metadata only\), primary key \d+/);
    const full = epk(['inspect', file('e_private.tink'), '--passphrase-file', file('gpass.txt')]);
    assert.equal(full.code, 0, full.stderr);
    assert.match(full.stdout, /encrypted binary keyset, primary key \d+\n  key \d+ \(primary\): ENABLED TINK EciesAeadHkdfPrivateKey ASYMMETRIC_PRIVATE ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM\n$/);
    assertFails(epk(['inspect', file('e_private.tink'), '--passphrase-file', file('wrong-pass.txt')]), 1, /passphrase file not found/);
    writeFileSync(file('wrong-pass.txt'), 'nope\n');
    assertFails(epk(['inspect', file('e_private.tink'), '--passphrase-file', file('wrong-pass.txt')]), 1, /e_private\.tink: /);
  });

  it('inspects EncryptionPublicKeys and keysets in text and JSON', () => {
    const pb = file('mp1.pb');
    assert.equal(epk(['serialize', '--data', fixture('mp1_enc_public.tink'), '--out', pb]).code, 0);
    const text = epk(['inspect', pb]);
    assert.equal(text.code, 0, text.stderr);
    const size = readFileSync(pb).length;
    assert.equal(
      text.stdout,
      `${pb}: EncryptionPublicKey, format TINK_KEYSET, ${size} bytes; keyset primary key 1560273970\n` +
        '  key 1560273970 (primary): ENABLED TINK EciesAeadHkdfPublicKey ASYMMETRIC_PUBLIC ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM\n',
    );
    const keyset = epk(['inspect', fixture('mc_enc_public.tink'), '--json']);
    assert.equal(keyset.code, 0, keyset.stderr);
    const k = JSON.parse(keyset.stdout) as { kind: string; format?: string; primaryKeyId: number; keys: { primary: boolean }[] };
    assert.equal(k.kind, 'binary keyset');
    assert.equal(k.format, undefined);
    assert.equal(k.primaryKeyId, 1386479149);
    assert.equal(k.keys.length, 1);
    assert.equal(k.keys[0]!.primary, true);
    assertFails(epk(['inspect', fixture('edp1_cs_cert.der')]), 1, /neither a serialized EncryptionPublicKey nor a Tink keyset/);
    assertFails(epk(['inspect', file('missing.pb')]), 1, /input not found/);
    assertUsage(epk(['inspect']), /missing required argument 'file'/);
  });
});
