import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { ApiError, type ApiErrorCode } from '../../src/api/errors.js';
import {
  packAny,
  requireEncryptedType,
  TYPE_URL_PREFIX,
  typeNameOfUrl,
  typeUrlMatches,
  typeUrlOf,
  unpackAny,
} from '../../src/api/type-url.js';
import {
  EncryptedMessageSchema,
  EncryptionPublicKey_Format,
  EncryptionPublicKeySchema,
  SignedMessageSchema,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';

const isCode = (code: ApiErrorCode) => (err: unknown) => err instanceof ApiError && err.code === code;

test('type URLs are type.googleapis.com/ + the full proto name', () => {
  assert.equal(TYPE_URL_PREFIX, 'type.googleapis.com/');
  assert.equal(typeUrlOf(EncryptionPublicKeySchema), 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
  // The nested type used for EventGroup encrypted metadata (cmms-reference §1.7).
  assert.equal(typeUrlOf(EventGroup_MetadataSchema), 'type.googleapis.com/wfa.measurement.api.v2alpha.EventGroup.Metadata');
});

test('only the text after the last slash is compared, as Java does', () => {
  assert.equal(typeNameOfUrl('type.googleapis.com/a.b.C'), 'a.b.C');
  assert.equal(typeNameOfUrl('example.org/x/y/a.b.C'), 'a.b.C');
  assert.equal(typeNameOfUrl('a.b.C'), 'a.b.C');
  assert.ok(typeUrlMatches('example.com/wfa.measurement.api.v2alpha.EncryptionPublicKey', EncryptionPublicKeySchema));
  assert.ok(typeUrlMatches('wfa.measurement.api.v2alpha.EncryptionPublicKey', EncryptionPublicKeySchema));
  assert.ok(!typeUrlMatches('type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKeyX', EncryptionPublicKeySchema));
  assert.ok(!typeUrlMatches('type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey/', EncryptionPublicKeySchema));
  assert.ok(!typeUrlMatches('', EncryptionPublicKeySchema));
});

test('pack and unpack an EncryptionPublicKey', () => {
  const key = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: Uint8Array.of(1, 2, 3) });
  const any = packAny(EncryptionPublicKeySchema, key);
  assert.equal(any.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
  // The Any value is exactly the serialized message (signatures cover these bytes).
  assert.deepEqual(any.value, toBinary(EncryptionPublicKeySchema, key));
  const back = unpackAny(EncryptionPublicKeySchema, any);
  assert.equal(back.format, EncryptionPublicKey_Format.TINK_KEYSET);
  assert.deepEqual(back.data, Uint8Array.of(1, 2, 3));
  // Another host in front of the name still unpacks.
  const foreignHost = create(AnySchema, { typeUrl: 'example.org/wfa.measurement.api.v2alpha.EncryptionPublicKey', value: any.value });
  assert.deepEqual(unpackAny(EncryptionPublicKeySchema, foreignHost).data, Uint8Array.of(1, 2, 3));
});

test('unpacking the wrong type, nothing, or garbage is a typed error', () => {
  const signed = packAny(SignedMessageSchema, create(SignedMessageSchema, { signature: Uint8Array.of(7) }));
  assert.throws(() => unpackAny(EncryptionPublicKeySchema, signed), isCode('TYPE_URL_MISMATCH'));
  assert.throws(() => unpackAny(EncryptionPublicKeySchema, undefined), isCode('TYPE_URL_MISMATCH'));
  assert.throws(() => unpackAny(EncryptionPublicKeySchema, create(AnySchema)), isCode('TYPE_URL_MISMATCH'));
  const garbage = create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: Uint8Array.of(0x0a, 0xff) });
  assert.throws(() => unpackAny(EncryptionPublicKeySchema, garbage), isCode('MESSAGE_MALFORMED'));
});

test('EncryptedMessage type_url names the plaintext type', () => {
  const ok = create(EncryptedMessageSchema, { ciphertext: Uint8Array.of(1), typeUrl: typeUrlOf(EventGroup_MetadataSchema) });
  assert.doesNotThrow(() => requireEncryptedType(ok, EventGroup_MetadataSchema));
  assert.throws(() => requireEncryptedType(ok, SignedMessageSchema), isCode('TYPE_URL_MISMATCH'));
});
