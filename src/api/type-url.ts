import { create, fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import type { EncryptedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { ApiError } from './errors.js';

/**
 * Type URLs as CMMS writes them (`type.googleapis.com/` + full message name)
 * and reads them: like Java's Any.unpack, only the text after the last `/`
 * is compared, so a URL with another host still matches.
 */

export const TYPE_URL_PREFIX = 'type.googleapis.com/';

/** `type.googleapis.com/<full name>` of a message type. */
export function typeUrlOf(schema: DescMessage): string {
  return TYPE_URL_PREFIX + schema.typeName;
}

/** The full message name of a type URL: the text after its last `/`. */
export function typeNameOfUrl(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

/** True when `typeUrl` names `schema`'s message type. */
export function typeUrlMatches(typeUrl: string, schema: DescMessage): boolean {
  return typeNameOfUrl(typeUrl) === schema.typeName;
}

/** Packs a message into an Any with the CMMS type URL. */
export function packAny<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Any {
  return create(AnySchema, { typeUrl: typeUrlOf(schema), value: toBinary(schema, message) });
}

/**
 * Unpacks an Any that must hold `schema`'s type. Throws TYPE_URL_MISMATCH for
 * another type (or an empty Any) and MESSAGE_MALFORMED when the bytes do not
 * parse.
 */
export function unpackAny<Desc extends DescMessage>(schema: Desc, any: Any | undefined): MessageShape<Desc> {
  if (any === undefined || !typeUrlMatches(any.typeUrl, schema)) {
    throw new ApiError(
      'TYPE_URL_MISMATCH',
      `expected ${schema.typeName}, got ${any === undefined || any.typeUrl === '' ? 'nothing' : JSON.stringify(clip(any.typeUrl))}`,
    );
  }
  return parseAs(schema, any.value);
}

/** Parses bytes as `schema`; throws MESSAGE_MALFORMED instead of the runtime's plain Error. */
export function parseAs<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array): MessageShape<Desc> {
  try {
    return fromBinary(schema, bytes);
  } catch (cause) {
    throw new ApiError('MESSAGE_MALFORMED', `not a valid ${schema.typeName}`, { cause });
  }
}

/** Checks that an EncryptedMessage declares `schema` as its plaintext type. */
export function requireEncryptedType(encrypted: EncryptedMessage, schema: DescMessage): void {
  if (!typeUrlMatches(encrypted.typeUrl, schema)) {
    throw new ApiError(
      'TYPE_URL_MISMATCH',
      `encrypted message should hold ${schema.typeName}, declares ${JSON.stringify(clip(encrypted.typeUrl))}`,
    );
  }
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
}
