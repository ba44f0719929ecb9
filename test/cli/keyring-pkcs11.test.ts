/**
 * `halo-keys init --signing-pkcs11-uri` and the keyring commands with the
 * signing key on a real SoftHSM2 token made here: status says where each key
 * lives, registration signs on the token (checked with openssl and
 * `EncryptionPublicKeys verify`), and a bad PIN, a missing token, a missing
 * object and a key of the wrong type each stop a command with one line,
 * writing nothing.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hashTree } from '../rotation/fixtures.js';
import { MODULE, PIN, softhsmToken } from '../rotation/softhsm.js';
import { assertFails, buildIfStale, haloKeys as runHaloKeys, runBin, scratchDir } from './run-cli.js';

buildIfStale('src/rotation/token-keys.ts');
const { dir: scratch, file } = scratchDir('halo-keys-cli-keyring-pkcs11-');
const token = softhsmToken(scratch, 'edp-hsm');
const base = { ...token.env, HALO_KEYS_PASSPHRASE: 'keyring passphrase' };
const env = { ...base, HALO_KEYS_PKCS11_PIN: PIN };
const haloKeys = (args: string[], e: Record<string, string> = env) => runHaloKeys(args, e);
const tokenUri = `pkcs11:token=${token.label};object=edp1`;
const dir = file('edp1');

function init(target: string, e: Record<string, string> = env) {
  return haloKeys(
    ['init', '--dir', target, '--participant', 'dataProviders', '--subject', '/O=EDP 1/CN=edp1.example.com', '--dns', 'edp1.example.com', '--create-ca', '--signing-pkcs11-uri', tokenUri, '--pkcs11-module', MODULE],
    e,
  );
}

function statusRows(): Array<{ id: string; kind: string; state: string; key: string }> {
  return JSON.parse(haloKeys(['status', '--dir', dir, '--json']).stdout).rows;
}

describe('halo-keys keyring with the signing key on a PKCS#11 token (SoftHSM2)', () => {
  it('init generates the signing key on the token; status shows each key where it lives; registration signs on the token', () => {
    const made = init(dir);
    assert.equal(made.code, 0, made.stderr);
    const rows = statusRows();
    const signing = rows.find((r) => r.kind === 'signing')!;
    assert.equal(signing.key, `${tokenUri}-${signing.id}`);
    assert.match(rows.find((r) => r.kind === 'tls')!.key, /^keys\/tls-.*\.key\.pem$/);
    assert.equal(rows.find((r) => r.kind === 'encryption')!.key, 'keys/encryption_private.tink');
    assert.match(haloKeys(['status', '--dir', dir]).stdout, new RegExp(`KEY[\\s\\S]*${signing.key.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.equal(existsSync(join(dir, 'keys', `${signing.id}.key.pem`)), false, 'no key file for a token key');
    const yaml = readFileSync(join(dir, 'halo-keys.yaml'), 'utf8');
    assert.match(yaml, /pkcs11:\n\s+uri: pkcs11:token=edp-hsm;object=edp1\n\s+module: \/usr\/lib\/softhsm\/libsofthsm2.so/);

    // The PIN from --pin-file this time; the environment has none.
    const pinFile = file('pin');
    writeFileSync(pinFile, `${PIN}\n`, { mode: 0o600 });
    const out = file('registration');
    const r = haloKeys(['registration', '--dir', dir, '--out-dir', out, '--pin-file', pinFile], base);
    assert.equal(r.code, 0, r.stderr);
    const cert = join(out, 'signing_cert.der');
    const verified = runBin('bin/EncryptionPublicKeys.js', ['verify', '--certificate', cert, '--in', join(out, 'encryption_public_key.bin'), '--signature', join(out, 'encryption_public_key.sig')]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /Signature OK/);
    const pub = file('signing.pub.pem');
    writeFileSync(pub, spawnSync('openssl', ['x509', '-inform', 'DER', '-in', cert, '-noout', '-pubkey'], { encoding: 'utf8' }).stdout);
    const dgst = spawnSync('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', join(out, 'encryption_public_key.sig'), join(out, 'encryption_public_key.bin')], { encoding: 'utf8' });
    assert.equal(dgst.status, 0, dgst.stderr);
    const leafPem = file('signing.pem');
    writeFileSync(leafPem, spawnSync('openssl', ['x509', '-inform', 'DER', '-in', cert], { encoding: 'utf8' }).stdout);
    const chained = spawnSync('openssl', ['verify', '-CAfile', join(out, 'root.pem'), leafPem], { encoding: 'utf8' });
    assert.equal(chained.status, 0, chained.stderr);
    for (const f of ['halo-keys.yaml', 'keyring.json', 'audit.jsonl']) assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), new RegExp(PIN), f);
  });

  it('a keyring whose CA key is on the token issues its leaves there', () => {
    const other = file('edp2');
    const ca = join(other, 'ca');
    const root = haloKeys(['ca', 'init', '--dir', ca, '--subject', '/O=EDP 2/CN=EDP 2 Root', '--pkcs11-uri', `pkcs11:token=${token.label};object=edp2-root`, '--pkcs11-module', MODULE]);
    assert.equal(root.code, 0, root.stderr);
    const made = haloKeys(['init', '--dir', other, '--participant', 'dataProviders', '--subject', '/O=EDP 2/CN=edp2.example.com', '--dns', 'edp2.example.com']);
    assert.equal(made.code, 0, made.stderr);
    const tls = JSON.parse(haloKeys(['status', '--dir', other, '--json']).stdout).rows.find((r: { kind: string }) => r.kind === 'tls');
    const verified = spawnSync('openssl', ['verify', '-CAfile', join(ca, 'ca.pem'), join(other, 'keys', `${tls.id}.crt.pem`)], { encoding: 'utf8' });
    assert.equal(verified.status, 0, verified.stderr);
    assert.equal(existsSync(join(ca, 'ca.key')), false);
  });

  it('a bad PIN, a missing token, a missing object and a key of the wrong type: one line each, exit 1, nothing written', () => {
    const labelsBefore = token.privateKeyLabels();
    assertFails(init(file('badpin'), { ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /login to PKCS#11 token "edp-hsm" failed: wrong PIN/);
    assert.equal(existsSync(file('badpin')), false);
    assert.deepEqual(token.privateKeyLabels(), labelsBefore, 'a failed init leaves no key on the token');

    const before = hashTree(dir);
    const untouched = (what: string) => {
      assert.deepEqual(hashTree(dir), before, what);
      assert.equal(existsSync(join(dir, 'journal.json')), false, what);
    };
    assertFails(haloKeys(['rotate', '--dir', dir, '--tls'], { ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /login to PKCS#11 token "edp-hsm" failed: wrong PIN/);
    untouched('bad PIN');
    assertFails(haloKeys(['registration', '--dir', dir, '--out-dir', file('reg-badpin')], { ...env, HALO_KEYS_PKCS11_PIN: '999999' }), 1, /wrong PIN/);
    assert.equal(existsSync(file('reg-badpin')), false);
    untouched('bad PIN, registration');
    assertFails(haloKeys(['rotate', '--dir', dir, '--tls'], base), 1, /a key of this keyring is on a PKCS#11 token: set HALO_KEYS_PKCS11_PIN or pass --pin-file FILE/);
    untouched('no PIN');

    // The configured token is not there (a different label; the module loads).
    const yamlPath = join(dir, 'halo-keys.yaml');
    const yaml = readFileSync(yamlPath, 'utf8');
    writeFileSync(yamlPath, yaml.replace('token=edp-hsm', 'token=absent'));
    const moved = hashTree(dir);
    assertFails(haloKeys(['rotate', '--dir', dir, '--tls']), 1, /no PKCS#11 token labelled "absent"/);
    assert.deepEqual(hashTree(dir), moved);
    writeFileSync(yamlPath, yaml);

    const signing = statusRows().find((r) => r.kind === 'signing' && r.state === 'active')!;
    const label = signing.key.split('object=')[1]!;
    // The active key is gone from the token.
    assert.equal(token.tool(['--delete-object', '--type', 'privkey', '--label', label]).code, 0);
    assert.equal(token.tool(['--delete-object', '--type', 'pubkey', '--label', label]).code, 0);
    assertFails(haloKeys(['registration', '--dir', dir, '--out-dir', file('reg-missing')]), 1, new RegExp(`no key "${label}" on PKCS#11 token "edp-hsm"`));
    assert.equal(existsSync(file('reg-missing')), false);
    untouched('missing object');

    // A P-384 key under the label of the keyring's P-256 signing key.
    assert.equal(token.tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', label, '--id', 'b7']).code, 0);
    assertFails(haloKeys(['registration', '--dir', dir, '--out-dir', file('reg-wrongtype')]), 1, new RegExp(`"${label}" on token "edp-hsm" is a p384 key; the certificate of ${signing.id} is for a p256 key`));
    assert.equal(existsSync(file('reg-wrongtype')), false);
    untouched('wrong key type');
  });
});
