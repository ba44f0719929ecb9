/**
 * Encodes an X.509 v3 tbsCertificate (RFC 5280 §4.1) and signs it. Policy
 * (what a CA may issue) lives in `ca-policy.ts`; this module only produces
 * correct DER for what it is given.
 */
import { randomBytes } from 'node:crypto';
import { encode } from '../lib/index.js';
import { PkiError } from './errors.js';
import { signatureSchemeFor } from './key-types.js';
import type { SigningKey } from './signer.js';

export interface CertificateTemplate {
  /** Positive serial as unsigned big-endian bytes (see `randomSerial`). */
  serialNumber: Uint8Array;
  /** DER Name of the issuer: the issuer certificate's subject, byte for byte. */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  subjectPublicKeyInfo: Uint8Array;
  /** Encoded `Extension` elements, in the order they should appear. */
  extensions: readonly Uint8Array[];
}

/**
 * 16 random bytes as a positive serial that always encodes in exactly 16
 * octets (top bit clear so it is positive, next bit set so it is minimal);
 * 126 random bits, above the CA/B Forum's 64.
 */
export function randomSerial(): Uint8Array {
  const serial = new Uint8Array(randomBytes(16));
  serial[0] = (serial[0]! & 0x3f) | 0x40;
  return serial;
}

/** Whole seconds: X.509 times carry no fractions, so the builder never pretends otherwise. */
export function truncateToSeconds(t: Date): Date {
  return new Date(Math.floor(t.getTime() / 1000) * 1000);
}

export function encodeTbsCertificate(template: CertificateTemplate, signatureAlgorithm: Uint8Array): Uint8Array {
  const { notBefore, notAfter } = template;
  if (!(notBefore.getTime() < notAfter.getTime())) {
    throw new PkiError('INVALID_REQUEST', 'notBefore must be before notAfter');
  }
  if (template.serialNumber.length === 0 || template.serialNumber.length > 20) {
    throw new PkiError('INVALID_REQUEST', 'serial number must be 1 to 20 octets');
  }
  const items = [
    encode.explicit(0, encode.integer(2)),
    encode.integer(template.serialNumber),
    signatureAlgorithm,
    template.issuer,
    encode.sequence(encode.time(truncateToSeconds(notBefore)), encode.time(truncateToSeconds(notAfter))),
    template.subject,
    template.subjectPublicKeyInfo,
  ];
  if (template.extensions.length) items.push(encode.explicit(3, encode.sequence(...template.extensions)));
  return encode.sequence(...items);
}

/** The signed certificate DER: tbsCertificate, signatureAlgorithm, signature. */
export function buildCertificate(template: CertificateTemplate, issuerKey: SigningKey): Uint8Array {
  const scheme = signatureSchemeFor(issuerKey);
  const tbs = encodeTbsCertificate(template, scheme.algorithmIdentifier);
  return encode.sequence(tbs, scheme.algorithmIdentifier, encode.bitString(scheme.sign(tbs)));
}
