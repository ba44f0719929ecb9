/**
 * Hostile input yields typed errors, never a crash or a hang: random bytes,
 * every truncation of a real certificate and CRL, a huge SAN list under name
 * constraints, chains deeper than the limit, and cross-signature loops.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import { type Certificate, parseCertificate, parseCertificates } from '../../src/pki/certificate.js';
import { parseCrl } from '../../src/pki/crl.js';
import { PkiError } from '../../src/pki/errors.js';
import { LinkCache } from '../../src/pki/path-builder.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { validatePath } from '../../src/pki/validate.js';
import { type Issued, OpensslPki } from './openssl-pki.js';
import { rejectsWith, throwsWith } from './pki-expect.js';


const FIXTURES = new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url);
const realDer = new Uint8Array(readFileSync(new URL('edp1_cs_cert.der', FIXTURES)));

describe('bad input', () => {
  test('random bytes are CERT_MALFORMED / CRL_MALFORMED', () => {
    for (let i = 0; i < 3000; i++) {
      const bytes = randomBytes(i % 700);
      // Half of them look like the start of a SEQUENCE, to get past the first byte.
      if (i % 2 && bytes.length > 2) bytes[0] = 0x30;
      throwsWith(() => parseCertificate(bytes), 'CERT_MALFORMED', `random #${i}`);
      throwsWith(() => parseCrl(bytes), 'CRL_MALFORMED', `random CRL #${i}`);
    }
    throwsWith(() => parseCertificates(Buffer.from('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n')), 'CERT_MALFORMED', 'bad PEM');
    throwsWith(() => parseCertificates(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n')), 'CERT_MALFORMED', 'PEM of junk');
  });

  test('every proper prefix of a real certificate is CERT_MALFORMED', () => {
    for (let n = 0; n < realDer.length; n++) throwsWith(() => parseCertificate(realDer.subarray(0, n)), 'CERT_MALFORMED', `prefix ${n}`);
    assert.equal(parseCertificate(realDer).subject.text, 'CN=Edp1,O=Halo CMM Dev');
  });

  test('single-byte corruptions parse or fail with CERT_MALFORMED only', () => {
    for (let i = 0; i < realDer.length; i++) {
      const copy = new Uint8Array(realDer);
      copy[i]! ^= 1 << (i % 8);
      try {
        parseCertificate(copy);
      } catch (err) {
        assert.ok(err instanceof PkiError && err.code === 'CERT_MALFORMED', `byte ${i}: ${String(err)}`);
      }
    }
  });

  describe('with openssl-made chains', () => {
    const pki = new OpensslPki(`
[constrained]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:example.com
[many]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${Array.from({ length: 3000 }, (_, i) => `DNS:h${i}.example.com`).join(',')}
`);
    after(() => pki.dispose());
    const parse = (i: Issued): Certificate => pki.certificate(i);
    const at = new Date(Date.now() + 86_400_000); // certificates made during the run start "now"

    test('a leaf with 3000 SANs: host lookup works, name constraints refuse the blow-up', async () => {
      const root = pki.root('root');
      const leaf = parse(pki.issue('many', root, 'many'));
      assert.equal(leaf.subjectAltNames?.length, 3000);
      await validatePath(leaf, { trustStore: new TrustStore([parse(root)]), at, host: 'h2999.example.com' });
      await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([parse(root)]), at, host: 'h3000.example.com' }), 'HOSTNAME_MISMATCH');
      // 3000 names x 100 constraints: over the comparison budget.
      const wide = new OpensslPki(`
[wide]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,${Array.from({ length: 100 }, (_, i) => `permitted;DNS:d${i}.example.com`).join(',')}
[many]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = ${Array.from({ length: 3000 }, (_, i) => `DNS:h${i}.d1.example.com`).join(',')}
`);
      try {
        const r = wide.root('root');
        const ca = wide.issue('wide', r, 'wide');
        const l = parseCertificates(wide.read(wide.issue('many', ca, 'many')))[0]!;
        const err = await rejectsWith(
          validatePath(l, { trustStore: new TrustStore(parseCertificates(wide.read(r))), intermediates: parseCertificates(wide.read(ca)), at }),
          'NAME_CONSTRAINT_VIOLATION',
        );
        assert.match(err.message, /too many names/);
      } finally {
        wide.dispose();
      }
    });

    test('a chain deeper than maxDepth is PATH_TOO_DEEP; raising the limit validates it', async () => {
      const root = pki.root('deep-root');
      let issuer = root;
      const intermediates: Certificate[] = [];
      for (let i = 0; i < 12; i++) {
        issuer = pki.issue(`deep-${i}`, issuer, 'ca');
        intermediates.push(parse(issuer));
      }
      const leaf = parse(pki.issue('deep-leaf', issuer, 'leaf'));
      const opts = { trustStore: new TrustStore([parse(root)]), intermediates: intermediates.slice().reverse(), at };
      await rejectsWith(validatePath(leaf, opts), 'PATH_TOO_DEEP');
      await rejectsWith(validatePath(leaf, { ...opts, maxDepth: 11 }), 'PATH_TOO_DEEP');
      const path = await validatePath(leaf, { ...opts, maxDepth: 12 });
      assert.equal(path.certificates.length, 14);
    });

    test('cross-signature loops end with CHAIN_UNTRUSTED, and resolve when one side is trusted', async () => {
      // A and B sign each other (both directions, twice over); the leaf is under A.
      const a = pki.root('A');
      const b = pki.root('B');
      const aByB = pki.issue('A-by-B', b, 'ca', '/CN=A', { key: a.key, csr: a.csr });
      const bByA = pki.issue('B-by-A', a, 'ca', '/CN=B', { key: b.key, csr: b.csr });
      const c = pki.root('C');
      const aByC = pki.issue('A-by-C', c, 'ca', '/CN=A', { key: a.key, csr: a.csr });
      const cByA = pki.issue('C-by-A', a, 'ca', '/CN=C', { key: c.key, csr: c.csr });
      const leaf = parse(pki.issue('loop-leaf', a, 'leaf'));
      const intermediates = [aByB, bByA, aByC, cByA, a, b, c].map(parse);
      const unrelated = parse(pki.root('unrelated'));
      const err = await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([unrelated]), intermediates, at, linkCache: new LinkCache() }), 'CHAIN_UNTRUSTED');
      assert.match(err.message, /loop-leaf/);
      const path = await validatePath(leaf, { trustStore: new TrustStore([parse(b)]), intermediates, at });
      assert.deepEqual(
        path.certificates.map((x) => x.subject.text),
        ['CN=loop-leaf', 'CN=A', 'CN=B'],
      );
    });

    test('a leaf whose signature was altered is SIGNATURE_INVALID', async () => {
      const real = pki.root('real');
      const der = new Uint8Array(parse(pki.issue('victim', real, 'leaf')).der);
      der[der.length - 1]! ^= 0x01; // the last byte of the ECDSA s value
      const leaf = parseCertificate(der);
      await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([parse(real)]), at }), 'SIGNATURE_INVALID');
    });
  });
});
