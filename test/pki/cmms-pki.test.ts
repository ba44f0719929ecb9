/**
 * Validation on the real CMMS test PKI (../shared/testdata/cmms-secretfiles):
 * every leaf validates to its own root and to no other; validity, host, EKU
 * and revocation failures carry the right codes; parsed fields agree with
 * cmms-reference §7.1 and with `openssl x509 -noout -text`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type Certificate, parseCertificates } from '../../src/pki/certificate.js';
import { CrlRevocationChecker, parseCrls } from '../../src/pki/crl.js';
import { PkiError } from '../../src/pki/errors.js';
import { TrustStore } from '../../src/pki/trust-store.js';
import { type Purpose, validatePath } from '../../src/pki/validate.js';
import { rejectsWith } from './pki-expect.js';

const DIR = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));
const files = readdirSync(DIR);
const load = (name: string): Certificate => parseCertificates(readFileSync(join(DIR, name)))[0]!;
const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex').toUpperCase() : '');

const roots = new Map(files.filter((f) => f.endsWith('_root.pem')).map((f) => [f, load(f)]));
const leaves = new Map(files.filter((f) => f.endsWith('_cs_cert.der') || f.endsWith('_tls.pem')).map((f) => [f, load(f)]));

function rootOf(leaf: Certificate): [string, Certificate] {
  for (const [name, root] of roots) if (hex(root.subjectKeyIdentifier) === hex(leaf.authorityKeyIdentifier)) return [name, root];
  throw new Error('no root for leaf');
}

/** An instant inside both the leaf's and its root's validity. */
function inside(leaf: Certificate, root: Certificate): Date {
  return new Date(Math.max(leaf.notBefore.getTime(), root.notBefore.getTime()) + 86_400_000);
}

const purposeOf = (file: string): Purpose | undefined => (file.endsWith('_cs_cert.der') ? 'signing' : undefined);

describe('CMMS test PKI', () => {
  test('the fixture set is what cmms-reference §7 describes', () => {
    assert.equal(roots.size, 23); // 18 CMMS roots in §7.1 and 5 third-party roots
    assert.ok(leaves.size >= 30, `only ${leaves.size} leaves`);
  });

  test('every leaf validates to its own root, and the path is leaf then root', async () => {
    for (const [file, leaf] of leaves) {
      const [, root] = rootOf(leaf);
      const purpose = purposeOf(file);
      const path = await validatePath(leaf, { trustStore: new TrustStore([root]), at: inside(leaf, root), ...(purpose ? { purpose } : {}) });
      assert.deepEqual(path.certificates, [leaf, root], file);
      // With every root trusted, the AKID still selects the right one.
      const all = await validatePath(leaf, { trustStore: new TrustStore(roots.values()), at: inside(leaf, root), ...(purpose ? { purpose } : {}) });
      assert.equal(all.anchor, root, file);
    }
  });

  test('no leaf validates to any other root', async () => {
    for (const [file, leaf] of leaves) {
      const [rootName, root] = rootOf(leaf);
      const others = [...roots].filter(([n]) => n !== rootName).map(([, r]) => r);
      await rejectsWith(validatePath(leaf, { trustStore: new TrustStore(others), at: inside(leaf, root), purpose: 'signing' }), 'CHAIN_UNTRUSTED');
      for (const other of others) {
        await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([other]), at: inside(leaf, root), purpose: 'signing' }), 'CHAIN_UNTRUSTED');
      }
      assert.ok(file);
    }
  });

  test('outside the validity window: CERT_EXPIRED and CERT_NOT_YET_VALID', async () => {
    const leaf = leaves.get('edp1_tls.pem')!;
    const store = new TrustStore([rootOf(leaf)[1]]);
    const late = await rejectsWith(validatePath(leaf, { trustStore: store, at: new Date(leaf.notAfter.getTime() + 1000) }), 'CERT_EXPIRED');
    assert.match(late.message, /CN=Edp1/);
    assert.equal(late instanceof PkiError && late.certificate?.subject, 'CN=Edp1,O=Halo CMM Dev');
    await rejectsWith(validatePath(leaf, { trustStore: store, at: new Date(leaf.notBefore.getTime() - 1000) }), 'CERT_NOT_YET_VALID');
    // The edges are inclusive (RFC 5280 §4.1.2.5).
    await validatePath(leaf, { trustStore: store, at: leaf.notBefore });
    const edge = new Date(Math.min(leaf.notAfter.getTime(), rootOf(leaf)[1].notAfter.getTime()));
    await validatePath(leaf, { trustStore: store, at: edge });
    await rejectsWith(validatePath(leaf, { trustStore: store, at: new Date(edge.getTime() + 1000) }), 'CERT_EXPIRED');
    // edp7's signing leaf outlives its root: past the root's notAfter the root fails.
    const edp7 = leaves.get('edp7_cs_cert.der')!;
    const edp7Root = rootOf(edp7)[1];
    const err = await rejectsWith(
      validatePath(edp7, { trustStore: new TrustStore([edp7Root]), at: new Date(edp7Root.notAfter.getTime() + 1000), purpose: 'signing' }),
      'CERT_EXPIRED',
    );
    assert.match(err.message, /Edp7 CA/);
  });

  test('host names: wildcard and localhost match, others are HOSTNAME_MISMATCH', async () => {
    const leaf = leaves.get('edp1_tls.pem')!;
    const root = rootOf(leaf)[1];
    const opts = { trustStore: new TrustStore([root]), at: inside(leaf, root) };
    await validatePath(leaf, { ...opts, host: 'api.edp1.dev.halo-cmm.org' });
    await validatePath(leaf, { ...opts, host: 'LOCALHOST' });
    await rejectsWith(validatePath(leaf, { ...opts, host: 'edp1.dev.halo-cmm.org' }), 'HOSTNAME_MISMATCH');
    await rejectsWith(validatePath(leaf, { ...opts, host: 'a.b.edp1.dev.halo-cmm.org' }), 'HOSTNAME_MISMATCH');
    await rejectsWith(validatePath(leaf, { ...opts, host: 'api.edp2.dev.halo-cmm.org' }), 'HOSTNAME_MISMATCH');
    await rejectsWith(validatePath(leaf, { ...opts, host: '127.0.0.1' }), 'HOSTNAME_MISMATCH');
    // No Common Name fallback: CN=Edp1 is not a host name it serves.
    await rejectsWith(validatePath(leaf, { ...opts, host: 'edp1' }), 'HOSTNAME_MISMATCH');
  });

  test('edp7 leaves carry clientAuth only: purpose server is EKU_MISMATCH', async () => {
    for (const file of ['edp7_tls.pem', 'edp7_cs_cert.der']) {
      const leaf = leaves.get(file)!;
      const root = rootOf(leaf)[1];
      const opts = { trustStore: new TrustStore([root]), at: inside(leaf, root) };
      await validatePath(leaf, { ...opts, purpose: 'client' });
      await rejectsWith(validatePath(leaf, { ...opts, purpose: 'server' }), 'EKU_MISMATCH');
    }
    // Leaves without EKU are fine for any purpose.
    const mc = leaves.get('mc_tls.pem')!;
    await validatePath(mc, { trustStore: new TrustStore([rootOf(mc)[1]]), at: inside(mc, rootOf(mc)[1]), purpose: 'server' });
  });

  test('edp1_result_cs_cert (keyCertSign on a non-CA) validates for signing only', async () => {
    const leaf = leaves.get('edp1_result_cs_cert.der')!;
    const root = rootOf(leaf)[1];
    const opts = { trustStore: new TrustStore([root]), at: inside(leaf, root) };
    await validatePath(leaf, { ...opts, purpose: 'signing' });
    await rejectsWith(validatePath(leaf, opts), 'KEY_USAGE_MISMATCH');
  });

  describe('revocation with CRLs from the real `openssl ca`', () => {
    const work = mkdtempSync(join(tmpdir(), 'halo-crl-'));
    after(() => rmSync(work, { recursive: true, force: true }));
    const conf = join(work, 'ca.cnf');
    writeFileSync(
      conf,
      [
        '[ca]',
        'default_ca = edp1',
        '[edp1]',
        `database = ${join(work, 'index.txt')}`,
        `crlnumber = ${join(work, 'crlnumber')}`,
        `certificate = ${join(DIR, 'edp1_root.pem')}`,
        `private_key = ${join(DIR, 'edp1_root.key')}`,
        'default_md = sha256',
        'default_crl_days = 30',
        'crl_extensions = crl_ext',
        '[crl_ext]',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
    );
    const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
    const makeCrl = (name: string, revoke: { file: string; reason: string }[]) => {
      writeFileSync(join(work, 'index.txt'), '');
      writeFileSync(join(work, 'crlnumber'), '1000\n');
      for (const r of revoke) openssl('ca', '-config', conf, '-revoke', join(DIR, r.file), '-crl_reason', r.reason);
      openssl('ca', '-config', conf, '-gencrl', '-out', join(work, name));
      return parseCrls(readFileSync(join(work, name)));
    };

    const leaf = leaves.get('edp1_tls.pem')!;
    const root = rootOf(leaf)[1];
    // Revocation dates are "now" when openssl runs; validate a minute later.
    const later = () => new Date(Date.now() + 60_000);

    test('a revoked leaf is CERT_REVOKED; its sibling still validates', async () => {
      const crls = makeCrl('revoked.crl', [{ file: 'edp1_tls.pem', reason: 'keyCompromise' }]);
      assert.equal(crls[0]!.revoked.get(leaf.serialNumber)?.reason, 'keyCompromise');
      const revocation = new CrlRevocationChecker(crls);
      const err = await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([root]), at: later(), revocation }), 'CERT_REVOKED');
      assert.match(err.message, /CN=Edp1/);
      const sibling = leaves.get('edp1_cs_cert.der')!;
      await validatePath(sibling, { trustStore: new TrustStore([root]), at: later(), revocation, purpose: 'signing' });
    });

    test('a certificate on hold is CERT_REVOKED too', async () => {
      const crls = makeCrl('hold.crl', [{ file: 'edp1_tls.pem', reason: 'certificateHold' }]);
      assert.equal(crls[0]!.revoked.get(leaf.serialNumber)?.reason, 'certificateHold');
      const revocation = new CrlRevocationChecker(crls);
      const err = await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([root]), at: later(), revocation }), 'CERT_REVOKED');
      assert.match(err.message, /on hold/);
    });

    test('a CRL of another CA does not touch the leaf; a forged one fails the path', async () => {
      const crls = makeCrl('empty.crl', []);
      const revocation = new CrlRevocationChecker(crls);
      await validatePath(leaf, { trustStore: new TrustStore([root]), at: later(), revocation });
      // Strict status: an edp2 leaf has no CRL here, so its status is unknown.
      const edp2 = leaves.get('edp2_tls.pem')!;
      await rejectsWith(
        validatePath(edp2, { trustStore: new TrustStore([rootOf(edp2)[1]]), at: later(), revocation, requireRevocationStatus: true }),
        'CERT_REVOKED',
      );
      // Flip a signature byte: the CRL claims edp1's name but does not verify.
      const der = new Uint8Array(crls[0]!.der);
      der[der.length - 3]! ^= 0x01;
      const forged = new CrlRevocationChecker(parseCrls(der));
      await rejectsWith(validatePath(leaf, { trustStore: new TrustStore([root]), at: later(), revocation: forged }), 'SIGNATURE_INVALID');
    });
  });

  test('SKIDs match cmms-reference §7.1 and every AKID is its issuer SKID', () => {
    const expected: Record<string, string> = {
      kingdom_root: '8E28FF8E…D1AF8302',
      aggregator_root: '47AD5791…766ADC39',
      worker1_root: '10590BB2…3579A2E9',
      worker2_root: 'AF694908…25D7A3BB',
      edp1_root: '90C1D3BD…415B7704',
      edp2_root: 'F6EDD190…16CCAE08',
      edp3_root: 'C8037390…67A18194',
      edp4_root: '9542024C…BE191754',
      edp5_root: '84EA3DFE…0D5D6BB7',
      edp6_root: 'BB1220A8…C2BF8A5A',
      edp7_root: '4DB3F849…0F7FDE48',
      mc_root: '7CE63FEA…AAC6B16A',
      mp1_root: 'B132832F…E71F6F79',
      pdp1_root: '950CC5C1…CCDFADB3',
      reporting_root: 'C2807E5D…41CDE023',
      edpa_meta_root: '1D413858…ACD0D5D6',
      edp_aggregator_root: '7E950485…E7C10A81',
      secure_computation_root: '875148BE…93DB87C3',
    };
    for (const [name, abbrev] of Object.entries(expected)) {
      const root = roots.get(`${name}.pem`)!;
      const [head, tail] = abbrev.split('…') as [string, string];
      const skid = hex(root.subjectKeyIdentifier);
      assert.equal(skid.length, 40, name);
      assert.ok(skid.startsWith(head) && skid.endsWith(tail), `${name}: ${skid} is not ${abbrev}`);
      assert.ok(root.isSelfIssued, name);
      assert.equal(hex(root.authorityKeyIdentifier), skid, `${name}: AKID == SKID`);
    }
    assert.equal(roots.get('amazon_edp_old_root.pem')!.authorityKeyIdentifier, undefined);
    for (const [file, leaf] of leaves) assert.equal(hex(leaf.authorityKeyIdentifier), hex(rootOf(leaf)[1].subjectKeyIdentifier), file);
  });

  test('parsed fields agree with `openssl x509 -noout -text`', () => {
    for (const file of ['kingdom_root.pem', 'edp1_cs_cert.der', 'kingdom_tls.pem', 'edp7_tls.pem', 'meta_edp_root.pem', 'requisition_fetcher_tls.pem']) {
      const cert = load(file);
      const args = ['x509', '-noout', '-text', '-fingerprint', '-sha256', '-nameopt', 'RFC2253', '-in', join(DIR, file)];
      if (file.endsWith('.der')) args.push('-inform', 'DER');
      const text = execFileSync('openssl', args, { encoding: 'utf8' });
      assert.ok(text.includes(`Subject: ${cert.subject.text}`), `${file} subject ${cert.subject.text}`);
      assert.ok(text.includes(`Issuer: ${cert.issuer.text}`), `${file} issuer`);
      const fp = /sha256 Fingerprint=([0-9A-F:]+)/i.exec(text)![1]!.replace(/:/g, '').toLowerCase();
      assert.equal(cert.fingerprintSha256, fp, file);
      const serial = /Serial Number:\s*\n?\s*([0-9a-f:]+)/i.exec(text)![1]!.replace(/:/g, '').toLowerCase();
      assert.equal(BigInt('0x' + serial), cert.serialNumber, `${file} serial`);
      const sans = /X509v3 Subject Alternative Name:\s*\n\s*(.+)/.exec(text)?.[1]?.split(', ').map((s) => s.replace(/^DNS:/, '')) ?? [];
      assert.deepEqual(cert.subjectAltNames?.map((n) => n.value) ?? [], sans, `${file} SAN`);
      const skid = /Subject Key Identifier:\s*\n\s*([0-9A-F:]+)/.exec(text)?.[1]?.replace(/:/g, '') ?? '';
      assert.equal(hex(cert.subjectKeyIdentifier), skid, `${file} SKID`);
      const ku = /X509v3 Key Usage:.*\n\s*(.+)/.exec(text)?.[1]?.split(', ') ?? [];
      const names: Record<string, string> = {
        'Digital Signature': 'digitalSignature',
        'Non Repudiation': 'nonRepudiation',
        'Key Encipherment': 'keyEncipherment',
        'Certificate Sign': 'keyCertSign',
        'CRL Sign': 'cRLSign',
      };
      assert.deepEqual([...(cert.keyUsage ?? [])].sort(), ku.map((k) => names[k.trim()] ?? k).sort(), `${file} KU`);
      const ca = /CA:(TRUE|FALSE)/.exec(text)?.[1];
      assert.equal(cert.basicConstraints === undefined ? undefined : cert.basicConstraints.ca ? 'TRUE' : 'FALSE', ca, `${file} BC`);
    }
  });
});
