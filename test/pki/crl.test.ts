/** CRL parsing and checking on CRLs made by the real `openssl ca`. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseCertificates } from '../../src/pki/certificate.js';
import { CrlRevocationChecker, crlStatus, parseCrls, verifyCrl } from '../../src/pki/crl.js';
import { PkiError } from '../../src/pki/errors.js';
import { OpensslPki } from './openssl-pki.js';

const pki = new OpensslPki(`
[nocrlsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
`);
after(() => pki.dispose());

function crlFor(ca: { cert: string; key: string; name: string }, revoke: [string, string][]): Uint8Array {
  const d = pki.dir;
  const conf = join(d, `${ca.name}-ca.cnf`);
  writeFileSync(join(d, `${ca.name}-index.txt`), '');
  writeFileSync(join(d, `${ca.name}-crlnumber`), '01\n');
  writeFileSync(conf, `[ca]\ndefault_ca = x\n[x]\ndatabase = ${join(d, `${ca.name}-index.txt`)}\ncrlnumber = ${join(d, `${ca.name}-crlnumber`)}\ncertificate = ${ca.cert}\nprivate_key = ${ca.key}\ndefault_md = sha256\ndefault_crl_days = 7\n`);
  for (const [cert, reason] of revoke) execFileSync('openssl', ['ca', '-config', conf, '-revoke', cert, '-crl_reason', reason], { stdio: 'ignore' });
  const out = join(d, `${ca.name}.crl`);
  execFileSync('openssl', ['ca', '-config', conf, '-gencrl', '-out', out], { stdio: 'ignore' });
  return readFileSync(out);
}

test('parses, verifies and answers status from an openssl CRL', () => {
  const ca = pki.root('crl-ca');
  const a = pki.issue('a', ca, 'leaf');
  const b = pki.issue('b', ca, 'leaf');
  const c = pki.issue('c', ca, 'leaf');
  const [crl] = parseCrls(crlFor(ca, [[a.cert, 'keyCompromise'], [b.cert, 'certificateHold']]));
  assert.ok(crl);
  const [caCert] = parseCertificates(pki.read(ca));
  const [aCert, bCert, cCert] = [a, b, c].map((x) => parseCertificates(pki.read(x))[0]!);
  const at = new Date(Date.now() + 60_000);
  assert.equal(crl.version, 2);
  assert.equal(crl.crlNumber, 1n);
  assert.equal(crl.issuer.text, 'CN=crl-ca');
  assert.equal(crl.revoked.size, 2);
  assert.ok(crl.nextUpdate && crl.nextUpdate > crl.thisUpdate);
  verifyCrl(crl, caCert!, at);
  assert.equal(crlStatus(crl, aCert!, at), 'revoked');
  assert.equal(crlStatus(crl, bCert!, at), 'hold');
  assert.equal(crlStatus(crl, cCert!, at), 'good');
  // Past nextUpdate an unlisted certificate is unknown, a listed one still revoked.
  const stale = new Date(crl.nextUpdate!.getTime() + 1000);
  assert.equal(crlStatus(crl, cCert!, stale), 'unknown');
  assert.equal(crlStatus(crl, aCert!, stale), 'revoked');
  const checker = new CrlRevocationChecker([crl]);
  assert.equal(checker.check(aCert!, caCert!, at), 'revoked');
  // Another CA's certificate with the same serial is not affected.
  const other = pki.root('other-ca');
  const [otherCert] = parseCertificates(pki.read(other));
  assert.equal(checker.check(otherCert!, otherCert!, at), 'unknown');
  // The CRL does not verify against a different key under the same name.
  const twin = pki.root('twin', '/CN=crl-ca');
  assert.throws(() => verifyCrl(crl, parseCertificates(pki.read(twin))[0]!, at), (e: unknown) => e instanceof PkiError && e.code === 'SIGNATURE_INVALID');
});

test('a CRL signed by a CA whose key usage lacks cRLSign is refused', () => {
  const root = pki.root('kcs-root');
  const ca = pki.issue('kcs-only', root, 'nocrlsign');
  const [crl] = parseCrls(crlFor(ca, []));
  assert.throws(
    () => verifyCrl(crl!, parseCertificates(pki.read(ca))[0]!, new Date(Date.now() + 60_000)),
    (e: unknown) => e instanceof PkiError && e.code === 'KEY_USAGE_MISMATCH',
  );
});
