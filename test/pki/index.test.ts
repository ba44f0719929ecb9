/** The public index alone is enough to run a CA, validate what it issues, and revoke. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import {
  CrlRevocationChecker,
  PkiError,
  TrustStore,
  buildCrl,
  buildCsr,
  checkHost,
  generateKeyPair,
  initRoot,
  issueIntermediate,
  issueLeaf,
  parseCertificates,
  parseCrl,
  parseCsr,
  subjectToDer,
  validatePath,
} from '../../src/pki/index.js';

const clock = new ManualClock('2026-03-01T12:00:00Z');

test('issue, validate, check the host and revoke through src/pki/index.ts', async () => {
  const root = initRoot({ subject: '/O=Halo CMM/CN=Index Root', clock });
  const ca = issueIntermediate(root, { subject: '/O=Halo CMM/CN=Index CA', clock });
  const authority = { certificate: ca.certificate, privateKey: ca.privateKey!, chain: [root.certificate] };
  const keys = generateKeyPair('p256');
  const csr = parseCsr(buildCsr({ subject: subjectToDer('/CN=edp1'), privateKey: keys.privateKey }));
  const leaf = issueLeaf(authority, { profile: 'tls-server', csr, altNames: [{ type: 'dns', value: 'edp1.example' }], clock });
  const [parsed] = parseCertificates(leaf.der);
  assert.equal(parsed!.fingerprintSha256, leaf.certificate.fingerprintSha256);

  const trustStore = new TrustStore([root.certificate]);
  const path = await validatePath(leaf.certificate, { trustStore, intermediates: [ca.certificate], purpose: 'server', host: 'edp1.example', clock });
  assert.deepEqual(path.certificates.map((c) => c.subject.text), ['CN=edp1', 'CN=Index CA,O=Halo CMM', 'CN=Index Root,O=Halo CMM']);
  assert.throws(() => checkHost(leaf.certificate, 'other.example'), (e: unknown) => e instanceof PkiError && e.code === 'HOSTNAME_MISMATCH');

  const crl = parseCrl(
    buildCrl({
      issuer: ca.certificate,
      issuerKey: ca.privateKey!,
      entries: [{ serialHex: leaf.certificate.serialHex, revocationDate: clock.now(), reason: 'keyCompromise' }],
      crlNumber: 1n,
      thisUpdate: clock.now(),
      nextUpdate: new Date(clock.now().getTime() + 86_400_000),
    }),
  );
  assert.equal(crl.revoked.get(leaf.certificate.serialNumber)?.reason, 'keyCompromise');
  const revocation = new CrlRevocationChecker([crl]);
  await assert.rejects(
    validatePath(leaf.certificate, { trustStore, intermediates: [ca.certificate], revocation, clock }),
    (e: unknown) => e instanceof PkiError && e.code === 'CERT_REVOKED',
  );
});

test('the index lists its names explicitly', () => {
  const source = readFileSync(new URL('../../src/pki/index.ts', import.meta.url), 'utf8');
  assert.doesNotMatch(source, /export \*/);
});
