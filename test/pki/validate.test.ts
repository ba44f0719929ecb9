/**
 * Path validation on chains made by the real openssl CLI: every signature
 * algorithm, CA rules, path length, unknown critical extensions, backtracking
 * past an expired intermediate, the link cache, and the injected clock.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import type { Certificate } from '../../src/pki/certificate.js';
import { clearImportedKeys } from '../../src/pki/algorithms.js';
import { LinkCache } from '../../src/pki/path-builder.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { validatePath } from '../../src/pki/validate.js';
import { type Issued, OpensslPki } from './openssl-pki.js';
import { rejectsWith } from './pki-expect.js';

const pki = new OpensslPki(`
[notca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[nokeycertsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ca-noskid]
subjectKeyIdentifier = none
authorityKeyIdentifier = none
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[oddcritical]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:leaf.example.com
1.3.6.1.4.1.99999.1 = critical,ASN1:NULL
`);
after(() => pki.dispose());
const parse = (i: Issued): Certificate => pki.certificate(i);
const at = new Date(Date.now() + 86_400_000);

describe('validatePath', () => {
  const root = pki.root('root');
  const int = pki.issue('int', root, 'ca');
  const store = new TrustStore([parse(root)]);

  test('returns the path leaf, intermediate, anchor', async () => {
    const leaf = parse(pki.issue('leaf', int, 'leaf'));
    const path = await validatePath(leaf, { trustStore: store, intermediates: [parse(int)], at, host: 'a.leaf.example.com', purpose: 'server' });
    assert.deepEqual(path.certificates.map((c) => c.subject.text), ['CN=leaf', 'CN=int', 'CN=root']);
    assert.equal(path.at.getTime() % 1000, 0);
    await rejectsWith(validatePath(leaf, { trustStore: store, at }), 'CHAIN_UNTRUSTED'); // intermediate missing
  });

  for (const [name, choice, oid] of [
    ['RSA PKCS#1 v1.5', { newkey: ['-newkey', 'rsa:2048'] }, '1.2.840.113549.1.1.11'],
    ['RSA-PSS', { newkey: ['-newkey', 'rsa:2048'], sigopt: ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-sha256'] }, '1.2.840.113549.1.1.10'],
    ['ECDSA P-384', { newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'], sigopt: ['-sha384'] }, '1.2.840.10045.4.3.3'],
    ['ECDSA P-521', { newkey: ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], sigopt: ['-sha512'] }, '1.2.840.10045.4.3.4'],
    ['Ed25519', { newkey: ['-newkey', 'ed25519'] }, '1.3.101.112'],
  ] as const) {
    test(`verifies ${name} signatures`, async () => {
      const r = pki.root(`root-${name}`, `/CN=root ${name}`, choice);
      const leaf = parse(pki.issue(`leaf-${name}`, r, 'leaf', undefined, undefined, { sigopt: 'sigopt' in choice ? choice.sigopt : [] }));
      assert.equal(leaf.signatureAlgorithm.oid, oid);
      await validatePath(leaf, { trustStore: new TrustStore([parse(r)]), at, linkCache: new LinkCache() });
      // Under an impostor root of the same name (no SKID, so the AKID cannot rule it out) it does not verify.
      const impostor = parse(pki.root(`impostor-${name}`, `/CN=root ${name}`, choice, 'ca-noskid'));
      assert.equal(impostor.subjectKeyIdentifier, undefined);
      await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([impostor]), at, linkCache: new LinkCache() }), 'SIGNATURE_INVALID');
    });
  }

  test('an issuer that is not a CA, or lacks keyCertSign, is NOT_A_CA', async () => {
    const notCa = pki.issue('notca', root, 'notca');
    const leaf = parse(pki.issue('under-notca', notCa, 'leaf'));
    await rejectsWith(validatePath(leaf, { trustStore: store, intermediates: [parse(notCa)], at }), 'NOT_A_CA');
    const noKcs = pki.issue('nokcs', root, 'nokeycertsign');
    const leaf2 = parse(pki.issue('under-nokcs', noKcs, 'leaf'));
    await rejectsWith(validatePath(leaf2, { trustStore: store, intermediates: [parse(noKcs)], at }), 'NOT_A_CA');
  });

  test('pathLenConstraint 0 forbids a further intermediate', async () => {
    const p0 = pki.issue('p0', root, 'pathlen0');
    const below = pki.issue('below-p0', p0, 'ca');
    const leaf = parse(pki.issue('leaf-p0', below, 'leaf'));
    const err = await rejectsWith(validatePath(leaf, { trustStore: store, intermediates: [parse(p0), parse(below)], at }), 'PATH_LENGTH_EXCEEDED');
    assert.equal(err.certificate?.subject, 'CN=below-p0');
    await validatePath(parse(pki.issue('leaf-p0-ok', p0, 'leaf')), { trustStore: store, intermediates: [parse(p0)], at });
  });

  test('an unknown critical extension is UNKNOWN_CRITICAL_EXTENSION', async () => {
    const leaf = parse(pki.issue('odd', root, 'oddcritical'));
    await rejectsWith(validatePath(leaf, { trustStore: store, at }), 'UNKNOWN_CRITICAL_EXTENSION');
  });

  test('backtracks past an expired intermediate to a valid one of the same name and key', async () => {
    const shortLived = pki.issue('int2', root, 'ca', '/CN=int2', undefined, { days: 2 });
    const longLived = pki.issue('int2-renewed', root, 'ca', '/CN=int2', { key: shortLived.key, csr: shortLived.csr });
    const leaf = parse(pki.issue('leaf2', shortLived, 'leaf'));
    const later = new Date(Date.now() + 10 * 86_400_000);
    const path = await validatePath(leaf, { trustStore: store, intermediates: [parse(shortLived), parse(longLived)], at: later });
    assert.equal(path.certificates[1]!.fingerprintSha256, parse(longLived).fingerprintSha256);
    const err = await rejectsWith(validatePath(leaf, { trustStore: store, intermediates: [parse(shortLived)], at: later }), 'CERT_EXPIRED');
    assert.equal(err.certificate?.subject, 'CN=int2');
  });

  test('an imported CA key is shared by copies of its certificate, never by another key of the same name', async () => {
    const leaf = parse(pki.issue('shared-key', int, 'leaf'));
    clearImportedKeys();
    for (let k = 0; k < 2; k++) {
      // Fresh certificate objects each time, as a server parsing what it is sent.
      await validatePath(leaf, { trustStore: new TrustStore([parse(root)]), intermediates: [parse(int)], at, linkCache: new LinkCache() });
    }
    const impostorRoot = pki.root('impostor-root', '/CN=root', {}, 'ca-noskid');
    await rejectsWith(
      validatePath(leaf, { trustStore: new TrustStore([parse(impostorRoot)]), intermediates: [parse(int)], at, linkCache: new LinkCache() }),
      'SIGNATURE_INVALID',
    );
  });

  test('the link cache remembers verified links; the clock sets the instant', async () => {
    const leaf = parse(pki.issue('cached', int, 'leaf'));
    const cache = new LinkCache(2);
    const opts = { trustStore: store, intermediates: [parse(int)], linkCache: cache };
    await validatePath(leaf, { ...opts, clock: new ManualClock(at) });
    assert.equal(cache.size, 2);
    await validatePath(leaf, { ...opts, clock: new ManualClock(at) });
    assert.equal(cache.size, 2);
    await rejectsWith(validatePath(leaf, { ...opts, clock: new ManualClock('2000-01-01T00:00:00Z') }), 'CERT_NOT_YET_VALID');
    await rejectsWith(validatePath(leaf, { ...opts, clock: new ManualClock(at), maxDepth: 0 }), 'PATH_TOO_DEEP');
    await rejectsWith(validatePath(leaf, { ...opts, at, maxDepth: -1 }), 'INVALID_REQUEST');
  });
});
