/**
 * Signature verification of one link (a certificate or CRL signed by an
 * issuer key) with node:crypto, and the key policy the validator enforces on
 * every key in a path: RSA >= 2048 bits and a multiple of 8, ECDSA on named
 * P-256/P-384/P-521, Ed25519. DSA, P-192, explicit curves and SHA-1
 * signatures are refused (RFC 9155 / CA/B Forum 6.1.5, 7.1.3).
 */
import { type KeyObject, constants, createPublicKey, verify } from 'node:crypto';
import { type SignatureAlgorithm, SignatureAlgorithms } from '../crypto/index.js';
import { DerError, children, isContext, parse, readInteger, readNull, readOid, sequence } from '../lib/index.js';
import { type AlgorithmIdentifier, type Certificate, OID } from './certificate.js';
import { PkiError } from './errors.js';

type KeyKind = 'rsa' | 'ec' | 'ed25519';

interface SignatureScheme {
  readonly key: KeyKind;
  /** Digest for node:crypto, or null for Ed25519. */
  readonly hash: string | null;
  readonly pss?: { readonly saltLength: number };
}

/** Digest by signature OID for one family, from crypto's table of signature algorithms. */
const digestsOf = (family: SignatureAlgorithm['family']): Record<string, string> =>
  Object.fromEntries(Object.values(SignatureAlgorithms).flatMap((a) => (a.family === family && a.hash ? [[a.oid, a.hash]] : [])));
const RSA_PKCS1 = digestsOf('rsa-pkcs1');
const ECDSA = digestsOf('ecdsa');
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
  /** RSA modulus bits, or the curve size. */
  readonly bits: number;
}

/** Key facts and imported keys by certificate: a root used a thousand times is imported once. */
const policyCache = new WeakMap<Certificate, KeyInfo>();
const keyCache = new WeakMap<Certificate, KeyObject>();

/**
 * Imported keys by SubjectPublicKeyInfo, across certificate objects: a CA's
 * key is imported once however often its certificate is parsed anew. An EC
 * import costs as much as a signature check (OpenSSL checks the point's
 * order), and X509Certificate, the baseline, holds its key imported. The key
 * is a function of the SPKI bytes alone; bounded, the oldest entry goes first.
 */
const SPKI_KEY_CACHE_SIZE = 1024;
const keysBySpki = new Map<string, KeyObject>();

/** Forgets every imported key (for measurements of a first validation). */
export function clearImportedKeys(): void {
  keysBySpki.clear();
}

const CURVES: Record<string, { crv: string; bits: number; size: number }> = {
  [OID.p256]: { crv: 'P-256', bits: 256, size: 32 },
  [OID.p384]: { crv: 'P-384', bits: 384, size: 48 },
  [OID.p521]: { crv: 'P-521', bits: 521, size: 66 },
};

/**
 * Checks the certificate's public key against the key policy, from the SPKI
 * alone (no import). Throws `UNSUPPORTED_ALGORITHM` for a forbidden key and
 * `CERT_MALFORMED` for one that does not decode.
 */
export function publicKeyOf(cert: Certificate): KeyInfo {
  let info = policyCache.get(cert);
  if (!info) {
    info = keyPolicy(cert);
    policyCache.set(cert, info);
  }
  return info;
}

function keyPolicy(cert: Certificate): KeyInfo {
  const alg = cert.publicKeyAlgorithm;
  if (alg === OID.rsaEncryption) {
    const bits = rsaModulus(cert).bits;
    if (bits < 2048) throw unsupported(`RSA key of ${bits} bits is below 2048`);
    if (bits % 8 !== 0) throw unsupported(`RSA key of ${bits} bits is not a multiple of 8`);
    if (bits > 16384) throw unsupported(`RSA key of ${bits} bits is too large`);
    return { kind: 'rsa', bits };
  }
  if (alg === OID.ecPublicKey) {
    if (!cert.publicKeyCurve) throw unsupported('EC keys must name their curve (explicit parameters are refused)');
    const curve = CURVES[cert.publicKeyCurve];
    if (!curve) throw unsupported(`EC curve ${cert.publicKeyCurve} is not allowed`);
    const point = cert.publicKeyBytes;
    const uncompressed = point[0] === 4 && point.length === 1 + 2 * curve.size;
    const compressed = (point[0] === 2 || point[0] === 3) && point.length === 1 + curve.size;
    if (!uncompressed && !compressed) throw new PkiError('CERT_MALFORMED', 'EC public key point has the wrong length or form');
    return { kind: 'ec', bits: curve.bits };
  }
  if (alg === OID.ed25519) {
    if (cert.publicKeyParameters) throw new PkiError('CERT_MALFORMED', 'Ed25519 key must have no parameters');
    if (cert.publicKeyBytes.length !== 32) throw new PkiError('CERT_MALFORMED', 'Ed25519 key must be 32 bytes');
    return { kind: 'ed25519', bits: 256 };
  }
  throw unsupported(`public key algorithm ${alg} is not allowed`);
}

function rsaModulus(cert: Certificate): { n: Uint8Array; e: Uint8Array; bits: number } {
  try {
    const [nNode, eNode, extra] = sequence(parse(cert.publicKeyBytes), 'RSAPublicKey');
    if (extra || readInteger(nNode) <= 0n || readInteger(eNode) <= 0n) throw new DerError('bad RSAPublicKey');
    let n = nNode!.value;
    while (n.length > 1 && n[0] === 0) n = n.subarray(1);
    let e = eNode!.value;
    while (e.length > 1 && e[0] === 0) e = e.subarray(1);
    const bits = (n.length - 1) * 8 + (32 - Math.clz32(n[0]!));
    return { n, e, bits };
  } catch (err) {
    throw new PkiError('CERT_MALFORMED', 'RSA public key does not decode', { cause: err });
  }
}

const b64u = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64url');

/**
 * The imported public key. JWK import is used where it applies: in Node 20
 * it is about three times faster than decoding the SPKI DER.
 */
export function keyObjectOf(cert: Certificate): KeyObject {
  const cached = keyCache.get(cert);
  if (cached) return cached;
  const info = publicKeyOf(cert);
  const spki = Buffer.from(cert.spki.buffer, cert.spki.byteOffset, cert.spki.byteLength).toString('latin1');
  let key = keysBySpki.get(spki);
  if (key) {
    keyCache.set(cert, key);
    return key;
  }
  try {
    const p = cert.publicKeyBytes;
    if (info.kind === 'ec' && p[0] === 4) {
      const curve = CURVES[cert.publicKeyCurve!]!;
      key = createPublicKey({ key: { kty: 'EC', crv: curve.crv, x: b64u(p.subarray(1, 1 + curve.size)), y: b64u(p.subarray(1 + curve.size)) }, format: 'jwk' });
    } else if (info.kind === 'rsa') {
      const { n, e } = rsaModulus(cert);
      key = createPublicKey({ key: { kty: 'RSA', n: b64u(n), e: b64u(e) }, format: 'jwk' });
    } else if (info.kind === 'ed25519') {
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64u(p) }, format: 'jwk' });
    } else {
      key = createPublicKey({ key: Buffer.from(cert.spki), format: 'der', type: 'spki' });
    }
  } catch (err) {
    throw new PkiError('CERT_MALFORMED', 'subject public key does not import', { cause: err });
  }
  keyCache.set(cert, key);
  if (keysBySpki.size >= SPKI_KEY_CACHE_SIZE) keysBySpki.delete(keysBySpki.keys().next().value!);
  keysBySpki.set(spki, key);
  return key;
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
  return verifyWithScheme(scheme, keyObjectOf(issuer), data, signature);
}

/**
 * Verifies `signature` over `data` with a bare public key (a CSR's own),
 * under the same scheme decoding as `verifySignature`. The difference is
 * deliberate: a key of the wrong kind is a failed verification here, not an
 * error, and no key policy is applied (the CA judges the key afterwards).
 * Throws `UNSUPPORTED_ALGORITHM` for an algorithm we do not check.
 */
export function verifyWithKey(alg: AlgorithmIdentifier, publicKey: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  const scheme = signatureScheme(alg);
  if (publicKey.asymmetricKeyType !== scheme.key) return false;
  return verifyWithScheme(scheme, publicKey, data, signature);
}

function verifyWithScheme(scheme: SignatureScheme, key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (scheme.pss) {
      return verify(scheme.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: scheme.pss.saltLength }, signature);
    }
    return verify(scheme.hash, data, key, signature);
  } catch {
    // Node throws on some malformed signatures (e.g. bad ECDSA DER): that is a failed verification.
    return false;
  }
}

/** Checks `cert` was signed by `issuer`'s key. */
export function verifyCertificateSignature(cert: Certificate, issuer: Certificate): boolean {
  return verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signatureValue, issuer);
}
