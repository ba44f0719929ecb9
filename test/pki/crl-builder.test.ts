import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { initRoot, issueIntermediate, issueLeaf } from '../../src/pki/ca.js';
import { buildCrl, serialBytes } from '../../src/pki/crl-builder.js';
import { PkiError } from '../../src/pki/errors.js';
import { KEY_TYPES } from '../../src/pki/key-types.js';
import { Scratch, openssl, opensslHex } from './ca-fixtures.js';
import { encodePem } from '../../src/lib/pem.js';

const scratch = new Scratch();
after(() => scratch.remove());
const clock = new ManualClock('2026-03-01T12:00:00Z');
const atEpoch = String(Math.floor(clock.now().getTime() / 1000) + 3600);
const hour = 3_600_000;

describe('CRL builder', () => {
  for (const keyType of KEY_TYPES) {
    it(`${keyType}: a signed v2 CRL that openssl verifies and applies`, () => {
      const root = initRoot({ subject: '/O=Halo CMM/CN=CRL Root', keyType, clock });
      const revoked = issueLeaf(root, { profile: 'signing', subject: '/CN=revoked', clock });
      const held = issueLeaf(root, { profile: 'signing', subject: '/CN=held', clock });
      const good = issueLeaf(root, { profile: 'signing', subject: '/CN=good', clock });
      const crl = buildCrl({
        issuer: root.certificate,
        issuerKey: root.privateKey,
        entries: [
          { serialHex: revoked.certificate.serialNumber.toString(16), revocationDate: clock.now(), reason: 'keyCompromise' },
          { serialHex: held.certificate.serialNumber.toString(16), revocationDate: clock.now(), reason: 'certificateHold' },
        ],
        crlNumber: 7n,
        thisUpdate: clock.now(),
        nextUpdate: new Date(clock.now().getTime() + 24 * hour),
      });
      const crlPath = scratch.text(`crl-${keyType}.pem`, encodePem('X509 CRL', crl));
      const rootPath = scratch.pem(`crl-root-${keyType}.pem`, root.der);
      const check = openssl(['crl', '-in', crlPath, '-CAfile', rootPath, '-verify', '-noout', '-text']);
      assert.equal(check.status, 0, check.stderr);
      assert.match(check.stderr + check.stdout, /verify OK/);
      assert.match(check.stdout, /Version 2/);
      assert.match(check.stdout, /X509v3 CRL Number: \n\s+7\n/);
      assert.match(check.stdout, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${opensslHex(root.certificate.subjectKeyIdentifier!)}`));
      assert.match(check.stdout, /Key Compromise/);
      assert.match(check.stdout, /Certificate Hold/);
      assert.match(check.stdout, /Next Update: Mar  2 12:00:00 2026 GMT/);

      const verifyLeaf = (der: Uint8Array, name: string) =>
        openssl(['verify', '-attime', atEpoch, '-crl_check', '-CAfile', rootPath, '-CRLfile', crlPath, scratch.pem(name, der)]);
      const r1 = verifyLeaf(revoked.der, `crl-revoked-${keyType}.pem`);
      assert.notEqual(r1.status, 0);
      assert.match(r1.stdout + r1.stderr, /certificate revoked/);
      assert.match(verifyLeaf(held.der, `crl-held-${keyType}.pem`).stdout + verifyLeaf(held.der, `crl-held-${keyType}.pem`).stderr, /certificate revoked/);
      const r3 = verifyLeaf(good.der, `crl-good-${keyType}.pem`);
      assert.equal(r3.status, 0, r3.stderr);
    });
  }

  it('an empty CRL leaves out revokedCertificates and still verifies; an intermediate signs its own', () => {
    const root = initRoot({ subject: '/CN=Root', clock });
    const inter = issueIntermediate(root, { subject: '/CN=Inter', clock });
    const leaf = issueLeaf({ certificate: inter.certificate, privateKey: inter.privateKey! }, { profile: 'signing', subject: '/CN=leaf', clock });
    const window = { thisUpdate: clock.now(), nextUpdate: new Date(clock.now().getTime() + hour * 48) };
    const rootCrl = buildCrl({ issuer: root.certificate, issuerKey: root.privateKey, entries: [], crlNumber: 1n, ...window });
    const interCrl = buildCrl({
      issuer: inter.certificate,
      issuerKey: inter.privateKey!,
      entries: [{ serialHex: leaf.certificate.serialNumber.toString(16), revocationDate: clock.now(), reason: 'superseded' }],
      crlNumber: 1n,
      ...window,
    });
    const crls = scratch.text('crl-chain.pem', encodePem('X509 CRL', rootCrl) + encodePem('X509 CRL', interCrl));
    const text = openssl(['crl', '-in', scratch.text('crl-empty.pem', encodePem('X509 CRL', rootCrl)), '-noout', '-text']);
    assert.match(text.stdout, /No Revoked Certificates/);
    const r = openssl([
      'verify', '-attime', atEpoch, '-crl_check_all', '-CAfile', scratch.pem('crl-chain-root.pem', root.der),
      '-untrusted', scratch.pem('crl-chain-inter.pem', inter.der), '-CRLfile', crls, scratch.pem('crl-chain-leaf.pem', leaf.der),
    ]);
    assert.notEqual(r.status, 0);
    assert.match(r.stdout + r.stderr, /certificate revoked/);
  });

  it('refuses a key that is not the issuer’s, a CA without cRLSign, and bad windows', () => {
    const root = initRoot({ subject: '/CN=Root', clock });
    const other = initRoot({ subject: '/CN=Other', clock });
    const leaf = issueLeaf(root, { profile: 'signing', subject: '/CN=leaf', clock });
    const window = { thisUpdate: clock.now(), nextUpdate: new Date(clock.now().getTime() + hour) };
    const is = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;
    assert.throws(() => buildCrl({ issuer: root.certificate, issuerKey: other.privateKey, entries: [], crlNumber: 1n, ...window }), is('INVALID_REQUEST'));
    assert.throws(() => buildCrl({ issuer: leaf.certificate, issuerKey: leaf.privateKey!, entries: [], crlNumber: 1n, ...window }), is('POLICY_VIOLATION'));
    assert.throws(
      () => buildCrl({ issuer: root.certificate, issuerKey: root.privateKey, entries: [], crlNumber: 1n, thisUpdate: window.nextUpdate, nextUpdate: window.thisUpdate }),
      is('INVALID_REQUEST'),
    );
    assert.throws(() => serialBytes('xyz'), is('INVALID_REQUEST'));
    assert.deepEqual(serialBytes('00:80'), Uint8Array.of(0, 0x80));
  });
});
