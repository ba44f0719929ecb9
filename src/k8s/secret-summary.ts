/**
 * What a Secret file holds, described by identifiers only: certificates by
 * SKID and SHA-256 fingerprint, private keys by the SKID of their public
 * key, anything else by size and SHA-256. Dry-run diffs, status output and
 * audit entries use these, so key bytes never leave the file.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { isEncryptedPrivateKey, loadPrivateKey } from '../crypto/index.js';
import { decodePem, looksLikePem } from '../lib/index.js';
import { type Certificate, parseCertificate, parseCertificates, spkiOf, subjectKeyIdentifierOf } from '../pki/index.js';

export interface CertificateSummary {
  /** subjectKeyIdentifier, lower-case hex; absent when the certificate has none. */
  readonly skid?: string;
  readonly fingerprintSha256: string;
  readonly subject: string;
  readonly issuer: string;
  readonly serialHex: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export type SecretFileSummary =
  | { readonly kind: 'certificate'; readonly size: number; readonly certificates: readonly CertificateSummary[] }
  | { readonly kind: 'private-key'; readonly size: number; readonly encrypted: boolean; readonly publicKeySkid?: string }
  | { readonly kind: 'other'; readonly size: number; readonly sha256: string };

export function summarizeCertificate(certificate: Certificate): CertificateSummary {
  const skid = certificate.subjectKeyIdentifier;
  return {
    ...(skid ? { skid: hex(skid) } : {}),
    fingerprintSha256: certificate.fingerprintSha256,
    subject: certificate.subject.text,
    issuer: certificate.issuer.text,
    serialHex: certificate.serialHex,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
  };
}

/** The SKID (SHA-1 of the public key bits) a certificate for this key would carry. */
export function publicKeySkid(key: KeyObject): string {
  return hex(subjectKeyIdentifierOf(spkiOf(key)));
}

/** Never throws: bytes that are neither certificates nor keys are `other`. */
export function summarizeSecretFile(data: Uint8Array): SecretFileSummary {
  const size = data.length;
  const certificates = tryCertificates(data);
  if (certificates) return { kind: 'certificate', size, certificates: certificates.map(summarizeCertificate) };
  if (isPrivateKey(data)) {
    if (isEncryptedPrivateKey(data)) return { kind: 'private-key', size, encrypted: true };
    try {
      return { kind: 'private-key', size, encrypted: false, publicKeySkid: publicKeySkid(loadPrivateKey(data)) };
    } catch {
      return { kind: 'private-key', size, encrypted: false };
    }
  }
  return { kind: 'other', size, sha256: createHash('sha256').update(data).digest('hex') };
}

function tryCertificates(data: Uint8Array): Certificate[] | undefined {
  try {
    if (looksLikePem(data)) {
      const labels = decodePem(Buffer.from(data).toString('latin1')).map((b) => b.label);
      if (labels.length === 0 || labels.some((l) => l !== 'CERTIFICATE')) return undefined;
      return parseCertificates(data);
    }
    return [parseCertificate(data)];
  } catch {
    return undefined;
  }
}

function isPrivateKey(data: Uint8Array): boolean {
  try {
    if (looksLikePem(data)) return decodePem(Buffer.from(data).toString('latin1')).some((b) => b.label.endsWith('PRIVATE KEY'));
    loadPrivateKey(data);
    return true;
  } catch {
    // An encrypted DER key fails to load without a passphrase but is still a key.
    try {
      return !looksLikePem(data) && isEncryptedPrivateKey(data);
    } catch {
      return false;
    }
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
