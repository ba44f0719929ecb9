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

/** Rows read from the store per query while filling a page: 100 certificates of 64 KiB are 6.4 MiB. */
const FETCH_CHUNK = 100;

export interface PageSource<Row, Cursor> {
  fetch(limit: number, after: Cursor | undefined): Promise<{ items: Row[]; next: Cursor | null }>;
  cursorOf(row: Row): Cursor;
}

/**
 * Fills a page of up to `pageSize` items, reading the store in chunks so a
 * large page_size of large items never loads more than a chunk beyond what
 * the response can carry. `next` is the cursor after the last item kept,
 * or null when nothing follows.
 */
export async function fillPage<Row, Desc extends DescMessage, Cursor>(
  source: PageSource<Row, Cursor>,
  render: (row: Row) => MessageShape<Desc>,
  options: { schema: Desc; pageSize: number; limitBytes: number; tokenBytes: number; after?: Cursor },
): Promise<{ items: MessageShape<Desc>[]; next: Cursor | null }> {
  const items: MessageShape<Desc>[] = [];
  let total = RESERVED_BYTES + options.tokenBytes + FIELD_OVERHEAD_BYTES;
  let after = options.after;
  for (;;) {
    const page = await source.fetch(Math.min(FETCH_CHUNK, options.pageSize - items.length), after);
    for (const row of page.items) {
      const item = render(row);
      total += toBinary(options.schema, item).length + FIELD_OVERHEAD_BYTES;
      if (total > options.limitBytes && items.length > 0) return { items, next: after! };
      items.push(item);
      after = source.cursorOf(row);
    }
    if (page.next === null) return { items, next: null };
    if (items.length >= options.pageSize) return { items, next: page.next };
    after = page.next;
  }
}
