/**
 * DER encoders for the X.509 v3 extensions (RFC 5280 §4.2) and CRL
 * extensions (§5.2, §5.3) the CA writes. Each returns a whole `Extension`
 * SEQUENCE, so a builder only has to list them.
 */
import { encode, tlv } from '../lib/index.js';
import { encodeConstraintBase, encodeGeneralName, type GeneralNameInput } from './ca-general-names.js';
import { KEY_USAGE_BITS, type KeyUsage, OID } from './certificate.js';
import { CRL_REASONS, type CrlReason } from './crl.js';

/** The extensions the CA writes, named as builders call them; the OIDs are the parser's (`OID`). */
export const ExtensionOid = {
  SUBJECT_KEY_IDENTIFIER: OID.subjectKeyIdentifier,
  KEY_USAGE: OID.keyUsage,
  SUBJECT_ALT_NAME: OID.subjectAltName,
  BASIC_CONSTRAINTS: OID.basicConstraints,
  CRL_NUMBER: OID.cRLNumber,
  CRL_REASON: OID.cRLReason,
  NAME_CONSTRAINTS: OID.nameConstraints,
  AUTHORITY_KEY_IDENTIFIER: OID.authorityKeyIdentifier,
  EXT_KEY_USAGE: OID.extKeyUsage,
} as const;

/** The extended key usages a profile may ask for. */
export const EkuOid = {
  serverAuth: OID.serverAuth,
  clientAuth: OID.clientAuth,
  codeSigning: OID.codeSigning,
  emailProtection: OID.emailProtection,
  timeStamping: OID.timeStamping,
  ocspSigning: OID.ocspSigning,
} as const;

export type ExtendedKeyUsage = keyof typeof EkuOid;

const oidCache = new Map<string, Uint8Array>();

/** An encoded OBJECT IDENTIFIER, memoized: the same dozen OIDs appear in every certificate. */
export function oid(dotted: string): Uint8Array {
  let der = oidCache.get(dotted);
  if (!der) {
    der = encode.oid(dotted);
    if (oidCache.size < 1024) oidCache.set(dotted, der);
  }
  return der;
}

export function extension(extnId: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical
    ? encode.sequence(oid(extnId), encode.boolean(true), encode.octetString(value))
    : encode.sequence(oid(extnId), encode.octetString(value));
}

/** cA is omitted when false (DER leaves out DEFAULT values); critical on CAs per §4.2.1.9. */
export function basicConstraints(ca: boolean, pathLength?: number): Uint8Array {
  const items: Uint8Array[] = [];
  if (ca) items.push(encode.boolean(true));
  if (ca && pathLength !== undefined) items.push(encode.integer(pathLength));
  return extension(ExtensionOid.BASIC_CONSTRAINTS, ca, encode.sequence(...items));
}

/** A named-bit BIT STRING with trailing zero bits removed, as DER requires. */
export function keyUsage(usages: readonly KeyUsage[]): Uint8Array {
  const bits = new Set(usages.map((u) => KEY_USAGE_BITS.indexOf(u)));
  const highest = Math.max(...bits);
  const bytes = new Uint8Array((highest >> 3) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  const unused = 7 - (highest & 7);
  return extension(ExtensionOid.KEY_USAGE, true, encode.bitString(bytes, unused));
}

export function extendedKeyUsage(usages: readonly ExtendedKeyUsage[]): Uint8Array {
  return extension(ExtensionOid.EXT_KEY_USAGE, false, encode.sequence(...usages.map((u) => oid(EkuOid[u]))));
}

/** Critical when the subject is empty (§4.2.1.6), which the CA never issues. */
export function subjectAltName(names: readonly GeneralNameInput[], critical = false): Uint8Array {
  return extension(ExtensionOid.SUBJECT_ALT_NAME, critical, encode.sequence(...names.map(encodeGeneralName)));
}

export function subjectKeyIdentifier(keyId: Uint8Array): Uint8Array {
  return extension(ExtensionOid.SUBJECT_KEY_IDENTIFIER, false, encode.octetString(keyId));
}

/** keyIdentifier only: issuer name + serial would pin the issuer certificate and break cross-signing. */
export function authorityKeyIdentifier(keyId: Uint8Array): Uint8Array {
  return extension(ExtensionOid.AUTHORITY_KEY_IDENTIFIER, false, encode.sequence(encode.implicitPrimitive(0, keyId)));
}

/** Names to constrain, in the CA's input form (the parsed form is `certificate.ts`'s `NameConstraints`). */
export interface NameConstraintsInput {
  permitted?: readonly GeneralNameInput[];
  excluded?: readonly GeneralNameInput[];
}

/** Always critical (§4.2.1.10). */
export function nameConstraints(constraints: NameConstraintsInput): Uint8Array {
  const subtrees = (names: readonly GeneralNameInput[]) => names.map((n) => encode.sequence(encodeConstraintBase(n)));
  const items: Uint8Array[] = [];
  if (constraints.permitted?.length) items.push(encode.implicitConstructed(0, ...subtrees(constraints.permitted)));
  if (constraints.excluded?.length) items.push(encode.implicitConstructed(1, ...subtrees(constraints.excluded)));
  return extension(ExtensionOid.NAME_CONSTRAINTS, true, encode.sequence(...items));
}

export function crlNumber(n: bigint): Uint8Array {
  return extension(ExtensionOid.CRL_NUMBER, false, encode.integer(n));
}

/** The reason's code is its index in the parser's table (§5.3.1). */
export function crlReason(reason: CrlReason): Uint8Array {
  return extension(ExtensionOid.CRL_REASON, false, tlv(0x0a, Uint8Array.of(CRL_REASONS.indexOf(reason))));
}
