/**
 * Distinguished names the CA writes: parsed from OpenSSL's `-subj` syntax
 * (`/O=Halo CMM/CN=Edp1 CA`, the form the CMMS tooling uses) and encoded as
 * DER with the string types RFC 5280 asks of new certificates: UTF8String,
 * except PrintableString where X.520 requires it (country, serial number) and
 * IA5String for e-mail and domain components.
 */
import { encode } from '../lib/index.js';
import { PkiError } from './errors.js';
import { oid } from './extensions-builder.js';
import { ATTRIBUTE_TYPES } from './name.js';

interface AttributeSpec {
  oid: string;
  kind: 'utf8' | 'printable' | 'ia5';
  maxLength: number;
}

const ATTRIBUTES: Record<string, AttributeSpec> = {
  C: { oid: ATTRIBUTE_TYPES.C, kind: 'printable', maxLength: 2 },
  ST: { oid: ATTRIBUTE_TYPES.ST, kind: 'utf8', maxLength: 128 },
  L: { oid: ATTRIBUTE_TYPES.L, kind: 'utf8', maxLength: 128 },
  O: { oid: ATTRIBUTE_TYPES.O, kind: 'utf8', maxLength: 64 },
  OU: { oid: ATTRIBUTE_TYPES.OU, kind: 'utf8', maxLength: 64 },
  CN: { oid: ATTRIBUTE_TYPES.CN, kind: 'utf8', maxLength: 64 },
  serialNumber: { oid: ATTRIBUTE_TYPES.serialNumber, kind: 'printable', maxLength: 64 },
  DC: { oid: ATTRIBUTE_TYPES.DC, kind: 'ia5', maxLength: 63 },
  emailAddress: { oid: ATTRIBUTE_TYPES.emailAddress, kind: 'ia5', maxLength: 255 },
};

/** One `TYPE=value` of a subject to write; the parsed form is `name.ts`'s `NameAttribute`. */
export interface SubjectAttribute {
  type: string;
  value: string;
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?]*$/;
// eslint-disable-next-line no-control-regex
const IA5 = /^[\x00-\x7f]*$/;

/**
 * Parses `/TYPE=value/TYPE=value...` (a `\` escapes the next character, so
 * `\/` is a literal slash). Throws INVALID_REQUEST naming the bad part.
 */
export function parseSubject(text: string): SubjectAttribute[] {
  if (!text.startsWith('/')) throw new PkiError('INVALID_REQUEST', `subject must look like /O=Org/CN=Name, got "${text}"`);
  const parts: string[] = [];
  let current = '';
  for (let i = 1; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length) {
      current += text[++i]!;
    } else if (ch === '/') {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  const out: SubjectAttribute[] = [];
  for (const part of parts) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new PkiError('INVALID_REQUEST', `subject part "${part}" is not TYPE=value`);
    const type = part.slice(0, eq).trim();
    const value = part.slice(eq + 1);
    const spec = ATTRIBUTES[type];
    if (!spec) {
      throw new PkiError('INVALID_REQUEST', `unknown subject attribute ${type} (use ${Object.keys(ATTRIBUTES).join(', ')})`);
    }
    checkValue(type, value, spec);
    out.push({ type, value });
  }
  if (out.length === 0) throw new PkiError('INVALID_REQUEST', 'subject is empty');
  return out;
}

function checkValue(type: string, value: string, spec: AttributeSpec): void {
  if (value.length === 0) throw new PkiError('INVALID_REQUEST', `subject ${type} is empty`);
  if ([...value].length > spec.maxLength) {
    throw new PkiError('INVALID_REQUEST', `subject ${type} is longer than ${spec.maxLength} characters`);
  }
  if (spec.kind === 'printable' && !PRINTABLE.test(value)) {
    throw new PkiError('INVALID_REQUEST', `subject ${type} must be a PrintableString`);
  }
  if (spec.kind === 'ia5' && !IA5.test(value)) throw new PkiError('INVALID_REQUEST', `subject ${type} must be ASCII`);
  if (type === 'C' && !/^[A-Z]{2}$/.test(value)) throw new PkiError('INVALID_REQUEST', 'subject C must be a two-letter country code');
}

/** The DER Name (RDNSequence), one attribute per RDN in the given order. */
export function encodeName(attributes: readonly SubjectAttribute[]): Uint8Array {
  const rdns = attributes.map(({ type, value }) => {
    const spec = ATTRIBUTES[type];
    if (!spec) throw new PkiError('INVALID_REQUEST', `unknown subject attribute ${type}`);
    checkValue(type, value, spec);
    const encoded =
      spec.kind === 'printable' ? encode.printableString(value) : spec.kind === 'ia5' ? encode.ia5String(value) : encode.utf8String(value);
    return encode.set(encode.sequence(oid(spec.oid), encoded));
  });
  return encode.sequence(...rdns);
}

/** Parses and encodes in one step. */
export function subjectToDer(text: string): Uint8Array {
  return encodeName(parseSubject(text));
}
