/**
 * Certificate parsing: fields agree with Node's X509Certificate on the CMMS
 * fixtures, PEM bundles, and the RFC 5280 rules enforced at parse time
 * (checked on hand-built DER, since openssl will not emit such certificates).
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { encode } from '../../src/lib/der.js';
import { OID, parseCertificate, parseCertificates } from '../../src/pki/certificate.js';
import { PkiError } from '../../src/pki/errors.js';

const DIR = new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url);
const kingdomRoot = readFileSync(new URL('kingdom_root.pem', DIR));

test('fields agree with node:crypto X509Certificate on every CMMS certificate', () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.pem') || f.endsWith('_cert.der'));
  let count = 0;
  for (const f of files) {
    const bytes = readFileSync(new URL(f, DIR));
    for (const cert of parseCertificates(bytes)) {
      const x = new X509Certificate(cert.der);
      assert.equal(cert.fingerprintSha256, x.fingerprint256.replace(/:/g, '').toLowerCase(), f);
      assert.equal(cert.serialHex, x.serialNumber.toLowerCase(), f);
      assert.equal(cert.notBefore.getTime(), new Date(x.validFrom).getTime(), f);
      assert.equal(cert.notAfter.getTime(), new Date(x.validTo).getTime(), f);
      assert.equal(cert.isSelfIssued, x.checkIssued(x), f);
      assert.ok(Buffer.from(cert.spki).equals(x.publicKey.export({ format: 'der', type: 'spki' })), f);
      count++;
    }
  }
  assert.ok(count >= 50, `${count} certificates`);
});

test('decodes the extensions of the Kingdom root', () => {
  const [root] = parseCertificates(kingdomRoot);
  assert.ok(root);
  assert.equal(root.version, 3);
  assert.equal(root.subject.text, 'CN=Kingdom CA,O=Halo CMM Dev');
  assert.deepEqual(root.basicConstraints, { ca: true });
  assert.deepEqual([...root.keyUsage!].sort(), ['cRLSign', 'digitalSignature', 'keyCertSign']);
  assert.deepEqual(root.subjectAltNames, [{ type: 'dns', value: 'dev.halo-cmm.org' }]);
  assert.equal(root.publicKeyAlgorithm, OID.ecPublicKey);
  assert.equal(root.publicKeyCurve, OID.p256);
  assert.equal(root.signatureAlgorithm.oid, '1.2.840.10045.4.3.2');
  assert.ok(root.extensions.get(OID.basicConstraints)?.critical);
  assert.equal(root.authorityKeyIdentifierDetails?.authorityCertIssuer, undefined);
});

test('a PEM bundle yields every certificate, DER yields one', () => {
  const three = Buffer.concat(['edp1_root.pem', 'edp2_root.pem', 'mc_root.pem'].map((f) => readFileSync(new URL(f, DIR))));
  assert.deepEqual(parseCertificates(three).map((c) => c.subject.text), ['CN=Edp1 CA,O=Halo CMM Dev', 'CN=Edp2 CA,O=Halo CMM Dev', 'CN=Mc CA,O=Halo CMM Dev']);
  assert.equal(parseCertificates(readFileSync(new URL('edp1_cs_cert.der', DIR))).length, 1);
});

// Hand-built certificates: the structure is real X.509, the signature bytes are not checked by the parser.
const ecdsaSha256 = encode.sequence(encode.oid('1.2.840.10045.4.3.2'));
const name = (cn: string) => encode.sequence(encode.set(encode.sequence(encode.oid('2.5.4.3'), encode.utf8String(cn))));
const spki = parseCertificates(kingdomRoot)[0]!.spki;
const ext = (oid: string, critical: boolean, value: Uint8Array) =>
  encode.sequence(encode.oid(oid), ...(critical ? [encode.boolean(true)] : []), encode.octetString(value));

function build(o: { version?: number; serial?: bigint; outerAlg?: Uint8Array; extensions?: Uint8Array[]; subject?: Uint8Array } = {}): Uint8Array {
  const tbs = encode.sequence(
    ...(o.version === 1 ? [] : [encode.explicit(0, encode.integer(o.version ?? 2))]),
    encode.integer(o.serial ?? 1n),
    ecdsaSha256,
    name('issuer'),
    encode.sequence(encode.time(new Date('2024-01-01T00:00:00Z')), encode.time(new Date('2030-01-01T00:00:00Z'))),
    o.subject ?? name('subject'),
    spki,
    ...(o.extensions ? [encode.explicit(3, encode.sequence(...o.extensions))] : []),
  );
  return encode.sequence(tbs, o.outerAlg ?? ecdsaSha256, encode.bitString(Uint8Array.of(1, 2, 3)));
}

function malformed(der: Uint8Array, why: RegExp): void {
  assert.throws(() => parseCertificate(der), (err: unknown) => err instanceof PkiError && err.code === 'CERT_MALFORMED' && why.test(err.message));
}

test('parse-time rejections follow RFC 5280', () => {
  const san = ext(OID.subjectAltName, false, encode.sequence(encode.implicitPrimitive(2, Buffer.from('a.example'))));
  assert.equal(parseCertificate(build({ extensions: [san] })).subjectAltNames?.[0]?.value, 'a.example');
  malformed(build({ extensions: [san, san] }), /duplicate extension/);
  malformed(build({ outerAlg: encode.sequence(encode.oid('1.2.840.10045.4.3.3')) }), /signatureAlgorithm differs/);
  malformed(build({ version: 1, extensions: [san] }), /extensions need version 3/);
  malformed(build({ version: 3 }), /unsupported version 4/);
  malformed(build({ version: 0 }), /explicit v1/);
  malformed(build({ extensions: [ext(OID.authorityKeyIdentifier, true, encode.sequence(encode.implicitPrimitive(0, Uint8Array.of(1))))] }), /must not be critical/);
  malformed(build({ extensions: [ext(OID.extKeyUsage, false, encode.sequence())] }), /must not be empty/);
  malformed(build({ extensions: [ext(OID.keyUsage, false, encode.bitString(Uint8Array.of(0)))] }), /no bit set/);
  malformed(build({ extensions: [ext(OID.subjectAltName, false, encode.sequence(encode.implicitPrimitive(2, Buffer.from('bü.example'))))] }), /non-ASCII/);
  malformed(build({ subject: encode.sequence(), extensions: [san] }), /must be critical when the subject is empty/);
  malformed(build({ extensions: [ext(OID.nameConstraints, true, encode.sequence(encode.implicitConstructed(0, encode.sequence(encode.implicitPrimitive(2, Buffer.from('*.example.com'))))))] }), /wildcard/);
  // Serial rules belong to the validator (real roots carry serial 0), so these parse.
  assert.equal(parseCertificate(build({ serial: 0n })).serialNumber, 0n);
  assert.equal(parseCertificate(build({ serial: -5n })).serialHex, '05');
});

test('names: RFC 4514 text with escaping, and case-insensitive matching keys', () => {
  const a = parseCertificate(build({ subject: name('Acme, Inc.  Root') }));
  const b = parseCertificate(build({ subject: name('acme, inc. root') }));
  assert.equal(a.subject.text, 'CN=Acme\\, Inc.  Root');
  assert.equal(a.subject.key, b.subject.key);
  assert.notEqual(a.subject.key, a.issuer.key);
});
