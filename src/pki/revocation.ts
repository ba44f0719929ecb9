/**
 * The revocation seam: the validator asks a `RevocationChecker` about every
 * certificate on a candidate path (with its issuer). A CRL source is one
 * implementation (`crl.ts`); the Kingdom's `revocation_state` is another,
 * where HOLD and REVOKED both make the certificate unusable
 * (cmms-reference §2.5, §9.4).
 */
import { type Certificate } from './certificate.js';

export type RevocationStatus = 'good' | 'revoked' | 'hold' | 'unknown';

export interface RevocationChecker {
  /**
   * The status of `cert`, issued by `issuer`. May throw a `PkiError` when the
   * evidence itself is bad (a CRL from this issuer that does not verify):
   * the validator then fails the path rather than ignoring it.
   */
  check(cert: Certificate, issuer: Certificate, at: Date): RevocationStatus | Promise<RevocationStatus>;
}

/** Consults several checkers in order; the first status other than 'unknown' wins. */
export function combineRevocationCheckers(...checkers: RevocationChecker[]): RevocationChecker {
  return {
    async check(cert, issuer, at) {
      for (const c of checkers) {
        const status = await c.check(cert, issuer, at);
        if (status !== 'unknown') return status;
      }
      return 'unknown';
    },
  };
}
