import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { assertFails, assertUsage, buildIfStale, fixture, haloKeys, scratchDir } from './run-cli.js';

const { file } = scratchDir('halo-keys-cli-sig-');

const sign = (...extra: string[]) => [
  'sign', '--certificate', fixture('edp1_cs_cert.der'), '--signing-key', fixture('edp1_cs_private.der'),
  '--in', file('input.bin'), '--out', file('input.sig'), ...extra,
];

describe('halo-keys sign / verify', () => {
  before(() => {
    buildIfStale('src/cli/commands/signature.ts');
    writeFileSync(file('input.bin'), readFileSync(fixture('edp1_enc_public.tink')));
  });

  it('signs, prints the algorithm like EncryptionPublicKeys sign, and the signature verifies (ours and openssl)', () => {
    const r = haloKeys(sign());
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Signature algorithm: ECDSA_WITH_SHA256 (1.2.840.10045.4.3.2)\n');
    assert.equal(r.stderr, '');
    const sig = readFileSync(file('input.sig'));
    assert.equal(sig[0], 0x30);
    const v = haloKeys(['verify', '--certificate', fixture('edp1_cs_cert.der'), '--in', file('input.bin'), '--signature', file('input.sig')]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^Signature OK\n/);
    writeFileSync(file('pub.pem'), execFileSync('openssl', ['x509', '-inform', 'DER', '-in', fixture('edp1_cs_cert.der'), '-pubkey', '-noout']));
    const out = execFileSync('openssl', ['dgst', '-sha256', '-verify', file('pub.pem'), '-signature', file('input.sig'), file('input.bin')]);
    assert.match(out.toString(), /Verified OK/);
  });

  it('takes --signature-algorithm and notes when it differs from the certificate fallback', () => {
    const r = haloKeys(sign('--signature-algorithm', 'ECDSA_WITH_SHA384'));
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'Signature algorithm: ECDSA_WITH_SHA384 (1.2.840.10045.4.3.3)\n');
    assert.match(r.stderr, /^note: .*ECDSA_WITH_SHA256/);
    const base = ['verify', '--certificate', fixture('edp1_cs_cert.der'), '--in', file('input.bin'), '--signature', file('input.sig')];
    assertFails(haloKeys(base), 1, /signature is invalid.*ECDSA_WITH_SHA256/);
    assert.equal(haloKeys([...base, '--signature-algorithm', 'ECDSA_WITH_SHA384']).code, 0);
    assertFails(haloKeys(sign('--signature-algorithm', 'SHA1_WITH_RSA')), 2, /unknown --signature-algorithm/);
    assertFails(haloKeys(sign('--signature-algorithm', 'SHA_256_WITH_RSA_ENCRYPTION')), 1, /cannot sign with a ec/);
  });

  it('reads an encrypted PKCS#8 signing key with --passphrase-file or HALO_KEYS_PASSPHRASE, never a flag value', () => {
    execFileSync('openssl', ['pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-inform', 'DER', '-in', fixture('edp1_cs_private.der'),
      '-passout', 'pass:hunter2 hunter2', '-out', file('enc.pem')]);
    writeFileSync(file('pass.txt'), 'hunter2 hunter2\n');
    const args = (...extra: string[]) => ['sign', '--certificate', fixture('edp1_cs_cert.der'), '--signing-key', file('enc.pem'),
      '--in', file('input.bin'), '--out', file('enc.sig'), ...extra];
    assert.equal(haloKeys(args('--passphrase-file', file('pass.txt'))).code, 0);
    assert.equal(haloKeys(args(), { HALO_KEYS_PASSPHRASE: 'hunter2 hunter2' }).code, 0);
    assertFails(haloKeys(args()), 2, /is encrypted: give --passphrase-file or set HALO_KEYS_PASSPHRASE/);
    const wrong = haloKeys(args(), { HALO_KEYS_PASSPHRASE: 'wrong' });
    assertFails(wrong, 1, /wrong passphrase/);
    assert.doesNotMatch(wrong.stderr, /hunter2/);
    assertUsage(haloKeys(args('--passphrase', 'x')), /unknown option '--passphrase'/);
  });

  it('fails with one line and no output file on bad input', () => {
    rmSync(file('bad.sig'), { force: true });
    const args = (cert: string, key: string, input = file('input.bin')) =>
      ['sign', '--certificate', cert, '--signing-key', key, '--in', input, '--out', file('bad.sig')];
    assertFails(haloKeys(args(fixture('edp1_cs_cert.der'), fixture('edp2_cs_private.der'))), 1, /does not belong to the certificate/);
    assertFails(haloKeys(args(fixture('missing.der'), fixture('edp1_cs_private.der'))), 1, /certificate not found/);
    assertFails(haloKeys(args(fixture('edp1_cs_cert.der'), fixture('edp1_cs_private.der'), file('missing.bin'))), 1, /input not found/);
    assertFails(haloKeys(args(fixture('edp1_enc_public.tink'), fixture('edp1_cs_private.der'))), 1, /edp1_enc_public\.tink: not a DER or PEM certificate$/);
    assertFails(haloKeys(args(fixture('edp1_cs_cert.der'), fixture('edp1_enc_private.tink'))), 1, /edp1_enc_private\.tink: private key/);
    assert.ok(!existsSync(file('bad.sig')));
    assertUsage(haloKeys(['sign', '--certificate', fixture('edp1_cs_cert.der')]), /required option/);

    writeFileSync(file('tampered.bin'), Buffer.concat([readFileSync(file('input.bin')), Buffer.of(0)]));
    haloKeys(sign());
    const verify = (input: string, sig: string, cert = fixture('edp1_cs_cert.der')) =>
      haloKeys(['verify', '--certificate', cert, '--in', input, '--signature', sig]);
    assertFails(verify(file('tampered.bin'), file('input.sig')), 1, /signature is invalid/);
    assertFails(verify(file('input.bin'), file('input.sig'), fixture('edp2_cs_cert.der')), 1, /signature is invalid/);
    writeFileSync(file('garbage.sig'), 'not a signature');
    assertFails(verify(file('input.bin'), file('garbage.sig')), 1, /ECDSA signature/);
    assertFails(verify(file('input.bin'), file('missing.sig')), 1, /signature not found/);
  });

  it('has --help with an example', () => {
    for (const cmd of ['sign', 'verify']) {
      const r = haloKeys([cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, new RegExp(`Example:\\n  halo-keys ${cmd} --certificate`));
    }
  });
});
