/**
 * The few facts about an X.509 certificate that signature verification
 * needs: the subject public key and the algorithm the issuer signed the
 * certificate with (CMMS falls back to it when a SignedMessage carries no
 * algorithm OID). The full X.509 model lives in `pki/`; `crypto/` reads only
 * this much so it does not depend on it.
 */
import {
  type AlgorithmIdentifier,
  readAlgorithmIdentifier,
  DerError,
  Tag,
  isContext,
  isUniversal,
  parse,
  sequence,
  PemError,
  derBlocks,
} from '../lib/index.js';
import { CryptoError } from './errors.js';

export type { AlgorithmIdentifier };

export interface CertificateInfo {
  /** The certificate DER, exactly as given (or as decoded from PEM). */
  readonly der: Uint8Array;
  /** DER SubjectPublicKeyInfo. */
  readonly subjectPublicKeyInfo: Uint8Array;
  /** The outer `signatureAlgorithm`: how the issuer signed this certificate. */
  readonly signatureAlgorithm: AlgorithmIdentifier;
}

/** The DER of one certificate given as DER or PEM (the first CERTIFICATE block). */
export function certificateDer(bytes: Uint8Array): Uint8Array {
  try {
    return derBlocks(bytes, ['CERTIFICATE'])[0]!;
  } catch (err) {
    if (err instanceof PemError) throw new CryptoError('CERTIFICATE_MALFORMED', err.message, { cause: err });
    throw err;
  }
}

/** Reads a certificate (DER or PEM). Throws `CERTIFICATE_MALFORMED`. */
export function readCertificateInfo(bytes: Uint8Array): CertificateInfo {
  const der = certificateDer(bytes);
  try {
    const [tbs, signatureAlgorithm, signatureValue, extra] = sequence(parse(der), 'Certificate');
    if (extra || !signatureValue || !isUniversal(signatureValue, Tag.BIT_STRING)) {
      throw new DerError('Certificate is not SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }');
    }
    const fields = sequence(tbs, 'tbsCertificate');
    // version [0] is optional (absent means v1); then serial, signature, issuer, validity, subject, SPKI.
    const first = fields[0];
    const offset = first && isContext(first, 0) ? 1 : 0;
    const spki = fields[offset + 5];
    sequence(spki, 'subjectPublicKeyInfo');
    const outer = readAlgorithmIdentifier(signatureAlgorithm, 'signatureAlgorithm', { dropNull: true });
    const inner = readAlgorithmIdentifier(fields[offset + 1], 'tbsCertificate signature', { dropNull: true });
    if (inner.oid !== outer.oid) throw new DerError('signatureAlgorithm differs from the tbsCertificate signature field');
    return { der, subjectPublicKeyInfo: spki!.bytes, signatureAlgorithm: outer };
  } catch (err) {
    if (err instanceof DerError) throw new CryptoError('CERTIFICATE_MALFORMED', `certificate: ${err.message}`, { cause: err });
    throw err;
  }
}
