/**
 * Loading and storing the asymmetric keys behind certificates: private keys
 * as PKCS#8 (DER, PEM, or encrypted with a passphrase) or SEC1 PEM; public
 * keys as SPKI or from an X.509 certificate. CMMS ships signing keys as
 * unencrypted PKCS#8 DER (`*_cs_private.der`); we store them encrypted at rest.
 *
 * Errors never quote key bytes, and node's own messages (which can name
 * decoder internals) are kept as `cause` only.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import {
  Tag,
  isUniversal,
  parse,
  children,
  DerError,
  PemError,
  decodePem,
  encodePem,
  looksLikePem,
} from '../lib/index.js';
import { readCertificateInfo, type CertificateInfo } from './certificate-info.js';
import { CryptoError } from './errors.js';
import { decryptPkcs8, encryptPkcs8, needsKdfUpgrade, type Pkcs8EncryptionOptions } from './pkcs8-encryption.js';

export interface PrivateKeyOptions {
  /** For encrypted PKCS#8. Ignored for unencrypted keys. */
  passphrase?: string | Uint8Array;
}

type PrivateEncoding = 'pkcs8' | 'encrypted-pkcs8' | 'sec1' | 'pkcs1';

const PRIVATE_LABELS: Record<string, PrivateEncoding> = {
  'PRIVATE KEY': 'pkcs8',
  'ENCRYPTED PRIVATE KEY': 'encrypted-pkcs8',
  'EC PRIVATE KEY': 'sec1',
  'RSA PRIVATE KEY': 'pkcs1',
};

function malformed(message: string, cause?: unknown): CryptoError {
  return new CryptoError('KEY_MALFORMED', message, cause === undefined ? undefined : { cause });
}

function pemBlocks(bytes: Uint8Array, code: 'KEY_MALFORMED' | 'CERTIFICATE_MALFORMED') {
  try {
    return decodePem(Buffer.from(bytes).toString('latin1'));
  } catch (err) {
    if (err instanceof PemError) throw new CryptoError(code, err.message, { cause: err });
    throw err;
  }
}

/**
 * Tells the DER private-key structures apart by shape, so the error for a
 * bad file says what it is rather than "unsupported":
 * PrivateKeyInfo = SEQUENCE { INTEGER, AlgorithmIdentifier, OCTET STRING, ... };
 * EncryptedPrivateKeyInfo = SEQUENCE { AlgorithmIdentifier, OCTET STRING };
 * ECPrivateKey = SEQUENCE { INTEGER 1, OCTET STRING, ... }; RSAPrivateKey = SEQUENCE { INTEGER 0, INTEGER n, ... }.
 */
function derEncoding(der: Uint8Array): PrivateEncoding {
  let items;
  try {
    const top = parse(der);
    if (!isUniversal(top, Tag.SEQUENCE)) throw new DerError('not a SEQUENCE');
    items = children(top);
  } catch (err) {
    throw malformed('private key is neither PEM nor a DER key structure', err);
  }
  const [a, b] = items;
  if (a && b && isUniversal(a, Tag.SEQUENCE) && isUniversal(b, Tag.OCTET_STRING) && items.length === 2) return 'encrypted-pkcs8';
  if (a && b && isUniversal(a, Tag.INTEGER) && isUniversal(b, Tag.SEQUENCE)) return 'pkcs8';
  if (a && b && isUniversal(a, Tag.INTEGER) && isUniversal(b, Tag.OCTET_STRING)) return 'sec1';
  if (a && b && isUniversal(a, Tag.INTEGER) && isUniversal(b, Tag.INTEGER)) return 'pkcs1';
  throw malformed('private key is not PKCS#8, encrypted PKCS#8, SEC1 or PKCS#1');
}

function locatePrivateKey(bytes: Uint8Array): { der: Uint8Array; encoding: PrivateEncoding } {
  if (!looksLikePem(bytes)) return { der: bytes, encoding: derEncoding(bytes) };
  for (const block of pemBlocks(bytes, 'KEY_MALFORMED')) {
    const encoding = PRIVATE_LABELS[block.label];
    if (encoding) return { der: block.der, encoding };
  }
  throw malformed(`no PEM block labelled ${Object.keys(PRIVATE_LABELS).join(', ')}`);
}

/** True when the key needs a passphrase (encrypted PKCS#8, PEM or DER). */
export function isEncryptedPrivateKey(bytes: Uint8Array): boolean {
  try {
    return locatePrivateKey(bytes).encoding === 'encrypted-pkcs8';
  } catch {
    return false;
  }
}

/** Loads a private key: PKCS#8 DER/PEM, encrypted PKCS#8 DER/PEM, SEC1 or PKCS#1 PEM/DER. */
export function loadPrivateKey(bytes: Uint8Array, options: PrivateKeyOptions = {}): KeyObject {
  const { der, encoding } = locatePrivateKey(bytes);
  const key = Buffer.from(der.buffer, der.byteOffset, der.byteLength);
  if (encoding === 'encrypted-pkcs8') {
    const { passphrase } = options;
    if (passphrase === undefined || passphrase.length === 0) throw malformed('private key is encrypted and no passphrase was given');
    return decryptPkcs8(der, passphrase);
  }
  try {
    return createPrivateKey({ key, format: 'der', type: encoding });
  } catch (err) {
    throw malformed(`private key (${encoding}) does not parse or uses an unsupported algorithm`, err);
  }
}

/** Imports a DER SubjectPublicKeyInfo. */
export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki.buffer, spki.byteOffset, spki.byteLength), format: 'der', type: 'spki' });
  } catch (err) {
    throw malformed('public key (SPKI) does not parse or uses an unsupported algorithm', err);
  }
}

/** The certificate's subject public key. Throws `CERTIFICATE_MALFORMED`. */
export function publicKeyFromCertificate(certificate: CertificateInfo): KeyObject {
  try {
    return publicKeyFromSpki(certificate.subjectPublicKeyInfo);
  } catch (err) {
    throw new CryptoError('CERTIFICATE_MALFORMED', 'certificate public key does not parse or uses an unsupported algorithm', { cause: err });
  }
}

/** A DER SEQUENCE of two elements that starts with an AlgorithmIdentifier is an SPKI; a certificate has three. */
function isSpkiDer(der: Uint8Array): boolean {
  try {
    const items = children(parse(der));
    return items.length === 2 && isUniversal(items[0]!, Tag.SEQUENCE) && isUniversal(items[1]!, Tag.BIT_STRING);
  } catch {
    return false;
  }
}

/** Loads a public key from SPKI (DER or `PUBLIC KEY` PEM) or from an X.509 certificate (DER or PEM). */
export function loadPublicKey(bytes: Uint8Array): KeyObject {
  if (looksLikePem(bytes)) {
    const blocks = pemBlocks(bytes, 'KEY_MALFORMED');
    const spki = blocks.find((b) => b.label === 'PUBLIC KEY');
    if (spki) return publicKeyFromSpki(spki.der);
    if (blocks.some((b) => b.label === 'CERTIFICATE')) return publicKeyFromCertificate(readCertificateInfo(bytes));
    throw malformed('no PEM block labelled PUBLIC KEY or CERTIFICATE');
  }
  if (isSpkiDer(bytes)) return publicKeyFromSpki(bytes);
  return publicKeyFromCertificate(readCertificateInfo(bytes));
}

/** Unencrypted PKCS#8 DER (the form CMMS tools read with `--signing-key`). */
export function exportPrivateKeyDer(key: KeyObject): Uint8Array {
  return new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }));
}

/**
 * Encrypted PKCS#8 PEM for storage at rest (PBES2: scrypt and AES-256-CBC,
 * see pkcs8-encryption.ts), readable by `openssl pkey -passin`.
 */
export function exportEncryptedPrivateKeyPem(key: KeyObject, passphrase: string | Uint8Array, options: Pkcs8EncryptionOptions = {}): string {
  return encodePem('ENCRYPTED PRIVATE KEY', encryptPkcs8(key, passphrase, options));
}

/** True for an encrypted key whose KDF is weaker than what we write now (PBKDF2 at 2,048 iterations, say). */
export function privateKeyNeedsRewrite(bytes: Uint8Array): boolean {
  try {
    const { der, encoding } = locatePrivateKey(bytes);
    return encoding === 'encrypted-pkcs8' && needsKdfUpgrade(der);
  } catch {
    return false;
  }
}

/** Throws `KEY_MISMATCH` unless `privateKey` is the key of `certificate` (or of the given public key). */
export function assertKeyMatchesCertificate(privateKey: KeyObject, certificate: CertificateInfo | KeyObject): void {
  const expected = 'subjectPublicKeyInfo' in certificate ? publicKeyFromCertificate(certificate) : certificate;
  let actual: KeyObject;
  try {
    actual = createPublicKey(privateKey);
  } catch (err) {
    throw malformed('cannot derive the public key from the private key', err);
  }
  if (!actual.equals(expected)) throw new CryptoError('KEY_MISMATCH', 'the private key does not belong to the certificate');
}
