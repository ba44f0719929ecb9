/**
 * Certificate revocation lists (RFC 5280 §5): strict parsing, verification
 * against the issuing CA (§6.3.3: same issuer name, matching key identifier,
 * cRLSign when key usage is present, signature, thisUpdate not in the
 * future), and a `RevocationChecker` backed by a set of CRLs.
 *
 * Delta and indirect CRLs are not supported: a delta CRL is ignored, an
 * indirect one is refused.
 */
import {
  type AlgorithmIdentifier,
  readAlgorithmIdentifier,
  type DerNode,
  DerError,
  Tag,
  TagClass,
  children,
  expectUniversal,
  isUniversal,
  parse,
  readInteger,
  readTime,
  sequence,
} from '../lib/index.js';
import { verifySignature } from './algorithms.js';
import { type Certificate, type Extension, OID, readExtensions, readSignatureValue, readSigned } from './certificate.js';
import { PkiError } from './errors.js';
import { type Name, decodeName } from './name.js';
import { type RevocationChecker, type RevocationStatus } from './revocation.js';
import { decodeStrictly, readDerBlocks } from './strict-decode.js';

export type CrlReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** CRLReason values by code (7 is unused). */
export const CRL_REASONS: readonly (CrlReason | undefined)[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  undefined,
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

export function isCrlReason(value: string): value is CrlReason {
  return (CRL_REASONS as readonly (string | undefined)[]).includes(value);
}

export interface RevokedCertificate {
  readonly serialNumber: bigint;
  readonly revocationDate: Date;
  readonly reason?: CrlReason;
  readonly invalidityDate?: Date;
}

export interface IssuingDistributionPoint {
  readonly onlyContainsUserCerts: boolean;
  readonly onlyContainsCACerts: boolean;
  readonly hasOnlySomeReasons: boolean;
  readonly indirectCRL: boolean;
}

export interface Crl {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  /** 1 or 2. */
  readonly version: number;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signatureValue: Uint8Array;
  readonly issuer: Name;
  readonly thisUpdate: Date;
  readonly nextUpdate?: Date;
  /** Revoked entries by serial number. */
  readonly revoked: ReadonlyMap<bigint, RevokedCertificate>;
  readonly extensions: ReadonlyMap<string, Extension>;
  readonly crlNumber?: bigint;
  readonly authorityKeyIdentifier?: Uint8Array;
  readonly issuingDistributionPoint?: IssuingDistributionPoint;
  readonly isDelta: boolean;
}

/** Parses one DER CRL. Throws `PkiError('CRL_MALFORMED')` on any problem. */
export function parseCrl(der: Uint8Array): Crl {
  return decodeStrictly('CRL_MALFORMED', 'CRL', () => decode(der));
}

/** Parses a PEM bundle of `X509 CRL` blocks, or one DER CRL. */
export function parseCrls(bytes: Uint8Array): Crl[] {
  return readDerBlocks(bytes, ['X509 CRL'], 'CRL_MALFORMED', 'CRL file').map(parseCrl);
}

function isTime(node: DerNode | undefined): boolean {
  return !!node && node.cls === TagClass.UNIVERSAL && (node.tag === Tag.UTC_TIME || node.tag === Tag.GENERALIZED_TIME);
}

function decode(der: Uint8Array): Crl {
  const signed = readSigned(der, 'CertificateList', 'TBSCertList');
  const f = signed.tbsFields;
  let i = 0;
  let version = 1;
  if (f[0] && isUniversal(f[0], Tag.INTEGER)) {
    if (readInteger(f[0], 'version') !== 1n) throw new DerError('CRL version must be v2 when present');
    version = 2;
    i++;
  }
  const tbsAlg = readAlgorithmIdentifier(f[i++], 'signature');
  const issuer = decodeName(expectUniversal(f[i++], Tag.SEQUENCE, 'issuer'));
  const thisUpdate = readTime(f[i++], 'thisUpdate');
  let nextUpdate: Date | undefined;
  if (isTime(f[i])) nextUpdate = readTime(f[i++], 'nextUpdate');
  const revoked = new Map<bigint, RevokedCertificate>();
  if (f[i] && isUniversal(f[i]!, Tag.SEQUENCE)) {
    const entries = sequence(f[i++], 'revokedCertificates');
    if (entries.length === 0) throw new DerError('revokedCertificates must be omitted when empty');
    for (const e of entries) {
      const [serialNode, dateNode, extNode, more] = sequence(e, 'revoked certificate');
      if (more) throw new DerError('revoked certificate has too many fields');
      const serialNumber = readInteger(serialNode, 'userCertificate');
      const entry: { -readonly [K in keyof RevokedCertificate]: RevokedCertificate[K] } = {
        serialNumber,
        revocationDate: readTime(dateNode, 'revocationDate'),
      };
      if (extNode) {
        if (version !== 2) throw new DerError('entry extensions need a v2 CRL');
        for (const [oid, ext] of readExtensions(extNode, 'crlEntryExtensions')) {
          if (oid === OID.cRLReason) {
            const n = parse(ext.value);
            if (!isUniversal(n, Tag.ENUMERATED) || n.value.length !== 1) throw new DerError('bad CRLReason');
            const reason = CRL_REASONS[n.value[0]!];
            if (!reason) throw new DerError('unknown CRLReason code');
            entry.reason = reason;
          } else if (oid === OID.invalidityDate) {
            entry.invalidityDate = readTime(parse(ext.value), 'invalidityDate');
          } else if (ext.critical) {
            // certificateIssuer (indirect CRLs) and anything else we cannot apply.
            throw new DerError(`unsupported critical CRL entry extension ${oid}`);
          }
        }
      }
      if (revoked.has(serialNumber)) throw new DerError('serial listed twice');
      revoked.set(serialNumber, entry);
    }
  }
  let extensions = new Map<string, Extension>();
  const extField = f[i];
  if (extField && extField.cls === TagClass.CONTEXT && extField.tag === 0 && extField.constructed) {
    if (version !== 2) throw new DerError('crlExtensions need a v2 CRL');
    const inner = children(extField);
    if (inner.length !== 1) throw new DerError('crlExtensions must hold one SEQUENCE');
    extensions = readExtensions(inner[0]!, 'crlExtensions');
    i++;
  }
  if (i !== f.length) throw new DerError('unexpected field in TBSCertList');
  const signatureAlgorithm = readAlgorithmIdentifier(signed.algorithmNode, 'signatureAlgorithm');
  if (signatureAlgorithm.oid !== tbsAlg.oid) throw new DerError('signatureAlgorithm differs from the TBSCertList signature');
  const signatureValue = readSignatureValue(signed.signatureNode);

  let crlNumber: bigint | undefined;
  let authorityKeyIdentifier: Uint8Array | undefined;
  let issuingDistributionPoint: IssuingDistributionPoint | undefined;
  let isDelta = false;
  for (const [oid, ext] of extensions) {
    if (oid === OID.cRLNumber) {
      // §5.2.3: non-critical, a non-negative integer of at most 20 octets.
      if (ext.critical) throw new DerError('cRLNumber must not be critical');
      const node = expectUniversal(parse(ext.value), Tag.INTEGER, 'CRLNumber');
      crlNumber = readInteger(node, 'CRLNumber');
      if (crlNumber < 0n || node.value.length > 20) throw new DerError('CRLNumber is out of range');
    } else if (oid === OID.authorityKeyIdentifier) {
      if (ext.critical) throw new DerError('authorityKeyIdentifier must not be critical');
      for (const part of sequence(parse(ext.value), 'AuthorityKeyIdentifier')) {
        if (part.cls === TagClass.CONTEXT && part.tag === 0 && !part.constructed) authorityKeyIdentifier = part.value;
      }
    } else if (oid === OID.deltaCRLIndicator) {
      isDelta = true;
    } else if (oid === OID.issuingDistributionPoint) {
      issuingDistributionPoint = decodeIdp(ext.value);
    } else if (ext.critical && oid !== OID.freshestCRL) {
      throw new DerError(`unsupported critical CRL extension ${oid}`);
    }
  }
  // §5.2.3: conforming CRL issuers MUST include the CRL number.
  if (crlNumber === undefined) throw new DerError('CRL has no cRLNumber extension');

  return {
    der: signed.der,
    tbs: signed.tbs,
    version,
    signatureAlgorithm,
    signatureValue,
    issuer,
    thisUpdate,
    ...(nextUpdate ? { nextUpdate } : {}),
    revoked,
    extensions,
    crlNumber,
    ...(authorityKeyIdentifier ? { authorityKeyIdentifier } : {}),
    ...(issuingDistributionPoint ? { issuingDistributionPoint } : {}),
    isDelta,
  };
}

function decodeIdp(value: Uint8Array): IssuingDistributionPoint {
  const idp = { onlyContainsUserCerts: false, onlyContainsCACerts: false, hasOnlySomeReasons: false, indirectCRL: false };
  for (const part of sequence(parse(value), 'IssuingDistributionPoint')) {
    if (part.cls !== TagClass.CONTEXT) throw new DerError('bad IssuingDistributionPoint field');
    const flag = () => part.value.length === 1 && part.value[0] === 0xff;
    if (part.tag === 1) idp.onlyContainsUserCerts = flag();
    else if (part.tag === 2) idp.onlyContainsCACerts = flag();
    else if (part.tag === 3) idp.hasOnlySomeReasons = true;
    else if (part.tag === 4) idp.indirectCRL = flag();
  }
  return idp;
}

/**
 * Checks that `issuer` issued `crl` and that it is in force at `at`
 * (RFC 5280 §6.3.3 (a)-(b), (f)-(g)). Throws a `PkiError`.
 */
export function verifyCrl(crl: Crl, issuer: Certificate, at: Date): void {
  const subject = issuer.subject.text;
  const fail = (code: 'CRL_MALFORMED' | 'SIGNATURE_INVALID' | 'KEY_USAGE_MISMATCH', why: string) =>
    new PkiError(code, `CRL from ${crl.issuer.text}: ${why}`, { certificate: { subject } });
  if (crl.issuer.key !== issuer.subject.key) throw fail('CRL_MALFORMED', 'issuer name differs from the CA subject');
  if (crl.authorityKeyIdentifier && issuer.subjectKeyIdentifier && !Buffer.from(crl.authorityKeyIdentifier).equals(issuer.subjectKeyIdentifier)) {
    throw fail('CRL_MALFORMED', 'authority key identifier differs from the CA subject key identifier');
  }
  if (issuer.keyUsage && !issuer.keyUsage.has('cRLSign')) throw fail('KEY_USAGE_MISMATCH', 'the CA key usage lacks cRLSign');
  if (crl.issuingDistributionPoint?.indirectCRL) throw fail('CRL_MALFORMED', 'indirect CRLs are not supported');
  if (!verifySignature(crl.signatureAlgorithm, crl.tbs, crl.signatureValue, issuer)) {
    throw fail('SIGNATURE_INVALID', 'signature does not verify with the CA key');
  }
  if (crl.thisUpdate.getTime() > at.getTime()) throw fail('CRL_MALFORMED', 'thisUpdate is in the future');
}

/** True when `crl` is not yet past its nextUpdate at `at`. */
export function isCrlCurrent(crl: Crl, at: Date): boolean {
  return !crl.nextUpdate || at.getTime() <= crl.nextUpdate.getTime();
}

/** The status `crl` gives `cert` (the CRL already verified against the issuer). */
export function crlStatus(crl: Crl, cert: Certificate, at: Date): RevocationStatus {
  const idp = crl.issuingDistributionPoint;
  const isCa = cert.basicConstraints?.ca === true;
  if (idp && ((idp.onlyContainsCACerts && !isCa) || (idp.onlyContainsUserCerts && isCa) || idp.hasOnlySomeReasons)) return 'unknown';
  const entry = crl.revoked.get(cert.serialNumber);
  if (entry && entry.revocationDate.getTime() <= at.getTime()) {
    if (entry.reason === 'removeFromCRL') return isCrlCurrent(crl, at) ? 'good' : 'unknown';
    return entry.reason === 'certificateHold' ? 'hold' : 'revoked';
  }
  return isCrlCurrent(crl, at) ? 'good' : 'unknown';
}

/**
 * A `RevocationChecker` over a fixed set of CRLs. A certificate whose issuer
 * published no (complete) CRL here is 'unknown'; a CRL from its issuer that
 * does not verify makes `check` throw.
 */
export class CrlRevocationChecker implements RevocationChecker {
  readonly #byIssuer = new Map<string, Crl[]>();
  readonly #verified = new WeakMap<Crl, Set<string>>();

  constructor(crls: Iterable<Crl>) {
    for (const crl of crls) {
      if (crl.isDelta) continue;
      const list = this.#byIssuer.get(crl.issuer.key);
      if (list) list.push(crl);
      else this.#byIssuer.set(crl.issuer.key, [crl]);
    }
  }

  check(cert: Certificate, issuer: Certificate, at: Date): RevocationStatus {
    const crls = this.#byIssuer.get(cert.issuer.key);
    if (!crls) return 'unknown';
    let status: RevocationStatus = 'unknown';
    for (const crl of crls) {
      if (crl.thisUpdate.getTime() > at.getTime()) continue; // not yet in force
      let seen = this.#verified.get(crl);
      if (!seen?.has(issuer.fingerprintSha256)) {
        verifyCrl(crl, issuer, at);
        if (!seen) this.#verified.set(crl, (seen = new Set()));
        seen.add(issuer.fingerprintSha256);
      }
      const s = crlStatus(crl, cert, at);
      if (s === 'revoked' || s === 'hold') return s;
      if (s === 'good') status = 'good';
    }
    return status;
  }
}
