/**
 * The text format writer against texts written by hand from protobuf-java's
 * rules (TextFormat.Printer, TextFormatEscaper, Float/Double.toString), so
 * `MeasurementSystem` prints what upstream's `println(message)` prints.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { StructSchema } from '@bufbuild/protobuf/wkt';
import { escapeBytes, javaFloatingPoint, toTextFormat } from '../../src/api/text-format-writer.js';
import { fromTextFormat } from '../../src/api/text-format.js';
import { CertificateSchema, Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { DifferentialPrivacyParamsSchema } from '../../src/gen/wfa/measurement/api/v2alpha/differential_privacy_pb.js';
import { MeasurementSpec_VidSamplingIntervalSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Measurement_Result_FrequencySchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { PublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/public_key_pb.js';
import { RequisitionSchema } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';

const bytes = (...b: number[]) => Uint8Array.from(b);
let cases = 0;
const same = (actual: string, expected: string, what: string) => {
  assert.equal(actual, expected, what);
  cases++;
};

test('bytes: every escape class of TextFormatEscaper', () => {
  // A DER header: 0x30 is printable "0", 0x82 0x01 0x9B are octal.
  same(escapeBytes(bytes(0x30, 0x82, 0x01, 0x9b, 0x30)), '0\\202\\001\\2330', 'DER header');
  // The ten named escapes.
  same(escapeBytes(bytes(0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x5c, 0x27, 0x22)), '\\a\\b\\t\\n\\v\\f\\r\\\\\\\'\\"', 'named escapes');
  // Printable ASCII is kept, the edges included; everything else is three octal digits, never \x or \u.
  same(escapeBytes(bytes(0x20, 0x7e, 0x3f, 0x41)), ' ~?A', 'printable');
  same(escapeBytes(bytes(0x00, 0x1f, 0x7f, 0x80, 0xff, 0x0e)), '\\000\\037\\177\\200\\377\\016', 'octal');
  // Every byte value: exactly one of the three forms, and the reader reads each back.
  for (let b = 0; b < 256; b++) {
    const e = escapeBytes(bytes(b));
    assert.match(e, /^(?:[ -~]|\\[abtnvfr\\'"]|\\[0-3][0-7]{2})$/, `byte ${b}`);
    assert.ok(!(b >= 0x20 && b <= 0x7e && !'\\\'"'.includes(String.fromCharCode(b))) || e === String.fromCharCode(b), `byte ${b} kept`);
    assert.deepEqual(fromTextFormat(CertificateSchema, `x509_der: "${e}"`).x509Der, bytes(b), `byte ${b} reads back`);
  }
  cases += 256;
});

test('strings: escaped as their UTF-8 bytes, as Java does with escapeNonAscii', () => {
  const line = (name: string) => toTextFormat(CertificateSchema, create(CertificateSchema, { name }));
  same(line('dataProviders/OljiQHRz-E4'), 'name: "dataProviders/OljiQHRz-E4"\n', 'plain');
  same(line(`it's "x" \\ y`), 'name: "it\\\'s \\"x\\" \\\\ y"\n', 'quotes and backslash');
  same(line('café'), 'name: "caf\\303\\251"\n', 'two-byte UTF-8');
  same(line('€'), 'name: "\\342\\202\\254"\n', 'three-byte UTF-8');
  same(line('😀'), 'name: "\\360\\237\\230\\200"\n', 'four-byte UTF-8 (a surrogate pair in UTF-16)');
  same(line('a\tb\nc\u007f'), 'name: "a\\tb\\nc\\177"\n', 'controls');
  // Java's getBytes(UTF_8) writes "?" for a lone surrogate.
  same(line('x\ud800y\udc00'), 'name: "x?y?"\n', 'lone surrogates');
  same(line('é\'"\\'), 'name: "\\303\\251\\\'\\"\\\\"\n', 'non-ASCII and quotes together');
});

test('messages: field-number order, nesting, enums, repeated, presence and the final newline', () => {
  same(toTextFormat(CertificateSchema, create(CertificateSchema)), '', 'empty message');
  const certificate = create(CertificateSchema, {
    subjectKeyIdentifier: bytes(0x90, 0xc1),
    revocationState: Certificate_RevocationState.HOLD,
    name: 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs',
    x509Der: bytes(0x30, 0x82, 0x01, 0x9b, 0x30),
  });
  same(
    toTextFormat(CertificateSchema, certificate),
    'name: "dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs"\nx509_der: "0\\202\\001\\2330"\nrevocation_state: HOLD\nsubject_key_identifier: "\\220\\301"\n',
    'Certificate',
  );
  // An enum number the schema does not name prints as the number.
  same(toTextFormat(CertificateSchema, create(CertificateSchema, { revocationState: 7 as Certificate_RevocationState })), 'revocation_state: 7\n', 'unknown enum value');

  // Nested messages indent by two, fields by number (signature 2 before message 4); an Any prints as
  // its two fields (no type registry).
  const publicKey = create(PublicKeySchema, {
    name: 'dataProviders/AAAAAAAAAHs/publicKey',
    publicKey: { message: { typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey', value: bytes(0x08, 0x01, 0x12, 0x00) }, signature: bytes(0x30, 0x45) },
    certificate: 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs',
  });
  same(
    toTextFormat(PublicKeySchema, publicKey),
    [
      'name: "dataProviders/AAAAAAAAAHs/publicKey"',
      'public_key {',
      '  signature: "0E"',
      '  message {',
      '    type_url: "type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey"',
      '    value: "\\b\\001\\022\\000"',
      '  }',
      '}',
      'certificate: "dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs"',
      '',
    ].join('\n'),
    'PublicKey',
  );
  // A set but empty nested message still prints its braces.
  same(toTextFormat(PublicKeySchema, create(PublicKeySchema, { publicKey: {} })), 'public_key {\n}\n', 'empty nested message');

  // 64-bit unsigned values print unsigned; repeated values one line each, in order.
  const requisition = create(RequisitionSchema, { nonce: 2n ** 64n - 1n, fulfillmentContext: { warnings: ['b', 'a'] } });
  assert.match(toTextFormat(RequisitionSchema, requisition), /^nonce: 18446744073709551615\n/m);
  assert.match(toTextFormat(RequisitionSchema, requisition), /\n {2}warnings: "b"\n {2}warnings: "a"\n/);
  cases += 2;

  // Implicit presence: zero values are left out, but -0.0 is not zero to Java (raw bits).
  same(toTextFormat(DifferentialPrivacyParamsSchema, create(DifferentialPrivacyParamsSchema, { epsilon: 0, delta: 0 })), '', 'zeros left out');
  same(toTextFormat(DifferentialPrivacyParamsSchema, create(DifferentialPrivacyParamsSchema, { epsilon: 0.015, delta: -0 })), 'epsilon: 0.015\ndelta: -0.0\n', '-0.0 kept');
});

test('maps: entries sorted by key, key and value always printed, message values nested', () => {
  // Struct.fields is map<string, Value>; a oneof member set to its default still prints.
  const struct = create(StructSchema, {
    fields: {
      é: { kind: { case: 'stringValue', value: '' } },
      b: { kind: { case: 'numberValue', value: 0 } },
      a: { kind: { case: 'nullValue', value: 0 } },
      c: {},
    },
  });
  same(
    toTextFormat(StructSchema, struct),
    [
      'fields {', '  key: "a"', '  value {', '    null_value: NULL_VALUE', '  }', '}',
      'fields {', '  key: "b"', '  value {', '    number_value: 0.0', '  }', '}',
      'fields {', '  key: "c"', '  value {', '  }', '}',
      'fields {', '  key: "\\303\\251"', '  value {', '    string_value: ""', '  }', '}',
      '',
    ].join('\n'),
    'Struct',
  );
  // map<int64, double>: keys sorted as signed numbers, not as text; a zero value still prints.
  const frequency = create(Measurement_Result_FrequencySchema, { relativeFrequencyDistribution: { '10': 0.25, '2': 0.5, '-1': 0, '1': 0.125 } });
  same(
    toTextFormat(Measurement_Result_FrequencySchema, frequency),
    [-1, 1, 2, 10]
      .map((k, i) => `relative_frequency_distribution {\n  key: ${k}\n  value: ${['0.0', '0.125', '0.5', '0.25'][i]}\n}\n`)
      .join(''),
    'Frequency',
  );
});

test("floating point: Java's Float.toString and Double.toString", () => {
  const doubles: [number, string][] = [
    [0.1, '0.1'], [0.015, '0.015'], [1, '1.0'], [100, '100.0'], [-2.5, '-2.5'], [1234567.125, '1234567.125'],
    [0.001, '0.001'], [0.0001, '1.0E-4'], [1e7, '1.0E7'], [9999999, '9999999.0'], [123456789, '1.23456789E8'],
    [1e-5, '1.0E-5'], [1.7976931348623157e308, '1.7976931348623157E308'], [2.2250738585072014e-308, '2.2250738585072014E-308'],
    // Double.MIN_VALUE: one digit would do, but Java takes the closer two-digit 4.9.
    [5e-324, '4.9E-324'], [0, '0.0'], [-0, '-0.0'], [NaN, 'NaN'], [Infinity, 'Infinity'], [-Infinity, '-Infinity'],
    [1 / 3, '0.3333333333333333'], [2 / 3, '0.6666666666666666'],
  ];
  for (const [v, expected] of doubles) same(javaFloatingPoint(v, false), expected, `double ${v}`);
  const floats: [number, string][] = [
    [0.1, '0.1'], [0.2, '0.2'], [1 / 3, '0.33333334'], [16777216, '1.6777216E7'], [1e10, '1.0E10'], [3.4028234663852886e38, '3.4028235E38'],
    // Float.MIN_VALUE prints 1.4E-45 for the same reason as Double.MIN_VALUE.
    [1.401298464324817e-45, '1.4E-45'], [0.001, '0.001'], [0.0009999999, '9.999999E-4'], [-1.5, '-1.5'],
  ];
  for (const [v, expected] of floats) same(javaFloatingPoint(Math.fround(v), true), expected, `float ${v}`);
  const interval = create(MeasurementSpec_VidSamplingIntervalSchema, { start: Math.fround(0.1), width: Math.fround(0.2) });
  same(toTextFormat(MeasurementSpec_VidSamplingIntervalSchema, interval), 'start: 0.1\nwidth: 0.2\n', 'VidSamplingInterval');
});

test('unknown fields: last, by number, varints before fixed32, fixed64, length-delimited and groups', () => {
  const known = toBinary(CertificateSchema, create(CertificateSchema, { name: 'n' }));
  const extra = bytes(
    0xa5, 0x06, 0x01, 0x00, 0x00, 0x00, // 100: fixed32 1 (before the varint on the wire)
    0xa0, 0x06, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, // 100: varint 2^64-1
    0xa9, 0x06, 0x02, 0, 0, 0, 0, 0, 0, 0, // 101: fixed64 2
    0xb2, 0x06, 0x02, 0x08, 0x01, // 102: bytes that parse as a message {1: 1}
    0xba, 0x06, 0x03, 0x61, 0x62, 0x63, // 103: "abc" (does not parse)
    0xc2, 0x06, 0x00, // 104: empty bytes parse as an empty message
    0xcb, 0x06, 0x08, 0x05, 0xcc, 0x06, // 105: group {1: 5}
    0xa0, 0x06, 0x07, // 100: varint 7, after the others
  );
  const message = fromBinary(CertificateSchema, Uint8Array.from([...known, ...extra]));
  same(
    toTextFormat(CertificateSchema, message),
    [
      'name: "n"',
      '100: 18446744073709551615', '100: 7', '100: 0x00000001',
      '101: 0x0000000000000002',
      '102: {', '  1: 1', '}',
      '103: "abc"',
      '104: {', '}',
      '105 {', '  1: 5', '}',
      '',
    ].join('\n'),
    'unknown fields',
  );
  console.log(`text format writer: ${cases} rule-derived cases match byte for byte`);
});
