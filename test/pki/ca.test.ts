import assert from 'node:assert/strict';
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { subjectToDer } from '../../src/pki/ca-name.js';
import { crossSign, initRoot, issueIntermediate, issueLeaf, type CertificateAuthority } from '../../src/pki/ca.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { parseCsr } from '../../src/pki/csr.js';
import { PkiError } from '../../src/pki/errors.js';
import { KEY_TYPES } from '../../src/pki/key-types.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { validatePath } from '../../src/pki/validate.js';
import { VALIDATION_PROFILE_NAMES } from '../../src/pki/validation-profiles.js';
import { Scratch, cmmsSecretFiles, openssl, opensslHex } from './ca-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());

const clock = new ManualClock('2026-03-01T12:00:00Z');
const atEpoch = String(Math.floor(clock.now().getTime() / 1000) + 60);

function text(der: Uint8Array, name: string): string {
  const r = openssl(['x509', '-noout', '-text', '-in', scratch.pem(name, der)]);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function verify(args: string[]): { ok: boolean; out: string } {
  const r = openssl(['verify', '-attime', atEpoch, ...args]);
  return { ok: r.status === 0, out: r.stdout + r.stderr };
}

function policyError(code: string) {
  return (err: unknown) => err instanceof PkiError && err.code === code;
}

describe('private CA: roots', () => {
  for (const keyType of KEY_TYPES) {
    it(`a ${keyType} root passes openssl verify and carries the CA extensions`, () => {
      const root = initRoot({ subject: '/O=Halo CMM/CN=Edp1 CA', keyType, hostNames: ['dev.halo-cmm.org'], clock });
      const cert = root.certificate;
      const skid = createHash('sha1').update(cert.publicKeyBytes).digest();
      assert.deepEqual(Buffer.from(cert.subjectKeyIdentifier!), skid);
      assert.deepEqual(cert.authorityKeyIdentifier, cert.subjectKeyIdentifier);
      assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 3650 * 86_400_000);
      assert.equal(cert.serialLength, 16);
      assert.ok(cert.serialNumber > 0n);

      const path = scratch.pem(`root-${keyType}.pem`, root.der);
      const v = verify(['-CAfile', path, path]);
      assert.ok(v.ok, v.out);
      const t = text(root.der, `root-${keyType}-text.pem`);
      assert.match(t, /Subject: O = Halo CMM, CN = Edp1 CA/);
      assert.match(t, /Basic Constraints: critical\s+CA:TRUE\n/);
      assert.match(t, /Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
      assert.match(t, new RegExp(`Subject Key Identifier: \\n\\s+${opensslHex(skid)}`));
      assert.match(t, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${opensslHex(skid)}`));
      assert.match(t, /DNS:dev\.halo-cmm\.org/);
      const algorithm = { p256: 'ecdsa-with-SHA256', p384: 'ecdsa-with-SHA384', rsa3072: 'sha256WithRSAEncryption', ed25519: 'ED25519' }[keyType];
      assert.match(t, new RegExp(`Signature Algorithm: ${algorithm}`));
    });
  }
});

describe('private CA: intermediates and leaves', () => {
  for (const keyType of KEY_TYPES) {
    it(`${keyType}: root -> intermediate -> TLS leaves verify with the right purposes, in openssl and under every validation profile`, async () => {
      const root = initRoot({ subject: '/O=Halo CMM/CN=Root', keyType, clock });
      const rootCa: CertificateAuthority = { certificate: root.certificate, privateKey: root.privateKey };
      const inter = issueIntermediate(rootCa, { subject: '/O=Halo CMM/CN=Issuing CA', keyType, pathLength: 0, clock });
      assert.equal(inter.certificate.basicConstraints?.pathLenConstraint, 0);
      assert.deepEqual(inter.certificate.authorityKeyIdentifier, root.certificate.subjectKeyIdentifier);
      const interCa: CertificateAuthority = { certificate: inter.certificate, privateKey: inter.privateKey!, chain: [root.certificate] };

      const rootPath = scratch.pem(`chain-root-${keyType}.pem`, root.der);
      const interPath = scratch.pem(`chain-inter-${keyType}.pem`, inter.der);
      const altNames = [
        { type: 'dns' as const, value: 'kingdom.dev.halo-cmm.org' },
        { type: 'ip' as const, value: '127.0.0.1' },
        { type: 'ip' as const, value: '::1' },
        { type: 'uri' as const, value: 'spiffe://halo-cmm.org/kingdom' },
      ];
      const server = issueLeaf(interCa, { profile: 'tls-server', subject: '/O=Halo CMM/CN=Kingdom', keyType, altNames, days: 90, clock });
      const client = issueLeaf(interCa, { profile: 'tls-client', subject: '/O=Halo CMM/CN=edp1', keyType, clock });
      const both = issueLeaf(interCa, { profile: 'tls', subject: '/O=Halo CMM/CN=Both', keyType, altNames, clock });
      assert.ok(server.privateKey, 'a generated key is returned');
      assert.deepEqual(server.certificate.authorityKeyIdentifier, inter.certificate.subjectKeyIdentifier);

      const s = scratch.pem(`server-${keyType}.pem`, server.der);
      const c = scratch.pem(`client-${keyType}.pem`, client.der);
      const b = scratch.pem(`both-${keyType}.pem`, both.der);
      const chain = ['-CAfile', rootPath, '-untrusted', interPath];
      for (const [file, purpose, expected] of [
        [s, 'sslserver', true],
        [s, 'sslclient', false],
        [c, 'sslclient', true],
        [c, 'sslserver', false],
        [b, 'sslserver', true],
        [b, 'sslclient', true],
      ] as const) {
        const v = verify([...chain, '-purpose', purpose, file]);
        assert.equal(v.ok, expected, `${file} ${purpose}: ${v.out}`);
      }
      assert.ok(verify([...chain, '-verify_hostname', 'kingdom.dev.halo-cmm.org', s]).ok);
      assert.ok(verify([...chain, '-verify_ip', '127.0.0.1', s]).ok);
      assert.ok(!verify([...chain, '-verify_hostname', 'other.halo-cmm.org', s]).ok);
      assert.ok(!verify(['-CAfile', rootPath, s]).ok, 'the leaf needs its intermediate');
      const trust = { trustStore: new TrustStore([root.certificate]), intermediates: [inter.certificate], clock };
      for (const profile of VALIDATION_PROFILE_NAMES) {
        await validatePath(server.certificate, { ...trust, profile, purpose: 'server', host: 'kingdom.dev.halo-cmm.org' });
        await validatePath(server.certificate, { ...trust, profile, purpose: 'server', host: '::1' });
        await validatePath(client.certificate, { ...trust, profile, purpose: 'client' });
        await validatePath(both.certificate, { ...trust, profile, purpose: 'server', host: '127.0.0.1' });
        await validatePath(both.certificate, { ...trust, profile, purpose: 'client' });
        await assert.rejects(validatePath(client.certificate, { ...trust, profile, purpose: 'server' }), policyError('EKU_MISMATCH'));
      }

      const t = text(server.der, `server-${keyType}-text.pem`);
      assert.match(t, /Basic Constraints: \n\s+CA:FALSE/);
      assert.match(t, /Extended Key Usage: \n\s+TLS Web Server Authentication\n/);
      assert.match(t, /DNS:kingdom\.dev\.halo-cmm\.org, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1, URI:spiffe:\/\/halo-cmm\.org\/kingdom/);
      assert.match(t, new RegExp(`Authority Key Identifier: \\n\\s+(keyid:)?${opensslHex(inter.certificate.subjectKeyIdentifier!)}`));
      assert.equal(server.certificate.notAfter.getTime() - server.certificate.notBefore.getTime(), 90 * 86_400_000);
    });
  }

  it('signing profile: the consent-signaling certificate (digitalSignature, nonRepudiation, no EKU), valid in openssl and every validation profile', async () => {
    const root = initRoot({ subject: '/O=Halo CMM/CN=Mc CA', clock });
    const leaf = issueLeaf(root, { profile: 'signing', subject: '/O=Halo CMM/CN=Mc', clock });
    const t = text(leaf.der, 'signing.pem');
    assert.match(t, /Key Usage: critical\s+Digital Signature, Non Repudiation\n/);
    assert.doesNotMatch(t, /Extended Key Usage/);
    assert.deepEqual([...leaf.certificate.keyUsage!].sort(), ['digitalSignature', 'nonRepudiation']);
    assert.equal(leaf.certificate.extKeyUsage, undefined);
    assert.ok(verify(['-CAfile', scratch.pem('signing-root.pem', root.der), scratch.pem('signing-leaf.pem', leaf.der)]).ok);
    for (const profile of VALIDATION_PROFILE_NAMES) {
      await validatePath(leaf.certificate, { trustStore: new TrustStore([root.certificate]), clock, profile, purpose: 'signing' });
    }
  });

  it('issues from a CSR made by openssl req, honouring requested SANs only when asked', () => {
    const key = scratch.path('req.key');
    const csrPath = scratch.path('req.csr');
    const r = openssl([
      'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', csrPath,
      '-subj', '/O=Halo CMM/CN=Edp2', '-addext', 'subjectAltName=DNS:edp2.dev.halo-cmm.org,DNS:localhost',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const csr = parseCsr(new Uint8Array(readFileSync(csrPath)));
    const root = initRoot({ subject: '/O=Halo CMM/CN=Edp2 CA', clock });
    const plain = issueLeaf(root, { profile: 'tls-client', csr, clock });
    assert.equal(plain.certificate.subjectAltNames, undefined);
    assert.equal(plain.privateKey, undefined);
    const leaf = issueLeaf(root, { profile: 'tls-server', csr, copyCsrAltNames: true, clock });
    assert.equal(leaf.certificate.subject.text, 'CN=Edp2,O=Halo CMM');
    const t = text(leaf.der, 'from-csr.pem');
    assert.match(t, /DNS:edp2\.dev\.halo-cmm\.org, DNS:localhost/);
    const leafPath = scratch.pem('from-csr-leaf.pem', leaf.der);
    assert.ok(verify(['-CAfile', scratch.pem('from-csr-root.pem', root.der), '-purpose', 'sslserver', leafPath]).ok);
    // The certificate is for the CSR's key: openssl agrees the key matches.
    const pubFromKey = openssl(['pkey', '-in', key, '-pubout']).stdout;
    const pubFromCert = openssl(['x509', '-in', leafPath, '-noout', '-pubkey']).stdout;
    assert.equal(pubFromCert, pubFromKey);
  });

  it('cross-signs a new root so chains from it verify against the old root, in openssl and every validation profile', async () => {
    const old = initRoot({ subject: '/O=Halo CMM/CN=Edp1 CA', clock });
    const next = initRoot({ subject: '/O=Halo CMM/CN=Edp1 CA 2026', keyType: 'p384', clock });
    const cross = crossSign(old, next.certificate, { clock });
    assert.deepEqual(cross.certificate.subjectKeyIdentifier, next.certificate.subjectKeyIdentifier);
    assert.deepEqual(cross.certificate.authorityKeyIdentifier, old.certificate.subjectKeyIdentifier);
    assert.deepEqual(cross.certificate.spki, next.certificate.spki);
    assert.equal(cross.certificate.issuer.text, old.certificate.subject.text);
    assert.ok(cross.certificate.notAfter <= old.certificate.notAfter);

    const leaf = issueLeaf(next, { profile: 'tls-server', subject: '/CN=edp1', altNames: [{ type: 'dns', value: 'edp1.example' }], clock });
    const leafPath = scratch.pem('cross-leaf.pem', leaf.der);
    const oldPath = scratch.pem('cross-old.pem', old.der);
    const crossPath = scratch.pem('cross.pem', cross.der);
    assert.ok(verify(['-CAfile', oldPath, '-untrusted', crossPath, leafPath]).ok, 'old trust store + cross certificate');
    assert.ok(verify(['-CAfile', scratch.pem('cross-new.pem', next.der), leafPath]).ok, 'new trust store');
    assert.ok(!verify(['-CAfile', oldPath, leafPath]).ok, 'old trust store alone');
    for (const profile of VALIDATION_PROFILE_NAMES) {
      const path = await validatePath(leaf.certificate, { trustStore: new TrustStore([old.certificate]), intermediates: [cross.certificate], clock, profile, purpose: 'server', host: 'edp1.example' });
      assert.equal(path.anchor, old.certificate);
    }

    assert.throws(() => crossSign(old, leaf.certificate, { clock }), policyError('POLICY_VIOLATION'));
  });

  it('issues from the CMMS edp1 root key (a CA made by openssl) and openssl verifies against edp1_root.pem', () => {
    const rootPem = readFileSync(new URL('edp1_root.pem', cmmsSecretFiles));
    const certificate = parseCertificate(new Uint8Array(Buffer.from(rootPem.toString().replace(/-----[^-]+-----|\s/g, ''), 'base64')));
    const privateKey = createPrivateKey(readFileSync(new URL('edp1_root.key', cmmsSecretFiles)));
    const at = new ManualClock('2026-01-01T00:00:00Z');
    const leaf = issueLeaf({ certificate, privateKey }, { profile: 'signing', subject: '/O=Halo CMM Dev/CN=Edp1', clock: at });
    assert.equal(Buffer.from(leaf.certificate.authorityKeyIdentifier!).toString('hex').toUpperCase().slice(0, 8), '90C1D3BD');
    const r = openssl(['verify', '-attime', '1767225600', '-CAfile', new URL('edp1_root.pem', cmmsSecretFiles).pathname, scratch.pem('edp1-new.pem', leaf.der)]);
    assert.equal(r.status, 0, r.stderr);
  });
});

describe('private CA: policy', () => {
  const root = initRoot({ subject: '/O=Halo CMM/CN=Policy Root', days: 365, clock });

  it('refuses a leaf that would outlive its issuer, or clips it when asked', () => {
    assert.throws(
      () => issueLeaf(root, { profile: 'signing', subject: '/CN=long', days: 400, clock }),
      (err: unknown) => err instanceof PkiError && err.code === 'POLICY_VIOLATION' && /outlive its issuer/.test(err.message),
    );
    const clipped = issueLeaf(root, { profile: 'signing', subject: '/CN=long', days: 400, clipToIssuer: true, clock });
    assert.equal(clipped.certificate.notAfter.getTime(), root.certificate.notAfter.getTime());
    const window = issueLeaf(root, {
      profile: 'signing',
      subject: '/CN=window',
      notBefore: new Date('2026-04-01T00:00:00Z'),
      notAfter: new Date('2026-05-01T00:00:00Z'),
      clock,
    });
    assert.equal(window.certificate.notBefore.toISOString(), '2026-04-01T00:00:00.000Z');
    assert.equal(window.certificate.notAfter.toISOString(), '2026-05-01T00:00:00.000Z');
  });

  it('refuses to issue beyond the path length', () => {
    const inter = issueIntermediate(root, { subject: '/CN=Inter', pathLength: 0, days: 30, clock });
    const interCa = { certificate: inter.certificate, privateKey: inter.privateKey! };
    assert.throws(() => issueIntermediate(interCa, { subject: '/CN=Deeper', days: 10, clock }), policyError('POLICY_VIOLATION'));
    const limited = initRoot({ subject: '/CN=Limited', pathLength: 1, clock });
    assert.throws(() => issueIntermediate(limited, { subject: '/CN=X', pathLength: 1, clock }), policyError('POLICY_VIOLATION'));
    const child = issueIntermediate(limited, { subject: '/CN=X', clock });
    assert.equal(child.certificate.basicConstraints?.pathLenConstraint, 0, 'defaults to one less than the issuer');
  });

  it('refuses names outside the issuer name constraints, and openssl and every validation profile accept what it issues inside them', async () => {
    const constrained = issueIntermediate(root, {
      subject: '/O=Halo CMM/CN=Edp CA',
      days: 100,
      nameConstraints: {
        permitted: [{ type: 'dns', value: 'edp1.dev.halo-cmm.org' }, { type: 'ip', value: '10.0.0.0/8' }],
        excluded: [{ type: 'dns', value: 'bad.edp1.dev.halo-cmm.org' }],
      },
      clock,
    });
    const ca = { certificate: constrained.certificate, privateKey: constrained.privateKey!, chain: [root.certificate] };
    const ok = issueLeaf(ca, {
      profile: 'tls-server',
      subject: '/O=Halo CMM/CN=svc',
      altNames: [{ type: 'dns', value: 'svc.edp1.dev.halo-cmm.org' }, { type: 'ip', value: '10.1.2.3' }],
      days: 10,
      clock,
    });
    const v = verify(['-CAfile', scratch.pem('nc-root.pem', root.der), '-untrusted', scratch.pem('nc-inter.pem', constrained.der), scratch.pem('nc-leaf.pem', ok.der)]);
    assert.ok(v.ok, v.out);
    for (const profile of VALIDATION_PROFILE_NAMES) {
      await validatePath(ok.certificate, { trustStore: new TrustStore([root.certificate]), intermediates: [constrained.certificate], clock, profile, purpose: 'server', host: '10.1.2.3' });
    }
    for (const altNames of [
      [{ type: 'dns' as const, value: 'evil.example' }],
      [{ type: 'dns' as const, value: 'bad.edp1.dev.halo-cmm.org' }],
      [{ type: 'ip' as const, value: '192.168.0.1' }],
      [{ type: 'dns' as const, value: 'svc.edp1.dev.halo-cmm.org' }, { type: 'ip' as const, value: '::1' }],
    ]) {
      assert.throws(() => issueLeaf(ca, { profile: 'tls-server', subject: '/CN=x', altNames, days: 10, clock }), policyError('POLICY_VIOLATION'));
    }
    const dnConstrained = issueIntermediate(root, {
      subject: '/O=Halo CMM/CN=DN CA',
      days: 100,
      nameConstraints: { permitted: [{ type: 'dn', der: subjectToDer('/O=Halo CMM') }] },
      clock,
    });
    const dnCa = { certificate: dnConstrained.certificate, privateKey: dnConstrained.privateKey! };
    issueLeaf(dnCa, { profile: 'signing', subject: '/O=Halo CMM/CN=inside', days: 10, clock });
    assert.throws(() => issueLeaf(dnCa, { profile: 'signing', subject: '/O=Other/CN=outside', days: 10, clock }), policyError('POLICY_VIOLATION'));
  });

  it('refuses issuers that are not CAs, expired issuers, and a key that does not belong to the issuer', () => {
    const leaf = issueLeaf(root, { profile: 'signing', subject: '/CN=leaf', days: 10, clock });
    assert.throws(
      () => issueLeaf({ certificate: leaf.certificate, privateKey: leaf.privateKey! }, { profile: 'signing', subject: '/CN=x', days: 1, clock }),
      policyError('POLICY_VIOLATION'),
    );
    const later = new ManualClock('2027-06-01T00:00:00Z');
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: '/CN=x', days: 1, clock: later }), /expired/);
    const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    assert.throws(
      () => issueLeaf({ certificate: root.certificate, privateKey: stranger }, { profile: 'signing', subject: '/CN=x', days: 1, clock }),
      policyError('INVALID_REQUEST'),
    );
  });

  it('rejects bad requests with typed errors', () => {
    assert.throws(() => issueLeaf(root, { profile: 'tls-server', subject: '/CN=nosan', days: 1, clock }), policyError('INVALID_REQUEST'));
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: 'CN=no-slash', days: 1, clock }), policyError('INVALID_REQUEST'));
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: '/XX=what', days: 1, clock }), policyError('INVALID_REQUEST'));
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: '/C=USA', days: 1, clock }), policyError('INVALID_REQUEST'));
    assert.throws(
      () => issueLeaf(root, { profile: 'tls-server', subject: '/CN=x', altNames: [{ type: 'dns', value: 'a..b' }], days: 1, clock }),
      policyError('INVALID_REQUEST'),
    );
    // A zone id or the bracketed URL form is not an address a certificate can hold.
    for (const value of ['300.1.1.1', 'fe80::1%eth0', '[::1]', '010.0.0.1']) {
      assert.throws(
        () => issueLeaf(root, { profile: 'tls-server', subject: '/CN=x', altNames: [{ type: 'ip', value }], days: 1, clock }),
        policyError('INVALID_REQUEST'),
        value,
      );
    }
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: '/CN=x', days: 0, clock }), policyError('INVALID_REQUEST'));
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    assert.throws(() => issueLeaf(root, { profile: 'signing', subject: '/CN=x', publicKey: weak, days: 1, clock }), policyError('POLICY_VIOLATION'));
  });
});
