/**
 * X.509 v3 certificate parsing (RFC 5280 §4). The parser is strict where the
 * RFC says a certificate MUST be rejected (encoding, versions, duplicate or
 * misplaced extensions, malformed extension values, bad serials) and cheap
 * otherwise: it only slices the input, so parsing a bundle of roots costs
 * little. Path-level rules (CA bits, key usage on issuers, name constraints)
 * live in the validator.
 *
 * Every failure is `PkiError('CERT_MALFORMED')`, whatever the input.
 */
import {
  sha256Hex,
  type AlgorithmIdentifier,
  readAlgorithmIdentifier,
  readFileBytes,
  type DerNode,
  DerError,
  Tag,
  TagClass,
  children,
  expectUniversal,
  integerBytes,
  isContext,
  isUniversal,
  parse,
  readBitString,
  readBoolean,
  readInteger,
  readOctetString,
  readOid,
  readTime,
  sequence,
} from '../lib/index.js';
import { type Name, decodeName, namesEqual } from './name.js';
import { type DecodedExtensions, type Extension, decodeExtensions } from './extensions.js';
import { OID } from './oids.js';
import { PkiError } from './errors.js';
import { decodeStrictly, readDerBlocks } from './strict-decode.js';

export type { Name, NameAttribute } from './name.js';
export { KEY_USAGE_BITS, OID, type KeyUsage } from './oids.js';
export type { AuthorityKeyIdentifierDetails, BasicConstraints, Extension, NameConstraints } from './extensions.js';
export type { GeneralName } from './general-name.js';
export type { AlgorithmIdentifier } from '../lib/index.js';

export interface Certificate extends DecodedExtensions {
  readonly der: Uint8Array;
  /** The tbsCertificate element, as signed. */
  readonly tbs: Uint8Array;
  /** 1, 2 or 3. */
  readonly version: number;
  readonly serialNumber: bigint;
  /** Serial as lower-case hex of its magnitude (no leading zero byte). */
  readonly serialHex: string;
  /** Octets in the serial's DER encoding (RFC 5280 allows at most 20). */
  readonly serialLength: number;
  readonly signatureAlgorithm: AlgorithmIdentifier;
  readonly signatureValue: Uint8Array;
  readonly issuer: Name;
  readonly subject: Name;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Uint8Array;
  /** The subjectPublicKey BIT STRING contents (an EC point, an RSAPublicKey, ...). */
  readonly publicKeyBytes: Uint8Array;
  readonly publicKeyAlgorithm: string;
  /** The named curve OID for EC keys; absent for explicit parameters. */
  readonly publicKeyCurve?: string;
  /** The SPKI algorithm parameters element, when present. */
  readonly publicKeyParameters?: Uint8Array;
  readonly extensions: ReadonlyMap<string, Extension>;
  /** SHA-256 of the DER, lower-case hex. */
  readonly fingerprintSha256: string;
  /** Subject and issuer are the same name (RFC 5280 §6.1: self-issued). */
  readonly isSelfIssued: boolean;
}

/** Parses one DER certificate. Throws `PkiError('CERT_MALFORMED')` on any problem. */
export function parseCertificate(der: Uint8Array): Certificate {
  return decodeStrictly('CERT_MALFORMED', 'certificate', () => decode(der));
}

/** Parses a PEM bundle (any number of CERTIFICATE blocks) or a single DER certificate. */
export function parseCertificates(bytes: Uint8Array): Certificate[] {
  return readDerBlocks(bytes, ['CERTIFICATE'], 'CERT_MALFORMED', 'certificate bundle').map(parseCertificate);
}

/** `parseCertificates` of bytes read from `path`; a failure names the file. */
export function parseCertificatesFrom(bytes: Uint8Array, path: string): Certificate[] {
  try {
    return parseCertificates(bytes);
  } catch (err) {
    if (err instanceof PkiError) throw new PkiError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** `parseCertificates` of a file; a failure names the file (`what` names it when missing). */
export function readCertificatesFile(path: string, what = 'certificate'): Certificate[] {
  return parseCertificatesFrom(readFileBytes(path, what), path);
}

/**
 * Reads `Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension`, as certificates,
 * CRLs and CRL entries carry them; an extension may appear only once.
 */
export function readExtensions(node: DerNode | undefined, what: string): Map<string, Extension> {
  const out = new Map<string, Extension>();
  const list = sequence(node, what);
  if (list.length === 0) throw new DerError(`${what} must not be empty`);
  for (const ext of list) {
    const parts = sequence(ext, 'Extension');
    const oid = readOid(parts[0], 'extnID');
    let critical = false;
    let idx = 1;
    if (parts[1] && isUniversal(parts[1], Tag.BOOLEAN)) {
      critical = readBoolean(parts[1], 'critical');
      idx = 2;
    }
    const value = readOctetString(parts[idx], 'extnValue');
    if (parts.length !== idx + 1) throw new DerError('Extension has too many fields');
    if (out.has(oid)) throw new DerError(`duplicate extension ${oid}`);
    out.set(oid, { critical, value });
  }
  return out;
}

function sameAlgorithm(a: AlgorithmIdentifier, b: AlgorithmIdentifier): boolean {
  if (a.oid !== b.oid) return false;
  if (!a.parameters || !b.parameters) return !a.parameters && !b.parameters;
  return Buffer.from(a.parameters).equals(b.parameters);
}

function evenHex(n: bigint): string {
  const h = n.toString(16);
  return h.length % 2 ? '0' + h : h;
}

/** A signed structure's to-be-signed fields, signature algorithm and signature (RFC 5280 §4.1.1, §5.1.1). */
export interface SignedParts {
  /** The whole structure, exactly as encoded. */
  readonly der: Uint8Array;
  /** The to-be-signed element, as signed. */
  readonly tbs: Uint8Array;
  readonly tbsFields: DerNode[];
  readonly algorithmNode: DerNode;
  readonly signatureNode: DerNode;
}

/** Splits `SEQUENCE { tbs SEQUENCE, signatureAlgorithm, signatureValue BIT STRING }`, as certificates and CRLs share it. */
export function readSigned(der: Uint8Array, what: string, tbsWhat: string): SignedParts {
  const root = parse(der);
  const [tbsNode, algorithmNode, signatureNode, extra] = sequence(root, what);
  if (extra || !signatureNode) throw new DerError(`${what} must have three fields`);
  const tbsFields = sequence(tbsNode, tbsWhat);
  return { der: root.bytes, tbs: tbsNode!.bytes, tbsFields, algorithmNode: algorithmNode!, signatureNode };
}

/** The signatureValue octets; a signature is whole octets. */
export function readSignatureValue(node: DerNode): Uint8Array {
  const sig = readBitString(node, 'signatureValue');
  if (sig.unusedBits !== 0) throw new DerError('signatureValue must be whole octets');
  return sig.bytes;
}

function decode(der: Uint8Array): Certificate {
  const signed = readSigned(der, 'Certificate', 'TBSCertificate');
  const fields = signed.tbsFields;
  let i = 0;
  let version = 1;
  const first = fields[0];
  if (first && isContext(first, 0)) {
    if (!first.constructed) throw new DerError('version must be [0] EXPLICIT');
    const inner = children(first);
    if (inner.length !== 1) throw new DerError('version must hold one INTEGER');
    const v = readInteger(inner[0], 'version');
    if (v !== 1n && v !== 2n) {
      // v1 is the DEFAULT and must be omitted in DER; anything above v3 is unknown.
      throw new DerError(v === 0n ? 'explicit v1 version is not DER' : `unsupported version ${v + 1n}`);
    }
    version = Number(v) + 1;
    i++;
  }
  const serialNode = expectUniversal(fields[i++], Tag.INTEGER, 'serialNumber');
  const serialLength = integerBytes(serialNode, 'serialNumber').length;
  const serialNumber = readInteger(serialNode, 'serialNumber');
  // RFC 5280 §4.1.2.2 (positive, at most 20 octets) is enforced by the
  // validator on issued certificates: real trust anchors break it (serial 0).
  const tbsSignature = readAlgorithmIdentifier(fields[i++], 'signature');
  const issuer = decodeName(expectUniversal(fields[i++], Tag.SEQUENCE, 'issuer'));
  const [nbNode, naNode, vExtra] = sequence(fields[i++], 'validity');
  if (vExtra) throw new DerError('validity has too many fields');
  const notBefore = readTime(nbNode, 'notBefore');
  const notAfter = readTime(naNode, 'notAfter');
  checkTimeForm(nbNode!, notBefore, 'notBefore');
  checkTimeForm(naNode!, notAfter, 'notAfter');
  const subject = decodeName(expectUniversal(fields[i++], Tag.SEQUENCE, 'subject'));
  const spkiNode = fields[i++];
  const [keyAlgNode, keyBitsNode, spkiExtra] = sequence(spkiNode, 'subjectPublicKeyInfo');
  if (spkiExtra) throw new DerError('subjectPublicKeyInfo has too many fields');
  const keyAlg = readAlgorithmIdentifier(keyAlgNode, 'subjectPublicKeyInfo');
  const keyBits = readBitString(keyBitsNode, 'subjectPublicKey');
  if (keyBits.unusedBits !== 0) throw new DerError('subjectPublicKey must be whole octets');
  let publicKeyCurve: string | undefined;
  if (keyAlg.oid === OID.ecPublicKey && keyAlg.parameters) {
    const p = parse(keyAlg.parameters);
    if (isUniversal(p, Tag.OID)) publicKeyCurve = readOid(p, 'namedCurve');
  }

  let extensionsNode: DerNode | undefined;
  for (; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.cls !== TagClass.CONTEXT) throw new DerError('unexpected field in TBSCertificate');
    if ((f.tag === 1 || f.tag === 2) && !extensionsNode) {
      if (version < 2) throw new DerError('unique identifiers need version 2 or 3');
      continue;
    }
    if (f.tag === 3 && !extensionsNode) {
      if (version !== 3) throw new DerError('extensions need version 3');
      extensionsNode = f;
      continue;
    }
    throw new DerError('unexpected or misordered field in TBSCertificate');
  }

  const signatureAlgorithm = readAlgorithmIdentifier(signed.algorithmNode, 'signatureAlgorithm');
  if (!sameAlgorithm(signatureAlgorithm, tbsSignature)) {
    throw new DerError('signatureAlgorithm differs from the TBSCertificate signature field');
  }
  const signatureValue = readSignatureValue(signed.signatureNode);

  let extensions = new Map<string, Extension>();
  if (extensionsNode) {
    if (!extensionsNode.constructed) throw new DerError('extensions must be [3] EXPLICIT');
    const inner = children(extensionsNode);
    if (inner.length !== 1) throw new DerError('extensions must hold one SEQUENCE');
    extensions = readExtensions(inner[0], 'Extensions');
  }

  // One object written in place (no spreads): certificates are made by the thousand and read on every path.
  const cert: { -readonly [K in keyof Certificate]: Certificate[K] } = {
    der: signed.der,
    tbs: signed.tbs,
    version,
    serialNumber,
    serialHex: evenHex(serialNumber < 0n ? -serialNumber : serialNumber),
    serialLength,
    signatureAlgorithm,
    signatureValue,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: spkiNode!.bytes,
    publicKeyBytes: keyBits.bytes,
    publicKeyAlgorithm: keyAlg.oid,
    extensions,
    fingerprintSha256: sha256Hex(signed.der),
    isSelfIssued: namesEqual(subject, issuer),
  };
  if (publicKeyCurve !== undefined) cert.publicKeyCurve = publicKeyCurve;
  if (keyAlg.parameters) cert.publicKeyParameters = keyAlg.parameters;
  Object.assign(cert, decodeExtensions(extensions, subject));
  return cert;
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function checkTimeForm(node: DerNode, t: Date, what: string): void {
  const year = t.getUTCFullYear();
  if (node.tag === Tag.GENERALIZED_TIME && year >= 1950 && year < 2050) {
    throw new DerError(`${what} must be UTCTime before 2050`);
  }
}
