/**
 * Signing as CMMS participants do, with the real test PKI in
 * cmms-secretfiles/, checked against the real `openssl` CLI in both
 * directions. Plus certificates signed with RSASSA-PSS (as common-jvm's
 * `ca-rsa.pem` / `user-ec-rsa-sig.pem` fixtures), made here with openssl,
 * to check the empty-OID fallback.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { readCertificateInfo } from '../../src/crypto/certificate-info.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { assertKeyMatchesCertificate, loadPrivateKey } from '../../src/crypto/keys.js';
import { SignatureAlgorithms, rsaPss, signatureAlgorithmFromIdentifier } from '../../src/crypto/signature-algorithm.js';
import { signBytes, signMessage, verifySignedMessage } from '../../src/crypto/signed-message.js';
import {
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  SignedMessageSchema,
  type SignedMessage,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readSecretfile, secretfilePath } from './testdata.js';

const path = secretfilePath;
const fixture = readSecretfile;
const tmp = mkdtempSync(join(tmpdir(), 'halo-keys-signing-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
const fails = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;
const withOid = (sm: SignedMessage, oid: string) => create(SignedMessageSchema, { ...sm, signatureAlgorithmOid: oid });

const parties = readdirSync(path('.'))
  .filter((f) => f.endsWith('_cs_cert.der'))
  .map((f) => f.slice(0, -'_cs_cert.der'.length))
  .sort();

function encryptionPublicKeyFor(party: string): { bytes: Uint8Array; keyset: string } {
  // Signing-only parties (duchies, edp1_result) have no *_enc_public.tink; they sign the MC's keyset instead.
  const own = `${party}_enc_public.tink`;
  const keyset = readdirSync(path('.')).includes(own) ? own : 'mc_enc_public.tink';
  const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: fixture(keyset) });
  return { bytes: toBinary(EncryptionPublicKeySchema, message), keyset };
}

describe('CMMS signing with the real test PKI', () => {
  it('finds every *_cs_cert.der / *_cs_private.der pair', () => {
    console.log(`signing pairs (${parties.length}): ${parties.join(', ')}`);
    assert.equal(parties.length, 15);
    for (const p of parties) assert.ok(readdirSync(path('.')).includes(`${p}_cs_private.der`), p);
  });

  it('each pair signs an EncryptionPublicKey that verifies with and without the OID, and openssl agrees', () => {
    let verified = 0;
    let opensslVerified = 0;
    const standIns: string[] = [];
    for (const party of parties) {
      const cert = fixture(`${party}_cs_cert.der`);
      const key = loadPrivateKey(fixture(`${party}_cs_private.der`));
      assertKeyMatchesCertificate(key, readCertificateInfo(cert));
      const { bytes, keyset } = encryptionPublicKeyFor(party);
      if (!keyset.startsWith(party)) standIns.push(party);
      const signed = signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: fixture(keyset) }), key);
      assert.deepEqual(signed.message!.value, bytes);
      const wire = toBinary(SignedMessageSchema, signed);
      assert.equal(verifySignedMessage(wire, cert).algorithm.name, 'ECDSA_WITH_SHA256');
      // What `MeasurementSystem public-keys update` registers: no OID, so the certificate's algorithm.
      assert.equal(verifySignedMessage(withOid(signed, ''), cert).algorithm.name, 'ECDSA_WITH_SHA256');
      verified++;

      const dir = mkdtempSync(join(tmp, `${party}-`));
      writeFileSync(join(dir, 'data'), bytes);
      writeFileSync(join(dir, 'sig'), signed.signature);
      writeFileSync(join(dir, 'pub.pem'), openssl('x509', '-inform', 'DER', '-in', path(`${party}_cs_cert.der`), '-pubkey', '-noout'));
      const out = openssl('dgst', '-sha256', '-verify', join(dir, 'pub.pem'), '-signature', join(dir, 'sig'), join(dir, 'data'));
      assert.match(out, /Verified OK/);
      opensslVerified++;

      // And the other way: openssl signs, we verify (as a legacy SignedMessage and as a current one).
      openssl('dgst', '-sha256', '-keyform', 'DER', '-sign', path(`${party}_cs_private.der`), '-out', join(dir, 'osig'), join(dir, 'data'));
      const osig = new Uint8Array(readFileSync(join(dir, 'osig')));
      verifySignedMessage(create(SignedMessageSchema, { data: bytes, signature: osig }), cert);
      verifySignedMessage(create(SignedMessageSchema, { ...signed, signature: osig }), cert);
    }
    console.log(`verified ${verified}/${parties.length} (explicit and empty OID); openssl dgst verified ${opensslVerified}/${parties.length}; ` +
      `openssl-made signatures verified ${parties.length}/${parties.length}; stand-in keyset (mc) for: ${standIns.join(', ')}`);
    assert.equal(verified, parties.length);
    assert.equal(opensslVerified, parties.length);
  });

  it('a key from another pair is a KEY_MISMATCH, and its signatures are SIGNATURE_INVALID', () => {
    let checked = 0;
    for (const [i, party] of parties.entries()) {
      const other = parties[(i + 1) % parties.length]!;
      const cert = fixture(`${party}_cs_cert.der`);
      const wrongKey = loadPrivateKey(fixture(`${other}_cs_private.der`));
      assert.throws(() => assertKeyMatchesCertificate(wrongKey, readCertificateInfo(cert)), fails('KEY_MISMATCH'));
      const { bytes } = encryptionPublicKeyFor(party);
      const signed = create(SignedMessageSchema, { data: bytes, signature: signBytes(bytes, wrongKey), signatureAlgorithmOid: '1.2.840.10045.4.3.2' });
      assert.throws(() => verifySignedMessage(signed, cert), fails('SIGNATURE_INVALID'));
      checked++;
    }
    assert.equal(checked, parties.length);
  });
});

describe('RSASSA-PSS certificates and the empty-OID fallback', () => {
  const dir = mkdtempSync(join(tmp, 'pss-'));
  const file = (n: string) => join(dir, n);
  const pssOpts = ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:48', '-sigopt', 'rsa_mgf1_md:sha384'];
  // A self-signed RSA CA whose certificate is signed with PSS SHA-384, salt 48 (like common-jvm's ca-rsa.pem).
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'),
    '-subj', '/O=Halo Test/CN=PSS CA', '-days', '2', '-sha384', ...pssOpts);
  // An EC leaf signed by that CA (like user-ec-rsa-sig.pem).
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', file('leaf.key'),
    '-out', file('leaf.csr'), '-subj', '/O=Halo Test/CN=EC leaf');
  openssl('x509', '-req', '-in', file('leaf.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial',
    '-days', '2', '-sha384', ...pssOpts, '-out', file('leaf.pem'));
  const caCert = new Uint8Array(readFileSync(file('ca.pem')));
  const caKey = loadPrivateKey(new Uint8Array(readFileSync(file('ca.key'))));
  const leafCert = new Uint8Array(readFileSync(file('leaf.pem')));
  const leafKey = loadPrivateKey(new Uint8Array(readFileSync(file('leaf.key'))));
  const data = toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: fixture('mc_enc_public.tink') }));

  it('reads the PSS parameters from the certificate signatureAlgorithm', () => {
    const info = readCertificateInfo(caCert);
    assert.equal(info.signatureAlgorithm.oid, '1.2.840.113549.1.1.10');
    const algorithm = signatureAlgorithmFromIdentifier(info.signatureAlgorithm);
    assert.deepEqual(algorithm.pss, { hash: 'sha384', mgf1Hash: 'sha384', saltLength: 48 });
  });

  it('an empty OID verifies with PSS and the certificate parameters, including openssl-made signatures', () => {
    const pss = rsaPss({ hash: 'sha384', mgf1Hash: 'sha384', saltLength: 48 });
    const ours = create(SignedMessageSchema, { data, signature: signBytes(data, caKey, pss) });
    assert.deepEqual(verifySignedMessage(ours, caCert).algorithm.pss, pss.pss);
    writeFileSync(file('data'), data);
    openssl('dgst', '-sha384', ...pssOpts, '-sign', file('ca.key'), '-out', file('sig'), file('data'));
    const theirs = create(SignedMessageSchema, { data, signature: new Uint8Array(readFileSync(file('sig'))) });
    assert.equal(verifySignedMessage(theirs, caCert).algorithm.name, 'RSASSA_PSS');
    // A PSS signature with other parameters (the bare-OID default, SHA-256 salt 32) does not fit the fallback.
    const defaults = create(SignedMessageSchema, { data, signature: signBytes(data, caKey, SignatureAlgorithms.RSASSA_PSS) });
    assert.throws(() => verifySignedMessage(defaults, caCert), fails('SIGNATURE_INVALID'));
    assert.equal(verifySignedMessage(withOid(defaults, '1.2.840.113549.1.1.10'), caCert).algorithm.name, 'RSASSA_PSS');
    // And the PKCS#1 default for an RSA key is not taken from the certificate.
    const signed = signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: fixture('mc_enc_public.tink') }), caKey);
    assert.equal(signed.signatureAlgorithmOid, SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION.oid);
    verifySignedMessage(signed, caCert);
  });

  it('an EC key under a PSS-signed certificate signs with ECDSA; the empty-OID fallback (PSS) cannot verify it', () => {
    assertKeyMatchesCertificate(leafKey, readCertificateInfo(leafCert));
    const signed = signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: 1, data: fixture('mc_enc_public.tink') }), leafKey);
    assert.equal(signed.signatureAlgorithmOid, SignatureAlgorithms.ECDSA_WITH_SHA256.oid);
    assert.equal(verifySignedMessage(signed, leafCert).algorithm.name, 'ECDSA_WITH_SHA256');
    // Upstream fails here too (the fallback names an RSA algorithm for an EC key); we report it as an invalid signature.
    assert.throws(() => verifySignedMessage(withOid(signed, ''), leafCert), fails('SIGNATURE_INVALID'));
  });

  it('a certificate signed with an unsupported algorithm gives UNSUPPORTED_SIGNATURE_ALGORITHM on fallback', () => {
    openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', file('sha1.key'), '-out', file('sha1.pem'),
      '-subj', '/CN=SHA-1 signed', '-days', '2', '-sha1');
    const cert = new Uint8Array(readFileSync(file('sha1.pem')));
    assert.equal(readCertificateInfo(cert).signatureAlgorithm.oid, '1.2.840.113549.1.1.5');
    const key = loadPrivateKey(new Uint8Array(readFileSync(file('sha1.key'))));
    const signed = create(SignedMessageSchema, { data, signature: signBytes(data, key) });
    assert.throws(() => verifySignedMessage(signed, cert), fails('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => verifySignedMessage(withOid(signed, '1.2.840.113549.1.1.5'), cert), fails('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.equal(verifySignedMessage(withOid(signed, SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION.oid), cert).algorithm.name, 'SHA_256_WITH_RSA_ENCRYPTION');
  });
});
