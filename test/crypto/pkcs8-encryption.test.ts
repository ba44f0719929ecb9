/**
 * Private keys at rest resist offline guessing: the CA and the keyring write
 * PBES2 with scrypt (not PBKDF2 at 2,048 iterations), the real `openssl pkey`
 * opens what we write, and keys written before are read and rewritten.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import { exportPrivateKeyDer, loadPrivateKey, privateKeyNeedsRewrite } from '../../src/crypto/keys.js';
import { decryptPkcs8, encryptPkcs8 } from '../../src/crypto/pkcs8-encryption.js';
import { ManualClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot } from '../../src/pki/ca.js';
import { createCaDirectory, openCa } from '../../src/pki/ca-store.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { Scratch, openssl } from '../pki/ca-fixtures.js';
import { PASSPHRASE, newKeyring } from '../rotation/fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());
const clock = new ManualClock('2026-03-01T12:00:00Z');

/** What Node's `KeyObject.export({ cipher })` writes: PBKDF2-HMAC-SHA256, 2,048 iterations. */
function legacyPem(key: KeyObject, passphrase: string): string {
  return key.export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase }) as string;
}

/** The KDF lines of `openssl asn1parse`. */
function kdfOf(file: string): string {
  const parsed = openssl(['asn1parse', '-in', file]);
  assert.equal(parsed.status, 0, parsed.stderr);
  return parsed.stdout;
}

function assertScrypt(file: string): void {
  const text = kdfOf(file);
  assert.match(text, /:PBES2/);
  assert.match(text, /:scrypt/);
  assert.doesNotMatch(text, /PBKDF2/);
  // N = 2^14, r = 8, p = 5 in the scrypt-params
  assert.match(text, /INTEGER\s+:4000\s*\n.*INTEGER\s+:08\s*\n.*INTEGER\s+:05/);
}

function assertOpensslOpens(file: string, passphrase: string, key: KeyObject): void {
  const ok = openssl(['pkey', '-in', file, '-passin', 'stdin', '-pubout', '-outform', 'PEM'], `${passphrase}\n`);
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(ok.stdout, createPublicKey(key).export({ format: 'pem', type: 'spki' }));
  const wrong = openssl(['pkey', '-in', file, '-passin', 'stdin', '-noout'], 'not the passphrase\n');
  assert.notEqual(wrong.status, 0);
}

const malformed = (err: unknown) => err instanceof CryptoError && err.code === 'KEY_MALFORMED' && !/[0-9a-f]{16}/.test(err.message);

describe('encrypted PKCS#8 at rest', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  it('writes PBES2 with scrypt that openssl pkey opens with the passphrase only', () => {
    const file = scratch.path('ours.pem');
    writeFileSync(file, encodePem('ENCRYPTED PRIVATE KEY', encryptPkcs8(privateKey, PASSPHRASE)));
    assertScrypt(file);
    assertOpensslOpens(file, PASSPHRASE, privateKey);
    const bytes = readFileSync(file);
    assert.deepEqual(exportPrivateKeyDer(loadPrivateKey(bytes, { passphrase: PASSPHRASE })), exportPrivateKeyDer(privateKey));
    assert.throws(() => loadPrivateKey(bytes, { passphrase: 'not the passphrase' }), malformed);
    assert.equal(privateKeyNeedsRewrite(bytes), false);
  });

  it('reads keys openssl wrote with -scrypt, and the old PBKDF2 form, which it flags for rewriting', () => {
    const plain = scratch.path('plain.pem');
    writeFileSync(plain, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const fromOpenssl = scratch.path('openssl-scrypt.pem');
    const made = openssl(['pkcs8', '-topk8', '-scrypt', '-in', plain, '-passout', 'stdin', '-out', fromOpenssl], `${PASSPHRASE}\n`);
    assert.equal(made.status, 0, made.stderr);
    const theirs = readFileSync(fromOpenssl);
    assert.ok(loadPrivateKey(theirs, { passphrase: PASSPHRASE }).equals(privateKey));
    assert.throws(() => loadPrivateKey(theirs, { passphrase: 'not the passphrase' }), malformed);

    const old = Buffer.from(legacyPem(privateKey, PASSPHRASE));
    const oldFile = scratch.path('old.pem');
    writeFileSync(oldFile, old);
    assert.match(kdfOf(oldFile), /PBKDF2/);
    assert.ok(loadPrivateKey(old, { passphrase: PASSPHRASE }).equals(privateKey));
    assert.equal(privateKeyNeedsRewrite(old), true);
  });

  it('refuses scrypt parameters beyond what openssl reads, writing and reading', () => {
    assert.throws(() => encryptPkcs8(privateKey, PASSPHRASE, { scrypt: { log2N: 15, r: 8, p: 1 } }), malformed);
    // r = 8 -> r = 16 in a file we wrote: 32 MiB of V, past OpenSSL's limit.
    const der = Buffer.from(encryptPkcs8(privateKey, PASSPHRASE));
    const at = der.indexOf(Buffer.from([0x02, 0x02, 0x40, 0x00, 0x02, 0x01, 0x08, 0x02, 0x01, 0x05]));
    assert.ok(at > 0);
    der[at + 6] = 0x10;
    assert.throws(() => decryptPkcs8(der, PASSPHRASE), malformed);
  });
});

describe('the CA key', () => {
  it('is written under scrypt; a CA key written under PBKDF2 opens and is rewritten under scrypt', () => {
    const passphrase = 'correct horse battery staple';
    const root = initRoot({ subject: '/O=Halo CMM/CN=At Rest CA', clock });
    const dir = scratch.path('ca');
    createCaDirectory(dir, { certificateDer: root.der, privateKey: root.privateKey, passphrase });
    const keyPath = join(dir, 'ca.key');
    assertScrypt(keyPath);
    assertOpensslOpens(keyPath, passphrase, root.privateKey);

    writeFileSync(keyPath, legacyPem(root.privateKey, passphrase), { mode: 0o600 });
    assert.match(kdfOf(keyPath), /PBKDF2/);
    assert.ok(openCa(dir, passphrase).privateKey.equals(root.privateKey));
    assertScrypt(keyPath);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assertOpensslOpens(keyPath, passphrase, root.privateKey);
    assert.ok(openCa(dir, passphrase).privateKey.equals(root.privateKey));
  });
});

describe('the keyring keys', () => {
  it('are written under scrypt with the keyring salt; an old PBKDF2 key is read and rewritten', () => {
    const dir = scratch.path('keyring');
    newKeyring(dir, clock);
    const entry = activeEntry(readKeyring(dir), 'tls')!;
    const keyPath = join(dir, entry.privateKeyFile!);
    assertScrypt(keyPath);
    assert.match(kdfOf(keyPath), new RegExp(`\\[HEX DUMP\\]:${readKeyring(dir).keysetKdf!.salt.toUpperCase()}`));
    const open = () => KeyringSession.open(dir, { clock, passphrase: () => PASSPHRASE });
    const key = open().material.privateKey(entry);
    assertOpensslOpens(keyPath, PASSPHRASE, key);

    writeFileSync(keyPath, legacyPem(key, PASSPHRASE), { mode: 0o600 });
    assert.ok(open().material.privateKey(entry).equals(key));
    assertScrypt(keyPath);
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assertOpensslOpens(keyPath, PASSPHRASE, key);
  });
});
