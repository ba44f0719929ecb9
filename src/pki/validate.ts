/**
 * Certification path validation (RFC 5280 §6) under a named profile
 * (`validation-profiles.ts`: `cmms` by default, `rfc5280`, `webpki`).
 * `validatePath` builds candidate paths from the leaf to a trust anchor (see
 * `path-builder.ts`), checks each in turn, and returns the first that
 * passes, or throws the reason the best candidate failed, naming the
 * certificate.
 *
 * Trust anchors are full certificates and their constraints apply: validity,
 * basicConstraints, keyUsage, pathLenConstraint, name constraints, unknown
 * critical extensions. Their own signatures are not checked.
 */
import { type Clock, systemClock } from '../lib/index.js';
import { publicKeyOf } from './algorithms.js';
import { type Certificate, type KeyUsage, OID } from './certificate.js';
import { PkiError, type PkiErrorCode } from './errors.js';
import { type PublicSuffixList, checkHost } from './hostname.js';
import { checkNameConstraints } from './name-constraints.js';
import { LinkCache, PathBuilder, defaultLinkCache } from './path-builder.js';
import { type RevocationChecker } from './revocation.js';
import { type TrustStore } from './trust-store.js';
import { type ValidationProfile, type ValidationProfileName, validationProfile } from './validation-profiles.js';

export type Purpose = 'server' | 'client' | 'signing';

export interface ValidationOptions {
  readonly trustStore: TrustStore;
  /** The rules the path is judged by; default `cmms`. */
  readonly profile?: ValidationProfileName;
  /** Untrusted certificates to build the path through (order and extras do not matter). */
  readonly intermediates?: readonly Certificate[];
  /** The instant to validate at; default `clock.now()`. Compared at whole seconds. */
  readonly at?: Date;
  readonly clock?: Clock;
  /** A DNS name or IP literal the leaf must carry as a subjectAltName. */
  readonly host?: string;
  /**
   * 'server' / 'client': the leaf's EKU, when present, must list
   * serverAuth / clientAuth, and CA EKUs must allow it. 'signing' (consent
   * signaling): the leaf's key usage, when present, must include
   * digitalSignature; EKU is not consulted, as CMMS signing certificates
   * carry none or clientAuth. An absent EKU is allowed unless the profile
   * requires one (`webpki`).
   */
  readonly purpose?: Purpose;
  /** More EKU OIDs the leaf must allow (same rules as `purpose`). */
  readonly extendedKeyUsages?: readonly string[];
  /** Key usages the leaf must allow when it has a keyUsage extension. */
  readonly keyUsages?: readonly KeyUsage[];
  /** Most intermediates in the path, not counting self-issued ones; default 8. */
  readonly maxDepth?: number;
  /** Called for every certificate on a candidate path (with its issuer). */
  readonly revocation?: RevocationChecker;
  /** Treat 'unknown' revocation status as failure; default false (CMMS checks state elsewhere). */
  readonly requireRevocationStatus?: boolean;
  /** Refuses wildcard SANs over public suffixes; without it a wildcard needs two labels after it. */
  readonly publicSuffixes?: PublicSuffixList;
  /** Cache of verified links; default a process-wide bounded cache. */
  readonly linkCache?: LinkCache;
}

export interface ValidatedPath {
  /** Leaf first, trust anchor last. */
  readonly certificates: readonly Certificate[];
  readonly leaf: Certificate;
  readonly anchor: Certificate;
  /** The profile the path was judged by. */
  readonly profile: ValidationProfileName;
  /** The instant the path was validated at (whole seconds). */
  readonly at: Date;
}

const EKU_FOR_PURPOSE: Record<Purpose, string | undefined> = {
  server: OID.serverAuth,
  client: OID.clientAuth,
  signing: undefined,
};

/** Extensions whose meaning this validator applies (or that carry no constraint). */
const UNDERSTOOD = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.issuerAltName,
  OID.nameConstraints,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  // With the initial policy set any-policy and no explicit policy required,
  // critical certificatePolicies cannot fail a path, so it is understood.
  OID.certificatePolicies,
  OID.cRLDistributionPoints,
  OID.freshestCRL,
  OID.authorityInfoAccess,
  OID.subjectInfoAccess,
]);

const DEFAULT_MAX_DEPTH = 8;
/** Candidate paths fully checked before the search gives up. */
const MAX_CANDIDATE_PATHS = 64;

/**
 * Validates `leaf` up to a trust anchor in `options.trustStore`. Resolves to
 * the validated path; rejects with a `PkiError` whose `certificate` names the
 * certificate at fault. The signature is stable: `cert verify` relies on it.
 */
export async function validatePath(leaf: Certificate, options: ValidationOptions): Promise<ValidatedPath> {
  const at = floorToSecond(options.at ?? (options.clock ?? systemClock).now());
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
  if (!Number.isInteger(maxDepth) || maxDepth < 0) throw new PkiError('INVALID_REQUEST', 'maxDepth must be a non-negative integer');
  const profile = validationProfile(options.profile);
  const rules: PathRules = { ...options, profile };

  // Path-independent leaf checks first: they fail fast with a precise reason.
  checkValidity(leaf, at);
  if (options.host !== undefined) checkHost(leaf, options.host, { ...(options.publicSuffixes ? { publicSuffixes: options.publicSuffixes } : {}), profile: profile.name });

  if (options.trustStore.has(leaf)) {
    checkPath([leaf], at, rules);
    return { certificates: [leaf], leaf, anchor: leaf, profile: profile.name, at };
  }

  const builder = new PathBuilder(
    options.trustStore,
    options.intermediates ?? [],
    {
      maxDepth,
      maxLength: Math.min(2 * maxDepth + 2, 64),
      maxSteps: 5_000,
      maxSignatures: 300,
    },
    options.linkCache ?? defaultLinkCache,
  );
  let firstFailure: PkiError | undefined;
  let tried = 0;
  for (const path of builder.paths(leaf)) {
    try {
      checkPath(path, at, rules);
      if (options.revocation) await checkRevocation(path, at, options);
      return { certificates: path, leaf, anchor: path[path.length - 1]!, profile: profile.name, at };
    } catch (err) {
      if (!(err instanceof PkiError)) throw err;
      firstFailure ??= err;
      if (++tried >= MAX_CANDIDATE_PATHS) break;
    }
  }
  if (firstFailure) throw firstFailure;
  const linkError = builder.linkErrors[0];
  if (linkError) throw linkError;
  const subject = leaf.subject.text;
  if (builder.depthExceeded) {
    throw new PkiError('PATH_TOO_DEEP', `no path for ${subject} within ${maxDepth} intermediates`, { certificate: { subject } });
  }
  throw new PkiError('CHAIN_UNTRUSTED', `no path from ${subject} (issuer ${leaf.issuer.text}) to a trust anchor`, { certificate: { subject } });
}

function floorToSecond(t: Date): Date {
  return new Date(Math.floor(t.getTime() / 1000) * 1000);
}

function fail(code: PkiErrorCode, cert: Certificate, why: string): PkiError {
  const subject = cert.subject.text;
  const skid = cert.subjectKeyIdentifier ? Buffer.from(cert.subjectKeyIdentifier).toString('hex') : undefined;
  return new PkiError(code, `${why} (certificate ${subject || '<empty subject>'})`, { certificate: skid ? { subject, skid } : { subject } });
}

function checkValidity(cert: Certificate, at: Date): void {
  if (at.getTime() < cert.notBefore.getTime()) {
    throw fail('CERT_NOT_YET_VALID', cert, `not valid before ${cert.notBefore.toISOString()}`);
  }
  if (at.getTime() > cert.notAfter.getTime()) {
    throw fail('CERT_EXPIRED', cert, `expired at ${cert.notAfter.toISOString()}`);
  }
}

/** What `checkPath` judges a path by: the purpose asked for, under a profile. */
type PathRules = Pick<ValidationOptions, 'purpose' | 'extendedKeyUsages' | 'keyUsages'> & { readonly profile: ValidationProfile };

/** The RFC 5280 §6.1 checks (and the profile's rules) on one candidate path, leaf first. */
function checkPath(path: readonly Certificate[], at: Date, rules: PathRules): void {
  const { profile } = rules;
  const last = path.length - 1;
  for (let i = 0; i <= last; i++) {
    const cert = path[i]!;
    // A trusted leaf (a path of one) is still judged as an end entity.
    const isAnchor = i === last && last > 0;
    checkValidity(cert, at);
    for (const [oid, ext] of cert.extensions) {
      if (ext.critical && !UNDERSTOOD.has(oid)) throw fail('UNKNOWN_CRITICAL_EXTENSION', cert, `unrecognized critical extension ${oid}`);
    }
    publicKeyOf(cert); // key policy: throws for forbidden keys
    checkIdentifiers(cert, isAnchor, profile);
    if (!isAnchor) {
      // RFC 5280 §4.1.2.2, §4.1.2.4 and CA/B 7.1.1: issued certificates are
      // v3 with a positive serial of at most 20 octets and a non-empty issuer.
      if (cert.version !== 3) throw fail('CERT_MALFORMED', cert, `version ${cert.version} certificate (v3 required)`);
      if (cert.serialNumber <= 0n) throw fail('CERT_MALFORMED', cert, 'serial number is not positive');
      if (cert.serialLength > 20) throw fail('CERT_MALFORMED', cert, 'serial number is longer than 20 octets');
      if (cert.issuer.rdns.length === 0) throw fail('CERT_MALFORMED', cert, 'issuer name is empty');
    }
    if (cert.nameConstraints && cert.basicConstraints?.ca !== true) {
      throw fail('NAME_CONSTRAINT_VIOLATION', cert, 'nameConstraints in a certificate that is not a CA');
    }
    if (cert.nameConstraints && profile.nameConstraintsCritical && !cert.extensions.get(OID.nameConstraints)?.critical) {
      throw fail('NAME_CONSTRAINT_VIOLATION', cert, 'nameConstraints is not critical (RFC 5280 §4.2.1.10)');
    }
    if (i === 0) checkLeaf(cert, rules);
    else checkCa(cert, isAnchor, profile);
  }
  checkPathLength(path);
  checkExtendedKeyUsage(path, rules);
  checkNameConstraints(path);
}

/** RFC 5280 §4.2.1.1-2 and CA/B 7.1.2.1.3: key identifiers that let paths be built. */
function checkIdentifiers(cert: Certificate, isAnchor: boolean, profile: ValidationProfile): void {
  const aki = cert.authorityKeyIdentifierDetails;
  // Anchors are exempt: a trusted cross-certificate without AKID is common.
  if (!isAnchor && !cert.isSelfIssued && !cert.authorityKeyIdentifier) {
    throw fail('CERT_MALFORMED', cert, 'authorityKeyIdentifier keyIdentifier is missing');
  }
  if (profile.rootAkidForm && isAnchor && cert.isSelfIssued && aki) {
    if (!aki.keyIdentifier) throw fail('CERT_MALFORMED', cert, 'root authorityKeyIdentifier has no keyIdentifier');
    if (aki.authorityCertIssuer || aki.authorityCertSerialNumber !== undefined) {
      throw fail('CERT_MALFORMED', cert, 'root authorityKeyIdentifier must hold only the keyIdentifier');
    }
    if (cert.subjectKeyIdentifier && !Buffer.from(aki.keyIdentifier).equals(cert.subjectKeyIdentifier)) {
      throw fail('CERT_MALFORMED', cert, 'root authorityKeyIdentifier differs from its subjectKeyIdentifier');
    }
  }
}

function checkCa(cert: Certificate, isAnchor: boolean, profile: ValidationProfile): void {
  const bc = cert.basicConstraints;
  if (!bc?.ca) throw fail('NOT_A_CA', cert, 'issuer is not a CA (basicConstraints cA is not set)');
  if (!cert.extensions.get(OID.basicConstraints)?.critical) throw fail('NOT_A_CA', cert, 'CA basicConstraints is not critical');
  if (cert.keyUsage && !cert.keyUsage.has('keyCertSign')) throw fail('NOT_A_CA', cert, 'CA key usage lacks keyCertSign');
  if (!cert.subjectKeyIdentifier) throw fail('CERT_MALFORMED', cert, 'CA certificate has no subjectKeyIdentifier');
  if (cert.subject.rdns.length === 0) throw fail('CERT_MALFORMED', cert, 'CA subject is empty');
  // CA/B 7.1.2.1.2: a root CA certificate carries no extKeyUsage.
  if (profile.rootWithoutEku && isAnchor && cert.isSelfIssued && cert.extKeyUsage) throw fail('EKU_MISMATCH', cert, 'root certificate carries extKeyUsage');
}

function checkLeaf(cert: Certificate, rules: PathRules): void {
  const { profile, purpose } = rules;
  const ku = cert.keyUsage;
  const ca = cert.basicConstraints?.ca === true;
  if (ca && (profile.caAsLeaf === 'refused' || (profile.caAsLeaf === 'refused-for-a-purpose' && purpose !== undefined))) {
    throw fail('KEY_USAGE_MISMATCH', cert, `a CA certificate is not an end entity${purpose ? ` for ${purpose}` : ''} under the ${profile.name} profile`);
  }
  // RFC 5280 §4.2.1.3/§4.2.1.9: keyCertSign and cA go together.
  if (ku?.has('keyCertSign') && !ca && !(purpose === 'signing' && profile.signingLeafMayAssertKeyCertSign)) {
    throw fail('KEY_USAGE_MISMATCH', cert, 'keyCertSign is asserted but the certificate is not a CA');
  }
  if (ca && ku && !ku.has('keyCertSign')) throw fail('KEY_USAGE_MISMATCH', cert, 'cA is asserted but keyCertSign is not');
  const wanted = [...(rules.keyUsages ?? [])];
  if (purpose === 'signing') wanted.push('digitalSignature');
  if (ku) for (const w of wanted) if (!ku.has(w)) throw fail('KEY_USAGE_MISMATCH', cert, `key usage lacks ${w}`);
}

/** RFC 5280 §6.1.4 (l)-(m): pathLenConstraint, not counting self-issued intermediates. */
function checkPathLength(path: readonly Certificate[]): void {
  let remaining = Infinity;
  for (let i = path.length - 1; i >= 1; i--) {
    const ca = path[i]!;
    const isAnchor = i === path.length - 1;
    if (!isAnchor && !ca.isSelfIssued) {
      if (remaining <= 0) throw fail('PATH_LENGTH_EXCEEDED', ca, 'the path length constraint above it is exhausted');
      remaining--;
    }
    const limit = ca.basicConstraints?.pathLenConstraint;
    if (limit !== undefined && limit < remaining) remaining = limit;
  }
}

/**
 * The leaf's EKU must list each wanted purpose (anyExtendedKeyUsage counts
 * only where the profile lets it); a CA's EKU, when present, constrains the
 * purposes below it (anyExtendedKeyUsage allows all).
 */
function checkExtendedKeyUsage(path: readonly Certificate[], rules: PathRules): void {
  const { profile, purpose } = rules;
  const wanted = [...(rules.extendedKeyUsages ?? [])];
  const forPurpose = purpose ? EKU_FOR_PURPOSE[purpose] : undefined;
  if (forPurpose && !wanted.includes(forPurpose)) wanted.push(forPurpose);
  if (wanted.length === 0) return;
  const leaf = path[0]!;
  const eku = leaf.extKeyUsage;
  if (!eku && profile.leafEkuRequired) throw fail('EKU_MISMATCH', leaf, `extKeyUsage is missing (the ${profile.name} profile requires ${wanted.join(', ')})`);
  if (eku) {
    if (profile.serverLeafEkuForm && purpose === 'server') {
      // CA/B 7.1.2.7.6: a TLS server certificate's EKU is not critical.
      if (leaf.extensions.get(OID.extKeyUsage)?.critical) throw fail('EKU_MISMATCH', leaf, 'extKeyUsage is critical');
      // CA/B 7.1.2.7.10: anyExtendedKeyUsage has no place in a TLS server certificate.
      if (eku.includes(OID.anyExtendedKeyUsage)) throw fail('EKU_MISMATCH', leaf, 'extKeyUsage lists anyExtendedKeyUsage');
    }
    const any = profile.leafAnyEkuAllowsAll && eku.includes(OID.anyExtendedKeyUsage);
    if (!any) for (const w of wanted) if (!eku.includes(w)) throw fail('EKU_MISMATCH', leaf, `extended key usage lacks ${w}`);
  }
  for (let i = 1; i < path.length; i++) {
    const eku = path[i]!.extKeyUsage;
    if (!eku || eku.includes(OID.anyExtendedKeyUsage)) continue;
    for (const w of wanted) if (!eku.includes(w)) throw fail('EKU_MISMATCH', path[i]!, `CA extended key usage does not allow ${w}`);
  }
}

async function checkRevocation(path: readonly Certificate[], at: Date, options: ValidationOptions): Promise<void> {
  const checker = options.revocation;
  if (!checker) return;
  for (let i = 0; i < path.length - 1; i++) {
    const cert = path[i]!;
    const status = await checker.check(cert, path[i + 1]!, at);
    if (status === 'revoked') throw fail('CERT_REVOKED', cert, 'certificate is revoked');
    if (status === 'hold') throw fail('CERT_REVOKED', cert, 'certificate is on hold');
    if (status === 'unknown' && options.requireRevocationStatus) {
      throw fail('CERT_REVOKED', cert, 'revocation status is unknown');
    }
  }
}
