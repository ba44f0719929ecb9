import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { ApiError, type ApiErrorCode } from '../../src/api/errors.js';
import {
  certificateParentTokenKey,
  decodePageToken,
  decodePageTokenFor,
  encodePageToken,
  normalizePageSize,
} from '../../src/api/page-token.js';
import {
  ListCertificatesPageTokenSchema,
  ListCertificatesPageToken_PreviousPageEndSchema,
  ListMeasurementsPageTokenSchema,
} from '../../src/gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import { Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';

const isCode = (code: ApiErrorCode) => (err: unknown) => err instanceof ApiError && err.code === code;
const CURSOR = ['lastCertificate'];
const skid1 = Uint8Array.of(1, 2, 3, 4);
const skid2 = Uint8Array.of(9, 9, 9);

function certificatesArgs(parentId: bigint, skids: Uint8Array[]) {
  return create(ListCertificatesPageTokenSchema, {
    parentKey: certificateParentTokenKey({ kind: 'dataProvider', dataProviderId: parentId }),
    subjectKeyIdentifiers: skids,
  });
}

function issuedToken(): string {
  const token = certificatesArgs(77n, [skid1, skid2]);
  token.lastCertificate = create(ListCertificatesPageToken_PreviousPageEndSchema, {
    notValidBefore: timestampFromMs(Date.UTC(2026, 0, 1)),
    externalCertificateId: 1234n,
    parentKey: certificateParentTokenKey({ kind: 'dataProvider', dataProviderId: 77n }),
  });
  return encodePageToken(ListCertificatesPageTokenSchema, token);
}

test('page size: 0 means 50, above 1000 is 1000, negative is an error', () => {
  assert.equal(normalizePageSize(0), 50);
  assert.equal(normalizePageSize(1), 1);
  assert.equal(normalizePageSize(1000), 1000);
  assert.equal(normalizePageSize(1001), 1000);
  assert.equal(normalizePageSize(2 ** 31 - 1), 1000);
  for (const bad of [-1, -(2 ** 31), 1.5, Number.NaN]) {
    assert.throws(() => normalizePageSize(bad), isCode('INVALID_PAGE_SIZE'), String(bad));
  }
});

test('a token round trips and is unpadded base64url', () => {
  const text = issuedToken();
  assert.match(text, /^[A-Za-z0-9_-]+$/);
  const args = certificatesArgs(77n, [skid1, skid2]);
  const token = decodePageTokenFor(ListCertificatesPageTokenSchema, text, args, CURSOR);
  assert.equal(token.lastCertificate?.externalCertificateId, 1234n);
  assert.equal(token.parentKey?.externalParentId.case, 'externalDataProviderId');
  assert.deepEqual(token.subjectKeyIdentifiers, [skid1, skid2]);
});

test('a token used with other arguments is refused', () => {
  const text = issuedToken();
  const changed = [
    certificatesArgs(78n, [skid1, skid2]), // other parent
    certificatesArgs(77n, [skid1]), // narrower SKID filter
    certificatesArgs(77n, []), // filter dropped
    create(ListCertificatesPageTokenSchema, {
      parentKey: certificateParentTokenKey({ kind: 'duchy', duchyId: 'worker1' }),
      subjectKeyIdentifiers: [skid1, skid2],
    }),
  ];
  for (const args of changed) {
    assert.throws(
      () => decodePageTokenFor(ListCertificatesPageTokenSchema, text, args, CURSOR),
      (err) => isCode('PAGE_TOKEN_MISMATCH')(err) && /must remain the same/.test((err as Error).message),
    );
  }
});

test('page_size may change between pages', () => {
  const token = create(ListMeasurementsPageTokenSchema, {
    pageSize: 10,
    externalMeasurementConsumerId: 5n,
    states: [Measurement_State.SUCCEEDED],
  });
  const text = encodePageToken(ListMeasurementsPageTokenSchema, token);
  const args = create(ListMeasurementsPageTokenSchema, {
    pageSize: 500,
    externalMeasurementConsumerId: 5n,
    states: [Measurement_State.SUCCEEDED],
  });
  const ignore = ['pageSize', 'lastMeasurement'];
  assert.equal(decodePageTokenFor(ListMeasurementsPageTokenSchema, text, args, ignore).pageSize, 10);
  args.states = [Measurement_State.FAILED];
  assert.throws(
    () => decodePageTokenFor(ListMeasurementsPageTokenSchema, text, args, ignore),
    isCode('PAGE_TOKEN_MISMATCH'),
  );
});

test('tampered and foreign tokens are refused with INVALID_PAGE_TOKEN', () => {
  const text = issuedToken();
  const bytes = Buffer.from(text, 'base64url');
  const truncated = Buffer.from(bytes.subarray(0, bytes.length - 3)).toString('base64url');
  const badTag = Buffer.concat([Buffer.from([0x07]), bytes]).toString('base64url'); // wire type 7 does not exist
  const garbage = [
    text + '=',
    `${text.slice(0, -1)}+`, // standard alphabet
    `${text.slice(0, -1)}/`,
    `${text.slice(0, 5)} ${text.slice(5)}`,
    `${text}A`, // a length no base64 encoder produces
    '!!!!',
    'a'.repeat(70_000),
    truncated,
    badTag,
  ];
  let refused = 0;
  for (const token of garbage) {
    assert.throws(
      () => decodePageToken(ListCertificatesPageTokenSchema, token),
      isCode('INVALID_PAGE_TOKEN'),
      token.slice(0, 40),
    );
    refused++;
  }
  // Flipping one bit anywhere either breaks parsing or changes an argument or
  // the cursor; none may be accepted as the original arguments with a changed
  // parent or filter.
  const args = certificatesArgs(77n, [skid1, skid2]);
  let flipsAccepted = 0;
  for (let i = 0; i < bytes.length * 8; i++) {
    const flipped = Buffer.from(bytes);
    flipped[i >> 3]! ^= 1 << (i & 7);
    try {
      const token = decodePageTokenFor(ListCertificatesPageTokenSchema, flipped.toString('base64url'), args, CURSOR);
      // Accepted only when the arguments still match: the flip hit the cursor
      // or a field the comparison ignores.
      assert.deepEqual(token.subjectKeyIdentifiers, [skid1, skid2]);
      assert.equal(token.parentKey?.externalParentId.value, 77n);
      flipsAccepted++;
    } catch (err) {
      assert.ok(err instanceof ApiError, `bit ${i}: ${String(err)}`);
      assert.ok(err.code === 'INVALID_PAGE_TOKEN' || err.code === 'PAGE_TOKEN_MISMATCH');
      refused++;
    }
  }
  console.log(`page tokens: ${refused} tampered tokens refused, ${flipsAccepted} cursor-only bit flips accepted`);
  assert.ok(refused > garbage.length);
});

test('a token of another list type does not pass as arguments of this one', () => {
  const other = encodePageToken(
    ListMeasurementsPageTokenSchema,
    create(ListMeasurementsPageTokenSchema, { pageSize: 3, externalMeasurementConsumerId: 77n }),
  );
  // Both parse (protobuf is permissive), but the arguments differ.
  assert.throws(
    () => decodePageTokenFor(ListCertificatesPageTokenSchema, other, certificatesArgs(77n, []), CURSOR),
    (err) => err instanceof ApiError,
  );
  // Sanity: serialized bytes of the args alone are what the token holds.
  assert.ok(toBinary(ListCertificatesPageTokenSchema, certificatesArgs(77n, [])).length > 0);
});
