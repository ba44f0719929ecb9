import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { encodePem } from '../../src/lib/pem.js';
import { subjectToDer } from '../../src/pki/ca-name.js';
import { buildCsr, parseCsr } from '../../src/pki/csr.js';
import { PkiError } from '../../src/pki/errors.js';
import { KEY_TYPES, generateKeyPair, spkiOf } from '../../src/pki/key-types.js';
import { Scratch, openssl } from './ca-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());
const is = (code: string) => (e: unknown) => e instanceof PkiError && e.code === code;

describe('PKCS#10 requests', () => {
  for (const keyType of KEY_TYPES) {
    it(`${keyType}: our CSR passes openssl req -verify and round-trips`, () => {
      const { privateKey } = generateKeyPair(keyType);
      const der = buildCsr({
        subject: subjectToDer('/C=US/O=Halo CMM/OU=Edp/CN=edp1'),
        privateKey,
        altNames: [
          { type: 'dns', value: 'edp1.dev.halo-cmm.org' },
          { type: 'ip', value: '10.0.0.1' },
          { type: 'email', value: 'ops@halo-cmm.org' },
        ],
      });
      const path = scratch.text(`${keyType}.csr`, encodePem('CERTIFICATE REQUEST', der));
      const r = openssl(['req', '-in', path, '-verify', '-noout', '-text']);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout + r.stderr, /verify OK/);
      assert.match(r.stdout, /Subject: C = US, O = Halo CMM, OU = Edp, CN = edp1/);
      assert.match(r.stdout, /DNS:edp1\.dev\.halo-cmm\.org, IP Address:10\.0\.0\.1, email:ops@halo-cmm\.org/);

      const csr = parseCsr(new Uint8Array(readFileSync(path)));
      assert.equal(csr.subject.text, 'CN=edp1,OU=Edp,O=Halo CMM,C=US');
      assert.deepEqual(csr.subjectPublicKeyInfo, spkiOf(privateKey));
      assert.deepEqual(csr.requestedAltNames, [
        { type: 'dns', value: 'edp1.dev.halo-cmm.org' },
        { type: 'ip', value: '10.0.0.1' },
        { type: 'email', value: 'ops@halo-cmm.org' },
      ]);
      assert.deepEqual(csr.requestedExtensions, ['2.5.29.17']);
    });
  }

  for (const [name, args] of [
    ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1']],
    ['RSA 2048', ['-newkey', 'rsa:2048']],
    ['Ed25519', ['-newkey', 'ed25519']],
  ] as const) {
    it(`parses and checks an openssl ${name} request`, () => {
      const out = scratch.path(`openssl-${name.replace(/\W/g, '')}.csr`);
      const r = openssl(['req', '-new', ...args, '-nodes', '-keyout', scratch.path('k.pem'), '-out', out, '-outform', 'DER', '-subj', '/O=Halo CMM/CN=Mc']);
      assert.equal(r.status, 0, r.stderr);
      const csr = parseCsr(new Uint8Array(readFileSync(out)));
      assert.equal(csr.subject.text, 'CN=Mc,O=Halo CMM');
      assert.deepEqual(csr.requestedAltNames, []);
    });
  }

  it('rejects a request whose signature does not match (no proof of possession)', () => {
    const { privateKey } = generateKeyPair('p256');
    const der = buildCsr({ subject: subjectToDer('/CN=victim'), privateKey });
    // Flip a byte of the subject inside the signed info: the signature no longer covers it.
    const tampered = new Uint8Array(der);
    const at = Buffer.from(tampered).indexOf(Buffer.from('victim'));
    tampered[at] = 'V'.charCodeAt(0);
    assert.throws(() => parseCsr(tampered), is('SIGNATURE_INVALID'));
  });

  it('rejects garbage, truncation and trailing bytes with CSR_MALFORMED', () => {
    const { privateKey } = generateKeyPair('p256');
    const der = buildCsr({ subject: subjectToDer('/CN=x'), privateKey });
    for (const bad of [
      new Uint8Array(0),
      Uint8Array.of(0x30, 0x03, 1, 2, 3),
      der.subarray(0, der.length - 5),
      Uint8Array.from([...der, 0]),
      new TextEncoder().encode('-----BEGIN CERTIFICATE REQUEST-----\n!!!\n-----END CERTIFICATE REQUEST-----\n'),
      new TextEncoder().encode('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
    ]) {
      assert.throws(() => parseCsr(bad), is('CSR_MALFORMED'));
    }
    for (let i = 0; i < 200; i++) {
      const noise = new Uint8Array(der);
      const at = (i * 37) % noise.length;
      noise[at] = noise[at]! ^ (1 + (i % 255));
      assert.throws(() => parseCsr(noise), (e: unknown) => e instanceof PkiError && ['CSR_MALFORMED', 'SIGNATURE_INVALID', 'UNSUPPORTED_ALGORITHM'].includes(e.code));
    }
  });
});

describe('SubjectPublicKeyInfo encoding', () => {
  it('matches node:crypto DER export byte for byte for every key type', () => {
    for (const keyType of KEY_TYPES) {
      const { privateKey, publicKey } = generateKeyPair(keyType);
      const expected = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
      assert.deepEqual(spkiOf(publicKey), expected, keyType);
      assert.deepEqual(spkiOf(privateKey), expected, `${keyType} from the private key`);
    }
  });
});
