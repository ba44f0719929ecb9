import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { create } from '@bufbuild/protobuf';
import { ValueSchema } from '@bufbuild/protobuf/wkt';
import { ApiError } from '../../src/api/errors.js';
import { parseResourceName } from '../../src/api/resource-names.js';
import { fromTextFormat, toTextFormat } from '../../src/api/text-format.js';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import { AuthorityKeyToPrincipalMapSchema } from '../../src/gen/wfa/measurement/config/authority_key_to_principal_map_pb.js';
import { DuchyCertConfigSchema } from '../../src/gen/wfa/measurement/config/duchy_cert_config_pb.js';
import { ListCertificatesPageTokenSchema } from '../../src/gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import { RequisitionSchema, Requisition_State } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';

const secretfiles = new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url);

/** SKID of a PEM certificate as openssl prints it, as bytes. */
function opensslSkid(pemFile: string): Uint8Array {
  const out = execFileSync('openssl', ['x509', '-in', new URL(pemFile, secretfiles).pathname, '-noout', '-ext', 'subjectKeyIdentifier']).toString();
  const hex = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(out)?.[1];
  assert.ok(hex, out);
  return Uint8Array.from(hex.split(':').map((h) => parseInt(h, 16)));
}

const isTextError = (pattern: RegExp) => (err: unknown) =>
  err instanceof ApiError && err.code === 'TEXT_FORMAT_INVALID' && pattern.test(err.message);

test("upstream's duchy_cert_config.textproto loads and its SKIDs are the Duchy roots' SKIDs", () => {
  const text = readFileSync(new URL('duchy_cert_config.textproto', secretfiles), 'utf8');
  const config = fromTextFormat(DuchyCertConfigSchema, text);
  assert.deepEqual(
    config.duchies.map((d) => d.duchyId),
    ['aggregator', 'worker1', 'worker2'],
  );
  for (const duchy of config.duchies) {
    assert.equal(duchy.computationControlServiceCertHost, 'localhost');
    assert.deepEqual(duchy.rootCertificateSkid, opensslSkid(`${duchy.duchyId}_root.pem`), duchy.duchyId);
    assert.equal(parseResourceName(`duchies/${duchy.duchyId}`)?.kind, 'duchy');
  }
  // Writing it back and reading again gives the same message.
  const again = fromTextFormat(DuchyCertConfigSchema, toTextFormat(DuchyCertConfigSchema, config));
  assert.deepEqual(again, config);
  console.log(`text format: ${config.duchies.length} Duchy root SKIDs match openssl`);
});

test('an AKID map in the upstream style (\\x escapes, comments, both separators)', () => {
  const text = [
    '# proto-message: AuthorityKeyToPrincipalMap',
    'entries {',
    '  authority_key_identifier: "\\x90\\xC1\\xD3\\xBD\\xE6\\x74\\x01\\x55\\xA7\\xEF\\xE6\\x64\\x72\\xA6\\x68\\x9C\\x41\\x5B\\x77\\x04"',
    '  principal_resource_name: "dataProviders/OljiQHRz-E4"',
    '}',
    'entries: < authority_key_identifier: "\\001\\002" "\\x03", principal_resource_name: \'modelProviders/AAAAAAAAAAE\'; >',
  ].join('\n');
  const map = fromTextFormat(AuthorityKeyToPrincipalMapSchema, text);
  assert.equal(map.entries.length, 2);
  assert.equal(map.entries[0]!.authorityKeyIdentifier.length, 20);
  assert.equal(map.entries[0]!.authorityKeyIdentifier[0], 0x90);
  assert.deepEqual(map.entries[1]!.authorityKeyIdentifier, Uint8Array.of(1, 2, 3));
  assert.equal(map.entries[1]!.principalResourceName, 'modelProviders/AAAAAAAAAAE');

  const written = toTextFormat(AuthorityKeyToPrincipalMapSchema, map);
  assert.match(written, /authority_key_identifier: "\\220\\301\\323/); // octal, as protobuf-java writes
  assert.deepEqual(fromTextFormat(AuthorityKeyToPrincipalMapSchema, written), map);
  assert.equal(toTextFormat(AuthorityKeyToPrincipalMapSchema, create(AuthorityKeyToPrincipalMapSchema)), '');
  assert.equal(fromTextFormat(AuthorityKeyToPrincipalMapSchema, '# empty map\n').entries.length, 0);
});

test('scalars of every kind, enums by name or number, list syntax', () => {
  const r = fromTextFormat(
    RequisitionSchema,
    'name: "dataProviders/OljiQHRz-E4/requisitions/AAAAAAAAAAE" state: FULFILLED nonce: 0xFFFFFFFFFFFFFFFF ' +
      'measurement_state: 3 fulfillment_context { warnings: ["a", "b"] warnings: "c" build_label: "caf\\u00e9" } ' +
      'update_time { seconds: -5 nanos: 7 }',
  );
  assert.equal(r.state, Requisition_State.FULFILLED);
  assert.equal(r.nonce, 2n ** 64n - 1n);
  assert.equal(r.measurementState, 3);
  assert.deepEqual(r.fulfillmentContext?.warnings, ['a', 'b', 'c']);
  assert.equal(r.fulfillmentContext?.buildLabel, 'café');
  assert.equal(r.updateTime?.seconds, -5n);
  assert.deepEqual(fromTextFormat(RequisitionSchema, toTextFormat(RequisitionSchema, r)), r);

  const token = fromTextFormat(ListCertificatesPageTokenSchema, 'parent_key { external_duchy_id: "worker1" } subject_key_identifiers: []');
  assert.equal(token.parentKey?.externalParentId.case, 'externalDuchyId');
});

test('bad input is refused with the line that is wrong', () => {
  const cases: Array<[string, RegExp]> = [
    ['duchies {\n  duchy_idd: "x"\n}', /line 2: .*no field "duchy_idd"/],
    ['duchies {\n  duchy_id: "x"\n', /missing "}"/],
    ['duchies { duchy_id: "x" duchy_id: "y" }', /given twice/],
    ['duchies { duchy_id "x" }', /expected ":"/],
    ['duchies { duchy_id: 5 }', /expected a string/],
    ['duchies { root_certificate_skid: "\\q" }', /unknown escape/],
    ['duchies { root_certificate_skid: "\\xZZ" }', /bad \\x escape/],
    ['duchies { root_certificate_skid: "abc }', /unterminated string/],
    ['duchies { duchy_id: "\\xff" }', /not valid UTF-8/],
    ['duchies { root_certificate_skid: "\\400" }', /above \\377/],
    ['duchies: "x"', /expected "\{"/],
    ['}', /expected a field name/],
    ['duchies { @ }', /unexpected character/],
    ['[type.googleapis.com/x] {}', /unexpected character "\/"/],
    ['[ext.field]: 1', /expected a field name/],
  ];
  for (const [text, pattern] of cases) {
    assert.throws(() => fromTextFormat(DuchyCertConfigSchema, text), isTextError(pattern), text.slice(0, 60));
  }
  assert.throws(() => fromTextFormat(RequisitionSchema, 'state: NOT_A_STATE'), isTextError(/no value NOT_A_STATE/));
  assert.throws(() => fromTextFormat(RequisitionSchema, 'nonce: -1'), isTextError(/out of range/));
  assert.throws(() => fromTextFormat(RequisitionSchema, 'nonce: 1.5'), isTextError(/expected an integer/));
  assert.throws(() => fromTextFormat(RequisitionSchema, 'nonce: 010'), isTextError(/octal/));
  // google.protobuf.Value nests through ListValue without end.
  const deep = 'list_value { values { '.repeat(40) + '} } '.repeat(40);
  assert.throws(() => fromTextFormat(ValueSchema, deep), isTextError(/nested too deeply/));
  const shallow = 'list_value { values { '.repeat(3) + 'number_value: 2.5e3 ' + '} } '.repeat(3);
  assert.equal(fromTextFormat(ValueSchema, shallow).kind.case, 'listValue');
  assert.throws(() => fromTextFormat(ErrorInfoSchema, 'metadata { key: "a" value: "b" }'), isTextError(/map field/));
  console.log(`text format: ${cases.length + 6} malformed inputs refused`);
});

test('random input either parses or is a typed error, never a crash', () => {
  // Deterministic generator so a failure can be replayed.
  let seed = 0x2545f491;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
  const alphabet = ['duchies', 'duchy_id', 'root_certificate_skid', ':', '{', '}', '<', '>', '[', ']', ',', ';', '"', "'", '\\x', '\\', '0x1F', '-', '12', 'e5', ' ', '\n', '#', 'é', '\u0000'];
  let parsed = 0;
  let refused = 0;
  for (let i = 0; i < 3000; i++) {
    let text = '';
    const n = next() % 24;
    for (let j = 0; j < n; j++) text += alphabet[next() % alphabet.length];
    try {
      fromTextFormat(DuchyCertConfigSchema, text);
      parsed++;
    } catch (err) {
      assert.ok(err instanceof ApiError && err.code === 'TEXT_FORMAT_INVALID', `${JSON.stringify(text)}: ${String(err)}`);
      refused++;
    }
  }
  console.log(`text format fuzz: ${parsed} parsed, ${refused} refused, 0 crashes`);
  assert.equal(parsed + refused, 3000);
});
