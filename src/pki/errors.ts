import { HaloError } from '../lib/index.js';

/** Every failure of the PKI core; callers switch on `code`. */
export type PkiErrorCode =
  | 'CERT_MALFORMED' // DER that is not an RFC 5280 certificate
  | 'CSR_MALFORMED'
  | 'CRL_MALFORMED'
  | 'CERT_EXPIRED'
  | 'CERT_NOT_YET_VALID'
  | 'CERT_REVOKED' // a revocation source says REVOKED (or HOLD)
  | 'CHAIN_UNTRUSTED' // no path to a trust anchor
  | 'SIGNATURE_INVALID' // a link's signature does not verify
  | 'UNSUPPORTED_ALGORITHM'
  | 'NOT_A_CA' // an issuer without basicConstraints CA, or without keyCertSign
  | 'PATH_LENGTH_EXCEEDED'
  | 'PATH_TOO_DEEP' // the depth or path-building budget ran out
  | 'KEY_USAGE_MISMATCH'
  | 'EKU_MISMATCH'
  | 'NAME_CONSTRAINT_VIOLATION'
  | 'UNKNOWN_CRITICAL_EXTENSION'
  | 'HOSTNAME_MISMATCH'
  | 'POLICY_VIOLATION' // CA issuance policy: outliving the issuer, path length, name constraints
  | 'CA_KEY_LOCKED' // the CA private key needs a passphrase
  | 'INVALID_REQUEST'; // bad issuance parameters

export class PkiError extends HaloError<PkiErrorCode> {
  /** The certificate the failure is about (subject and SKID), when there is one. */
  readonly certificate?: { subject: string; skid?: string };

  constructor(code: PkiErrorCode, message: string, options?: { cause?: unknown; certificate?: { subject: string; skid?: string } }) {
    super(code, message, options);
    if (options?.certificate) this.certificate = options.certificate;
  }
}
