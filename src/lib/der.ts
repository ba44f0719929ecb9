/**
 * A small, strict DER reader and writer (X.690). Certificates, keys, CRLs and
 * signatures are all DER; a strict reader is what lets the PKI reject
 * malformed input instead of guessing, and it is far faster than a schema
 * library because it only slices the input (no copies).
 *
 * Every failure is a `DerError`, never a TypeError or RangeError.
 */
import { HaloError } from './errors.js';
import { concatBytes } from './bytes.js';

export class DerError extends HaloError<'DER_MALFORMED'> {
  constructor(message: string) {
    super('DER_MALFORMED', message);
  }
}

export const TagClass = {
  UNIVERSAL: 0,
  APPLICATION: 1,
  CONTEXT: 2,
  PRIVATE: 3,
} as const;

/** Universal tag numbers used in this codebase. */
export const Tag = {
  BOOLEAN: 1,
  INTEGER: 2,
  BIT_STRING: 3,
  OCTET_STRING: 4,
  NULL: 5,
  OID: 6,
  ENUMERATED: 10,
  UTF8_STRING: 12,
  SEQUENCE: 16,
  SET: 17,
  PRINTABLE_STRING: 19,
  T61_STRING: 20,
  IA5_STRING: 22,
  UTC_TIME: 23,
  GENERALIZED_TIME: 24,
  VISIBLE_STRING: 26,
  UNIVERSAL_STRING: 28,
  BMP_STRING: 30,
} as const;

/** One TLV. `bytes` is the whole element (header included); `value` its contents. */
export interface DerNode {
  readonly cls: number;
  readonly constructed: boolean;
  readonly tag: number;
  readonly bytes: Uint8Array;
  readonly value: Uint8Array;
}

/**
 * A parsed TLV over the input. `bytes` and `value` are views made when asked
 * for: most nodes of a certificate are walked through, never sliced, and the
 * few that are sliced are sliced once.
 */
class Element implements DerNode {
  constructor(
    readonly cls: number,
    readonly constructed: boolean,
    readonly tag: number,
    readonly buf: Uint8Array,
    private readonly start: number,
    readonly contentStart: number,
    /** Offset in `buf` just after the element. */
    readonly end: number,
  ) {}

  get bytes(): Uint8Array {
    return this.buf.subarray(this.start, this.end);
  }

  get value(): Uint8Array {
    return this.buf.subarray(this.contentStart, this.end);
  }
}

/** Reads one element at `offset`; returns it and the offset after it. */
export function readElement(buf: Uint8Array, offset = 0): { node: DerNode; next: number } {
  const node = readNode(buf, offset);
  return { node, next: node.end };
}

/** Reads the element at `offset`, which must end by `limit` (default the end of `buf`). */
function readNode(buf: Uint8Array, offset: number, limit = buf.length): Element {
  const start = offset;
  if (offset >= limit) throw new DerError('unexpected end of data');
  const first = buf[offset++]!;
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tag = first & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    let count = 0;
    for (;;) {
      if (offset >= limit) throw new DerError('truncated tag');
      const b = buf[offset++]!;
      if (count === 0 && b === 0x80) throw new DerError('non-minimal tag encoding');
      tag = tag * 128 + (b & 0x7f);
      if (++count > 4) throw new DerError('tag number too large');
      if ((b & 0x80) === 0) break;
    }
    if (tag < 0x1f) throw new DerError('non-minimal tag encoding');
  }
  if (offset >= limit) throw new DerError('truncated length');
  let length = buf[offset++]!;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0) throw new DerError('indefinite length is not DER');
    if (n > 4) throw new DerError('length too large');
    if (offset + n > limit) throw new DerError('truncated length');
    if (buf[offset] === 0) throw new DerError('non-minimal length encoding');
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[offset++]!;
    if (length < 0x80) throw new DerError('non-minimal length encoding');
  }
  if (offset + length > limit) throw new DerError('element runs past the end of data');
  return new Element(cls, constructed, tag, buf, start, offset, offset + length);
}

/** Parses exactly one element filling `buf` (no trailing bytes). */
export function parse(buf: Uint8Array): DerNode {
  const node = readNode(buf, 0);
  if (node.end !== buf.length) throw new DerError('trailing data after element');
  return node;
}

/** The children of a constructed element. */
export function children(node: DerNode): DerNode[] {
  if (!node.constructed) throw new DerError('expected a constructed element');
  const out: DerNode[] = [];
  // Children of a node this reader made are read in place, without a view of the parent's contents.
  const inPlace = node instanceof Element;
  const buf = inPlace ? node.buf : node.value;
  const end = inPlace ? node.end : buf.length;
  for (let offset = inPlace ? node.contentStart : 0; offset < end; ) {
    const child = readNode(buf, offset, end);
    out.push(child);
    offset = child.end;
  }
  return out;
}

export function isUniversal(node: DerNode, tag: number): boolean {
  return node.cls === TagClass.UNIVERSAL && node.tag === tag;
}

export function isContext(node: DerNode, tag: number): boolean {
  return node.cls === TagClass.CONTEXT && node.tag === tag;
}

export function expectUniversal(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (!node || !isUniversal(node, tag)) throw new DerError(`expected ${what}`);
  const mustBeConstructed = tag === Tag.SEQUENCE || tag === Tag.SET;
  if (node.constructed !== mustBeConstructed) throw new DerError(`${what} has the wrong form`);
  return node;
}

export function sequence(node: DerNode | undefined, what: string): DerNode[] {
  return children(expectUniversal(node, Tag.SEQUENCE, what));
}

/** A non-negative or negative INTEGER as bigint, rejecting non-minimal encodings. */
export function readInteger(node: DerNode | undefined, what = 'INTEGER'): bigint {
  const v = integerBytes(expectUniversal(node, Tag.INTEGER, what), what);
  let n = 0n;
  for (const b of v) n = (n << 8n) | BigInt(b);
  if (v[0]! & 0x80) n -= 1n << BigInt(v.length * 8);
  return n;
}

/** The content octets of an INTEGER, checked for minimal encoding. */
export function integerBytes(node: DerNode, what = 'INTEGER'): Uint8Array {
  const v = node.value;
  if (v.length === 0) throw new DerError(`${what} is empty`);
  if (v.length > 1 && ((v[0] === 0 && !(v[1]! & 0x80)) || (v[0] === 0xff && v[1]! & 0x80))) {
    throw new DerError(`${what} is not minimally encoded`);
  }
  return v;
}

export function readSmallInteger(node: DerNode | undefined, what = 'INTEGER'): number {
  const n = readInteger(node, what);
  if (n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DerError(`${what} is out of range`);
  }
  return Number(n);
}

export function readBoolean(node: DerNode | undefined, what = 'BOOLEAN'): boolean {
  const v = expectUniversal(node, Tag.BOOLEAN, what).value;
  if (v.length !== 1) throw new DerError(`${what} must be one byte`);
  if (v[0] === 0xff) return true;
  if (v[0] === 0) return false;
  throw new DerError(`${what} must be 0x00 or 0xFF in DER`);
}

/** BIT STRING contents; `unusedBits` is the count in the last byte. */
export function readBitString(node: DerNode | undefined, what = 'BIT STRING'): { bytes: Uint8Array; unusedBits: number } {
  const v = expectUniversal(node, Tag.BIT_STRING, what).value;
  if (v.length === 0) throw new DerError(`${what} is empty`);
  const unusedBits = v[0]!;
  if (unusedBits > 7 || (v.length === 1 && unusedBits !== 0)) throw new DerError(`${what} has a bad unused-bits count`);
  const bytes = v.subarray(1);
  if (unusedBits && bytes[bytes.length - 1]! & ((1 << unusedBits) - 1)) {
    throw new DerError(`${what} has non-zero padding bits`);
  }
  return { bytes, unusedBits };
}

export function readOctetString(node: DerNode | undefined, what = 'OCTET STRING'): Uint8Array {
  return expectUniversal(node, Tag.OCTET_STRING, what).value;
}

export function readNull(node: DerNode | undefined, what = 'NULL'): void {
  if (expectUniversal(node, Tag.NULL, what).value.length !== 0) throw new DerError(`${what} must be empty`);
}

/** An OBJECT IDENTIFIER in dotted form. */
export function readOid(node: DerNode | undefined, what = 'OBJECT IDENTIFIER'): string {
  const el = expectUniversal(node, Tag.OID, what);
  // Read in place when the node is ours: OIDs are the most frequent element of a certificate.
  const v = el instanceof Element ? el.buf : el.value;
  const from = el instanceof Element ? el.contentStart : 0;
  const to = el instanceof Element ? el.end : v.length;
  if (to === from) throw new DerError(`${what} is empty`);
  const known = knownOid(v, from, to);
  if (known !== undefined) return known;
  let out = '';
  let n = 0;
  let started = false;
  for (let i = from; i < to; i++) {
    const b = v[i]!;
    if (!started && b === 0x80) throw new DerError(`${what} has a non-minimal arc`);
    started = true;
    n = n * 128 + (b & 0x7f);
    if (n > Number.MAX_SAFE_INTEGER / 128) throw new DerError(`${what} arc too large`);
    if ((b & 0x80) === 0) {
      if (out === '') {
        const first = n < 40 ? 0 : n < 80 ? 1 : 2;
        out = `${first}.${n - first * 40}`;
      } else {
        out += `.${n}`;
      }
      n = 0;
      started = false;
    } else if (i === to - 1) {
      throw new DerError(`${what} is truncated`);
    }
  }
  rememberOid(v, from, to, out);
  return out;
}

/**
 * OIDs already decoded, by a hash of their contents octets: a certificate
 * repeats the same few dozen, and a hit compares the octets, so it returns
 * exactly what decoding would. Only well-formed OIDs are remembered; once
 * full, the table takes no more.
 */
const OID_TABLE_SIZE = 512;
const oidTable = new Map<number, { octets: Uint8Array; oid: string }>();

function oidHash(v: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ v[i]!, 0x01000193);
  return h >>> 0;
}

function knownOid(v: Uint8Array, from: number, to: number): string | undefined {
  const entry = oidTable.get(oidHash(v, from, to));
  if (!entry || entry.octets.length !== to - from) return undefined;
  for (let i = from; i < to; i++) if (entry.octets[i - from] !== v[i]) return undefined;
  return entry.oid;
}

function rememberOid(v: Uint8Array, from: number, to: number, oid: string): void {
  if (oidTable.size >= OID_TABLE_SIZE) return;
  const h = oidHash(v, from, to);
  if (!oidTable.has(h)) oidTable.set(h, { octets: v.slice(from, to), oid });
}

/** The number in `count` ASCII digits at `v[at]`, or -1 when any is not a digit. */
function digits(v: Uint8Array, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = v[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * UTCTime or GeneralizedTime as RFC 5280 §4.1.2.5 profiles them: seconds
 * present, Zulu, no fractions (YYMMDDHHMMSSZ or YYYYMMDDHHMMSSZ, digits
 * only). UTCTime years 50-99 are 19xx.
 */
export function readTime(node: DerNode | undefined, what = 'time'): Date {
  if (!node || node.cls !== TagClass.UNIVERSAL || node.constructed) throw new DerError(`expected ${what}`);
  const v = node.value;
  const yearDigits = node.tag === Tag.UTC_TIME ? 2 : node.tag === Tag.GENERALIZED_TIME ? 4 : 0;
  const fields = yearDigits && v.length === yearDigits + 11 && v[yearDigits + 10] === 0x5a /* Z */ ? [digits(v, 0, yearDigits)] : [];
  for (let i = 0; fields.length > 0 && i < 5; i++) fields.push(digits(v, yearDigits + 2 * i, 2));
  if (fields.length !== 6 || fields.includes(-1)) throw new DerError(`${what} is not a valid UTCTime or GeneralizedTime`);
  const [yy, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
  const year = yearDigits === 4 ? yy : yy >= 50 ? 1900 + yy : 2000 + yy;
  const ms = Date.UTC(year, mo - 1, d, h, mi, s);
  const t = new Date(ms);
  if (t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new DerError(`${what} is not a real date`);
  }
  if (year < 100) t.setUTCFullYear(year);
  return t;
}

// ---------------------------------------------------------------------------
// Writer

function encodeLength(n: number): Uint8Array {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n = Math.floor(n / 256);
  }
  return Uint8Array.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes a TLV from an identifier octet (low-tag-number form) and contents. */
export function tlv(identifier: number, ...contents: Uint8Array[]): Uint8Array {
  const body = concat(contents);
  return concat([Uint8Array.of(identifier), encodeLength(body.length), body]);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  return concatBytes(...parts);
}

export const encode = {
  sequence: (...items: Uint8Array[]) => tlv(0x30, ...items),
  set: (...items: Uint8Array[]) => tlv(0x31, ...items),
  /** [n] EXPLICIT: wraps the encoded element. */
  explicit: (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner),
  /** [n] IMPLICIT primitive contents. */
  implicitPrimitive: (n: number, contents: Uint8Array) => tlv(0x80 | n, contents),
  /** [n] IMPLICIT constructed contents (already-encoded children). */
  implicitConstructed: (n: number, ...items: Uint8Array[]) => tlv(0xa0 | n, ...items),
  boolean: (v: boolean) => tlv(0x01, Uint8Array.of(v ? 0xff : 0)),
  null: () => Uint8Array.of(0x05, 0x00),
  octetString: (v: Uint8Array) => tlv(0x04, v),
  bitString: (v: Uint8Array, unusedBits = 0) => tlv(0x03, Uint8Array.of(unusedBits), v),
  utf8String: (s: string) => tlv(0x0c, new TextEncoder().encode(s)),
  printableString: (s: string) => tlv(0x13, new TextEncoder().encode(s)),
  ia5String: (s: string) => tlv(0x16, new TextEncoder().encode(s)),
  integer(v: bigint | number | Uint8Array): Uint8Array {
    if (v instanceof Uint8Array) return tlv(0x02, minimalUnsigned(v));
    let n = BigInt(v);
    const bytes: number[] = [];
    if (n === 0n) bytes.push(0);
    const negative = n < 0n;
    while (negative ? n < -1n || bytes.length === 0 || !(bytes[0]! & 0x80) : n > 0n) {
      bytes.unshift(Number(n & 0xffn));
      n >>= 8n;
    }
    if (!negative && bytes[0]! & 0x80) bytes.unshift(0);
    return tlv(0x02, Uint8Array.from(bytes));
  },
  oid(dotted: string): Uint8Array {
    const arcs = dotted.split('.').map(Number);
    if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) {
      throw new DerError(`bad OID ${dotted}`);
    }
    const out: number[] = [];
    const push = (n: number) => {
      const chunk = [n & 0x7f];
      n = Math.floor(n / 128);
      while (n > 0) {
        chunk.unshift((n & 0x7f) | 0x80);
        n = Math.floor(n / 128);
      }
      out.push(...chunk);
    };
    push(arcs[0]! * 40 + arcs[1]!);
    for (const a of arcs.slice(2)) push(a);
    return tlv(0x06, Uint8Array.from(out));
  },
  /** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
  time(t: Date): Uint8Array {
    const iso = t.toISOString();
    const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
    const year = t.getUTCFullYear();
    if (year >= 1950 && year < 2050) return tlv(0x17, new TextEncoder().encode(digits.slice(2)));
    return tlv(0x18, new TextEncoder().encode(digits));
  },
};

/** An unsigned big-endian magnitude as the minimal positive INTEGER contents. */
export function minimalUnsigned(v: Uint8Array): Uint8Array {
  let i = 0;
  while (i < v.length - 1 && v[i] === 0) i++;
  const trimmed = v.subarray(i);
  if (trimmed.length === 0) return Uint8Array.of(0);
  if (trimmed[0]! & 0x80) return concat([Uint8Array.of(0), trimmed]);
  return trimmed;
}
