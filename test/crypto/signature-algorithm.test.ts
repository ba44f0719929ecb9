import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { CryptoError } from '../../src/crypto/errors.js';
import {
  RSASSA_PSS_OID,
  SIGNATURE_ALGORITHM_NAMES,
  SignatureAlgorithms,
  algorithmFitsKey,
  defaultSignatureAlgorithm,
  describeSignatureAlgorithm,
  parseRsaPssParameters,
  rsaPss,
  signatureAlgorithmByName,
  signatureAlgorithmByOid,
  signatureAlgorithmFromIdentifier,
} from '../../src/crypto/signature-algorithm.js';
import { encode } from '../../src/lib/der.js';

const code = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;

const SHA = { sha1: '1.3.14.3.2.26', sha256: '2.16.840.1.101.3.4.2.1', sha384: '2.16.840.1.101.3.4.2.2', sha512: '2.16.840.1.101.3.4.2.3' };
const hashId = (h: keyof typeof SHA) => encode.sequence(encode.oid(SHA[h]), encode.null());
const mgf1 = (h: keyof typeof SHA) => encode.sequence(encode.oid('1.2.840.113549.1.1.8'), hashId(h));
const pssParams = (h: keyof typeof SHA, m: keyof typeof SHA, salt: number) =>
  encode.sequence(encode.explicit(0, hashId(h)), encode.explicit(1, mgf1(m)), encode.explicit(2, encode.integer(salt)));

describe('signature-algorithm', () => {
  it('knows the upstream enum names and OIDs', () => {
    const expected: Record<string, string> = {
      ECDSA_WITH_SHA256: '1.2.840.10045.4.3.2',
      ECDSA_WITH_SHA384: '1.2.840.10045.4.3.3',
      ECDSA_WITH_SHA512: '1.2.840.10045.4.3.4',
      SHA_256_WITH_RSA_ENCRYPTION: '1.2.840.113549.1.1.11',
      SHA_384_WITH_RSA_ENCRYPTION: '1.2.840.113549.1.1.12',
      SHA_512_WITH_RSA_ENCRYPTION: '1.2.840.113549.1.1.13',
      ED25519: '1.3.101.112',
      RSASSA_PSS: '1.2.840.113549.1.1.10',
    };
    assert.deepEqual([...SIGNATURE_ALGORITHM_NAMES].sort(), Object.keys(expected).sort());
    for (const [name, oid] of Object.entries(expected)) {
      assert.equal(signatureAlgorithmByName(name).oid, oid);
      assert.equal(signatureAlgorithmByOid(oid).name, name);
    }
  });

  it('rejects unknown names and OIDs with UNSUPPORTED_SIGNATURE_ALGORITHM', () => {
    assert.throws(() => signatureAlgorithmByName('SHA1_WITH_RSA'), code('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => signatureAlgorithmByName('toString'), code('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => signatureAlgorithmByOid('1.2.840.113549.1.1.5'), code('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => signatureAlgorithmByOid(''), code('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => signatureAlgorithmByOid('1.2.840.10045.4.3.2 '), code('UNSUPPORTED_SIGNATURE_ALGORITHM'));
  });

  it('defaults to the key type with SHA-256', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    // @types/node 20 declares saltLength as a string; node takes a number.
    const pssOptions = { modulusLength: 2048, hashAlgorithm: 'sha384', mgf1HashAlgorithm: 'sha384', saltLength: 48 };
    const pss = generateKeyPairSync('rsa-pss', pssOptions as unknown as { modulusLength: number }).privateKey;
    assert.equal(defaultSignatureAlgorithm(ec), SignatureAlgorithms.ECDSA_WITH_SHA256);
    assert.equal(defaultSignatureAlgorithm(rsa), SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION);
    assert.equal(defaultSignatureAlgorithm(ed), SignatureAlgorithms.ED25519);
    assert.deepEqual(defaultSignatureAlgorithm(pss).pss, { hash: 'sha384', mgf1Hash: 'sha384', saltLength: 48 });
    const x25519 = generateKeyPairSync('x25519').privateKey;
    assert.throws(() => defaultSignatureAlgorithm(x25519), code('UNSUPPORTED_KEY_TYPE'));
    assert.ok(algorithmFitsKey(SignatureAlgorithms.RSASSA_PSS, rsa));
    assert.ok(!algorithmFitsKey(SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION, pss));
    assert.ok(!algorithmFitsKey(SignatureAlgorithms.ECDSA_WITH_SHA256, ed));
  });

  it('reads RSASSA-PSS parameters, defaulting a bare OID to SHA-256 and salt 32', () => {
    assert.deepEqual(SignatureAlgorithms.RSASSA_PSS.pss, { hash: 'sha256', mgf1Hash: 'sha256', saltLength: 32 });
    assert.deepEqual(signatureAlgorithmByOid(RSASSA_PSS_OID).pss, { hash: 'sha256', mgf1Hash: 'sha256', saltLength: 32 });
    assert.deepEqual(parseRsaPssParameters(pssParams('sha384', 'sha384', 48)), { hash: 'sha384', mgf1Hash: 'sha384', saltLength: 48 });
    const alg = signatureAlgorithmFromIdentifier({ oid: RSASSA_PSS_OID, parameters: pssParams('sha512', 'sha512', 20) });
    assert.equal(alg.name, 'RSASSA_PSS');
    assert.equal(alg.hash, 'sha512');
    assert.equal(describeSignatureAlgorithm(alg), 'RSASSA_PSS (1.2.840.113549.1.1.10) SHA512, MGF1-SHA512, salt 20');
    assert.equal(describeSignatureAlgorithm(SignatureAlgorithms.ECDSA_WITH_SHA256), 'ECDSA_WITH_SHA256 (1.2.840.10045.4.3.2)');
  });

  it('refuses PSS parameters node cannot honour or that do not parse', () => {
    const unsupported = code('UNSUPPORTED_SIGNATURE_ALGORITHM');
    // Absent fields are the RFC 4055 defaults: SHA-1.
    assert.throws(() => parseRsaPssParameters(encode.sequence()), unsupported);
    assert.throws(() => parseRsaPssParameters(undefined), unsupported);
    assert.throws(() => parseRsaPssParameters(pssParams('sha256', 'sha1', 32)), unsupported);
    // Parses, but node:crypto always uses MGF1 with the message hash.
    assert.deepEqual(parseRsaPssParameters(pssParams('sha256', 'sha384', 32)), { hash: 'sha256', mgf1Hash: 'sha384', saltLength: 32 });
    assert.throws(() => signatureAlgorithmFromIdentifier({ oid: RSASSA_PSS_OID, parameters: pssParams('sha256', 'sha384', 32) }), unsupported);
    assert.throws(() => parseRsaPssParameters(Uint8Array.of(0x30, 0x05, 0x00)), unsupported);
    const outOfOrder = encode.sequence(encode.explicit(2, encode.integer(32)), encode.explicit(0, hashId('sha256')));
    assert.throws(() => parseRsaPssParameters(outOfOrder), unsupported);
    const trailer = encode.sequence(encode.explicit(0, hashId('sha256')), encode.explicit(1, mgf1('sha256')), encode.explicit(3, encode.integer(2)));
    assert.throws(() => parseRsaPssParameters(trailer), unsupported);
    assert.throws(() => rsaPss({ hash: 'sha256', mgf1Hash: 'sha256', saltLength: -1 }), unsupported);
  });
});
