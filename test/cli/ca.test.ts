import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type CliResult, assertFails as assertOneLine, assertUsage, haloKeys as runHaloKeys, scratchDir } from './run-cli.js';

const { file } = scratchDir('halo-keys-cli-ca-');
const passphrase = 'edp1 ca passphrase';
const haloKeys = (args: string[], env: Record<string, string> = { HALO_KEYS_CA_PASSPHRASE: passphrase }) => runHaloKeys(args, env);

function openssl(args: string[]) {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status, out: r.stdout + r.stderr };
}

/**
 * One line on stderr either way: run-cli's `assertFails` for our own errors
 * (`halo-keys: ...`), its `assertUsage` for commander's (`error: ... (see --help)`),
 * since these cases mix both under exit 2.
 */
function assertFails(r: CliResult, code: number, pattern: RegExp) {
  if (r.stderr.startsWith('error: ')) {
    assert.equal(code, 2, `a usage error exits 2, not ${code}`);
    assertUsage(r, pattern);
  } else {
    assertOneLine(r, code, pattern);
  }
}

const ca = file('edp1-ca');

describe('halo-keys ca', () => {
  it('init creates an encrypted root and prints its SHA-256 fingerprint', () => {
    const r = haloKeys(['ca', 'init', '--dir', ca, '--subject', '/O=Halo CMM/CN=Edp1 CA', '--host', 'dev.halo-cmm.org', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    const fp = openssl(['x509', '-in', join(ca, 'ca.pem'), '-noout', '-fingerprint', '-sha256']).out;
    assert.equal(fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase(), out.fingerprintSha256);
    assert.equal(statSync(join(ca, 'ca.key')).mode & 0o777, 0o600);
    assert.match(readFileSync(join(ca, 'ca.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    const text = haloKeys(['ca', 'init', '--dir', file('other-ca'), '--subject', '/CN=Other', '--key-type', 'ed25519']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /SHA-256 fingerprint.*\n  ([0-9A-F]{2}:){31}[0-9A-F]{2}\n/);
  });

  it('refuses a missing or wrong passphrase, an existing CA and bad flags', () => {
    assertFails(haloKeys(['ca', 'init', '--dir', file('nopass'), '--subject', '/CN=X'], {}), 1, /HALO_KEYS_CA_PASSPHRASE/);
    assert.equal(existsSync(file('nopass')), false);
    assertFails(haloKeys(['ca', 'init', '--dir', ca, '--subject', '/CN=X']), 1, /already holds a CA/);
    assertFails(
      haloKeys(['ca', 'crl', '--dir', ca, '--out', file('x.crl')], { HALO_KEYS_CA_PASSPHRASE: 'wrong passphrase' }),
      1,
      /cannot decrypt the CA key .*wrong passphrase/,
    );
    assertFails(haloKeys(['ca', 'init', '--dir', file('bad'), '--subject', '/CN=X', '--key-type', 'p521']), 2, /Allowed choices/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('bad'), '--subject', '/CN=X', '--days', '3', '--not-before', '2026-01-01T00:00:00Z']), 2, /not both/);
    assertFails(haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'signing', '--subject', '/CN=x', '--out', file('x.pem')]), 2, /exactly one of --csr/);
    assertFails(haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'bogus', '--key-out', file('k'), '--out', file('x.pem')]), 2, /Allowed choices/);
    const withFile = file('pass.txt');
    writeFileSync(withFile, `${passphrase}\n`);
    const ok = haloKeys(['ca', 'crl', '--dir', ca, '--out', file('first.crl'), '--passphrase-file', withFile], {});
    assert.equal(ok.code, 0, ok.stderr);
  });

  it('issues leaves that openssl verifies, from a fresh key and from an openssl CSR', () => {
    const r = haloKeys([
      'ca', 'issue', '--dir', ca, '--profile', 'tls-server', '--subject', '/O=Halo CMM/CN=edp1',
      '--dns', 'localhost', '--dns', '*.edp1.dev.halo-cmm.org', '--ip', '127.0.0.1', '--days', '30',
      '--key-out', file('edp1_tls.key'), '--out', file('edp1_tls.pem'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(file('edp1_tls.key')).mode & 0o777, 0o600);
    const v = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), '-purpose', 'sslserver', '-verify_hostname', 'localhost', file('edp1_tls.pem')]);
    assert.equal(v.code, 0, v.out);
    const keyMatches =
      openssl(['pkey', '-in', file('edp1_tls.key'), '-pubout']).out === openssl(['x509', '-in', file('edp1_tls.pem'), '-noout', '-pubkey']).out;
    assert.ok(keyMatches);

    const req = openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('mc.key'), '-out', file('mc.csr'), '-subj', '/O=Halo CMM/CN=Mc']);
    assert.equal(req.code, 0, req.out);
    const fromCsr = haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'signing', '--csr', file('mc.csr'), '--out', file('mc_cs_cert.der'), '--der', '--json']);
    assert.equal(fromCsr.code, 0, fromCsr.stderr);
    assert.equal(JSON.parse(fromCsr.stdout).subject, 'CN=Mc,O=Halo CMM');
    const t = openssl(['x509', '-inform', 'DER', '-in', file('mc_cs_cert.der'), '-noout', '-text']).out;
    assert.match(t, /Digital Signature, Non Repudiation/);
    const pem = openssl(['x509', '-inform', 'DER', '-in', file('mc_cs_cert.der'), '-out', file('mc_cs_cert.pem')]);
    assert.equal(pem.code, 0);
    assert.equal(openssl(['verify', '-CAfile', join(ca, 'ca.pem'), file('mc_cs_cert.pem')]).code, 0);

    assertFails(
      haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'signing', '--subject', '/CN=long', '--days', '5000', '--key-out', file('l.key'), '--out', file('l.pem')]),
      1,
      /outlive its issuer/,
    );
    assert.equal(existsSync(file('l.pem')), false, 'no partial output');
    assert.equal(existsSync(file('l.key')), false, 'no partial output');
    assertFails(
      haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'signing', '--subject', '/CN=x', '--key-out', file('edp1_tls.key'), '--out', file('x.pem')]),
      2,
      /refusing to overwrite a private key/,
    );
  });

  it('builds an intermediate under a path length and refuses one below it', () => {
    const inter = file('edp1-tls-ca');
    const r = haloKeys([
      'ca', 'intermediate', '--dir', ca, '--out-dir', inter, '--subject', '/O=Halo CMM/CN=Edp1 TLS CA', '--path-len', '0',
      '--permit-dns', 'edp1.dev.halo-cmm.org', '--days', '365',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const leaf = haloKeys([
      'ca', 'issue', '--dir', inter, '--profile', 'tls', '--subject', '/CN=svc', '--dns', 'svc.edp1.dev.halo-cmm.org',
      '--key-out', file('svc.key'), '--out', file('svc.pem'), '--chain', '--days', '30',
    ]);
    assert.equal(leaf.code, 0, leaf.stderr);
    // --chain put the intermediate after the leaf.
    const v = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), '-untrusted', file('svc.pem'), '-purpose', 'sslclient', file('svc.pem')]);
    assert.equal(v.code, 0, v.out);
    assertFails(
      haloKeys(['ca', 'issue', '--dir', inter, '--profile', 'tls', '--subject', '/CN=x', '--dns', 'evil.example', '--key-out', file('e.key'), '--out', file('e.pem')]),
      1,
      /outside the permitted names/,
    );
    assertFails(haloKeys(['ca', 'intermediate', '--dir', inter, '--out-dir', file('deeper'), '--subject', '/CN=Deeper', '--days', '30']), 1, /pathLenConstraint 0/);
  });

  it('cross-signs a new root for a rotation overlap', () => {
    const next = file('edp1-ca-2');
    assert.equal(haloKeys(['ca', 'init', '--dir', next, '--subject', '/O=Halo CMM/CN=Edp1 CA 2', '--key-type', 'p384']).code, 0);
    const r = haloKeys(['ca', 'cross-sign', '--dir', ca, '--new-root', join(next, 'ca.pem'), '--out', file('cross.pem')]);
    assert.equal(r.code, 0, r.stderr);
    const leaf = haloKeys(['ca', 'issue', '--dir', next, '--profile', 'tls-client', '--subject', '/CN=edp1', '--key-out', file('n.key'), '--out', file('n.pem')]);
    assert.equal(leaf.code, 0, leaf.stderr);
    const v = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), '-untrusted', file('cross.pem'), file('n.pem')]);
    assert.equal(v.code, 0, v.out);
  });

  it('revokes by serial and publishes a CRL that openssl verifies and applies', () => {
    const serial = openssl(['x509', '-in', file('edp1_tls.pem'), '-noout', '-serial']).out.trim().split('=')[1]!;
    const r = haloKeys(['ca', 'revoke', '--dir', ca, '--serial', serial, '--reason', 'keyCompromise']);
    assert.equal(r.code, 0, r.stderr);
    assertFails(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', serial]), 1, /already revoked/);
    assertFails(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', 'zz']), 2, /not a hex serial/);
    assertFails(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', serial, '--reason', 'because']), 2, /Allowed choices/);
    const crl = haloKeys(['ca', 'crl', '--dir', ca, '--out', file('edp1.crl'), '--next-update-days', '3', '--json']);
    assert.equal(crl.code, 0, crl.stderr);
    const out = JSON.parse(crl.stdout);
    assert.equal(out.crlNumber, '2');
    assert.equal(out.revoked, 1);
    const check = openssl(['crl', '-in', file('edp1.crl'), '-CAfile', join(ca, 'ca.pem'), '-verify', '-noout', '-text']);
    assert.equal(check.code, 0, check.out);
    assert.match(check.out, /verify OK/);
    assert.match(check.out, /Key Compromise/);
    const v = openssl(['verify', '-crl_check', '-CRLfile', file('edp1.crl'), '-CAfile', join(ca, 'ca.pem'), file('edp1_tls.pem')]);
    assert.notEqual(v.code, 0);
    assert.match(v.out, /certificate revoked/);
    const holdSerial = openssl(['x509', '-in', file('mc_cs_cert.pem'), '-noout', '-serial']).out.trim().split('=')[1]!;
    assert.equal(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', holdSerial, '--reason', 'certificateHold']).code, 0);
    assert.equal(haloKeys(['ca', 'release-hold', '--dir', ca, '--serial', holdSerial]).code, 0);
    assertFails(haloKeys(['ca', 'release-hold', '--dir', ca, '--serial', serial]), 1, /not on hold/);
  });

  it('has help with an example on every command', () => {
    for (const cmd of ['init', 'intermediate', 'cross-sign', 'issue', 'revoke', 'release-hold', 'crl']) {
      const r = haloKeys(['ca', cmd, '--help']);
      assert.equal(r.code, 0);
      assert.match(r.stdout, /Example/, cmd);
    }
  });
});
