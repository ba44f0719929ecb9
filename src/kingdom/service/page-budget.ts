/**
 * List pages within the response size limit. A page of page_size items can
 * be far larger than the message limit (50 certificates of 64 KiB are
 * 3.2 MiB; a page of 1,000 is 64 MiB), and one over the limit fails as a
 * whole, so the caller can never get past it. Pages stop adding items
 * before the limit and hand back a next_page_token from the last item kept.
 */
import { toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';

/** gRPC's customary limit, used when the server names none. */
export const DEFAULT_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Room for the gRPC envelope and the response's other fields besides the page token. */
const RESERVED_BYTES = 1024;
/** A length-delimited field's tag and length prefix, at most. */
const FIELD_OVERHEAD_BYTES = 6;

/**
 * How many of `items` fit in a response of `limitBytes` that also carries a
 * page token of up to `tokenBytes`. At least one: a single item is never
 * split, and one over the limit still fails as before.
 */
export function itemsWithinLimit<Desc extends DescMessage>(
  schema: Desc,
  items: readonly MessageShape<Desc>[],
  limitBytes: number,
  tokenBytes: number,
): number {
  let total = RESERVED_BYTES + tokenBytes + FIELD_OVERHEAD_BYTES;
  for (let i = 0; i < items.length; i++) {
    total += toBinary(schema, items[i]!).length + FIELD_OVERHEAD_BYTES;
    if (total > limitBytes && i > 0) return i;
  }
  return items.length;
}

/** The base64url length of a page token whose message is `tokenBytes` long, plus room for its cursor. */
export function pageTokenBytes(tokenMessageBytes: number): number {
  const CURSOR_BYTES = 64;
  return Math.ceil(((tokenMessageBytes + CURSOR_BYTES) * 4) / 3);
}
