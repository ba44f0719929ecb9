/**
 * PKCS#10 certification requests (RFC 2986): building them from a key and a
 * subject, and parsing them with their self-signature checked (proof that
 * the requester holds the private key) before a CA looks at anything else.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import {
  DerError,
  type DerNode,
  children,
  encode,
  isContext,
  parse,
  readBitString,
  readBoolean,
  readOctetString,
  readOid,
  readSmallInteger,
  sequence,
  Tag,
  isUniversal,
  derBlocks,
} from '../lib/index.js';
import { verifyWithKey } from './algorithms.js';
import type { GeneralNameInput } from './ca-general-names.js';
import { PkiError } from './errors.js';
import { ExtensionOid, subjectAltName } from './extensions-builder.js';
import { formatIp, parseGeneralNames } from './general-name.js';
import { signatureSchemeFor, spkiOf } from './key-types.js';
import { type Name, parseName } from './name.js';

const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

export interface CertificationRequest {
  readonly der: Uint8Array;
  readonly subject: Name;
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly publicKey: KeyObject;
  readonly signatureAlgorithm: string;
  /** SANs the requester asked for (extensionRequest); a CA copies them only when told to. */
  readonly requestedAltNames: readonly GeneralNameInput[];
  /** OIDs of every requested extension, for reporting what was ignored. */
  readonly requestedExtensions: readonly string[];
}

export interface CsrOptions {
  /** DER Name. */
  subject: Uint8Array;
  privateKey: KeyObject;
  altNames?: readonly GeneralNameInput[];
}

/** A signed PKCS#10 request, SANs carried in an extensionRequest attribute. */
export function buildCsr(options: CsrOptions): Uint8Array {
  const scheme = signatureSchemeFor(options.privateKey);
  const attributes: Uint8Array[] = [];
  if (options.altNames?.length) {
    attributes.push(
      encode.sequence(encode.oid(OID_EXTENSION_REQUEST), encode.set(encode.sequence(subjectAltName(options.altNames)))),
    );
  }
  const info = encode.sequence(
    encode.integer(0),
    options.subject,
    spkiOf(options.privateKey),
    encode.implicitConstructed(0, ...attributes),
  );
  return encode.sequence(info, scheme.algorithmIdentifier, encode.bitString(scheme.sign(info)));
}

/** Parses a PEM (`CERTIFICATE REQUEST`) or DER request and verifies its self-signature. */
export function parseCsr(bytes: Uint8Array): CertificationRequest {
  let der: Uint8Array;
  try {
    const blocks = derBlocks(bytes, ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']);
    if (blocks.length !== 1) throw new PkiError('CSR_MALFORMED', 'expected exactly one certificate request');
    der = blocks[0]!;
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('CSR_MALFORMED', `certificate request is not PEM or DER: ${(err as Error).message}`, { cause: err });
  }
  let parsed: Omit<CertificationRequest, 'publicKey'> & { info: Uint8Array; signature: Uint8Array };
  try {
    parsed = decode(der);
  } catch (err) {
    if (err instanceof PkiError) throw err;
    throw new PkiError('CSR_MALFORMED', `malformed certificate request: ${(err as Error).message}`, { cause: err });
  }
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: Buffer.from(parsed.subjectPublicKeyInfo), format: 'der', type: 'spki' });
  } catch (err) {
    throw new PkiError('CSR_MALFORMED', 'certificate request public key does not parse', { cause: err });
  }
  // The OID alone decides, as it always has for requests: their parameters are not read.
  if (!verifyWithKey({ oid: parsed.signatureAlgorithm }, publicKey, parsed.info, parsed.signature)) {
    throw new PkiError('SIGNATURE_INVALID', 'certificate request signature does not verify (proof of possession failed)');
  }
  const { info: _info, signature: _signature, ...request } = parsed;
  return { ...request, publicKey };
}

function decode(der: Uint8Array) {
  const [infoNode, algNode, sigNode, ...extra] = sequence(parse(der), 'CertificationRequest');
  if (!infoNode || !algNode || !sigNode || extra.length) throw new DerError('CertificationRequest must have three fields');
  const [versionNode, subjectNode, spkiNode, attributesNode, ...rest] = sequence(infoNode, 'CertificationRequestInfo');
  if (rest.length || !subjectNode || !spkiNode) throw new DerError('CertificationRequestInfo has the wrong fields');
  if (readSmallInteger(versionNode, 'version') !== 0) throw new PkiError('CSR_MALFORMED', 'certificate request version must be 1 (0)');
  const subject = parseName(subjectNode.bytes);
  sequence(spkiNode, 'SubjectPublicKeyInfo');
  const [oidNode] = sequence(algNode, 'signatureAlgorithm');
  const signatureAlgorithm = readOid(oidNode, 'signature algorithm');
  const { bytes: signature, unusedBits } = readBitString(sigNode, 'signature');
  if (unusedBits) throw new DerError('signature has unused bits');
  const requestedAltNames: GeneralNameInput[] = [];
  const requestedExtensions: string[] = [];
  // Attributes are [0] IMPLICIT SET OF; some encoders omit it when empty.
  if (attributesNode) {
    if (!isContext(attributesNode, 0) || !attributesNode.constructed) throw new DerError('expected [0] attributes');
    for (const attribute of children(attributesNode)) {
      const [typeNode, valuesNode] = sequence(attribute, 'Attribute');
      if (readOid(typeNode, 'attribute type') !== OID_EXTENSION_REQUEST) continue;
      if (!valuesNode || !isUniversal(valuesNode, Tag.SET)) throw new DerError('extensionRequest values must be a SET');
      for (const extensions of children(valuesNode)) {
        for (const ext of sequence(extensions, 'Extensions')) readRequestedExtension(ext, requestedExtensions, requestedAltNames);
      }
    }
  }
  return {
    der,
    info: infoNode.bytes,
    subject,
    subjectPublicKeyInfo: spkiNode.bytes,
    signatureAlgorithm,
    signature,
    requestedAltNames,
    requestedExtensions,
  };
}

function readRequestedExtension(ext: DerNode, oids: string[], altNames: GeneralNameInput[]): void {
  const fields = sequence(ext, 'Extension');
  const oid = readOid(fields[0], 'extnID');
  if (fields.length === 3) readBoolean(fields[1], 'critical');
  const value = readOctetString(fields[fields.length - 1], 'extnValue');
  oids.push(oid);
  if (oid !== ExtensionOid.SUBJECT_ALT_NAME) return;
  for (const name of parseGeneralNames(value)) {
    if (name.type === 'dns' || name.type === 'email' || name.type === 'uri') altNames.push({ type: name.type, value: name.value });
    else if (name.type === 'ip') altNames.push({ type: 'ip', value: formatIp(name.value) });
    else if (name.type === 'directoryName') altNames.push({ type: 'dn', der: name.name.der });
    else throw new PkiError('CSR_MALFORMED', 'certificate request asks for an unsupported subjectAltName type');
  }
}
