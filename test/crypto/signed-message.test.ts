import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { CryptoError } from '../../src/crypto/errors.js';
import { loadPrivateKey, loadPublicKey } from '../../src/crypto/keys.js';
import { SignatureAlgorithms, rsaPss } from '../../src/crypto/signature-algorithm.js';
import { packAny } from '../../src/lib/type-url.js';
import {
  parseSignedMessage,
  resolveSignatureAlgorithm,
  signBytes,
  signMessage,
  verifyAndUnpack,
  verifyBytes,
  verifySignedMessage,
} from '../../src/crypto/signed-message.js';
import {
  EncryptedMessageSchema,
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  SignedMessageSchema,
  type SignedMessage,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readSecretfile } from './testdata.js';

const fixture = readSecretfile;
const fails = (c: string) => (err: unknown) => err instanceof CryptoError && err.code === c;

const cert = fixture('mc_cs_cert.der');
const key = loadPrivateKey(fixture('mc_cs_private.der'));
const encryptionPublicKey = create(EncryptionPublicKeySchema, {
  format: EncryptionPublicKey_Format.TINK_KEYSET,
  data: fixture('mc_enc_public.tink'),
});
const clone = (sm: SignedMessage) => fromBinary(SignedMessageSchema, toBinary(SignedMessageSchema, sm));

describe('signed-message', () => {
  it('signs as upstream does: Any with the type URL, data duplicated, OID set, DER ECDSA', () => {
    const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key);
    const value = toBinary(EncryptionPublicKeySchema, encryptionPublicKey);
    assert.equal(sm.message?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    assert.deepEqual(sm.message?.value, value);
    assert.deepEqual(sm.data, value);
    assert.equal(sm.signatureAlgorithmOid, '1.2.840.10045.4.3.2');
    assert.equal(sm.signature[0], 0x30);
    assert.ok(sm.signature.length >= 8 && sm.signature.length <= 72);
    const verified = verifySignedMessage(toBinary(SignedMessageSchema, sm), cert);
    assert.deepEqual(verified.data, value);
    assert.equal(verified.algorithm.name, 'ECDSA_WITH_SHA256');
    const unpacked = verifyAndUnpack(EncryptionPublicKeySchema, sm, cert);
    assert.deepEqual(unpacked.data, encryptionPublicKey.data);
  });

  it('signs a ready-made Any, and covers only its value bytes', () => {
    const any = packAny(EncryptionPublicKeySchema, encryptionPublicKey);
    const sm = signMessage(any, key, SignatureAlgorithms.ECDSA_WITH_SHA384);
    assert.equal(sm.signatureAlgorithmOid, '1.2.840.10045.4.3.3');
    verifyBytes(any.value, sm.signature, loadPublicKey(cert), SignatureAlgorithms.ECDSA_WITH_SHA384);
    assert.throws(() => verifyBytes(toBinary(AnySchema, any), sm.signature, loadPublicKey(cert), SignatureAlgorithms.ECDSA_WITH_SHA384), fails('SIGNATURE_INVALID'));
  });

  it('verifies legacy messages from data when message is absent', () => {
    const value = toBinary(EncryptionPublicKeySchema, encryptionPublicKey);
    const legacy = create(SignedMessageSchema, { data: value, signature: signBytes(value, key) });
    const verified = verifySignedMessage(legacy, cert);
    assert.equal(verified.message, undefined);
    assert.equal(verified.algorithm.name, 'ECDSA_WITH_SHA256'); // the certificate's own algorithm
    assert.deepEqual(verifyAndUnpack(EncryptionPublicKeySchema, legacy, cert).data, encryptionPublicKey.data);
  });

  it('uses message.value, not data, when both are present', () => {
    const sm = clone(signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key));
    sm.data = new Uint8Array([1, 2, 3]);
    assert.deepEqual(verifySignedMessage(sm, cert).data, sm.message!.value);
    const other = clone(sm);
    other.message!.value = new Uint8Array([1, 2, 3]);
    other.data = sm.message!.value;
    assert.throws(() => verifySignedMessage(other, cert), fails('SIGNATURE_INVALID'));
  });

  it('rejects tampered message bytes, every bit of a sample', () => {
    const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key);
    const value = sm.message!.value;
    let rejected = 0;
    for (let i = 0; i < value.length; i += 7) {
      const tampered = clone(sm);
      tampered.message!.value[i]! ^= 0x01;
      assert.throws(() => verifySignedMessage(tampered, cert), fails('SIGNATURE_INVALID'));
      rejected++;
    }
    assert.ok(rejected > 10);
    const retyped = clone(sm);
    retyped.message!.typeUrl = 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptedMessage';
    // The type URL is not signed; verifyAndUnpack still refuses the wrong type.
    assert.throws(() => verifyAndUnpack(EncryptionPublicKeySchema, retyped, cert), fails('MESSAGE_MALFORMED'));
    assert.throws(() => verifyAndUnpack(EncryptedMessageSchema, sm, cert), fails('MESSAGE_MALFORMED'));
  });

  it('rejects truncated, garbage and non-canonical signatures', () => {
    const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key);
    const sig = sm.signature;
    const withSignature = (signature: Uint8Array) => {
      const c = clone(sm);
      c.signature = signature;
      return c;
    };
    for (let n = 1; n < sig.length; n += 3) {
      assert.throws(() => verifySignedMessage(withSignature(sig.subarray(0, n)), cert), fails('SIGNATURE_INVALID'));
    }
    assert.throws(() => verifySignedMessage(withSignature(new Uint8Array(64).fill(0xab)), cert), fails('SIGNATURE_INVALID'));
    assert.throws(() => verifySignedMessage(withSignature(Uint8Array.from([...sig, 0])), cert), fails('SIGNATURE_INVALID'));
    // Same r and s, but r with a superfluous leading zero: valid BER, not DER.
    const rLength = sig[3]!;
    const nonCanonical = Uint8Array.from([0x30, sig[1]! + 1, 0x02, rLength + 1, 0x00, ...sig.subarray(4)]);
    assert.throws(() => verifySignedMessage(withSignature(nonCanonical), cert), fails('SIGNATURE_INVALID'));
    assert.throws(() => verifySignedMessage(withSignature(new Uint8Array(0)), cert), fails('MESSAGE_MALFORMED'));
  });

  it('rejects garbage protobuf and messages without content', () => {
    assert.throws(() => parseSignedMessage(Uint8Array.of(0x0a, 0xff)), fails('MESSAGE_MALFORMED'));
    assert.throws(() => verifySignedMessage(Uint8Array.of(0xff, 0xff, 0xff), cert), fails('MESSAGE_MALFORMED'));
    assert.throws(() => verifySignedMessage(Uint8Array.of(0x12, 0x05, 1, 2), cert), fails('MESSAGE_MALFORMED'));
    assert.throws(() => verifySignedMessage(create(SignedMessageSchema, { signature: Uint8Array.of(0x30) }), cert), fails('MESSAGE_MALFORMED'));
    const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key);
    const garbageInside = clone(sm);
    garbageInside.message!.value = Uint8Array.of(0xff, 0xff);
    garbageInside.signature = signBytes(garbageInside.message!.value, key);
    // Verifies (the bytes are what was signed) but does not decode.
    assert.throws(() => verifyAndUnpack(EncryptionPublicKeySchema, garbageInside, cert), fails('MESSAGE_MALFORMED'));
  });

  it('reports unknown OIDs, and an empty OID without a certificate, as UNSUPPORTED_SIGNATURE_ALGORITHM', () => {
    const sm = clone(signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key));
    sm.signatureAlgorithmOid = '1.2.840.113549.1.1.5';
    assert.throws(() => verifySignedMessage(sm, cert), fails('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    sm.signatureAlgorithmOid = '';
    assert.throws(() => verifySignedMessage(sm, loadPublicKey(cert)), fails('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.equal(verifySignedMessage(sm, cert).algorithm.name, 'ECDSA_WITH_SHA256');
  });

  it('accepts the signer as bytes (DER or PEM), X509Certificate or public key, and never serves a stale key', () => {
    const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key);
    const x509 = new X509Certificate(cert);
    for (const signer of [cert, cert.slice(), new TextEncoder().encode(x509.toString()), x509, loadPublicKey(cert)]) {
      assert.equal(verifySignedMessage(sm, signer).algorithm.name, 'ECDSA_WITH_SHA256');
    }
    // A buffer reused for another certificate must be re-read, not served from the cache.
    const otherCert = fixture('edp1_cs_cert.der');
    const buffer = new Uint8Array(Math.max(cert.length, otherCert.length));
    buffer.set(cert);
    const view = buffer.subarray(0, cert.length);
    verifySignedMessage(sm, view);
    buffer.fill(0);
    buffer.set(otherCert);
    assert.throws(() => verifySignedMessage(sm, buffer.subarray(0, otherCert.length)), fails('SIGNATURE_INVALID'));
    assert.equal(resolveSignatureAlgorithm('', cert).name, 'ECDSA_WITH_SHA256');
  });

  it('signs and verifies RSA PKCS#1, RSA-PSS and Ed25519', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ed = generateKeyPairSync('ed25519');
    const cases = [
      [rsa, SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION],
      [rsa, SignatureAlgorithms.SHA_512_WITH_RSA_ENCRYPTION],
      [rsa, SignatureAlgorithms.RSASSA_PSS],
      [ed, SignatureAlgorithms.ED25519],
    ] as const;
    for (const [pair, algorithm] of cases) {
      const sm = signMessage(EncryptionPublicKeySchema, encryptionPublicKey, pair.privateKey, algorithm);
      assert.equal(sm.signatureAlgorithmOid, algorithm.oid);
      assert.deepEqual(verifySignedMessage(sm, pair.publicKey).algorithm, algorithm);
      const tampered = clone(sm);
      tampered.message!.value[0]! ^= 1;
      assert.throws(() => verifySignedMessage(tampered, pair.publicKey), fails('SIGNATURE_INVALID'));
    }
    // PSS with salt 0 is still a PSS signature; verifying it as salt 32 fails.
    const salt0 = rsaPss({ hash: 'sha256', mgf1Hash: 'sha256', saltLength: 0 });
    const data = new Uint8Array([1, 2, 3]);
    const sig = signBytes(data, rsa.privateKey, salt0);
    verifyBytes(data, sig, rsa.publicKey, salt0);
    assert.throws(() => verifyBytes(data, sig, rsa.publicKey, SignatureAlgorithms.RSASSA_PSS), fails('SIGNATURE_INVALID'));
    assert.equal(verifySignedMessage(signMessage(EncryptionPublicKeySchema, encryptionPublicKey, ed.privateKey), ed.publicKey).algorithm.name, 'ED25519');
  });

  it('refuses an algorithm that does not fit the key', () => {
    assert.throws(() => signBytes(new Uint8Array(1), key, SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION), fails('UNSUPPORTED_SIGNATURE_ALGORITHM'));
    assert.throws(() => signBytes(new Uint8Array(1), loadPublicKey(cert) as never), fails('KEY_MALFORMED'));
    const sm = clone(signMessage(EncryptionPublicKeySchema, encryptionPublicKey, key));
    sm.signatureAlgorithmOid = SignatureAlgorithms.ED25519.oid;
    assert.throws(() => verifySignedMessage(sm, cert), fails('SIGNATURE_INVALID'));
  });
});
