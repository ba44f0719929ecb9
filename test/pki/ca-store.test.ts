import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { initRoot, issueLeaf } from '../../src/pki/ca.js';
import { resolvePassphrase } from '../../src/pki/ca-key-file.js';
import {
  addRevocation,
  createCaDirectory,
  openCa,
  readCaState,
  recordFor,
  releaseHold,
  takeCrlNumber,
  withCaLock,
  writeCaState,
} from '../../src/pki/ca-store.js';
import { PkiError } from '../../src/pki/errors.js';
import { Scratch, openssl } from './ca-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());
const clock = new ManualClock('2026-03-01T12:00:00Z');
const passphrase = 'correct horse battery staple';
const is = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

describe('CA directory', () => {
  const dir = scratch.path('edp1-ca');
  const root = initRoot({ subject: '/O=Halo CMM/CN=Edp1 CA', clock });
  createCaDirectory(dir, { certificateDer: root.der, privateKey: root.privateKey, passphrase });

  it('writes the key encrypted, mode 0600, readable by openssl with the passphrase only', () => {
    const keyPath = join(dir, 'ca.key');
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    const pem = readFileSync(keyPath, 'utf8');
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/);
    assert.doesNotMatch(pem, /BEGIN PRIVATE KEY/);
    const ok = openssl(['pkey', '-in', keyPath, '-passin', 'stdin', '-pubout'], `${passphrase}\n`);
    assert.equal(ok.status, 0, ok.stderr);
    const bad = openssl(['pkey', '-in', keyPath, '-passin', 'pass:wrong passphrase', '-pubout']);
    assert.notEqual(bad.status, 0);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
  });

  it('opens with the right passphrase; a wrong one is CA_KEY_LOCKED without key material in the message', () => {
    const ca = openCa(dir, passphrase);
    assert.equal(ca.certificate.fingerprintSha256, root.certificate.fingerprintSha256);
    assert.throws(
      () => openCa(dir, 'not the passphrase'),
      (e: unknown) => is('CA_KEY_LOCKED')(e) && !/BEGIN|PRIVATE KEY-----/.test((e as Error).message),
    );
  });

  it('refuses to overwrite a CA, weak passphrases and unencrypted keys', () => {
    assert.throws(() => createCaDirectory(dir, { certificateDer: root.der, privateKey: root.privateKey, passphrase }), is('INVALID_REQUEST'));
    const other = initRoot({ subject: '/CN=Other', clock });
    assert.throws(() => createCaDirectory(scratch.path('weak'), { certificateDer: other.der, privateKey: other.privateKey, passphrase: 'short' }), is('INVALID_REQUEST'));
    const plainDir = scratch.path('plain');
    createCaDirectory(plainDir, { certificateDer: other.der, privateKey: other.privateKey, passphrase });
    writeFileSync(join(plainDir, 'ca.key'), other.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    assert.throws(() => openCa(plainDir, passphrase), is('CA_KEY_LOCKED'));
  });

  it('records issuance and revocations, holds and releases, and numbers CRLs upwards', () => {
    const ca = openCa(dir, passphrase);
    const leaf = issueLeaf(ca, { profile: 'signing', subject: '/CN=edp1', clock });
    withCaLock(dir, () => {
      const state = readCaState(dir);
      state.issued.push(recordFor(leaf.certificate, 'signing'));
      writeCaState(dir, state);
    });
    const state = readCaState(dir);
    assert.equal(state.issued.length, 2);
    const serial = state.issued[1]!.serialHex;
    assert.throws(() => addRevocation(state, 'abcd', 'keyCompromise', clock.now()), is('INVALID_REQUEST'));
    addRevocation(state, serial.toUpperCase().match(/../g)!.join(':'), 'certificateHold', clock.now());
    assert.throws(() => addRevocation(state, serial, 'certificateHold', clock.now()), is('INVALID_REQUEST'));
    releaseHold(state, serial);
    assert.equal(state.revoked.length, 0);
    addRevocation(state, serial, 'certificateHold', clock.now());
    addRevocation(state, serial, 'keyCompromise', clock.now());
    assert.equal(state.revoked[0]!.reason, 'keyCompromise');
    assert.throws(() => releaseHold(state, serial), is('INVALID_REQUEST'));
    assert.equal(takeCrlNumber(state), 1n);
    assert.equal(takeCrlNumber(state), 2n);
  });

  it('holds a lock so concurrent writers fail fast, and releases it afterwards', () => {
    withCaLock(dir, () => {
      assert.throws(() => withCaLock(dir, () => 0), is('INVALID_REQUEST'));
    });
    assert.equal(withCaLock(dir, () => 42), 42);
  });

  it('takes over a lock whose owner on this host no longer runs, and respects a live one', () => {
    const lockFile = join(dir, 'ca.lock');
    const exited = spawnSync(process.execPath, ['-e', '']);
    assert.equal(exited.status, 0);
    const owner = (pid: number) => `${JSON.stringify({ pid, host: hostname(), startedAt: '2026-03-01T00:00:00.000Z', command: 'halo-keys ca' })}\n`;
    writeFileSync(lockFile, owner(exited.pid!));
    assert.equal(withCaLock(dir, () => 'taken over'), 'taken over');
    assert.equal(existsSync(lockFile), false, 'released afterwards');
    // The parent of this test process is alive: its lock stands, and is left in place.
    writeFileSync(lockFile, owner(process.ppid));
    assert.throws(() => withCaLock(dir, () => 0), (e: unknown) => is('INVALID_REQUEST')(e) && (e as Error).message.includes(`pid ${process.ppid}`));
    assert.equal(existsSync(lockFile), true);
    rmSync(lockFile);
  });

  it('reads the passphrase from a file first, then the environment, else CA_KEY_LOCKED', () => {
    const file = scratch.text('pass.txt', 'from file\n');
    assert.equal(resolvePassphrase({ file, env: { HALO_KEYS_CA_PASSPHRASE: 'from env' } }), 'from file');
    assert.equal(resolvePassphrase({ env: { HALO_KEYS_CA_PASSPHRASE: 'from env' } }), 'from env');
    assert.throws(() => resolvePassphrase({ env: {} }), is('CA_KEY_LOCKED'));
    assert.throws(() => resolvePassphrase({ file: scratch.path('missing') }), (e: unknown) => (e as { code?: string }).code === 'FILE_NOT_FOUND');
  });

  it('rejects a damaged state file with a typed error', () => {
    const bad = scratch.path('bad-state');
    const b = initRoot({ subject: '/CN=B', clock });
    createCaDirectory(bad, { certificateDer: b.der, privateKey: b.privateKey, passphrase });
    for (const content of ['not json', '{"version":2}', '{"version":1,"lastCrlNumber":"x","issued":[],"revoked":[]}']) {
      writeFileSync(join(bad, 'ca-state.json'), content);
      assert.throws(() => readCaState(bad), is('INVALID_REQUEST'));
    }
  });
});
