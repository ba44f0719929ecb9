import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readCertificateInfo } from '../../src/crypto/certificate-info.js';
import { CryptoError } from '../../src/crypto/errors.js';
import {
  assertKeyMatchesCertificate,
  exportEncryptedPrivateKeyPem,
  exportPrivateKeyDer,
  isEncryptedPrivateKey,
  loadPrivateKey,
  loadPublicKey,
} from '../../src/crypto/keys.js';
import { readSecretfile, secretfilePath } from './testdata.js';

const fixture = readSecretfile;
const tmp = mkdtempSync(join(tmpdir(), 'halo-keys-test-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Asserts a CryptoError with `code` whose message quotes no key material (no long hex or base64 runs). */
const fails = (c: string) => (err: unknown) => {
  assert.ok(err instanceof CryptoError, `expected CryptoError, got ${String(err)}`);
  assert.equal(err.code, c);
  assert.doesNotMatch(err.message, /[0-9a-f]{16}|[A-Za-z0-9+/]{24}/);
  return true;
};

describe('keys', () => {
  const certificate = readCertificateInfo(fixture('edp1_cs_cert.der'));
  const certKey = createPublicKey({ key: Buffer.from(certificate.subjectPublicKeyInfo), format: 'der', type: 'spki' });

  it('loads the CMMS PKCS#8 DER signing key and PKCS#8 PEM TLS key', () => {
    const der = loadPrivateKey(fixture('edp1_cs_private.der'));
    assert.equal(der.asymmetricKeyType, 'ec');
    assert.equal(der.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assertKeyMatchesCertificate(der, certificate);
    const pem = loadPrivateKey(fixture('edp1_tls.key'));
    assertKeyMatchesCertificate(pem, loadPublicKey(fixture('edp1_tls.pem')));
  });

  it('loads SEC1 EC PRIVATE KEY PEM made by openssl', () => {
    const sec1 = join(tmp, 'sec1.pem');
    openssl('ec', '-in', secretfilePath('edp1_tls.key'), '-out', sec1);
    assert.match(readFileSync(sec1, 'latin1'), /BEGIN EC PRIVATE KEY/);
    const key = loadPrivateKey(new Uint8Array(readFileSync(sec1)));
    assertKeyMatchesCertificate(key, loadPublicKey(fixture('edp1_tls.pem')));
  });

  it('loads encrypted PKCS#8 made by openssl, PEM and DER, with the passphrase', () => {
    for (const form of ['PEM', 'DER']) {
      const out = join(tmp, `enc.${form}`);
      openssl('pkcs8', '-topk8', '-v2', 'aes-256-cbc', '-inform', 'DER', '-outform', form,
        '-in', secretfilePath('edp1_cs_private.der'), '-passout', 'pass:correct horse', '-out', out);
      const bytes = new Uint8Array(readFileSync(out));
      assert.ok(isEncryptedPrivateKey(bytes));
      assertKeyMatchesCertificate(loadPrivateKey(bytes, { passphrase: 'correct horse' }), certificate);
      assert.throws(() => loadPrivateKey(bytes), fails('KEY_MALFORMED'));
      assert.throws(() => loadPrivateKey(bytes, { passphrase: 'wrong' }), fails('KEY_MALFORMED'));
    }
    assert.ok(!isEncryptedPrivateKey(fixture('edp1_cs_private.der')));
  });

  it('exports encrypted PKCS#8 PEM that openssl decrypts and we read back', () => {
    const key = loadPrivateKey(fixture('edp1_cs_private.der'));
    const pem = exportEncryptedPrivateKeyPem(key, 's3cret pass');
    assert.match(pem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    const file = join(tmp, 'stored.pem');
    writeFileSync(file, pem);
    const spki = openssl('pkey', '-in', file, '-passin', 'pass:s3cret pass', '-pubout', '-outform', 'DER');
    assert.deepEqual(new Uint8Array(spki), certificate.subjectPublicKeyInfo);
    const back = loadPrivateKey(new TextEncoder().encode(pem), { passphrase: 's3cret pass' });
    assert.deepEqual(exportPrivateKeyDer(back), exportPrivateKeyDer(key));
    assert.throws(() => exportEncryptedPrivateKeyPem(key, ''), fails('KEY_MALFORMED'));
  });

  it('loads public keys from SPKI DER and PEM and certificates DER and PEM', () => {
    const spkiDer = certificate.subjectPublicKeyInfo;
    const spkiPem = certKey.export({ format: 'pem', type: 'spki' }) as string;
    const certPem = openssl('x509', '-inform', 'DER', '-in', secretfilePath('edp1_cs_cert.der'));
    for (const bytes of [spkiDer, new TextEncoder().encode(spkiPem), fixture('edp1_cs_cert.der'), new Uint8Array(certPem)]) {
      assert.ok(loadPublicKey(bytes).equals(certKey));
    }
    const rsaRoot = loadPublicKey(fixture('amazon_edp_root.pem'));
    assert.equal(rsaRoot.asymmetricKeyType, 'rsa');
  });

  it('reports mismatched keys as KEY_MISMATCH', () => {
    const other = loadPrivateKey(fixture('edp2_cs_private.der'));
    assert.throws(() => assertKeyMatchesCertificate(other, certificate), fails('KEY_MISMATCH'));
    const ed = generateKeyPairSync('ed25519').privateKey;
    assert.throws(() => assertKeyMatchesCertificate(ed, certificate), fails('KEY_MISMATCH'));
  });

  it('rejects garbage, truncated keys and wrong PEM labels without quoting key bytes', () => {
    const der = fixture('edp1_cs_private.der');
    assert.throws(() => loadPrivateKey(der.subarray(0, der.length - 5)), fails('KEY_MALFORMED'));
    assert.throws(() => loadPrivateKey(new Uint8Array(0)), fails('KEY_MALFORMED'));
    assert.throws(() => loadPrivateKey(new TextEncoder().encode('hello')), fails('KEY_MALFORMED'));
    assert.throws(() => loadPrivateKey(fixture('edp1_tls.pem')), fails('KEY_MALFORMED'));
    assert.throws(() => loadPrivateKey(new TextEncoder().encode('-----BEGIN PRIVATE KEY-----\n@@@@\n-----END PRIVATE KEY-----\n')), fails('KEY_MALFORMED'));
    // Well-formed PKCS#8 naming an unknown curve (prime256v1's OID with its last arc changed).
    const curveOid = Buffer.from('06082a8648ce3d030107', 'hex');
    const at = Buffer.from(der).indexOf(curveOid);
    assert.ok(at > 0);
    const unknownCurve = der.slice();
    unknownCurve[at + curveOid.length - 1] = 0x7f;
    assert.throws(() => loadPrivateKey(unknownCurve), fails('KEY_MALFORMED'));
    assert.throws(() => loadPublicKey(new TextEncoder().encode('garbage')), fails('CERTIFICATE_MALFORMED'));
    assert.throws(() => loadPublicKey(der), fails('CERTIFICATE_MALFORMED'));
    assert.throws(() => loadPublicKey(fixture('edp1_tls.key')), fails('KEY_MALFORMED'));
    assert.throws(() => readCertificateInfo(fixture('edp1_cs_cert.der').subarray(1)), fails('CERTIFICATE_MALFORMED'));
  });
});
