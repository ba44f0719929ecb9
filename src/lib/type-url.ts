/**
 * Type URLs and `Any` packing as CMMS writes and reads them: written as
 * `type.googleapis.com/` + the full message name; read like Java's
 * Any.unpack, comparing only the text after the last `/`, so a URL with
 * another host still matches. The error-free core shared by `crypto/` (which
 * must not depend on `api/`) and `api/` (which adds its typed errors).
 */
import { create, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';

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

/** `Any.pack`: the CMMS type URL and the serialized message. */
export function packAny<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): Any {
  return create(AnySchema, { typeUrl: typeUrlOf(schema), value: toBinary(schema, message) });
}
