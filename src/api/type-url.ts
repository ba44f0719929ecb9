import { fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { EncryptedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { typeUrlMatches } from '../lib/index.js';
import { ApiError } from './errors.js';

// The type URL core lives in lib/ so crypto/ can share it; the API layer adds
// the checks that fail with its typed errors.
export { TYPE_URL_PREFIX, packAny, typeNameOfUrl, typeUrlMatches, typeUrlOf } from '../lib/index.js';

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
