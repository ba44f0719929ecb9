/**
 * Decoding of the certificate extensions the validator reads (RFC 5280
 * §4.2): each value is decoded strictly into the certificate's typed fields,
 * and the extensions that only need a well-formed value are checked. A
 * malformed value is `PkiError('CERT_MALFORMED')` naming the extension.
 * `extensions-builder.ts` is the encoding side.
 */
import {
  DerError,
  Tag,
  TagClass,
  children,
  expectUniversal,
  integerBytes,
  isUniversal,
  parse,
  readBitString,
  readBoolean,
  readInteger,
  readOctetString,
  readOid,
  sequence,
} from '../lib/index.js';
import { PkiError } from './errors.js';
import { type GeneralName, decodeGeneralName, decodeGeneralNames } from './general-name.js';
import { type Name } from './name.js';
import { KEY_USAGE_BITS, type KeyUsage, OID } from './oids.js';

function malformed(message: string, cause?: unknown): PkiError {
  return new PkiError('CERT_MALFORMED', message, cause === undefined ? undefined : { cause });
}

export interface Extension {
  readonly critical: boolean;
  /** The extnValue OCTET STRING contents (the DER of the extension's own type). */
  readonly value: Uint8Array;
}

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLenConstraint?: number;
}

export interface NameConstraints {
  readonly permitted: GeneralName[];
  readonly excluded: GeneralName[];
}

/** The whole authorityKeyIdentifier, for the checks that look past the key id. */
export interface AuthorityKeyIdentifierDetails {
  readonly keyIdentifier?: Uint8Array;
  readonly authorityCertIssuer?: readonly GeneralName[];
  readonly authorityCertSerialNumber?: bigint;
}

/** The certificate fields decoded from its extensions. */
export interface DecodedExtensions {
  readonly basicConstraints?: BasicConstraints;
  readonly keyUsage?: ReadonlySet<KeyUsage>;
  readonly extKeyUsage?: readonly string[];
  readonly subjectAltNames?: readonly GeneralName[];
  readonly subjectKeyIdentifier?: Uint8Array;
  /** The `[0]` keyIdentifier of authorityKeyIdentifier only (absent if `[0]` is). */
  readonly authorityKeyIdentifier?: Uint8Array;
  readonly authorityKeyIdentifierDetails?: AuthorityKeyIdentifierDetails;
  readonly nameConstraints?: NameConstraints;
}

type Decoded = { -readonly [K in keyof DecodedExtensions]?: DecodedExtensions[K] };

/** Sets `key` when there is a value: absent extensions leave no key behind. */
function put<K extends keyof Decoded>(out: Decoded, key: K, value: Decoded[K] | undefined): void {
  if (value !== undefined) out[key] = value;
}

/** Decodes the extensions of a certificate with `subject` into its typed fields; throws `CERT_MALFORMED`. */
export function decodeExtensions(exts: Map<string, Extension>, subject: Name): Decoded {
  const out: Decoded = {};

  put(out, 'basicConstraints', within(exts, OID.basicConstraints, decodeBasicConstraints, subject));
  put(out, 'keyUsage', within(exts, OID.keyUsage, decodeKeyUsage, subject));
  put(out, 'extKeyUsage', within(exts, OID.extKeyUsage, decodeExtKeyUsage, subject));
  put(out, 'subjectAltNames', within(exts, OID.subjectAltName, decodeSubjectAltName, subject));
  put(out, 'subjectKeyIdentifier', within(exts, OID.subjectKeyIdentifier, decodeSubjectKeyIdentifier, subject));
  put(out, 'authorityKeyIdentifierDetails', within(exts, OID.authorityKeyIdentifier, decodeAuthorityKeyIdentifier, subject));
  put(out, 'authorityKeyIdentifier', out.authorityKeyIdentifierDetails?.keyIdentifier);
  put(out, 'nameConstraints', within(exts, OID.nameConstraints, decodeNameConstraints, subject));
  within(exts, OID.authorityInfoAccess, decodeAuthorityInfoAccess, subject);
  within(exts, OID.subjectInfoAccess, decodeSubjectInfoAccess, subject);
  within(exts, OID.policyConstraints, decodePolicyConstraints, subject);
  within(exts, OID.certificatePolicies, decodeCertificatePolicies, subject);

  return out;
}

/** Decodes extension `oid`, when present, with `decode`; a failure is `CERT_MALFORMED` naming the extension. */
function within<T>(exts: Map<string, Extension>, oid: string, decode: (value: Uint8Array, critical: boolean, subject: Name) => T, subject: Name): T | undefined {
  const ext = exts.get(oid);
  if (!ext) return undefined;
  try {
    return decode(ext.value, ext.critical, subject);
  } catch (err) {
    const detail = err instanceof DerError ? err.message : String(err);
    throw malformed(`extension ${oid} is malformed: ${detail}`, err);
  }
}

function decodeBasicConstraints(v: Uint8Array): BasicConstraints {
  const parts = sequence(parse(v), 'BasicConstraints');
  let ca = false;
  let idx = 0;
  if (parts[0] && isUniversal(parts[0], Tag.BOOLEAN)) {
    ca = readBoolean(parts[0], 'cA');
    idx = 1;
  }
  let pathLenConstraint: number | undefined;
  if (parts[idx]) {
    const n = readInteger(parts[idx], 'pathLenConstraint');
    if (n < 0n) throw new DerError('pathLenConstraint must not be negative');
    pathLenConstraint = n > 1_000_000n ? 1_000_000 : Number(n);
    idx++;
  }
  if (parts.length !== idx) throw new DerError('BasicConstraints has too many fields');
  return pathLenConstraint === undefined ? { ca } : { ca, pathLenConstraint };
}

function decodeKeyUsage(v: Uint8Array): Set<KeyUsage> {
  const { bytes } = readBitString(parse(v), 'KeyUsage');
  const set = new Set<KeyUsage>();
  for (let bit = 0; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) {
      const name = KEY_USAGE_BITS[bit];
      if (name) set.add(name);
    }
  }
  if (set.size === 0) throw new DerError('KeyUsage has no bit set');
  return set;
}

function decodeExtKeyUsage(v: Uint8Array): string[] {
  const list = sequence(parse(v), 'ExtKeyUsageSyntax').map((n) => readOid(n, 'KeyPurposeId'));
  if (list.length === 0) throw new DerError('ExtKeyUsageSyntax must not be empty');
  return list;
}

function decodeSubjectAltName(v: Uint8Array, critical: boolean, subject: Name): GeneralName[] {
  const names = decodeGeneralNames(expectUniversal(parse(v), Tag.SEQUENCE, 'GeneralNames'));
  // §4.2.1.6: an empty subject needs a critical subjectAltName.
  if (subject.rdns.length === 0 && !critical) throw new DerError('subjectAltName must be critical when the subject is empty');
  return names;
}

function decodeSubjectKeyIdentifier(v: Uint8Array, critical: boolean): Uint8Array {
  if (critical) throw new DerError('subjectKeyIdentifier must not be critical');
  return readOctetString(parse(v), 'SubjectKeyIdentifier');
}

function decodeAuthorityKeyIdentifier(v: Uint8Array, critical: boolean): AuthorityKeyIdentifierDetails {
  if (critical) throw new DerError('authorityKeyIdentifier must not be critical');
  const details: { -readonly [K in keyof AuthorityKeyIdentifierDetails]: AuthorityKeyIdentifierDetails[K] } = {};
  let last = -1;
  for (const f of sequence(parse(v), 'AuthorityKeyIdentifier')) {
    if (f.cls !== TagClass.CONTEXT || f.tag > 2 || f.tag <= last) throw new DerError('bad AuthorityKeyIdentifier field');
    last = f.tag;
    if (f.tag === 0) {
      if (f.constructed) throw new DerError('keyIdentifier must be primitive');
      details.keyIdentifier = f.value;
    } else if (f.tag === 1) {
      if (!f.constructed) throw new DerError('authorityCertIssuer must be constructed');
      details.authorityCertIssuer = decodeGeneralNames(f);
    } else {
      if (f.constructed) throw new DerError('authorityCertSerialNumber must be primitive');
      integerBytes(f, 'authorityCertSerialNumber');
      let n = 0n;
      for (const b of f.value) n = (n << 8n) | BigInt(b);
      details.authorityCertSerialNumber = n;
    }
  }
  // §4.2.1.1: issuer and serial come together or not at all.
  if ((details.authorityCertIssuer === undefined) !== (details.authorityCertSerialNumber === undefined)) {
    throw new DerError('authorityCertIssuer and authorityCertSerialNumber must both be present or both absent');
  }
  return details;
}

function decodeNameConstraints(v: Uint8Array): NameConstraints {
  const nc: NameConstraints = { permitted: [], excluded: [] };
  let last = -1;
  for (const f of sequence(parse(v), 'NameConstraints')) {
    if (f.cls !== TagClass.CONTEXT || f.tag > 1 || f.tag <= last || !f.constructed) {
      throw new DerError('bad NameConstraints field');
    }
    last = f.tag;
    const subtrees = children(f);
    // §4.2.1.10: a present subtrees field holds at least one subtree.
    if (subtrees.length === 0) throw new DerError('GeneralSubtrees must not be empty');
    for (const st of subtrees) {
      const [base, ...rest] = sequence(st, 'GeneralSubtree');
      if (!base) throw new DerError('GeneralSubtree without a base');
      // §4.2.1.10: minimum is 0 (omitted in DER) and maximum is absent.
      if (rest.length > 0) throw new DerError('GeneralSubtree minimum/maximum must be absent');
      const name = decodeGeneralName(base, true);
      checkConstraintForm(name);
      (f.tag === 0 ? nc.permitted : nc.excluded).push(name);
    }
  }
  // §4.2.1.10: at least one of permittedSubtrees and excludedSubtrees.
  if (last < 0) throw new DerError('NameConstraints must not be empty');
  return nc;
}

function decodeAuthorityInfoAccess(v: Uint8Array, critical: boolean): void {
  if (critical) throw new DerError('authorityInfoAccess must not be critical');
  checkAccessDescriptions(v);
}

function decodeSubjectInfoAccess(v: Uint8Array, critical: boolean): void {
  if (critical) throw new DerError('subjectInfoAccess must not be critical');
  checkAccessDescriptions(v);
}

function decodePolicyConstraints(v: Uint8Array, critical: boolean): void {
  // §4.2.1.11: conforming CAs MUST mark this extension critical.
  if (!critical) throw new DerError('policyConstraints must be critical');
  const parts = sequence(parse(v), 'PolicyConstraints');
  if (parts.length === 0) throw new DerError('PolicyConstraints must not be empty');
}

function decodeCertificatePolicies(v: Uint8Array): void {
  if (sequence(parse(v), 'certificatePolicies').length === 0) throw new DerError('certificatePolicies must not be empty');
}

function checkAccessDescriptions(v: Uint8Array): void {
  const list = sequence(parse(v), 'AccessDescriptions');
  if (list.length === 0) throw new DerError('access descriptions must not be empty');
  for (const ad of list) {
    const [method, location, extra] = sequence(ad, 'AccessDescription');
    if (!location || extra) throw new DerError('AccessDescription must have two fields');
    readOid(method, 'accessMethod');
    decodeGeneralName(location);
  }
}

/** Constraint bases a validator can apply: reject forms RFC 5280 does not define. */
function checkConstraintForm(name: GeneralName): void {
  if (name.type === 'dns') {
    // A DNS constraint is a domain (RFC 5280 §4.2.1.10); no wildcard, no leading dot.
    if (name.value.includes('*')) throw new DerError('dNSName constraint must not contain a wildcard');
    if (name.value.startsWith('.')) throw new DerError('dNSName constraint must not start with a period');
  }
  if (name.type === 'email' && name.value.includes('@') && name.value.indexOf('@') !== name.value.lastIndexOf('@')) {
    throw new DerError('rfc822Name constraint has more than one @');
  }
}
