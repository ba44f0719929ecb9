/**
 * The keyring's private encryption keyset is in the same passphrase envelope
 * as `halo-keys keyset encrypt`, so the standard keyset commands open it with
 * the keyring passphrase; a keyset from an older keyring (sealed under a raw
 * key derived from the passphrase) is read and rewritten in the envelope.
 */
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { decryptKeyset, encryptKeyset, parseEncryptedKeyset, serializeEncryptedKeyset } from '../../src/crypto/keyset-encryption.js';
import { readKeyset } from '../../src/crypto/keyset-io.js';
import { keysetBytes, parseKeyset } from '../../src/crypto/keyset.js';
import { RotationError } from '../../src/rotation/errors.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { LOCK_FILE } from '../../src/rotation/journal/lock.js';
import { rotate } from '../../src/rotation/rotate.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { buildIfStale, haloKeys } from '../cli/run-cli.js';
import { NOW, openTestKingdom, type TestKingdom } from '../kingdom/fixtures.js';
import { DAY, ManualClock, PASSPHRASE, newKeyring, portFor, registerDataProvider, scratch } from './fixtures.js';

const at = new Date('2026-03-01T00:00:00Z');
const dirs: Array<{ remove(): void }> = [];
after(() => dirs.forEach((d) => d.remove()));
const fresh = () => {
  const s = scratch('halo-keyset-envelope-');
  dirs.push(s);
  return s.dir;
};

function passphraseFile(dir: string): string {
  const file = join(dir, 'passphrase.txt');
  writeFileSync(file, `${PASSPHRASE}\n`, { mode: 0o600 });
  return file;
}

function open(dir: string, clock = new ManualClock(at), passphrase = PASSPHRASE): KeyringSession {
  return KeyringSession.open(dir, { clock, passphrase: () => passphrase });
}

/** The envelope header up to the IV: magic, version, KDF, scrypt parameters, salt. */
function envelopeHeader(file: string): Buffer {
  const parsed = parseEncryptedKeyset(readFileSync(file));
  assert.ok(parsed, `${file} is an encrypted keyset`);
  const env = Buffer.from(parsed.encrypted.encryptedKeyset);
  assert.equal(env[5], 1, 'scrypt (passphrase) envelope');
  return env.subarray(0, 10 + env[9]!);
}

/** Rewrites the keyring's keyset as keyrings before the passphrase envelope stored it: sealed under scrypt(passphrase, keysetKdf) as a raw key. */
function makeLegacy(dir: string): Uint8Array {
  const keyring = readKeyring(dir);
  const file = join(dir, keyring.encryptionKeyset);
  const keyset = readKeyset(readFileSync(file), { passphrase: PASSPHRASE }).keyset;
  const kdf = keyring.keysetKdf!;
  const key = new Uint8Array(scryptSync(PASSPHRASE, Buffer.from(kdf.salt, 'hex'), 32, { N: 2 ** kdf.log2N, r: kdf.r, p: kdf.p, maxmem: 64 << 20 }));
  const legacy = serializeEncryptedKeyset(encryptKeyset(keyset, { key }));
  writeFileSync(file, legacy, { mode: 0o600 });
  assert.throws(() => readKeyset(legacy, { passphrase: PASSPHRASE }), { code: 'KEYSET_DECRYPTION_FAILED' });
  return keysetBytes(keyset);
}

let kingdom: TestKingdom;
before(async () => {
  buildIfStale('src/cli/commands/keyset.ts');
  kingdom = await openTestKingdom();
});
after(() => kingdom.close());

describe('the keyring keyset envelope', () => {
  it('halo-keys keyset inspect and public open a new keyring\'s keyset with the passphrase, before and after a rotation', async () => {
    const dir = fresh();
    const clock = new ManualClock(new Date(NOW.getTime() - 40 * DAY));
    const registered = newKeyring(dir, clock, { kingdom: { target: 'localhost:1', trustedRoots: 'kingdom_root.pem' } });
    await registerDataProvider(kingdom, registered);
    const pass = passphraseFile(dir);
    const file = join(dir, readKeyring(dir).encryptionKeyset);
    const check = () => {
      const active = activeEntry(readKeyring(dir), 'encryption')!;
      const inspect = haloKeys(['keyset', 'inspect', file, '--passphrase-file', pass, '--json']);
      assert.equal(inspect.code, 0, inspect.stderr);
      const shown = JSON.parse(inspect.stdout);
      assert.equal(shown.form, 'encrypted binary');
      assert.equal(shown.primaryKeyId, active.tinkKeyId);
      const out = join(dir, 'public.tink');
      const pub = haloKeys(['keyset', 'public', '--in', file, '--out', out, '--passphrase-file', pass]);
      assert.equal(pub.code, 0, pub.stderr);
      assert.equal(parseKeyset(readFileSync(out)).primaryKeyId, active.tinkKeyId);
      return shown.keys.length as number;
    };
    assert.equal(check(), 1);
    const header = envelopeHeader(file);

    clock.set(NOW);
    const session = open(dir, clock);
    // The in-memory Kingdom of the service suites; the target above is never dialled.
    const result = await rotate(session, { kinds: ['encryption'], kingdom: () => portFor(kingdom, session) });
    assert.ok(result.steps.every((s) => s.status === 'done'));
    assert.equal(check(), 2, 'old and new key');
    // Every rewrite keeps the keyring's salt and parameters: one derivation per run.
    assert.deepEqual(envelopeHeader(file), header);
    assert.equal(header.subarray(10).toString('hex'), readKeyring(dir).keysetKdf!.salt);

    const wrong = join(dir, 'wrong.txt');
    writeFileSync(wrong, 'not the passphrase\n');
    const refused = haloKeys(['keyset', 'inspect', file, '--passphrase-file', wrong]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^halo-keys: cannot decrypt the keyset/);
  });

  it('a keyset of an older keyring is read with the passphrase and rewritten in the envelope on first use', () => {
    const dir = fresh();
    newKeyring(dir, new ManualClock(at));
    const plain = makeLegacy(dir);
    const file = join(dir, readKeyring(dir).encryptionKeyset);
    const pass = passphraseFile(dir);
    assert.equal(haloKeys(['keyset', 'inspect', file, '--passphrase-file', pass]).code, 1, 'the standard command cannot open the old form');

    const session = open(dir);
    assert.deepEqual(keysetBytes(session.material.loadEncryptionKeyset(readKeyring(dir).encryptionKeyset)), plain);
    // Rewritten: the passphrase opens it, with the keyring's salt, and the keys are the same.
    const header = envelopeHeader(file);
    assert.equal(header.subarray(10).toString('hex'), readKeyring(dir).keysetKdf!.salt);
    assert.deepEqual(keysetBytes(decryptKeyset(parseEncryptedKeyset(readFileSync(file))!.encrypted, { passphrase: PASSPHRASE })), plain);
    const inspect = haloKeys(['keyset', 'inspect', file, '--passphrase-file', pass]);
    assert.equal(inspect.code, 0, inspect.stderr);
    assert.match(inspect.stdout, /encrypted binary keyset/);
    // The conversion left no lock behind and a fresh session reads the new form.
    assert.throws(() => readFileSync(join(dir, LOCK_FILE)), { code: 'ENOENT' });
    assert.deepEqual(keysetBytes(open(dir).material.loadEncryptionKeyset(readKeyring(dir).encryptionKeyset)), plain);
  });

  it('while another process holds the keyring lock the old form is read but left as it is', () => {
    const dir = fresh();
    newKeyring(dir, new ManualClock(at));
    const plain = makeLegacy(dir);
    const file = join(dir, readKeyring(dir).encryptionKeyset);
    const before = readFileSync(file);
    // pid 1 always runs: a live owner on this host, so the lock is respected.
    writeFileSync(join(dir, LOCK_FILE), `${JSON.stringify({ pid: 1, host: hostname(), startedAt: at.toISOString(), command: 'rotate' })}\n`);
    assert.deepEqual(keysetBytes(open(dir).material.loadEncryptionKeyset(readKeyring(dir).encryptionKeyset)), plain);
    assert.deepEqual(readFileSync(file), before, 'not rewritten under another process\'s lock');
    assert.equal(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid, 1, 'the lock is untouched');
  });

  it('a wrong passphrase is PASSPHRASE_WRONG for both forms, and changes nothing', () => {
    const dir = fresh();
    newKeyring(dir, new ManualClock(at));
    const relative = readKeyring(dir).encryptionKeyset;
    const file = join(dir, relative);
    const expectWrong = (err: unknown) => err instanceof RotationError && err.code === 'PASSPHRASE_WRONG' && !err.message.includes(PASSPHRASE);
    assert.throws(() => open(dir, undefined, 'a different passphrase').material.loadEncryptionKeyset(relative), expectWrong);
    makeLegacy(dir);
    const before = readFileSync(file);
    assert.throws(() => open(dir, undefined, 'a different passphrase').material.loadEncryptionKeyset(relative), expectWrong);
    assert.deepEqual(readFileSync(file), before);
  });
});
