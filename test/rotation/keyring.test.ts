import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { parseKeyset, publicKeyset } from '../../src/crypto/keyset.js';
import { readCaState } from '../../src/pki/ca-store.js';
import { RotationError } from '../../src/rotation/errors.js';
import { importKeyring, initKeyring } from '../../src/rotation/keyring-init.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { planRotation } from '../../src/rotation/plan.js';
import { collectStatus } from '../../src/rotation/status.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { DAY, ManualClock, PASSPHRASE, cmmsDir, configValues, newKeyring, scratch } from './fixtures.js';

const at = new Date('2026-03-01T00:00:00Z');
const dirs: Array<{ remove(): void }> = [];
after(() => dirs.forEach((d) => d.remove()));
const fresh = () => {
  const s = scratch();
  dirs.push(s);
  return s.dir;
};

describe('keyring init', () => {
  it('creates a CA, a TLS and a signing certificate and an encryption key, all active, keys encrypted and 0600', () => {
    const dir = fresh();
    const session = newKeyring(dir, new ManualClock(at));
    const keyring = readKeyring(dir);
    assert.deepEqual(keyring.entries.map((e) => `${e.kind}:${e.state}`).sort(), ['encryption:active', 'signing:active', 'tls:active']);
    for (const e of keyring.entries.filter((x) => x.kind !== 'encryption')) {
      const keyPath = join(dir, e.privateKeyFile!);
      assert.equal(statSync(keyPath).mode & 0o777, 0o600);
      const pem = readFileSync(keyPath, 'utf8');
      assert.match(pem, /BEGIN ENCRYPTED PRIVATE KEY/);
      // openssl reads it with the passphrase, and its public key is the certificate's.
      const pub = execFileSync('openssl', ['pkey', '-in', keyPath, '-passin', `pass:${PASSPHRASE}`, '-pubout'], { encoding: 'utf8' });
      const certPub = execFileSync('openssl', ['x509', '-in', join(dir, e.certificateFile!), '-noout', '-pubkey'], { encoding: 'utf8' });
      assert.equal(pub, certPub);
      assert.equal(e.createdAt, at.toISOString());
    }
    // The TLS leaf chains to the new CA and carries the configured names.
    const tls = activeEntry(keyring, 'tls')!;
    execFileSync('openssl', ['verify', '-attime', String(at.getTime() / 1000 + 60), '-CAfile', join(dir, 'ca/ca.pem'), join(dir, tls.certificateFile!)]);
    const text = execFileSync('openssl', ['x509', '-in', join(dir, tls.certificateFile!), '-noout', '-ext', 'subjectAltName,extendedKeyUsage'], { encoding: 'utf8' });
    assert.match(text, /DNS:localhost/);
    assert.match(text, /IP Address:127\.0\.0\.1/);
    assert.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/);
    // The encryption keyset is encrypted at rest; the passphrase opens it.
    assert.equal(statSync(join(dir, keyring.encryptionKeyset)).mode & 0o777, 0o600);
    assert.throws(() => parseKeyset(readFileSync(join(dir, keyring.encryptionKeyset))));
    const keyset = session.material.loadEncryptionKeyset(keyring.encryptionKeyset);
    assert.equal(keyset.primaryKeyId, activeEntry(keyring, 'encryption')!.tinkKeyId);
    // The CA records both issuances.
    const issued = readCaState(join(dir, 'ca')).issued.map((r) => r.kind).sort();
    assert.deepEqual(issued, ['root', 'signing', 'tls']);
    // Every creation is in a valid audit chain.
    const v = session.audit.verify();
    assert.equal(v.ok, true, v.problems.join('; '));
    assert.deepEqual(session.audit.entries().map((e) => e.action), ['ca.create', 'key.create', 'key.create', 'key.create', 'keyring.init']);
    // The log names keys by SKID and fingerprint only.
    const log = readFileSync(join(dir, 'audit.jsonl'), 'utf8');
    assert.doesNotMatch(log, /PRIVATE KEY/);
  });

  it('a ModelProvider or Duchy keyring holds certificates only: no encryption keyset, none planned, none missed', async () => {
    for (const participant of ['modelProviders', 'duchies/worker1']) {
      const dir = fresh();
      const session = newKeyring(dir, new ManualClock(at), { participant });
      const keyring = readKeyring(dir);
      assert.deepEqual(keyring.entries.map((e) => e.kind).sort(), ['signing', 'tls'], participant);
      assert.equal(existsSync(join(dir, keyring.encryptionKeyset)), false, `${participant}: no private keyset on disk`);
      // Much later both certificates are overdue, and nothing is said of an encryption key.
      const later = KeyringSession.open(dir, { clock: new ManualClock(new Date(at.getTime() + 400 * DAY)), passphrase: () => PASSPHRASE });
      const status = await collectStatus(later);
      const problems = status.problems.map((p) => `${p.code}:${p.message.split(' ')[0]}`);
      assert.ok(problems.includes('expired:tls') && problems.includes('expired:signing'), problems.join(', '));
      assert.ok(!status.problems.some((p) => /encryption/.test(p.message)), problems.join(', '));
      assert.deepEqual(planRotation(later, { kinds: ['tls'] }).kinds, ['tls']);
      assert.throws(
        () => planRotation(session, { kinds: ['encryption'] }),
        (e: unknown) => e instanceof RotationError && e.code === 'PRECONDITION_FAILED' && /holds no encryption key/.test(e.message),
      );
    }
  });

  it('refuses to overwrite an existing keyring, and needs a CA or --create-ca', () => {
    const dir = fresh();
    newKeyring(dir, new ManualClock(at));
    assert.throws(() => newKeyring(dir, new ManualClock(at)), (e: unknown) => e instanceof RotationError && e.code === 'KEYRING_EXISTS');
    const other = fresh();
    assert.throws(
      () => initKeyring({ dir: other, clock: new ManualClock(at), passphrase: () => PASSPHRASE, config: configValues() }),
      (e: unknown) => e instanceof RotationError && e.code === 'CONFIG_INVALID' && /--create-ca/.test(e.message),
    );
  });

  it('rejects a bad config with a named field', () => {
    const dir = fresh();
    writeFileSync(join(dir, 'halo-keys.yaml'), 'participant: dataProviders\nsubject: /CN=x\ntls:\n  dnsNames: [a]\npolicy:\n  tls:\n    every: soon\n');
    assert.throws(
      () => initKeyring({ dir, clock: new ManualClock(at), passphrase: () => PASSPHRASE, createCa: { subject: '/CN=ca' } }),
      (e: unknown) => e instanceof RotationError && e.code === 'CONFIG_INVALID' && /policy\.tls\.every/.test(e.message),
    );
  });

  it('a wrong passphrase is PASSPHRASE_WRONG, with no key material in the message', () => {
    const dir = fresh();
    newKeyring(dir, new ManualClock(at));
    const s = KeyringSession.open(dir, { clock: new ManualClock(at), passphrase: () => 'not the passphrase' });
    const tls = activeEntry(s.keyring, 'tls')!;
    assert.throws(() => s.material.privateKey(tls), (e: unknown) => e instanceof RotationError && e.code === 'PASSPHRASE_WRONG' && !/BEGIN/.test(e.message));
  });
});

describe('keyring import (CMMS test PKI)', () => {
  const f = (name: string) => join(cmmsDir, name);

  it('adopts edp1 root+key, signing pair, TLS pair and private keyset, re-encrypting every private key', () => {
    const dir = fresh();
    const session = importKeyring({
      dir,
      clock: new ManualClock(at),
      passphrase: () => PASSPHRASE,
      config: configValues({ subject: '', dnsNames: ['localhost'] }),
      files: {
        rootCertificate: f('edp1_root.pem'),
        rootKey: f('edp1_root.key'),
        signingCertificate: f('edp1_cs_cert.der'),
        signingKey: f('edp1_cs_private.der'),
        tlsCertificate: f('edp1_tls.pem'),
        tlsKey: f('edp1_tls.key'),
        encryptionKeyset: f('edp1_enc_private.tink'),
      },
    });
    const k = readKeyring(dir);
    const signing = activeEntry(k, 'signing')!;
    const expectSkid = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', f('edp1_cs_cert.der'), '-noout', '-ext', 'subjectKeyIdentifier'], { encoding: 'utf8' })
      .split('\n')[1]!
      .trim()
      .replace(/:/g, '')
      .toLowerCase();
    assert.equal(signing.skid, expectSkid);
    assert.equal(signing.origin, 'imported');
    assert.equal(session.config.subject, '/O=Halo CMM Dev/CN=Edp1', 'subject taken from the signing certificate');
    for (const e of [signing, activeEntry(k, 'tls')!]) assert.match(readFileSync(join(dir, e.privateKeyFile!), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    // The imported keyset still decrypts what is encrypted to the CMMS public keyset.
    const pub = parseKeyset(readFileSync(f('edp1_enc_public.tink')));
    const keyset = session.material.loadEncryptionKeyset(k.encryptionKeyset);
    const ct = encrypt(pub, Buffer.from('hello edp1'));
    assert.equal(Buffer.from(decrypt(keyset, ct)).toString(), 'hello edp1');
    assert.deepEqual(publicKeyset(keyset).key.map((x) => x.keyId), pub.key.map((x) => x.keyId));
    assert.equal(activeEntry(k, 'encryption')!.tinkKeyId, pub.primaryKeyId);
    // The imported root became the keyring's CA (key encrypted).
    assert.match(readFileSync(join(dir, 'ca/ca.key'), 'utf8'), /BEGIN ENCRYPTED PRIVATE KEY/);
    assert.equal(session.audit.verify().ok, true);
  });

  it('refuses an encryption keyset for a ModelProvider, before writing anything', () => {
    const dir = join(fresh(), 'mp');
    assert.throws(
      () =>
        importKeyring({
          dir,
          clock: new ManualClock(at),
          passphrase: () => PASSPHRASE,
          config: configValues({ participant: 'modelProviders' }),
          files: { signingCertificate: f('mp1_cs_cert.der'), signingKey: f('mp1_cs_private.der'), encryptionKeyset: f('edp1_enc_private.tink') },
        }),
      (e: unknown) => e instanceof RotationError && e.code === 'IMPORT_INVALID' && /publishes no encryption key/.test(e.message),
    );
    assert.equal(existsSync(dir), false);
  });

  it('refuses a key that does not belong to its certificate, and a leaf from another root', () => {
    assert.throws(
      () =>
        importKeyring({
          dir: fresh(),
          clock: new ManualClock(at),
          passphrase: () => PASSPHRASE,
          config: configValues(),
          files: { signingCertificate: f('edp1_cs_cert.der'), signingKey: f('edp2_cs_private.der') },
        }),
      (e: unknown) => e instanceof RotationError && e.code === 'IMPORT_INVALID',
    );
    assert.throws(
      () =>
        importKeyring({
          dir: fresh(),
          clock: new ManualClock(at),
          passphrase: () => PASSPHRASE,
          config: configValues(),
          files: { rootCertificate: f('edp2_root.pem'), signingCertificate: f('edp1_cs_cert.der'), signingKey: f('edp1_cs_private.der') },
        }),
      (e: unknown) => e instanceof RotationError && e.code === 'IMPORT_INVALID' && /not issued by/.test(e.message),
    );
  });
});
