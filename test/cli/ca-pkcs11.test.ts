/**
 * A CA whose key lives on a real SoftHSM2 token, created here in a scratch
 * directory: `ca init --pkcs11-uri` generates (or uses) the key there, and
 * what the CA then signs (leaf, CRL, cross certificate) is checked with the
 * real `openssl`. The token tools come from scripts/test-tools.sh.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { assertFails, haloKeys as runHaloKeys, scratchDir } from './run-cli.js';

const { dir: scratch, file } = scratchDir('halo-keys-cli-ca-pkcs11-');
const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const PIN = '246810';
const TOKEN = 'halo-ca';

const softhsmConf = file('softhsm2.conf');
writeFileSync(softhsmConf, `directories.tokendir = ${file('tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
spawnSync('mkdir', ['-p', file('tokens')]);
const tokenEnv = { SOFTHSM2_CONF: softhsmConf };

function tool(command: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(command, args, { env: { ...process.env, ...tokenEnv, ...env }, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}
const openssl = (args: string[]) => tool('openssl', args);
const pkcs11 = (args: string[]) => tool('pkcs11-tool', ['--module', MODULE, '--token-label', TOKEN, ...args], { TEST_PIN: PIN });

const init = tool('softhsm2-util', ['--init-token', '--free', '--label', TOKEN, '--pin', PIN, '--so-pin', '13579']);
assert.equal(init.code, 0, init.out);

const env = { ...tokenEnv, HALO_KEYS_PKCS11_MODULE: MODULE, HALO_KEYS_PKCS11_PIN: PIN };
const haloKeys = (args: string[], e: Record<string, string> = env) => runHaloKeys(args, e);
const uri = (object: string) => `pkcs11:token=${TOKEN};object=${object}`;

/** A token root of `keyType`; returns its directory. */
function tokenCa(object: string, keyType: string): string {
  const ca = file(`ca-${object}`);
  const r = haloKeys(['ca', 'init', '--dir', ca, '--subject', `/O=Halo CMM/CN=Token ${object}`, '--key-type', keyType, '--pkcs11-uri', uri(object), '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).pkcs11Uri, uri(object));
  return ca;
}

describe('halo-keys ca with the key on a PKCS#11 token (SoftHSM2)', () => {
  for (const [keyType, openSslKey] of [
    ['p256', /ASN1 OID: prime256v1/],
    ['rsa3072', /Public-Key: \(3072 bit\)/],
    ['p384', /ASN1 OID: secp384r1/],
  ] as const) {
    it(`${keyType}: the root, a leaf, a CRL and a cross certificate are signed on the token and pass openssl`, () => {
      const ca = tokenCa(`root-${keyType}`, keyType);
      // The directory records the URI and module, never a PIN, and holds no key file.
      const record = readFileSync(join(ca, 'ca-pkcs11.json'), 'utf8');
      assert.deepEqual(JSON.parse(record), { uri: uri(`root-${keyType}`), module: MODULE });
      assert.doesNotMatch(record, new RegExp(PIN));
      assert.equal(existsSync(join(ca, 'ca.key')), false);
      assert.match(openssl(['x509', '-in', join(ca, 'ca.pem'), '-noout', '-text']).out, openSslKey);
      // The private key was generated on the token and cannot leave it.
      const objects = pkcs11(['--login', '--pin', 'env:TEST_PIN', '--list-objects', '--type', 'privkey', '--label', `root-${keyType}`]).out;
      assert.match(objects, /Access:\s+sensitive, always sensitive, never extractable, local/);
      assert.equal(openssl(['verify', '-CAfile', join(ca, 'ca.pem'), join(ca, 'ca.pem')]).code, 0);

      const leaf = file(`leaf-${keyType}.pem`);
      const issued = haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'tls-server', '--subject', '/CN=edp1', '--dns', 'edp1.example', '--key-out', file(`leaf-${keyType}.key`), '--out', leaf]);
      assert.equal(issued.code, 0, issued.stderr);
      const verified = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), leaf]);
      assert.equal(verified.code, 0, verified.out);

      const serial = openssl(['x509', '-in', leaf, '-noout', '-serial']).out.trim().split('=')[1]!;
      assert.equal(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', serial, '--reason', 'keyCompromise']).code, 0);
      const crl = file(`${keyType}.crl`);
      const crlRun = haloKeys(['ca', 'crl', '--dir', ca, '--out', crl]);
      assert.equal(crlRun.code, 0, crlRun.stderr);
      const crlCheck = openssl(['crl', '-in', crl, '-CAfile', join(ca, 'ca.pem'), '-noout', '-verify']);
      assert.equal(crlCheck.code, 0, crlCheck.out);
      assert.match(crlCheck.out, /verify OK/);
      const revoked = openssl(['verify', '-crl_check', '-CAfile', join(ca, 'ca.pem'), '-CRLfile', crl, leaf]);
      assert.notEqual(revoked.code, 0);
      assert.match(revoked.out, /certificate revoked/);

      // Root rotation: a successor root kept in a key file, cross-signed by the token root.
      const successor = file(`successor-${keyType}`);
      const made = haloKeys(['ca', 'init', '--dir', successor, '--subject', `/O=Halo CMM/CN=Successor ${keyType}`], { HALO_KEYS_CA_PASSPHRASE: 'successor passphrase' });
      assert.equal(made.code, 0, made.stderr);
      const cross = file(`cross-${keyType}.pem`);
      const crossRun = haloKeys(['ca', 'cross-sign', '--dir', ca, '--new-root', join(successor, 'ca.pem'), '--out', cross]);
      assert.equal(crossRun.code, 0, crossRun.stderr);
      const crossCheck = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), cross]);
      assert.equal(crossCheck.code, 0, crossCheck.out);
    });
  }

  it('uses a key already on the token, and the PIN comes from --pin-file as well', () => {
    assert.equal(pkcs11(['--login', '--pin', 'env:TEST_PIN', '--keypairgen', '--key-type', 'EC:prime256v1', '--label', 'existing', '--id', 'e1']).code, 0);
    const publicDer = spawnSync('pkcs11-tool', ['--module', MODULE, '--token-label', TOKEN, '--read-object', '--type', 'pubkey', '--label', 'existing'], { env: { ...process.env, ...tokenEnv } }).stdout;
    const pinFile = file('pin.txt');
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    const ca = file('ca-existing');
    const r = haloKeys(['ca', 'init', '--dir', ca, '--subject', '/CN=Existing', '--pkcs11-uri', `${uri('existing')}?module-path=${MODULE}`, '--pin-file', pinFile], tokenEnv);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /key: {10}pkcs11:token=halo-ca;object=existing \(on the token\)/);
    const spki = openssl(['x509', '-in', join(ca, 'ca.pem'), '-noout', '-pubkey']).out;
    assert.equal(spki.replace(/-----[^-]+-----|\s/g, ''), Buffer.from(publicDer).toString('base64'));
    // An intermediate under the token root keeps its own key in a file, under its passphrase.
    const inter = file('inter-existing');
    const made = haloKeys(['ca', 'intermediate', '--dir', ca, '--out-dir', inter, '--subject', '/CN=Existing TLS CA', '--path-len', '0', '--pin-file', pinFile], {
      ...tokenEnv,
      HALO_KEYS_CA_PASSPHRASE: 'intermediate passphrase',
    });
    assert.equal(made.code, 0, made.stderr);
    assert.match(readFileSync(join(inter, 'ca.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    const verified = openssl(['verify', '-CAfile', join(ca, 'ca.pem'), join(inter, 'ca.pem')]);
    assert.equal(verified.code, 0, verified.out);
  });

  it('an intermediate under a root in a key file keeps its own key on the token and issues from there', () => {
    const root = file('file-root');
    const rootEnv = { ...env, HALO_KEYS_CA_PASSPHRASE: 'file root passphrase' };
    assert.equal(haloKeys(['ca', 'init', '--dir', root, '--subject', '/O=Halo CMM/CN=File Root'], rootEnv).code, 0);
    const inter = file('token-intermediate');
    const made = haloKeys(['ca', 'intermediate', '--dir', root, '--out-dir', inter, '--subject', '/O=Halo CMM/CN=Token TLS CA', '--path-len', '0', '--key-type', 'p384', '--pkcs11-uri', uri('intermediate'), '--json'], rootEnv);
    assert.equal(made.code, 0, made.stderr);
    assert.deepEqual(JSON.parse(readFileSync(join(inter, 'ca-pkcs11.json'), 'utf8')), { uri: uri('intermediate'), module: MODULE });
    assert.equal(existsSync(join(inter, 'ca.key')), false);
    assert.match(pkcs11(['--login', '--pin', 'env:TEST_PIN', '--list-objects', '--type', 'privkey', '--label', 'intermediate']).out, /never extractable/);
    assert.match(openssl(['x509', '-in', join(inter, 'ca.pem'), '-noout', '-text']).out, /ASN1 OID: secp384r1/);
    assert.equal(openssl(['verify', '-CAfile', join(root, 'ca.pem'), join(inter, 'ca.pem')]).code, 0);
    // A leaf signed on the token by the intermediate chains to the file root.
    const leaf = file('intermediate-leaf.pem');
    const issued = haloKeys(['ca', 'issue', '--dir', inter, '--profile', 'tls-server', '--subject', '/CN=edp1', '--dns', 'edp1.example', '--key-out', file('intermediate-leaf.key'), '--out', leaf]);
    assert.equal(issued.code, 0, issued.stderr);
    const verified = openssl(['verify', '-CAfile', join(root, 'ca.pem'), '-untrusted', join(inter, 'ca.pem'), leaf]);
    assert.equal(verified.code, 0, verified.out);
  });

  it('refuses a bad PIN, a missing token, a missing object and a key of the wrong type in one line, writing nothing', () => {
    const ca = tokenCa('guarded', 'p256');
    const stateBefore = readFileSync(join(ca, 'ca-state.json'), 'utf8');
    const out = file('refused.pem');
    const issue = (e: Record<string, string>) =>
      haloKeys(['ca', 'issue', '--dir', ca, '--profile', 'signing', '--subject', '/CN=x', '--key-out', file('refused.key'), '--out', out], e);

    assertFails(issue({ ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /login to PKCS#11 token "halo-ca" failed: wrong PIN/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('badpin'), '--subject', '/CN=X', '--pkcs11-uri', uri('guarded')], { ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /wrong PIN/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('badpin'), '--subject', '/CN=X', '--pkcs11-uri', uri('fresh')], { ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /wrong PIN/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('notoken'), '--subject', '/CN=X', '--pkcs11-uri', 'pkcs11:token=absent;object=k']), 1, /no PKCS#11 token labelled "absent"/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('nomodule'), '--subject', '/CN=X', '--pkcs11-uri', uri('k'), '--pkcs11-module', file('none.so')]), 1, /cannot load the PKCS#11 module/);

    // The key under the CA's recorded URI is gone from the token.
    assert.equal(pkcs11(['--login', '--pin', 'env:TEST_PIN', '--delete-object', '--type', 'pubkey', '--label', 'guarded']).code, 0);
    assertFails(issue(env), 1, /no key "guarded" on PKCS#11 token "halo-ca"/);

    assert.equal(pkcs11(['--login', '--pin', 'env:TEST_PIN', '--keypairgen', '--key-type', 'rsa:2048', '--label', 'rsa2048', '--id', 'a2']).code, 0);
    assertFails(haloKeys(['ca', 'init', '--dir', file('wrongtype'), '--subject', '/CN=X', '--pkcs11-uri', uri('rsa2048')]), 1, /"rsa2048" on token "halo-ca" is a RSA-2048 key; a token CA key must be p256, p384, rsa3072/);

    // Usage: no PIN, no module, a PIN inside the URI, a key type the token CA does not take.
    assertFails(haloKeys(['ca', 'init', '--dir', file('nopin'), '--subject', '/CN=X', '--pkcs11-uri', uri('k')], { ...tokenEnv, HALO_KEYS_PKCS11_MODULE: MODULE }), 2, /HALO_KEYS_PKCS11_PIN or pass --pin-file/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('nomod'), '--subject', '/CN=X', '--pkcs11-uri', uri('k')], { ...tokenEnv, HALO_KEYS_PKCS11_PIN: PIN }), 2, /name the PKCS#11 module/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('pinuri'), '--subject', '/CN=X', '--pkcs11-uri', `${uri('k')}?pin-value=${PIN}`]), 1, /a PIN does not belong in the PKCS#11 URI/);
    assertFails(haloKeys(['ca', 'init', '--dir', file('ed'), '--subject', '/CN=X', '--key-type', 'ed25519', '--pkcs11-uri', uri('ed')]), 2, /a token CA key must be p256, p384, rsa3072/);

    for (const d of ['badpin', 'notoken', 'nomodule', 'wrongtype', 'nopin', 'nomod', 'pinuri', 'ed']) assert.equal(existsSync(file(d)), false, d);
    assert.equal(existsSync(out), false);
    assert.equal(existsSync(file('refused.key')), false);
    assert.equal(readFileSync(join(ca, 'ca-state.json'), 'utf8'), stateBefore);
    assert.ok(readdirSync(scratch).length > 0);
  });
});
