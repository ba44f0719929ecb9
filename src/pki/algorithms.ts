/**
 * Signature verification of one link (a certificate or CRL signed by an
 * issuer key) with node:crypto, and the key policy the validator enforces on
 * every key in a path: RSA >= 2048 bits and a multiple of 8, ECDSA on named
 * P-256/P-384/P-521, Ed25519. DSA, P-192, explicit curves and SHA-1
 * signatures are refused (RFC 9155 / CA/B Forum 6.1.5, 7.1.3).
 */
import { type KeyObject, constants, createPublicKey, verify } from 'node:crypto';
import { DerError, children, isContext, parse, readInteger, readNull, readOid, sequence } from '../lib/der.js';
import { type AlgorithmIdentifier, type Certificate, OID } from './certificate.js';
import { PkiError } from './errors.js';

type KeyKind = 'rsa' | 'ec' | 'ed25519';

interface SignatureScheme {
  readonly key: KeyKind;
  /** Digest for node:crypto, or null for Ed25519. */
  readonly hash: string | null;
  readonly pss?: { readonly saltLength: number };
}

const RSA_PKCS1: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};
const ECDSA: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const HASH_OIDS: Record<string, string> = {
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};
const MGF1 = '1.2.840.113549.1.1.8';

function unsupported(message: string): PkiError {
  return new PkiError('UNSUPPORTED_ALGORITHM', message);
}

/** Decodes a signature AlgorithmIdentifier into what node:crypto needs. */
export function signatureScheme(alg: AlgorithmIdentifier): SignatureScheme {
  const rsa = RSA_PKCS1[alg.oid];
  if (rsa) {
    // RFC 4055: parameters are NULL (some encoders omit them).
    if (alg.parameters) {
      try {
        readNull(parse(alg.parameters));
      } catch {
        throw unsupported('RSA PKCS#1 v1.5 signature parameters must be NULL');
      }
    }
    return { key: 'rsa', hash: rsa };
  }
  const ec = ECDSA[alg.oid];
  if (ec) {
    if (alg.parameters) throw unsupported('ECDSA signature algorithm must have no parameters');
    return { key: 'ec', hash: ec };
  }
  if (alg.oid === OID.ed25519) {
    if (alg.parameters) throw unsupported('Ed25519 signature algorithm must have no parameters');
    return { key: 'ed25519', hash: null };
  }
  if (alg.oid === OID.rsassaPss) return pssScheme(alg.parameters);
  throw unsupported(`signature algorithm ${alg.oid} is not supported`);
}

/** RSASSA-PSS-params (RFC 4055 §3.1): the hash, MGF1 with the same hash, and a salt length. */
function pssScheme(params: Uint8Array | undefined): SignatureScheme {
  if (!params) throw unsupported('RSASSA-PSS needs explicit parameters');
  try {
    let hash = 'sha1';
    let mgfHash = 'sha1';
    let saltLength = 20;
    let trailer = 1;
    for (const field of sequence(parse(params), 'RSASSA-PSS-params')) {
      const [inner] = children(field);
      if (isContext(field, 0)) {
        const [oid, p] = sequence(inner, 'hashAlgorithm');
        hash = HASH_OIDS[readOid(oid)] ?? 'unknown';
        if (p) readNull(p);
      } else if (isContext(field, 1)) {
        const [oid, p] = sequence(inner, 'maskGenAlgorithm');
        if (readOid(oid) !== MGF1) throw unsupported('RSASSA-PSS mask generation must be MGF1');
        const [hOid, hp] = sequence(p, 'MGF1 hash');
        mgfHash = HASH_OIDS[readOid(hOid)] ?? 'unknown';
        if (hp) readNull(hp);
      } else if (isContext(field, 2)) {
        saltLength = Number(readInteger(inner, 'saltLength'));
      } else if (isContext(field, 3)) {
        trailer = Number(readInteger(inner, 'trailerField'));
      } else {
        throw new DerError('unknown RSASSA-PSS-params field');
      }
    }
    if (hash === 'sha1' || hash === 'unknown') throw unsupported('RSASSA-PSS hash must be SHA-256, SHA-384 or SHA-512');
    if (mgfHash !== hash) throw unsupported('RSASSA-PSS MGF1 hash must equal the message hash');
    if (trailer !== 1) throw unsupported('RSASSA-PSS trailer field must be 1');
    if (!(saltLength >= 0 && saltLength <= 512)) throw unsupported('RSASSA-PSS salt length is out of range');
    return { key: 'rsa', hash, pss: { saltLength } };
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw unsupported('RSASSA-PSS parameters are malformed');
  }
}

export interface KeyInfo {
  readonly kind: KeyKind;
  readonly key: KeyObject;
  /** RSA modulus bits, or the curve size. */
  readonly bits: number;
}

/** Imported keys by certificate, so a root used a thousand times is imported once. */
const keyCache = new WeakMap<Certificate, KeyInfo>();

/**
 * Imports the certificate's public key and checks it against the key policy.
 * Throws `UNSUPPORTED_ALGORITHM` for a forbidden key and `CERT_MALFORMED` for
 * a key that does not import.
 */
export function publicKeyOf(cert: Certificate): KeyInfo {
  const cached = keyCache.get(cert);
  if (cached) return cached;
  const info = importKey(cert);
  keyCache.set(cert, info);
  return info;
}

function importKey(cert: Certificate): KeyInfo {
  const alg = cert.publicKeyAlgorithm;
  let kind: KeyKind;
  if (alg === OID.rsaEncryption) {
    kind = 'rsa';
  } else if (alg === OID.ecPublicKey) {
    kind = 'ec';
    if (!cert.publicKeyCurve) throw unsupported('EC keys must name their curve (explicit parameters are refused)');
    if (cert.publicKeyCurve !== OID.p256 && cert.publicKeyCurve !== OID.p384 && cert.publicKeyCurve !== OID.p521) {
      throw unsupported(`EC curve ${cert.publicKeyCurve} is not allowed`);
    }
  } else if (alg === OID.ed25519) {
    kind = 'ed25519';
    if (cert.publicKeyParameters) throw new PkiError('CERT_MALFORMED', 'Ed25519 key must have no parameters');
  } else {
    throw unsupported(`public key algorithm ${alg} is not allowed`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
  } catch (err) {
    throw new PkiError('CERT_MALFORMED', 'subject public key does not import', { cause: err });
  }
  let bits = 0;
  if (kind === 'rsa') {
    bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw unsupported(`RSA key of ${bits} bits is below 2048`);
    if (bits % 8 !== 0) throw unsupported(`RSA key of ${bits} bits is not a multiple of 8`);
    if (bits > 16384) throw unsupported(`RSA key of ${bits} bits is too large`);
  } else if (kind === 'ec') {
    bits = cert.publicKeyCurve === OID.p256 ? 256 : cert.publicKeyCurve === OID.p384 ? 384 : 521;
  } else {
    bits = 256;
  }
  return { kind, key, bits };
}

/**
 * Verifies `signature` over `data` with the issuer's key under `alg`.
 * Returns false for a signature that does not verify; throws for an
 * algorithm or key the policy refuses, or a key/algorithm mismatch.
 */
export function verifySignature(alg: AlgorithmIdentifier, data: Uint8Array, signature: Uint8Array, issuer: Certificate): boolean {
  const scheme = signatureScheme(alg);
  const info = publicKeyOf(issuer);
  if (info.kind !== scheme.key) {
    throw unsupported(`a ${scheme.key} signature cannot be made by a ${info.kind} key`);
  }
  try {
    if (scheme.pss) {
      return verify(scheme.hash, data, { key: info.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pss.saltLength }, signature);
    }
    return verify(scheme.hash, data, info.key, signature);
  } catch {
    // Node throws on some malformed signatures (e.g. bad ECDSA DER): that is a failed verification.
    return false;
  }
}

/** Checks `cert` was signed by `issuer`'s key. */
export function verifyCertificateSignature(cert: Certificate, issuer: Certificate): boolean {
  return verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signatureValue, issuer);
}
