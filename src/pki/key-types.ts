/**
 * The key types a halo-keys CA generates and signs with, and the signature
 * algorithm each implies. One place decides the pairing so certificates,
 * CSRs and CRLs never disagree with their `signatureAlgorithm`.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { SignatureAlgorithms } from '../crypto/index.js';
import { encode, parse, readBitString, readOid, sequence } from '../lib/index.js';
import type { Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import { type KeySigner, type SignatureScheme, type SigningKey, isKeySigner } from './signer.js';

export type { SignatureScheme } from './signer.js';

export type KeyType = 'p256' | 'p384' | 'rsa3072' | 'ed25519';

export const KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa3072', 'ed25519'];

export function isKeyType(value: string): value is KeyType {
  return (KEY_TYPES as readonly string[]).includes(value);
}

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export function generateKeyPair(type: KeyType): KeyPair {
  switch (type) {
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    case 'rsa3072':
      return generateKeyPairSync('rsa', { modulusLength: 3072 });
    case 'ed25519':
      return generateKeyPairSync('ed25519');
  }
}

/** Signature algorithm OIDs, from the one table in crypto/ (the algorithms a SignedMessage may name). */
export const SignatureOid = {
  ECDSA_SHA256: SignatureAlgorithms.ECDSA_WITH_SHA256.oid,
  ECDSA_SHA384: SignatureAlgorithms.ECDSA_WITH_SHA384.oid,
  ECDSA_SHA512: SignatureAlgorithms.ECDSA_WITH_SHA512.oid,
  RSA_SHA256: SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION.oid,
  RSA_SHA384: SignatureAlgorithms.SHA_384_WITH_RSA_ENCRYPTION.oid,
  RSA_SHA512: SignatureAlgorithms.SHA_512_WITH_RSA_ENCRYPTION.oid,
  ED25519: SignatureAlgorithms.ED25519.oid,
} as const;

const schemeCache = new WeakMap<KeyObject, SignatureScheme>();

/** The signature scheme for a private key; RSA signs with SHA-256, ECDSA with its curve's hash. */
export function signatureSchemeFor(privateKey: SigningKey): SignatureScheme {
  if (isKeySigner(privateKey)) return privateKey.scheme;
  let scheme = schemeCache.get(privateKey);
  if (!scheme) {
    if (privateKey.type !== 'private') throw new PkiError('INVALID_REQUEST', 'a private key is needed to sign');
    scheme = signatureSchemeOf(privateKey, (hash, data) =>
      new Uint8Array(sign(hash, data, privateKey.asymmetricKeyType === 'ec' ? { key: privateKey, dsaEncoding: 'der' } : privateKey)),
    );
    schemeCache.set(privateKey, scheme);
  }
  return scheme;
}

/**
 * The scheme a key of this kind signs under, with the signing itself left to
 * `signWith` (Node for a key in memory, a token for a key that never leaves
 * it). `key` may be the public half. ECDSA signatures must be DER.
 */
export function signatureSchemeOf(key: KeyObject, signWith: (hash: string | null, data: Uint8Array) => Uint8Array): SignatureScheme {
  const kind = key.asymmetricKeyType;
  if (kind === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    const hash = curve === 'prime256v1' ? 'sha256' : curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : undefined;
    if (!hash) throw new PkiError('UNSUPPORTED_ALGORITHM', `unsupported EC curve ${curve ?? 'unknown'}`);
    const oid = hash === 'sha256' ? SignatureOid.ECDSA_SHA256 : hash === 'sha384' ? SignatureOid.ECDSA_SHA384 : SignatureOid.ECDSA_SHA512;
    return { oid, algorithmIdentifier: encode.sequence(encode.oid(oid)), sign: (data) => signWith(hash, data) };
  }
  if (kind === 'rsa') {
    return {
      oid: SignatureOid.RSA_SHA256,
      algorithmIdentifier: encode.sequence(encode.oid(SignatureOid.RSA_SHA256), encode.null()),
      sign: (data) => signWith('sha256', data),
    };
  }
  if (kind === 'ed25519') {
    return {
      oid: SignatureOid.ED25519,
      algorithmIdentifier: encode.sequence(encode.oid(SignatureOid.ED25519)),
      sign: (data) => signWith(null, data),
    };
  }
  throw new PkiError('UNSUPPORTED_ALGORITHM', `unsupported key type ${kind ?? 'unknown'}`);
}

/** The KeyType of a key, or undefined for keys this CA does not generate. */
export function keyTypeOf(key: KeyObject): KeyType | undefined {
  const kind = key.asymmetricKeyType;
  if (kind === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    return curve === 'prime256v1' ? 'p256' : curve === 'secp384r1' ? 'p384' : undefined;
  }
  if (kind === 'rsa') return key.asymmetricKeyDetails?.modulusLength === 3072 ? 'rsa3072' : undefined;
  if (kind === 'ed25519') return 'ed25519';
  return undefined;
}

const spkiCache = new WeakMap<KeyObject, Uint8Array>();

/**
 * The DER SubjectPublicKeyInfo of a public (or private) key, cached per key:
 * issuing a certificate needs it for both keys.
 */
export function spkiOf(key: KeyObject | KeySigner): Uint8Array {
  if (isKeySigner(key)) return spkiOf(key.publicKey);
  const cached = spkiCache.get(key);
  if (cached) return cached;
  const publicKey = key.type === 'private' ? createPublicKey(key) : key;
  // DER, not JWK: exporting a freshly generated EC key as JWK can deadlock
  // Node 20 against the garbage collector finalising the key-generation job.
  const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
  spkiCache.set(key, spki);
  return spki;
}

/**
 * RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING
 * contents (for EC, the uncompressed point), the way OpenSSL's
 * `subjectKeyIdentifier=hash` computes it, so our SKIDs match the CMMS PKI.
 */
export function subjectKeyIdentifierOf(spki: Uint8Array): Uint8Array {
  const [algorithm, key] = sequence(parse(spki), 'SubjectPublicKeyInfo');
  readOid(sequence(algorithm, 'AlgorithmIdentifier')[0]);
  const { bytes } = readBitString(key, 'subjectPublicKey');
  return new Uint8Array(createHash('sha1').update(bytes).digest());
}

/** The key id that certificates issued under `issuer` name in their AKID: its own SKID, or the one we would compute. */
export function issuerKeyIdentifier(issuer: Pick<Certificate, 'subjectKeyIdentifier' | 'spki'>): Uint8Array {
  return issuer.subjectKeyIdentifier ?? subjectKeyIdentifierOf(issuer.spki);
}
