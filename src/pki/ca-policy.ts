/**
 * What a CA may issue: the issuer must be a CA allowed to sign certificates
 * and valid now, nothing it issues may outlive it, a new CA must fit under
 * its path length, and every name must lie inside its name constraints.
 * Refusals are `PkiError('POLICY_VIOLATION')` with a message that says what
 * to change.
 */
import type { KeyObject } from 'node:crypto';
import { ipAddressBytes, normalizeDnsName, type GeneralNameInput } from './ca-general-names.js';
import type { Certificate, GeneralName } from './certificate.js';
import { PkiError } from './errors.js';
import { type Name, nameWithinSubtree, parseName } from './name.js';

const DAY_MS = 86_400_000;

function refuse(message: string): never {
  throw new PkiError('POLICY_VIOLATION', message);
}

/** The issuer is a CA with keyCertSign (or no keyUsage at all), valid at `at`. */
export function assertCanIssue(issuer: Certificate, at: Date): void {
  if (!issuer.basicConstraints?.ca) refuse(`issuer ${issuer.subject.text} is not a CA (basicConstraints CA is not set)`);
  if (issuer.keyUsage && !issuer.keyUsage.has('keyCertSign')) {
    refuse(`issuer ${issuer.subject.text} may not sign certificates (keyUsage lacks keyCertSign)`);
  }
  if (at < issuer.notBefore) refuse(`issuer ${issuer.subject.text} is not valid until ${issuer.notBefore.toISOString()}`);
  if (at > issuer.notAfter) refuse(`issuer ${issuer.subject.text} expired on ${issuer.notAfter.toISOString()}`);
}

export interface ValidityRequest {
  /** Days from now; ignored when an explicit window is given. */
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

/**
 * The validity window for a new certificate. Outliving the issuer is refused
 * unless `clipToIssuer`, in which case the window is cut to the issuer's.
 */
export function resolveValidity(
  request: ValidityRequest,
  defaultDays: number,
  now: Date,
  issuer: Certificate | undefined,
  clipToIssuer = false,
): { notBefore: Date; notAfter: Date } {
  const seconds = (t: Date) => new Date(Math.floor(t.getTime() / 1000) * 1000);
  if ((request.notBefore === undefined) !== (request.notAfter === undefined)) {
    throw new PkiError('INVALID_REQUEST', 'give both notBefore and notAfter, or neither');
  }
  let notBefore: Date;
  let notAfter: Date;
  if (request.notBefore && request.notAfter) {
    if (Number.isNaN(request.notBefore.getTime()) || Number.isNaN(request.notAfter.getTime())) {
      throw new PkiError('INVALID_REQUEST', 'notBefore and notAfter must be valid times');
    }
    notBefore = seconds(request.notBefore);
    notAfter = seconds(request.notAfter);
  } else {
    const days = request.days ?? defaultDays;
    if (!Number.isFinite(days) || days <= 0 || days > 36_500) throw new PkiError('INVALID_REQUEST', 'days must be between 1 and 36500');
    notBefore = seconds(now);
    notAfter = new Date(notBefore.getTime() + Math.round(days * DAY_MS));
  }
  if (notBefore >= notAfter) throw new PkiError('INVALID_REQUEST', 'notBefore must be before notAfter');
  if (issuer) {
    if (notAfter > issuer.notAfter) {
      if (!clipToIssuer) {
        refuse(
          `certificate would outlive its issuer: notAfter ${notAfter.toISOString()} is after the issuer's ${issuer.notAfter.toISOString()} (ask for fewer days or clip to the issuer)`,
        );
      }
      notAfter = issuer.notAfter;
    }
    if (notBefore < issuer.notBefore) {
      if (!clipToIssuer) refuse(`certificate would start before its issuer (${issuer.notBefore.toISOString()})`);
      notBefore = issuer.notBefore;
    }
    if (notBefore >= notAfter) refuse('nothing is left of the validity window inside the issuer’s');
  }
  return { notBefore, notAfter };
}

/**
 * The pathLenConstraint for a CA issued by `issuer`: at most one less than
 * the issuer's, and refused when the issuer's is 0.
 */
export function childPathLength(issuer: Certificate, requested: number | undefined): number | undefined {
  const limit = issuer.basicConstraints?.pathLenConstraint;
  if (requested !== undefined && (!Number.isSafeInteger(requested) || requested < 0)) {
    throw new PkiError('INVALID_REQUEST', 'path length must be a non-negative integer');
  }
  if (limit === undefined) return requested;
  if (limit === 0) refuse(`issuer ${issuer.subject.text} has pathLenConstraint 0 and may issue only end-entity certificates`);
  if (requested !== undefined && requested > limit - 1) {
    refuse(`path length ${requested} exceeds what issuer ${issuer.subject.text} allows (at most ${limit - 1})`);
  }
  return requested ?? limit - 1;
}

/** Refuses RSA below 2048 bits and curves other than P-256/384/521. */
export function assertAcceptableKey(key: KeyObject): void {
  const kind = key.asymmetricKeyType;
  if (kind === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) refuse('RSA keys must have at least 2048 bits');
    return;
  }
  if (kind === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve !== 'prime256v1' && curve !== 'secp384r1' && curve !== 'secp521r1') refuse(`EC curve ${curve ?? 'unknown'} is not allowed`);
    return;
  }
  if (kind === 'ed25519') return;
  refuse(`key type ${kind ?? 'unknown'} is not allowed`);
}

// ---------------------------------------------------------------------------
// Name constraints (RFC 5280 §4.2.1.10), applied at issuance so a CA never
// signs what a validator would reject.

function dnsWithin(name: string, base: string): boolean {
  const n = name.toLowerCase();
  const b = base.toLowerCase();
  if (b === '') return true;
  if (b.startsWith('.')) return n.endsWith(b);
  return n === b || n.endsWith(`.${b}`);
}

function emailWithin(address: string, base: string): boolean {
  const at = address.lastIndexOf('@');
  const host = address.slice(at + 1).toLowerCase();
  if (base.includes('@')) {
    const bAt = base.lastIndexOf('@');
    return address.slice(0, at) === base.slice(0, bAt) && host === base.slice(bAt + 1).toLowerCase();
  }
  const b = base.toLowerCase();
  return b.startsWith('.') ? host.endsWith(b) : host === b;
}

function ipWithin(address: Uint8Array, base: Uint8Array, mask: Uint8Array): boolean {
  if (address.length !== base.length) return false;
  return address.every((byte, i) => (byte & mask[i]!) === (base[i]! & mask[i]!));
}

function uriHost(uri: string): string {
  return new URL(uri).hostname.replace(/^\[|\]$/g, '');
}

type Checked = { kind: 'dns' | 'email' | 'uri'; value: string } | { kind: 'ip'; bytes: Uint8Array } | { kind: 'directoryName'; name: Name };

function within(name: Checked, base: GeneralName): boolean | undefined {
  if (name.kind === 'dns' && base.type === 'dns') return dnsWithin(name.value.replace(/^\*\./, 'x.'), base.value);
  if (name.kind === 'email' && base.type === 'email') return emailWithin(name.value, base.value);
  if (name.kind === 'uri' && base.type === 'uri') return dnsWithin(uriHost(name.value), base.value);
  if (name.kind === 'ip' && base.type === 'ip' && base.mask) return ipWithin(name.bytes, base.value, base.mask);
  if (name.kind === 'directoryName' && base.type === 'directoryName') return nameWithinSubtree(name.name, base.name);
  return undefined; // a constraint of another type says nothing about this name
}

/**
 * Refuses a subject or SAN outside the name constraints of `issuers` (the
 * issuing CA first, then its own issuers as far as they are known).
 */
export function assertWithinNameConstraints(issuers: readonly Certificate[], subject: Uint8Array, altNames: readonly GeneralNameInput[]): void {
  if (!issuers.some((i) => i.nameConstraints)) return;
  const names: Checked[] = altNames.map((n) => {
    switch (n.type) {
      case 'dns':
        return { kind: 'dns', value: normalizeDnsName(n.value) };
      case 'ip':
        return { kind: 'ip', bytes: ipAddressBytes(n.value) };
      case 'dn':
        return { kind: 'directoryName', name: parseName(n.der) };
      default:
        return { kind: n.type, value: n.value };
    }
  });
  const subjectName = parseName(subject);
  if (subjectName.rdns.length) names.push({ kind: 'directoryName', name: subjectName });
  for (const issuer of issuers) {
    const nc = issuer.nameConstraints;
    if (!nc) continue;
    for (const name of names) {
      const label = describe(name);
      if (nc.excluded.some((base) => within(name, base) === true)) {
        refuse(`${label} is excluded by the name constraints of ${issuer.subject.text}`);
      }
      const relevant = nc.permitted.map((base) => within(name, base)).filter((r) => r !== undefined);
      if (relevant.length && !relevant.includes(true)) {
        refuse(`${label} is outside the permitted names of ${issuer.subject.text}`);
      }
    }
  }
}

function describe(name: Checked): string {
  if (name.kind === 'ip') return `IP ${name.bytes.length === 4 ? name.bytes.join('.') : Buffer.from(name.bytes).toString('hex')}`;
  if (name.kind === 'directoryName') return `subject ${name.name.text}`;
  return `${name.kind.toUpperCase()} ${name.value}`;
}
