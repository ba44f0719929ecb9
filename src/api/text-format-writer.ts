import { ScalarType, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';

/**
 * Protobuf text format as protobuf-java prints it (`TextFormat.printer()`,
 * which is what upstream's Kotlin tools print with `println(message)`), so
 * our output compares byte for byte with theirs:
 *
 * - fields in field-number order, each on its own line, nested messages as
 *   `name {` ... `}` indented by two spaces, every line ending in `\n`;
 * - map entries sorted by key, each with both `key` and `value`;
 * - enums by name (by number when unknown); `Any` as its two plain fields;
 * - strings and bytes escaped as TextFormatEscaper does: `\a \b \t \n \v \f
 *   \r \\ \' \"`, printable ASCII as is, every other byte (strings as UTF-8)
 *   as three octal digits;
 * - floats and doubles as Java's `Float.toString`/`Double.toString`;
 * - unknown fields last, by number, as `N: value`.
 */
export function toTextFormat<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): string {
  const out: string[] = [];
  printMessage(reflect(schema, message), '', out);
  return out.join('');
}

function printMessage(r: ReflectMessage, indent: string, out: string[]): void {
  for (const field of r.sortedFields) {
    if (!r.isSet(field)) continue;
    if (field.fieldKind === 'map') {
      const entries = [...r.get(field)].sort(([a], [b]) => compareMapKeys(field.mapKey, a, b));
      for (const [key, value] of entries) {
        out.push(`${indent}${field.name} {\n`);
        out.push(`${indent}  key: ${printScalar(field.mapKey, key)}\n`);
        if (field.mapKind === 'message') {
          out.push(`${indent}  value {\n`);
          printMessage(value as ReflectMessage, `${indent}    `, out);
          out.push(`${indent}  }\n`);
        } else {
          out.push(`${indent}  value: ${field.mapKind === 'enum' ? enumName(field, value as number) : printScalar(field.scalar!, value)}\n`);
        }
        out.push(`${indent}}\n`);
      }
      continue;
    }
    const values: unknown[] = field.fieldKind === 'list' ? [...r.get(field)] : [r.get(field)];
    const kind = field.fieldKind === 'list' ? field.listKind : field.fieldKind;
    for (const value of values) {
      if (kind === 'message') {
        out.push(`${indent}${field.name} {\n`);
        printMessage(value as ReflectMessage, `${indent}  `, out);
        out.push(`${indent}}\n`);
      } else {
        out.push(`${indent}${field.name}: ${kind === 'enum' ? enumName(field, value as number) : printScalar(field.scalar!, value)}\n`);
      }
    }
  }
  const unknown = r.getUnknown();
  if (unknown && unknown.length > 0) {
    const fields = new UnknownFields();
    for (const u of unknown) {
      const parsed = parseUnknownFields(wireRecord(u.no, u.wireType, u.data));
      if (parsed === undefined) throw new Error(`unknown field ${u.no} is not valid wire format`);
      fields.merge(parsed);
    }
    printUnknownFields(fields, indent, out);
  }
}

function enumName(field: DescField, value: number): string {
  return field.enum!.values.find((v) => v.number === value)?.name ?? String(value);
}

/** Java compares map keys as its boxed types: signed, so a uint64 above 2^63 sorts first. */
function compareMapKeys(type: ScalarType, a: unknown, b: unknown): number {
  if (type === ScalarType.STRING) return compareUtf16(a as string, b as string);
  if (type === ScalarType.BOOL) return Number(a) - Number(b);
  const bits = type === ScalarType.UINT64 || type === ScalarType.FIXED64 ? 64 : type === ScalarType.UINT32 || type === ScalarType.FIXED32 ? 32 : 0;
  const signed = (v: unknown) => (bits === 0 ? BigInt(v as bigint) : BigInt.asIntN(bits, BigInt(v as bigint)));
  const x = signed(a);
  const y = signed(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function compareUtf16(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function printScalar(type: ScalarType, value: unknown): string {
  switch (type) {
    case ScalarType.STRING:
      return `"${escapeBytes(javaUtf8(value as string))}"`;
    case ScalarType.BYTES:
      return `"${escapeBytes(value as Uint8Array)}"`;
    case ScalarType.FLOAT:
      return javaFloatingPoint(value as number, true);
    case ScalarType.DOUBLE:
      return javaFloatingPoint(value as number, false);
    default:
      // Integers (bufbuild already holds unsigned types as unsigned) and bools print as Java prints them.
      return String(value);
  }
}

const ESCAPES: Record<number, string> = {
  0x07: '\\a', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t', 0x0b: '\\v', 0x5c: '\\\\', 0x27: "\\'", 0x22: '\\"',
};

/** protobuf-java's TextFormatEscaper.escapeBytes. */
export function escapeBytes(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) {
    const escape = ESCAPES[b];
    if (escape !== undefined) s += escape;
    else if (b >= 0x20 && b <= 0x7e) s += String.fromCharCode(b);
    else s += `\\${(b >> 6) & 3}${(b >> 3) & 7}${b & 7}`;
  }
  return s;
}

/**
 * UTF-8 as Java's `String.getBytes(UTF_8)`: a lone surrogate becomes `?`.
 * (escapeText escapes a string's UTF-8 bytes whenever it holds a character
 * outside printable ASCII, and otherwise only `\\ ' "`, which is the same
 * output as escaping its bytes.)
 */
function javaUtf8(s: string): Uint8Array {
  return new TextEncoder().encode(s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '?'));
}

/**
 * Java's `Float.toString`/`Double.toString` (JDK 19 and later): the shortest
 * decimal that reads back as the same value (two digits when one would do and
 * two are closer), plain between 10^-3 and 10^7, else `d.dddE±n`.
 */
export function javaFloatingPoint(value: number, float32: boolean): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'Infinity';
  if (value === -Infinity) return '-Infinity';
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0';
  const sign = value < 0 ? '-' : '';
  const x = Math.abs(value);
  const readsBack = (s: string) => (float32 ? Math.fround(Number(s)) : Number(s)) === x;
  // JavaScript's own shortest form is a double's; a float's is searched (nine digits always identify one).
  let text = float32 ? undefined : x.toExponential();
  for (let digits = 0; text === undefined && digits < 8; digits++) {
    if (readsBack(x.toExponential(digits))) text = x.toExponential(digits);
  }
  text ??= x.toExponential(8);
  let [mantissa, exponentText] = text.split('e') as [string, string];
  if (!mantissa.includes('.') && readsBack(x.toExponential(1))) [mantissa, exponentText] = x.toExponential(1).split('e') as [string, string];
  const significand = mantissa.replace('.', '').replace(/0+$/, '') || '0';
  const exponent = Number(exponentText);
  if (exponent >= -3 && exponent < 7) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${significand}`;
    const whole = significand.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    return `${sign}${whole}.${significand.slice(exponent + 1) || '0'}`;
  }
  return `${sign}${significand[0]}.${significand.slice(1) || '0'}E${exponent}`;
}

// --- unknown fields, as protobuf-java's UnknownFieldSet prints them ------------

/** One field number's values, in the order Java prints them: varints, fixed32, fixed64, length-delimited, groups. */
interface UnknownField {
  varint: bigint[];
  fixed32: number[];
  fixed64: bigint[];
  lengthDelimited: Uint8Array[];
  group: UnknownFields[];
}

class UnknownFields {
  readonly byNumber = new Map<number, UnknownField>();
  field(no: number): UnknownField {
    let f = this.byNumber.get(no);
    if (!f) this.byNumber.set(no, (f = { varint: [], fixed32: [], fixed64: [], lengthDelimited: [], group: [] }));
    return f;
  }
  merge(other: UnknownFields): void {
    for (const [no, f] of other.byNumber) {
      const mine = this.field(no);
      mine.varint.push(...f.varint);
      mine.fixed32.push(...f.fixed32);
      mine.fixed64.push(...f.fixed64);
      mine.lengthDelimited.push(...f.lengthDelimited);
      mine.group.push(...f.group);
    }
  }
}

/** The tag and value bytes of one unknown field as bufbuild keeps it (the value bytes without the tag). */
function wireRecord(no: number, wireType: number, data: Uint8Array): Uint8Array {
  const tag = varintBytes(BigInt(((no << 3) | wireType) >>> 0));
  const out = new Uint8Array(tag.length + data.length);
  out.set(tag);
  out.set(data, tag.length);
  return out;
}

function varintBytes(v: bigint): number[] {
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}

class WireReader {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}
  atEnd(): boolean {
    return this.pos >= this.buf.length;
  }
  /** A varint of up to 10 bytes, as a 64-bit unsigned value; undefined when malformed or cut short. */
  varint(): bigint | undefined {
    let v = 0n;
    for (let i = 0; i < 10; i++) {
      const b = this.buf[this.pos++];
      if (b === undefined) return undefined;
      v |= BigInt(b & 0x7f) << BigInt(7 * i);
      if ((b & 0x80) === 0) return BigInt.asUintN(64, v);
    }
    return undefined;
  }
  take(n: number): Uint8Array | undefined {
    if (n < 0 || this.pos + n > this.buf.length) return undefined;
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return bytes;
  }
}

const GROUP_DEPTH_LIMIT = 100;

/**
 * Parses bytes as an UnknownFieldSet the way Java does before printing a
 * length-delimited unknown value; undefined where Java throws
 * InvalidProtocolBufferException (the value then prints as a string).
 */
function parseUnknownFields(bytes: Uint8Array): UnknownFields | undefined {
  const reader = new WireReader(bytes);
  const fields = new UnknownFields();
  return readFields(reader, fields, undefined, 0) ? fields : undefined;
}

/** Reads until the end (group === undefined) or the group's end tag; false when malformed. */
function readFields(reader: WireReader, into: UnknownFields, group: number | undefined, depth: number): boolean {
  for (;;) {
    if (reader.atEnd()) return group === undefined;
    const tagValue = reader.varint();
    if (tagValue === undefined) return false;
    const tag = Number(BigInt.asUintN(32, tagValue));
    const no = tag >>> 3;
    if (no === 0) return false;
    switch (tag & 7) {
      case 0: {
        const v = reader.varint();
        if (v === undefined) return false;
        into.field(no).varint.push(v);
        break;
      }
      case 1: {
        const b = reader.take(8);
        if (!b) return false;
        into.field(no).fixed64.push(new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true));
        break;
      }
      case 2: {
        const length = reader.varint();
        if (length === undefined) return false;
        const b = reader.take(Number(BigInt.asIntN(32, length)));
        if (!b) return false;
        into.field(no).lengthDelimited.push(b);
        break;
      }
      case 3: {
        if (depth >= GROUP_DEPTH_LIMIT) return false;
        const nested = new UnknownFields();
        if (!readFields(reader, nested, no, depth + 1)) return false;
        into.field(no).group.push(nested);
        break;
      }
      case 4:
        return group === no;
      case 5: {
        const b = reader.take(4);
        if (!b) return false;
        into.field(no).fixed32.push(new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true));
        break;
      }
      default:
        return false;
    }
  }
}

function printUnknownFields(fields: UnknownFields, indent: string, out: string[]): void {
  for (const no of [...fields.byNumber.keys()].sort((a, b) => a - b)) {
    const f = fields.byNumber.get(no)!;
    for (const v of f.varint) out.push(`${indent}${no}: ${v}\n`);
    for (const v of f.fixed32) out.push(`${indent}${no}: 0x${v.toString(16).padStart(8, '0')}\n`);
    for (const v of f.fixed64) out.push(`${indent}${no}: 0x${v.toString(16).padStart(16, '0')}\n`);
    for (const v of f.lengthDelimited) {
      const nested = parseUnknownFields(v);
      if (nested) {
        out.push(`${indent}${no}: {\n`);
        printUnknownFields(nested, `${indent}  `, out);
        out.push(`${indent}}\n`);
      } else {
        out.push(`${indent}${no}: "${escapeBytes(v)}"\n`);
      }
    }
    for (const g of f.group) {
      out.push(`${indent}${no} {\n`);
      printUnknownFields(g, `${indent}  `, out);
      out.push(`${indent}}\n`);
    }
  }
}
