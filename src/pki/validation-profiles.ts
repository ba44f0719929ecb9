/**
 * Validation profiles: the rules a path is judged by beyond those every
 * profile shares (RFC 5280 §6 path processing, the key and signature
 * algorithm floor of `algorithms.ts`, RFC 6125 host matching without a
 * Common Name fallback, and trust anchors taken as inputs: a trusted
 * cross-certificate needs no AKID). Each rule that differs between profiles is named
 * here, once, so a rule belongs to a profile and never to every caller.
 *
 * - `rfc5280`: the RFC's rules alone. A CA certificate may stand as the end
 *   entity, an absent EKU allows every purpose and anyExtendedKeyUsage
 *   allows each, and nameConstraints must be critical (§4.2.1.10).
 * - `webpki`: the CA/Browser Forum Baseline Requirements as the Web PKI
 *   verifiers apply them: a TLS leaf must list the EKU asked for (not
 *   anyExtendedKeyUsage, not critical), a CA certificate is never the end
 *   entity (7.1.2.7.8), roots carry no EKU (7.1.2.1.2) and an AKID of only
 *   their own key id (7.1.2.1.3), the SAN is non-critical when the subject
 *   is not empty (7.1.2.7.12), and a host-like Common Name copies a SAN
 *   entry (7.1.4.3).
 * - `cmms` (the default): RFC 5280 and RFC 6125, hardened for CMMS: no CA
 *   certificate as the end entity of a TLS or signing purpose, EKU checked
 *   when present (anyExtendedKeyUsage does not stand for a named purpose),
 *   the Common Name never read, non-critical nameConstraints honoured (the
 *   constraints apply either way), and a consent-signing certificate judged by
 *   digitalSignature alone, as CMMS (Java PKIX) does: real ones assert
 *   keyCertSign.
 */

export type ValidationProfileName = 'cmms' | 'rfc5280' | 'webpki';

export const VALIDATION_PROFILE_NAMES: readonly ValidationProfileName[] = ['cmms', 'rfc5280', 'webpki'];

export const DEFAULT_VALIDATION_PROFILE: ValidationProfileName = 'cmms';

export function isValidationProfileName(value: string): value is ValidationProfileName {
  return (VALIDATION_PROFILE_NAMES as readonly string[]).includes(value);
}

export interface ValidationProfile {
  readonly name: ValidationProfileName;
  /** When a certificate with cA set is refused as the end entity. */
  readonly caAsLeaf: 'allowed' | 'refused-for-a-purpose' | 'refused';
  /** A leaf without extKeyUsage is refused when an EKU is asked for. */
  readonly leafEkuRequired: boolean;
  /** anyExtendedKeyUsage in the leaf allows every named purpose. */
  readonly leafAnyEkuAllowsAll: boolean;
  /** A TLS server leaf's extKeyUsage must not be critical nor list anyExtendedKeyUsage (CA/B 7.1.2.7.6, 7.1.2.7.10). */
  readonly serverLeafEkuForm: boolean;
  /** A self-issued trust anchor carries no extKeyUsage (CA/B 7.1.2.1.2). */
  readonly rootWithoutEku: boolean;
  /** A self-issued trust anchor's AKID holds only its own key id (CA/B 7.1.2.1.3). */
  readonly rootAkidForm: boolean;
  /** nameConstraints must be marked critical (RFC 5280 §4.2.1.10). */
  readonly nameConstraintsCritical: boolean;
  /** keyCertSign without cA is allowed in a consent-signing leaf (purpose 'signing'). */
  readonly signingLeafMayAssertKeyCertSign: boolean;
  /** Host checks: the SAN is non-critical when the subject is not empty (CA/B 7.1.2.7.12). */
  readonly sanCriticalOnlyWithEmptySubject: boolean;
  /** Host checks: a Common Name of the checked kind copies a SAN entry (CA/B 7.1.4.3). */
  readonly commonNameCopiesSan: boolean;
}

const PROFILES: Record<ValidationProfileName, ValidationProfile> = {
  rfc5280: {
    name: 'rfc5280',
    caAsLeaf: 'allowed',
    leafEkuRequired: false,
    leafAnyEkuAllowsAll: true,
    serverLeafEkuForm: false,
    rootWithoutEku: false,
    rootAkidForm: false,
    nameConstraintsCritical: true,
    signingLeafMayAssertKeyCertSign: false,
    sanCriticalOnlyWithEmptySubject: false,
    commonNameCopiesSan: false,
  },
  webpki: {
    name: 'webpki',
    caAsLeaf: 'refused',
    leafEkuRequired: true,
    leafAnyEkuAllowsAll: false,
    serverLeafEkuForm: true,
    rootWithoutEku: true,
    rootAkidForm: true,
    nameConstraintsCritical: false,
    signingLeafMayAssertKeyCertSign: false,
    sanCriticalOnlyWithEmptySubject: true,
    commonNameCopiesSan: true,
  },
  cmms: {
    name: 'cmms',
    caAsLeaf: 'refused-for-a-purpose',
    leafEkuRequired: false,
    leafAnyEkuAllowsAll: false,
    serverLeafEkuForm: false,
    rootWithoutEku: false,
    rootAkidForm: false,
    nameConstraintsCritical: false,
    signingLeafMayAssertKeyCertSign: true,
    sanCriticalOnlyWithEmptySubject: false,
    commonNameCopiesSan: false,
  },
};

export function validationProfile(name: ValidationProfileName = DEFAULT_VALIDATION_PROFILE): ValidationProfile {
  return PROFILES[name];
}
