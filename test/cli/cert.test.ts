import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot, issueIntermediate, issueLeaf } from '../../src/pki/ca.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { buildCrl } from '../../src/pki/crl-builder.js';
import { parseCrls } from '../../src/pki/crl.js';
import { assertFails, assertUsage, fixture, haloKeys, scratchDir } from './run-cli.js';

const { file } = scratchDir('halo-keys-cli-cert-');

// A small PKI made by our CA at a fixed instant: root -> intermediate -> leaves, plus a CRL.
const clock = new ManualClock('2026-03-01T00:00:00Z');
const root = initRoot({ subject: '/O=Halo CMM/CN=Kingdom CA', clock });
const inter = issueIntermediate(root, { subject: '/O=Halo CMM/CN=Kingdom TLS CA', pathLength: 0, days: 1000, clock });
const interCa = { certificate: inter.certificate, privateKey: inter.privateKey! };
const server = issueLeaf(interCa, {
  profile: 'tls-server',
  subject: '/O=Halo CMM/CN=Kingdom',
  altNames: [{ type: 'dns', value: '*.kingdom.dev.halo-cmm.org' }, { type: 'ip', value: '127.0.0.1' }],
  days: 90,
  clock,
});
const client = issueLeaf(interCa, { profile: 'tls-client', subject: '/O=Halo CMM/CN=edp1', days: 90, clock });
const revoked = issueLeaf(interCa, { profile: 'tls-server', subject: '/CN=old', altNames: [{ type: 'dns', value: 'old.kingdom.dev.halo-cmm.org' }], days: 90, clock });
const crl = buildCrl({
  issuer: inter.certificate,
  issuerKey: inter.privateKey!,
  entries: [{ serialHex: revoked.certificate.serialHex, revocationDate: clock.now(), reason: 'keyCompromise' }],
  crlNumber: 1n,
  thisUpdate: clock.now(),
  nextUpdate: new Date('2026-04-01T00:00:00Z'),
});
const pem = (name: string, ...ders: Uint8Array[]) => {
  writeFileSync(file(name), ders.map((d) => encodePem('CERTIFICATE', d)).join(''));
  return file(name);
};
const rootPem = pem('root.pem', root.der);
const interPem = pem('inter.pem', inter.der);
const serverPem = pem('server.pem', server.der);
const clientPem = pem('client.pem', client.der);
const revokedPem = pem('revoked.pem', revoked.der);
writeFileSync(file('inter.crl'), encodePem('X509 CRL', crl));
const at = '2026-03-02T00:00:00Z';

describe('halo-keys cert inspect', () => {
  it('reads the CMMS edp1 root (made by openssl) with the SKID from the reference', () => {
    const r = haloKeys(['cert', 'inspect', fixture('edp1_root.pem'), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const d = JSON.parse(r.stdout);
    assert.equal(d.subject, 'CN=Edp1 CA,O=Halo CMM Dev');
    assert.equal(d.subjectKeyIdentifier, '90c1d3bde6740155a7efe66472a6689c415b7704');
    assert.equal(d.authorityKeyIdentifier, d.subjectKeyIdentifier);
    assert.deepEqual(d.basicConstraints, { ca: true, critical: true });
    assert.deepEqual(d.keyUsage.usages, ['digitalSignature', 'keyCertSign', 'cRLSign']);
    assert.deepEqual(d.subjectAltNames, ['DNS:dev.halo-cmm.org']);
    assert.equal(d.notBefore, '2022-07-29T17:35:27.000Z');
    assert.equal(d.notAfter, '2032-07-26T17:35:27.000Z');
    const fp = spawnSync('openssl', ['x509', '-in', fixture('edp1_root.pem'), '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' }).stdout;
    assert.equal(d.fingerprints.sha1, fp.trim().split('=')[1]!.replace(/:/g, '').toLowerCase());
  });

  it('reads the DER consent-signaling leaf: AKID = edp1 root SKID, KU, SANs', () => {
    const r = haloKeys(['cert', 'inspect', fixture('edp1_cs_cert.der')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /subject: +CN=Edp1,O=Halo CMM Dev/);
    assert.match(r.stdout, /AKID: +90:C1:D3:BD:E6:74:01:55:A7:EF:E6:64:72:A6:68:9C:41:5B:77:04/);
    assert.match(r.stdout, /key usage: +digitalSignature, nonRepudiation, keyEncipherment\n/);
    assert.match(r.stdout, /SAN: +DNS:\*\.edp1\.dev\.halo-cmm\.org, DNS:localhost/);
    assert.match(r.stdout, /basic constraints: +CA:FALSE\n/);
  });

  it('matches the SKIDs in cmms-reference §7.1 for every EDP root', () => {
    const expected: Record<string, [string, string]> = {
      edp1: ['90c1d3bd', '415b7704'],
      edp2: ['f6edd190', '16ccae08'],
      edp3: ['c8037390', '67a18194'],
      edp4: ['9542024c', 'be191754'],
      edp5: ['84ea3dfe', '0d5d6bb7'],
      edp6: ['bb1220a8', 'c2bf8a5a'],
      edp7: ['4db3f849', '0f7fde48'],
    };
    let matched = 0;
    for (const [name, [head, tail]] of Object.entries(expected)) {
      const d = JSON.parse(haloKeys(['cert', 'inspect', fixture(`${name}_root.pem`), '--json']).stdout);
      assert.ok(d.subjectKeyIdentifier.startsWith(head) && d.subjectKeyIdentifier.endsWith(tail), name);
      matched++;
    }
    console.log(`cmms roots: ${matched}/${Object.keys(expected).length} SKIDs match cmms-reference §7.1`);
    assert.equal(matched, 7);
  });

  it('shows what our CA put in a certificate, and every certificate of a bundle', () => {
    const r = haloKeys(['cert', 'inspect', pem('bundle.pem', server.der, inter.der), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [leaf, ca] = JSON.parse(r.stdout);
    assert.deepEqual(leaf.extKeyUsage, ['serverAuth']);
    assert.deepEqual(leaf.subjectAltNames, ['DNS:*.kingdom.dev.halo-cmm.org', 'IP:127.0.0.1']);
    assert.equal(leaf.authorityKeyIdentifier, ca.subjectKeyIdentifier);
    assert.deepEqual(ca.basicConstraints, { ca: true, pathLenConstraint: 0, critical: true });
  });

  it('fails with one line on garbage and missing files', () => {
    writeFileSync(file('garbage.der'), Buffer.from('30820a0b0c0d', 'hex'));
    assertFails(haloKeys(['cert', 'inspect', file('garbage.der')]), 1, /^halo-keys: .*garbage\.der: not a DER or PEM certificate$/);
    assertFails(haloKeys(['cert', 'inspect', file('missing.pem')]), 1, /not found/);
  });
});

describe('halo-keys cert verify', () => {
  const chain = ['--trust', rootPem, '--untrusted', interPem, '--at', at];

  it('exit 0 and the validated path for a valid leaf', () => {
    const r = haloKeys(['cert', 'verify', serverPem, ...chain, '--host', 'api.kingdom.dev.halo-cmm.org', '--purpose', 'server', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.valid, true);
    assert.deepEqual(out.path.map((c: { subject: string }) => c.subject), ['CN=Kingdom,O=Halo CMM', 'CN=Kingdom TLS CA,O=Halo CMM', 'CN=Kingdom CA,O=Halo CMM']);
    const text = haloKeys(['cert', 'verify', serverPem, ...chain, '--host', '127.0.0.1', '--crl', file('inter.crl')]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /OK at 2026-03-02T00:00:00\.000Z \(cmms profile\)\n  0: CN=Kingdom/);
  });

  const failures: Array<[string, string[], string]> = [
    ['expired', [serverPem, ...chain.slice(0, -1), '2026-06-30T00:00:00Z'], 'CERT_EXPIRED'],
    ['not yet valid', [serverPem, ...chain.slice(0, -1), '2026-02-01T00:00:00Z'], 'CERT_NOT_YET_VALID'],
    ['wrong host', [serverPem, ...chain, '--host', 'kingdom.example'], 'HOSTNAME_MISMATCH'],
    ['IP not in SAN', [serverPem, ...chain, '--host', '10.0.0.1'], 'HOSTNAME_MISMATCH'],
    ['wrong EKU', [clientPem, ...chain, '--purpose', 'server'], 'EKU_MISMATCH'],
    ['revoked by CRL', [revokedPem, ...chain, '--crl', file('inter.crl')], 'CERT_REVOKED'],
    ['missing intermediate', [serverPem, '--trust', rootPem, '--at', at], 'CHAIN_UNTRUSTED'],
    ['another root', [fixture('edp1_tls.pem'), '--trust', rootPem, '--at', at], 'CHAIN_UNTRUSTED'],
  ];
  for (const [name, args, code] of failures) {
    it(`exit 1 naming the failing certificate: ${name}`, () => {
      const r = haloKeys(['cert', 'verify', ...args, '--json']);
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, false);
      assert.equal(out.code, code);
      assert.ok(out.certificate?.subject, 'names the certificate');
      assertFails(haloKeys(['cert', 'verify', ...args]), 1, new RegExp(`verification failed: ${code}`));
    });
  }

  it('--profile chooses the rules: a CA certificate is a TLS end entity under rfc5280 only', () => {
    const args = ['cert', 'verify', interPem, '--trust', rootPem, '--at', at, '--purpose', 'server', '--json'];
    const verdict = (profile?: string) => {
      const r = haloKeys([...args, ...(profile ? ['--profile', profile] : [])]);
      return { code: r.code, out: JSON.parse(r.stdout) as { valid: boolean; profile: string; code?: string } };
    };
    assert.deepEqual(verdict('rfc5280'), { code: 0, out: { ...verdict('rfc5280').out, valid: true, profile: 'rfc5280' } });
    for (const profile of [undefined, 'cmms', 'webpki']) {
      const { code, out } = verdict(profile);
      assert.equal(code, 1);
      assert.equal(out.profile, profile ?? 'cmms');
      assert.equal(out.code, 'KEY_USAGE_MISMATCH');
    }
    assertUsage(haloKeys(['cert', 'verify', serverPem, '--trust', rootPem, '--profile', 'strict']), /--profile/);
  });

  it('--json prints a verdict for a malformed input too, with exit 1 and the one line on stderr', () => {
    writeFileSync(file('garbage-leaf.der'), Buffer.from('30820a0b0c0d', 'hex'));
    for (const args of [
      [file('garbage-leaf.der'), '--trust', rootPem],
      [serverPem, '--trust', file('garbage-leaf.der')],
      [serverPem, '--trust', rootPem, '--untrusted', file('garbage-leaf.der')],
      [serverPem, '--trust', rootPem, '--crl', file('garbage-leaf.der')],
    ]) {
      const r = haloKeys(['cert', 'verify', ...args, '--json']);
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, false);
      assert.match(out.code, /^(CERT|CRL)_MALFORMED$/);
      assert.equal(out.certificate, null);
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
    }
  });

  it('--json prints a verdict for every x509-limbo input whose certificates or CRLs do not parse', () => {
    type Case = { id: string; peer_certificate: string; trusted_certs: string[]; untrusted_intermediates: string[]; crls: string[]; validation_time: string | null };
    const { testcases } = JSON.parse(readFileSync(new URL('../../../shared/testdata/x509-limbo/limbo.json', import.meta.url), 'utf8')) as { testcases: Case[] };
    const parses = (tc: Case) => {
      try {
        for (const p of [tc.peer_certificate, ...tc.trusted_certs, ...tc.untrusted_intermediates]) parseCertificates(Buffer.from(p));
        for (const c of tc.crls) parseCrls(Buffer.from(c));
        return true;
      } catch {
        return false;
      }
    };
    const malformed = testcases.filter((tc) => !parses(tc));
    assert.equal(malformed.length, 25);
    for (const [i, tc] of malformed.entries()) {
      writeFileSync(file(`limbo-${i}-leaf.pem`), tc.peer_certificate);
      writeFileSync(file(`limbo-${i}-trust.pem`), tc.trusted_certs.join(''));
      writeFileSync(file(`limbo-${i}-untrusted.pem`), tc.untrusted_intermediates.join(''));
      const crls = tc.crls.flatMap((c, k) => {
        writeFileSync(file(`limbo-${i}-${k}.crl`), c);
        return ['--crl', file(`limbo-${i}-${k}.crl`)];
      });
      const r = haloKeys([
        'cert', 'verify', file(`limbo-${i}-leaf.pem`), '--trust', file(`limbo-${i}-trust.pem`), '--untrusted', file(`limbo-${i}-untrusted.pem`), ...crls, '--json',
        ...(tc.validation_time ? ['--at', tc.validation_time] : []),
      ]);
      assert.equal(r.code, 1, `${tc.id}: ${r.stderr}`);
      const out = JSON.parse(r.stdout);
      assert.equal(out.valid, false, tc.id);
      assert.match(out.code, /^(CERT|CRL)_MALFORMED$/, tc.id);
    }
    console.log(`x509-limbo inputs that do not parse: ${malformed.length}, each with a JSON verdict`);
  });

  it('validates the CMMS TLS leaf to its own root only', () => {
    assert.equal(haloKeys(['cert', 'verify', fixture('edp1_tls.pem'), '--trust', fixture('edp1_root.pem'), '--host', 'localhost', '--at', at]).code, 0);
    assert.equal(haloKeys(['cert', 'verify', fixture('edp1_tls.pem'), '--trust', fixture('edp2_root.pem'), '--at', at]).code, 1);
  });

  it('exit 2 for usage errors', () => {
    assert.equal(haloKeys(['cert', 'verify', serverPem]).code, 2);
    assert.equal(haloKeys(['cert', 'verify', serverPem, '--trust', rootPem, '--at', 'yesterday']).code, 2);
    assert.equal(haloKeys(['cert', 'verify', serverPem, '--trust', rootPem, '--purpose', 'email']).code, 2);
    const help = haloKeys(['cert', 'verify', '--help']);
    assert.match(help.stdout, /Examples?:/);
  });
});
