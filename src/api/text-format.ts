import { ScalarType, create, type DescField, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import { ApiError } from './errors.js';

/**
 * Protobuf text format, enough for upstream's operator config files
 * (`AuthorityKeyToPrincipalMap`, `DuchyCertConfig`): nested messages,
 * repeated fields (repeated entries or `[a, b]`), strings and bytes with C
 * escapes (`\xNN`, octal, `\n`, ...), integers, floats, bools and enums by
 * name or number, `#` comments. Not supported: map fields, extensions and
 * expanded `Any` (`[type.googleapis.com/...] { }`); they are errors, never
 * silently skipped. Writing is text-format-writer.ts (protobuf-java's output).
 */

const MAX_DEPTH = 64;

type Token =
  | { kind: 'ident'; text: string; line: number }
  | { kind: 'number'; text: string; line: number }
  | { kind: 'string'; bytes: Uint8Array; line: number }
  | { kind: 'punct'; text: string; line: number };

function fail(line: number, message: string): never {
  throw new ApiError('TEXT_FORMAT_INVALID', `line ${line}: ${message}`);
}

const SIMPLE_ESCAPES: Record<string, number> = {
  n: 0x0a, r: 0x0d, t: 0x09, a: 0x07, b: 0x08, f: 0x0c, v: 0x0b, '\\': 0x5c, "'": 0x27, '"': 0x22, '?': 0x3f,
};

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  const encoder = new TextEncoder();
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else if ('{}<>[]:,;'.includes(c)) {
      tokens.push({ kind: 'punct', text: c, line });
      i++;
    } else if (c === '"' || c === "'") {
      const bytes: number[] = [];
      i++;
      for (;;) {
        const d = text[i];
        if (d === undefined || d === '\n') fail(line, 'unterminated string');
        if (d === c) {
          i++;
          break;
        }
        if (d !== '\\') {
          const cp = text.codePointAt(i)!;
          const ch = String.fromCodePoint(cp);
          bytes.push(...encoder.encode(ch));
          i += ch.length;
          continue;
        }
        const e = text[i + 1];
        if (e === undefined) fail(line, 'unterminated escape');
        if (e in SIMPLE_ESCAPES) {
          bytes.push(SIMPLE_ESCAPES[e]!);
          i += 2;
        } else if (e === 'x' || e === 'X') {
          const hex = /^[0-9a-fA-F]{1,2}/.exec(text.slice(i + 2, i + 4));
          if (!hex) fail(line, 'bad \\x escape');
          bytes.push(parseInt(hex[0], 16));
          i += 2 + hex[0].length;
        } else if (/[0-7]/.test(e)) {
          const oct = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))!;
          const v = parseInt(oct[0], 8);
          if (v > 0xff) fail(line, 'octal escape above \\377');
          bytes.push(v);
          i += 1 + oct[0].length;
        } else if (e === 'u' || e === 'U') {
          const n = e === 'u' ? 4 : 8;
          const hex = text.slice(i + 2, i + 2 + n);
          if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) fail(line, `bad \\${e} escape`);
          const cp = parseInt(hex, 16);
          if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail(line, 'escape is not a Unicode scalar value');
          bytes.push(...encoder.encode(String.fromCodePoint(cp)));
          i += 2 + n;
        } else {
          fail(line, `unknown escape \\${e}`);
        }
      }
      // Adjacent literals concatenate, as in C.
      const last = tokens[tokens.length - 1];
      if (last?.kind === 'string') {
        tokens[tokens.length - 1] = { kind: 'string', bytes: concat(last.bytes, bytes), line: last.line };
      } else {
        tokens.push({ kind: 'string', bytes: Uint8Array.from(bytes), line });
      }
    } else {
      const m = /^(-?[0-9.][0-9A-Za-z_.+-]*|-?[A-Za-z_][A-Za-z0-9_.]*)/.exec(text.slice(i));
      if (!m) fail(line, `unexpected character ${JSON.stringify(c)}`);
      const word = m[0];
      // A number token may only carry an exponent sign right after e/E.
      const num = /^-?(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?[fF]?)$/.exec(word);
      if (/^-?[0-9.]/.test(word)) {
        if (!num || word === '-' || word === '.') fail(line, `bad number ${JSON.stringify(word)}`);
        tokens.push({ kind: 'number', text: word, line });
      } else if (word.startsWith('-')) {
        tokens.push({ kind: 'number', text: word, line }); // -inf, -nan
      } else {
        tokens.push({ kind: 'ident', text: word, line });
      }
      i += word.length;
    }
  }
  return tokens;
}

function concat(a: Uint8Array, b: number[]): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

class Parser {
  #pos = 0;
  constructor(private readonly tokens: Token[]) {}

  peek(): Token | undefined {
    return this.tokens[this.#pos];
  }
  next(): Token {
    const t = this.tokens[this.#pos++];
    if (t === undefined) fail(this.tokens[this.tokens.length - 1]?.line ?? 1, 'unexpected end of input');
    return t;
  }
  isPunct(text: string): boolean {
    const t = this.peek();
    return t?.kind === 'punct' && t.text === text;
  }
  expectPunct(text: string): void {
    const t = this.next();
    if (t.kind !== 'punct' || t.text !== text) fail(t.line, `expected ${JSON.stringify(text)}`);
  }

  /** Fields until `close` (or the end of input at top level). */
  message(r: ReflectMessage, close: string | undefined, depth: number): void {
    if (depth > MAX_DEPTH) fail(this.peek()?.line ?? 1, 'nested too deeply');
    const seen = new Set<DescField>();
    for (;;) {
      const t = this.peek();
      if (t === undefined) {
        if (close !== undefined) fail(this.tokens[this.tokens.length - 1]?.line ?? 1, `missing ${JSON.stringify(close)}`);
        return;
      }
      if (close !== undefined && t.kind === 'punct' && t.text === close) {
        this.#pos++;
        return;
      }
      const nameToken = this.next();
      if (nameToken.kind !== 'ident') fail(nameToken.line, 'expected a field name');
      const field = r.desc.fields.find((f) => f.name === nameToken.text);
      if (field === undefined) fail(nameToken.line, `${r.desc.typeName} has no field ${JSON.stringify(nameToken.text)}`);
      if (field.fieldKind === 'map') fail(nameToken.line, `map field ${field.name} is not supported`);
      if (field.fieldKind !== 'list') {
        if (seen.has(field)) fail(nameToken.line, `field ${field.name} given twice`);
        seen.add(field);
      }
      const isMessage = field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message');
      if (this.isPunct(':')) this.#pos++;
      else if (!isMessage) fail(nameToken.line, `expected ":" after ${field.name}`);

      if (field.fieldKind === 'list' && this.isPunct('[')) {
        this.#pos++;
        if (!this.isPunct(']')) {
          for (;;) {
            this.value(r, field, depth);
            if (this.isPunct(']')) break;
            this.expectPunct(',');
          }
        }
        this.expectPunct(']');
      } else {
        this.value(r, field, depth);
      }
      if (this.isPunct(',') || this.isPunct(';')) this.#pos++;
    }
  }

  value(r: ReflectMessage, field: DescField, depth: number): void {
    if (field.fieldKind === 'message' || (field.fieldKind === 'list' && field.listKind === 'message')) {
      const open = this.next();
      if (open.kind !== 'punct' || (open.text !== '{' && open.text !== '<')) fail(open.line, `expected "{" for ${field.name}`);
      const nested = reflect(field.message!);
      this.message(nested, open.text === '{' ? '}' : '>', depth + 1);
      if (field.fieldKind === 'list') r.get(field).add(nested);
      else r.set(field, nested);
      return;
    }
    const t = this.next();
    let v: unknown;
    if (field.fieldKind === 'enum' || (field.fieldKind === 'list' && field.listKind === 'enum')) {
      const e = field.enum!;
      if (t.kind === 'ident') {
        const value = e.values.find((x) => x.name === t.text);
        if (value === undefined) fail(t.line, `${e.typeName} has no value ${t.text}`);
        v = value.number;
      } else {
        v = Number(integer(t, -(2n ** 31n), 2n ** 31n - 1n));
      }
    } else {
      v = scalar(t, field.scalar!, 'longAsString' in field && field.longAsString === true);
    }
    if (field.fieldKind === 'list') r.get(field).add(v);
    else r.set(field, v);
  }
}

function integer(t: Token, min: bigint, max: bigint): bigint {
  if (t.kind !== 'number' || !/^-?(0[xX][0-9a-fA-F]+|[0-9]+)$/.test(t.text)) fail(t.line, 'expected an integer');
  const negative = t.text.startsWith('-');
  const body = negative ? t.text.slice(1) : t.text;
  // A leading 0 means octal in text format; only plain 0 is allowed here.
  if (/^0[0-9]/.test(body)) fail(t.line, 'octal integers are not supported');
  const v = negative ? -BigInt(body) : BigInt(body);
  if (v < min || v > max) fail(t.line, `integer ${t.text} out of range`);
  return v;
}

function scalar(t: Token, type: ScalarType, longAsString: boolean): unknown {
  switch (type) {
    case ScalarType.STRING: {
      if (t.kind !== 'string') fail(t.line, 'expected a string');
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(t.bytes);
      } catch {
        fail(t.line, 'string is not valid UTF-8');
      }
    }
    case ScalarType.BYTES:
      if (t.kind !== 'string') fail(t.line, 'expected a quoted bytes value');
      return t.bytes;
    case ScalarType.BOOL:
      if ((t.kind === 'ident' || t.kind === 'number') && ['true', 'True', 't', '1'].includes(t.text)) return true;
      if ((t.kind === 'ident' || t.kind === 'number') && ['false', 'False', 'f', '0'].includes(t.text)) return false;
      fail(t.line, 'expected true or false');
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return Number(integer(t, -(2n ** 31n), 2n ** 31n - 1n));
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return Number(integer(t, 0n, 2n ** 32n - 1n));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64: {
      const v = integer(t, -(2n ** 63n), 2n ** 63n - 1n);
      return longAsString ? v.toString() : v;
    }
    case ScalarType.UINT64:
    case ScalarType.FIXED64: {
      const v = integer(t, 0n, 2n ** 64n - 1n);
      return longAsString ? v.toString() : v;
    }
    case ScalarType.FLOAT:
    case ScalarType.DOUBLE: {
      if (t.kind !== 'number' && t.kind !== 'ident') fail(t.line, 'expected a number');
      const text = t.text.toLowerCase();
      if (/^-?(inf|infinity)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
      if (/^-?nan$/.test(text)) return Number.NaN;
      if (t.kind !== 'number' || /^-?0[xX]/.test(text)) fail(t.line, 'expected a decimal number');
      const n = Number(text.replace(/f$/, ''));
      if (Number.isNaN(n)) fail(t.line, `bad number ${t.text}`);
      return n;
    }
  }
}

/** Parses text format as `schema`; throws ApiError('TEXT_FORMAT_INVALID') naming the line. */
export function fromTextFormat<Desc extends DescMessage>(schema: Desc, text: string): MessageShape<Desc> {
  const r = reflect(schema, create(schema));
  try {
    new Parser(tokenize(text)).message(r, undefined, 0);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    // The runtime rejects a value it cannot store (e.g. an unknown enum in a closed enum).
    throw new ApiError('TEXT_FORMAT_INVALID', `not a valid ${schema.typeName}`, { cause: err });
  }
  return r.message as MessageShape<Desc>;
}

export { toTextFormat } from './text-format-writer.js';
