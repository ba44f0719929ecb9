/**
 * X.501 distinguished names: decoding, RFC 4514-style text, and the
 * comparison RFC 5280 §7.1 asks for when chaining (issuer of the child equal
 * to subject of the parent).
 */
import { type DerNode, DerError, Tag, TagClass, children, parse, readOid, sequence } from '../lib/index.js';

export interface NameAttribute {
  /** Attribute type OID, dotted. */
  readonly type: string;
  /** The decoded string value (hex `#...` for non-string values). */
  readonly value: string;
  /** The universal tag of the value (12 UTF8String, 19 PrintableString, ...). */
  readonly tag: number;
}

export interface Name {
  readonly der: Uint8Array;
  readonly rdns: ReadonlyArray<ReadonlyArray<NameAttribute>>;
  /** RFC 4514-ish text, most significant RDN last: `CN=leaf,O=Example`. */
  readonly text: string;
  /**
   * A key for name matching: RDN order kept, attributes in an RDN sorted,
   * string values case-folded with runs of spaces collapsed (RFC 5280 §7.1,
   * a practical subset of the LDAP StringPrep rules).
   */
  readonly key: string;
}

/** Attribute type OIDs by the short names of RFC 4514 (and OpenSSL's `-subj`). */
export const ATTRIBUTE_TYPES = {
  CN: '2.5.4.3',
  C: '2.5.4.6',
  L: '2.5.4.7',
  ST: '2.5.4.8',
  STREET: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  serialNumber: '2.5.4.5',
  DC: '0.9.2342.19200300.100.1.25',
  UID: '0.9.2342.19200300.100.1.1',
  emailAddress: '1.2.840.113549.1.9.1',
} as const;

const SHORT_NAMES: Record<string, string> = Object.fromEntries(Object.entries(ATTRIBUTE_TYPES).map(([name, oid]) => [oid, name]));

export const OID_COMMON_NAME = ATTRIBUTE_TYPES.CN;
export const OID_EMAIL_ADDRESS = ATTRIBUTE_TYPES.emailAddress;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeString(node: DerNode): string {
  const v = node.value;
  switch (node.tag) {
    case Tag.UTF8_STRING: {
      // ASCII is UTF-8 as it stands; the strict decoder is for the rest.
      let ascii = true;
      for (let i = 0; i < v.length; i++) if (v[i]! > 0x7f) ascii = false;
      return ascii ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('latin1') : utf8.decode(v);
    }
    case Tag.PRINTABLE_STRING:
    case Tag.IA5_STRING:
    case Tag.VISIBLE_STRING:
    case 18: // NumericString
      for (const b of v) if (b > 0x7f) throw new DerError('non-ASCII byte in an ASCII string type');
      return Buffer.from(v).toString('latin1');
    case Tag.T61_STRING:
      return Buffer.from(v).toString('latin1');
    case Tag.BMP_STRING: {
      if (v.length % 2) throw new DerError('BMPString has an odd length');
      let s = '';
      for (let i = 0; i < v.length; i += 2) s += String.fromCharCode((v[i]! << 8) | v[i + 1]!);
      return s;
    }
    case Tag.UNIVERSAL_STRING: {
      if (v.length % 4) throw new DerError('UniversalString length is not a multiple of 4');
      let s = '';
      for (let i = 0; i < v.length; i += 4) {
        const cp = ((v[i]! << 24) | (v[i + 1]! << 16) | (v[i + 2]! << 8) | v[i + 3]!) >>> 0;
        if (cp > 0x10ffff) throw new DerError('UniversalString code point out of range');
        s += String.fromCodePoint(cp);
      }
      return s;
    }
    default:
      return '#' + Buffer.from(node.bytes).toString('hex');
  }
}

function isStringTag(tag: number): boolean {
  return (
    tag === Tag.UTF8_STRING ||
    tag === Tag.PRINTABLE_STRING ||
    tag === Tag.IA5_STRING ||
    tag === Tag.VISIBLE_STRING ||
    tag === Tag.T61_STRING ||
    tag === Tag.BMP_STRING ||
    tag === Tag.UNIVERSAL_STRING ||
    tag === 18
  );
}

const SPECIAL = /[,+"\\<>;=]/;

function escapeValue(s: string): string {
  // Most values need no escape: a test is cheaper than a replace.
  if (!SPECIAL.test(s) && s[0] !== ' ' && s[0] !== '#' && s[s.length - 1] !== ' ') return s;
  let out = s.replace(/([,+"\\<>;=])/g, '\\$1');
  if (out.startsWith(' ') || out.startsWith('#')) out = '\\' + out;
  if (out.endsWith(' ') && out.length > 1) out = out.slice(0, -1) + '\\ ';
  return out;
}

function normalize(attr: NameAttribute): string {
  let v = attr.value;
  if (isStringTag(attr.tag)) {
    v = v.trim();
    if (v.includes('  ')) v = v.replace(/ +/g, ' ');
    v = v.toLowerCase();
  }
  return `${attr.type}=${JSON.stringify(v)}`;
}

/** Decodes a Name from its DER node (throws `DerError` on bad structure). */
export function decodeName(node: DerNode): Name {
  const rdns: NameAttribute[][] = [];
  for (const set of sequence(node, 'Name')) {
    if (set.cls !== TagClass.UNIVERSAL || set.tag !== Tag.SET || !set.constructed) {
      throw new DerError('RelativeDistinguishedName must be a SET');
    }
    const attrs: NameAttribute[] = [];
    for (const atv of children(set)) {
      const [typeNode, valueNode, extra] = sequence(atv, 'AttributeTypeAndValue');
      if (!valueNode || extra) throw new DerError('AttributeTypeAndValue must have two fields');
      const type = readOid(typeNode, 'attribute type');
      if (valueNode.cls !== TagClass.UNIVERSAL) throw new DerError('attribute value must be a universal type');
      attrs.push({ type, value: decodeString(valueNode), tag: valueNode.tag });
    }
    if (attrs.length === 0) throw new DerError('empty RelativeDistinguishedName');
    rdns.push(attrs);
  }
  const text = [...rdns]
    .reverse()
    .map((rdn) => rdn.map((a) => `${SHORT_NAMES[a.type] ?? a.type}=${a.value.startsWith('#') && !isStringTag(a.tag) ? a.value : escapeValue(a.value)}`).join('+'))
    .join(',');
  const key = rdns.map((rdn) => (rdn.length === 1 ? normalize(rdn[0]!) : rdn.map(normalize).sort().join('+'))).join('\u0000');
  return { der: node.bytes, rdns, text, key };
}

/** Decodes a Name from DER bytes. */
export function parseName(der: Uint8Array): Name {
  return decodeName(parse(der));
}

/** RFC 5280 §7.1 name equality (after the normalization described on `Name.key`). */
export function namesEqual(a: Name, b: Name): boolean {
  return a.key === b.key;
}

/** True when `child` sits at or below `base` (each RDN of `base` a prefix match). */
export function nameWithinSubtree(child: Name, base: Name): boolean {
  if (base.rdns.length > child.rdns.length) return false;
  const childKeys = child.key.split('\u0000');
  const baseKeys = base.rdns.length === 0 ? [] : base.key.split('\u0000');
  return baseKeys.every((k, i) => childKeys[i] === k);
}

/** The values of one attribute type, e.g. every CN. */
export function attributeValues(name: Name, type: string): string[] {
  const out: string[] = [];
  for (const rdn of name.rdns) for (const a of rdn) if (a.type === type) out.push(a.value);
  return out;
}
