/**
 * A participant's private CA, in memory: make a root, issue intermediates,
 * cross-sign a successor root, and issue leaves from a CSR or a fresh key.
 * Every issuance goes through `ca-policy.ts`; where the keys and records
 * live on disk is `ca-store.ts`'s business.
 */
import { X509Certificate, createPublicKey, type KeyObject } from 'node:crypto';
import type { Clock } from '../lib/index.js';
import type { GeneralNameInput } from './ca-general-names.js';
import { subjectToDer } from './ca-name.js';
import {
  assertAcceptableKey,
  assertCanIssue,
  assertWithinNameConstraints,
  childPathLength,
  resolveValidity,
  type ValidityRequest,
} from './ca-policy.js';
import { type LeafProfile, profileUsage } from './ca-profiles.js';
import { buildCertificate, randomSerial } from './certificate-builder.js';
import { type Certificate, type KeyUsage, parseCertificate } from './certificate.js';
import type { CertificationRequest } from './csr.js';
import { PkiError } from './errors.js';
import { type KeySigner, type SigningKey, publicKeyOfSigner } from './signer.js';
import {
  type NameConstraintsInput,
  authorityKeyIdentifier,
  basicConstraints,
  extendedKeyUsage,
  extension,
  keyUsage,
  nameConstraints,
  subjectAltName,
  subjectKeyIdentifier,
  ExtensionOid,
} from './extensions-builder.js';
import { type KeyType, generateKeyPair, issuerKeyIdentifier, spkiOf, subjectKeyIdentifierOf } from './key-types.js';

/** A CA able to sign: its certificate, its key, and the certificates above it (nearest first). */
export interface CertificateAuthority {
  readonly certificate: Certificate;
  readonly privateKey: SigningKey;
  readonly chain?: readonly Certificate[];
}

export interface IssuedCertificate {
  readonly der: Uint8Array;
  readonly certificate: Certificate;
  /** Present when the CA generated the key pair. */
  readonly privateKey?: KeyObject;
}

export const DEFAULT_DAYS = { root: 3650, intermediate: 1825, leaf: 365 } as const;

const CA_KEY_USAGE: KeyUsage[] = ['digitalSignature', 'keyCertSign', 'cRLSign'];

/** `/O=.../CN=...` text or an already-encoded DER Name. */
export type SubjectInput = string | Uint8Array;

function subjectDer(subject: SubjectInput): Uint8Array {
  return typeof subject === 'string' ? subjectToDer(subject) : subject;
}

interface KeySource {
  /** Generate a key of this type (default p256) unless `publicKey` is given. */
  keyType?: KeyType;
  publicKey?: KeyObject;
}

function keyFor(source: KeySource): { publicKey: KeyObject; privateKey?: KeyObject } {
  if (source.publicKey) {
    const publicKey = source.publicKey.type === 'private' ? createPublicKey(source.publicKey) : source.publicKey;
    return { publicKey };
  }
  return generateKeyPair(source.keyType ?? 'p256');
}

function finish(der: Uint8Array, privateKey?: KeyObject): IssuedCertificate {
  const certificate = parseCertificate(der);
  return privateKey ? { der, certificate, privateKey } : { der, certificate };
}

/** The CA's private key must belong to its certificate, or everything it signs is junk. */
function assertKeyMatches(authority: CertificateAuthority): void {
  if (Buffer.compare(spkiOf(authority.privateKey), authority.certificate.spki) !== 0) {
    throw new PkiError('INVALID_REQUEST', `the CA key does not belong to ${authority.certificate.subject.text}`);
  }
}

// ---------------------------------------------------------------------------

export interface RootOptions extends ValidityRequest, KeySource {
  subject: SubjectInput;
  /** DNS names for the root's SAN (the CMMS roots carry one, e.g. dev.halo-cmm.org). */
  hostNames?: readonly string[];
  pathLength?: number;
  nameConstraints?: NameConstraintsInput;
  /** Sign with this existing key (or token signer) instead of generating one. */
  privateKey?: SigningKey;
  clock: Clock;
}

/** A self-signed root: basicConstraints critical CA, KU keyCertSign + cRLSign + digitalSignature, AKID = SKID. */
export function initRoot(options: RootOptions & { privateKey: KeySigner }): Omit<IssuedCertificate, 'privateKey'> & { privateKey: KeySigner };
export function initRoot(options: RootOptions & { privateKey?: KeyObject }): IssuedCertificate & { privateKey: KeyObject };
export function initRoot(options: RootOptions): Omit<IssuedCertificate, 'privateKey'> & { privateKey: SigningKey };
export function initRoot(options: RootOptions): Omit<IssuedCertificate, 'privateKey'> & { privateKey: SigningKey } {
  const keys = options.privateKey
    ? { privateKey: options.privateKey, publicKey: publicKeyOfSigner(options.privateKey) }
    : generateKeyPair(options.keyType ?? 'p256');
  const privateKey = keys.privateKey;
  const spki = spkiOf(keys.publicKey);
  const skid = subjectKeyIdentifierOf(spki);
  const subject = subjectDer(options.subject);
  const { notBefore, notAfter } = resolveValidity(options, DEFAULT_DAYS.root, options.clock.now(), undefined);
  if (options.pathLength !== undefined && (!Number.isSafeInteger(options.pathLength) || options.pathLength < 0)) {
    throw new PkiError('INVALID_REQUEST', 'path length must be a non-negative integer');
  }
  const extensions = [
    basicConstraints(true, options.pathLength),
    keyUsage(CA_KEY_USAGE),
    subjectKeyIdentifier(skid),
    authorityKeyIdentifier(skid),
  ];
  if (options.hostNames?.length) extensions.push(subjectAltName(options.hostNames.map((value) => ({ type: 'dns', value }))));
  if (options.nameConstraints) extensions.push(nameConstraints(options.nameConstraints));
  const der = buildCertificate(
    { serialNumber: randomSerial(), issuer: subject, subject, notBefore, notAfter, subjectPublicKeyInfo: spki, extensions },
    privateKey,
  );
  return { der, certificate: parseCertificate(der), privateKey };
}

export interface IntermediateOptions extends ValidityRequest, KeySource {
  subject: SubjectInput;
  pathLength?: number;
  nameConstraints?: NameConstraintsInput;
  hostNames?: readonly string[];
  clipToIssuer?: boolean;
  clock: Clock;
}

/** An intermediate CA under `issuer`, with a path length that fits the issuer's. */
export function issueIntermediate(issuer: CertificateAuthority, options: IntermediateOptions): IssuedCertificate {
  const now = options.clock.now();
  assertKeyMatches(issuer);
  assertCanIssue(issuer.certificate, now);
  const pathLength = childPathLength(issuer.certificate, options.pathLength);
  const subject = subjectDer(options.subject);
  const altNames: GeneralNameInput[] = (options.hostNames ?? []).map((value) => ({ type: 'dns', value }));
  assertWithinNameConstraints([issuer.certificate, ...(issuer.chain ?? [])], subject, altNames);
  const { notBefore, notAfter } = resolveValidity(options, DEFAULT_DAYS.intermediate, now, issuer.certificate, options.clipToIssuer);
  const keys = keyFor(options);
  assertAcceptableKey(keys.publicKey);
  const spki = spkiOf(keys.publicKey);
  const extensions = [
    basicConstraints(true, pathLength),
    keyUsage(CA_KEY_USAGE),
    subjectKeyIdentifier(subjectKeyIdentifierOf(spki)),
    authorityKeyIdentifier(issuerKeyIdentifier(issuer.certificate)),
  ];
  if (altNames.length) extensions.push(subjectAltName(altNames));
  if (options.nameConstraints) extensions.push(nameConstraints(options.nameConstraints));
  const der = buildCertificate(
    { serialNumber: randomSerial(), issuer: issuer.certificate.subject.der, subject, notBefore, notAfter, subjectPublicKeyInfo: spki, extensions },
    issuer.privateKey,
  );
  return finish(der, keys.privateKey);
}

export interface CrossSignOptions extends ValidityRequest {
  clipToIssuer?: boolean;
  clock: Clock;
}

/**
 * Certifies `newRoot`'s subject and key under `issuer` (the old root), so
 * relying parties that trust only the old root accept chains from the new
 * one during a rotation overlap. The extensions of the new root are kept
 * (same SKID, so either certificate can sit above the new root's leaves);
 * only the AKID changes. By default the window is the new root's, cut to
 * the old root's.
 */
export function crossSign(issuer: CertificateAuthority, newRoot: Certificate, options: CrossSignOptions): IssuedCertificate {
  const now = options.clock.now();
  assertKeyMatches(issuer);
  assertCanIssue(issuer.certificate, now);
  if (!newRoot.basicConstraints?.ca) throw new PkiError('POLICY_VIOLATION', `${newRoot.subject.text} is not a CA certificate`);
  if (!newRoot.isSelfIssued || !selfSignatureValid(newRoot)) {
    throw new PkiError('POLICY_VIOLATION', `${newRoot.subject.text} is not a self-signed root (its own signature does not verify)`);
  }
  childPathLength(issuer.certificate, newRoot.basicConstraints.pathLenConstraint ?? undefined);
  assertWithinNameConstraints([issuer.certificate, ...(issuer.chain ?? [])], newRoot.subject.der, []);
  const explicit = options.days !== undefined || options.notBefore !== undefined;
  const window = explicit
    ? resolveValidity(options, DEFAULT_DAYS.root, now, issuer.certificate, options.clipToIssuer)
    : resolveValidity({ notBefore: newRoot.notBefore, notAfter: newRoot.notAfter }, DEFAULT_DAYS.root, now, issuer.certificate, true);
  const extensions: Uint8Array[] = [];
  for (const [oid, ext] of newRoot.extensions) {
    if (oid === ExtensionOid.AUTHORITY_KEY_IDENTIFIER) continue;
    extensions.push(extension(oid, ext.critical, ext.value));
  }
  if (!newRoot.extensions.has(ExtensionOid.SUBJECT_KEY_IDENTIFIER)) {
    extensions.push(subjectKeyIdentifier(subjectKeyIdentifierOf(newRoot.spki)));
  }
  extensions.push(authorityKeyIdentifier(issuerKeyIdentifier(issuer.certificate)));
  const der = buildCertificate(
    {
      serialNumber: randomSerial(),
      issuer: issuer.certificate.subject.der,
      subject: newRoot.subject.der,
      ...window,
      subjectPublicKeyInfo: newRoot.spki,
      extensions,
    },
    issuer.privateKey,
  );
  return finish(der);
}

function selfSignatureValid(cert: Certificate): boolean {
  try {
    const x = new X509Certificate(Buffer.from(cert.der));
    return x.verify(x.publicKey);
  } catch {
    return false;
  }
}

export interface LeafOptions extends ValidityRequest, KeySource {
  profile: LeafProfile;
  /** Required unless a CSR gives one. */
  subject?: SubjectInput;
  csr?: CertificationRequest;
  /** Copy the SANs the CSR asks for (added to `altNames`). Off by default: the CA decides names. */
  copyCsrAltNames?: boolean;
  altNames?: readonly GeneralNameInput[];
  clipToIssuer?: boolean;
  clock: Clock;
}

/**
 * A leaf under `issuer` for one of the profiles. The key comes from the CSR
 * (whose self-signature `parseCsr` has checked), from `publicKey`, or is
 * generated (then returned as `privateKey`).
 */
export function issueLeaf(issuer: CertificateAuthority, options: LeafOptions): IssuedCertificate {
  const now = options.clock.now();
  assertKeyMatches(issuer);
  assertCanIssue(issuer.certificate, now);
  if (options.csr && options.publicKey) throw new PkiError('INVALID_REQUEST', 'give a CSR or a public key, not both');
  const keys = options.csr ? { publicKey: options.csr.publicKey } : keyFor(options);
  assertAcceptableKey(keys.publicKey);
  const subject = options.subject !== undefined ? subjectDer(options.subject) : options.csr?.subject.der;
  if (!subject) throw new PkiError('INVALID_REQUEST', 'a leaf needs a subject (from the CSR or given)');
  const altNames = [...(options.altNames ?? []), ...(options.copyCsrAltNames ? (options.csr?.requestedAltNames ?? []) : [])];
  const usage = profileUsage(options.profile, keys.publicKey);
  if (usage.requiresAltName && !altNames.some((n) => n.type === 'dns' || n.type === 'ip')) {
    throw new PkiError('INVALID_REQUEST', `profile ${options.profile} needs at least one DNS or IP subject alternative name`);
  }
  const emptySubject = subject.length === 2;
  if (emptySubject && altNames.length === 0) throw new PkiError('INVALID_REQUEST', 'a leaf with an empty subject needs a subject alternative name');
  assertWithinNameConstraints([issuer.certificate, ...(issuer.chain ?? [])], subject, altNames);
  const { notBefore, notAfter } = resolveValidity(options, DEFAULT_DAYS.leaf, now, issuer.certificate, options.clipToIssuer);
  const spki = spkiOf(keys.publicKey);
  const extensions = [basicConstraints(false), keyUsage(usage.keyUsage)];
  if (usage.extKeyUsage) extensions.push(extendedKeyUsage(usage.extKeyUsage));
  extensions.push(subjectKeyIdentifier(subjectKeyIdentifierOf(spki)), authorityKeyIdentifier(issuerKeyIdentifier(issuer.certificate)));
  // §4.2.1.6: the SAN is critical when the subject is empty.
  if (altNames.length) extensions.push(subjectAltName(altNames, emptySubject));
  const der = buildCertificate(
    { serialNumber: randomSerial(), issuer: issuer.certificate.subject.der, subject, notBefore, notAfter, subjectPublicKeyInfo: spki, extensions },
    issuer.privateKey,
  );
  return finish(der, 'privateKey' in keys ? keys.privateKey : undefined);
}
