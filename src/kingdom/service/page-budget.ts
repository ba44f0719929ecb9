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
/**
 * A list page's target size, below the message limit: building a page holds
 * the event loop (and the embedded database) while it runs, so a smaller
 * page keeps other callers' waits short. Pages may be shorter than
 * page_size (AIP-158); callers follow next_page_token.
 */
export const LIST_PAGE_BYTES = 1024 * 1024;
/** Room for the gRPC envelope and the response's other fields besides the page token. */
const RESERVED_BYTES = 1024;
/** A length-delimited field's tag and length prefix, at most. */
const FIELD_OVERHEAD_BYTES = 6;

/**
 * How many of `items` fit in a response of `limitBytes` (at most
 * LIST_PAGE_BYTES) that also carries a
 * page token of up to `tokenBytes`. At least one: a single item is never
 * split, and one over the limit still fails as before.
 */
export function itemsWithinLimit<Desc extends DescMessage>(
  schema: Desc,
  items: readonly MessageShape<Desc>[],
  limitBytes: number,
  tokenBytes: number,
): number {
  const limit = Math.min(limitBytes, LIST_PAGE_BYTES);
  let total = RESERVED_BYTES + tokenBytes + FIELD_OVERHEAD_BYTES;
  for (let i = 0; i < items.length; i++) {
    total += toBinary(schema, items[i]!).length + FIELD_OVERHEAD_BYTES;
    if (total > limit && i > 0) return i;
  }
  return items.length;
}

/** The base64url length of a page token whose message is `tokenBytes` long, plus room for its cursor. */
export function pageTokenBytes(tokenMessageBytes: number): number {
  const CURSOR_BYTES = 64;
  return Math.ceil(((tokenMessageBytes + CURSOR_BYTES) * 4) / 3);
}

/**
 * Rows read by the first store query while filling a page; later queries
 * read about FETCH_BYTES, or the room left if less, at the sizes seen. Each
 * query's rows are decoded in one go on the event loop, so keeping a query
 * near the room left keeps other calls from waiting behind it.
 */
const FIRST_FETCH_ROWS = 16;
/** What a later query aims to read, at the item sizes seen so far. */
const FETCH_BYTES = 1024 * 1024;

export interface PageSource<Row, Cursor> {
  fetch(limit: number, after: Cursor | undefined): Promise<{ items: Row[]; next: Cursor | null }>;
  cursorOf(row: Row): Cursor;
}

/**
 * Fills a page of up to `pageSize` items, reading the store in chunks so a
 * large page_size of large items never loads much more than the response
 * can carry. `next` is the cursor after the last item kept, or null when
 * nothing follows.
 */
export async function fillPage<Row, Desc extends DescMessage, Cursor>(
  source: PageSource<Row, Cursor>,
  render: (row: Row) => MessageShape<Desc>,
  options: { schema: Desc; pageSize: number; limitBytes: number; tokenBytes: number; after?: Cursor },
): Promise<{ items: MessageShape<Desc>[]; next: Cursor | null }> {
  const items: MessageShape<Desc>[] = [];
  const limit = Math.min(options.limitBytes, LIST_PAGE_BYTES);
  const start = RESERVED_BYTES + options.tokenBytes + FIELD_OVERHEAD_BYTES;
  let total = start;
  let after = options.after;
  let rows = FIRST_FETCH_ROWS;
  for (;;) {
    const page = await source.fetch(Math.min(rows, options.pageSize - items.length), after);
    for (const row of page.items) {
      const item = render(row);
      total += toBinary(options.schema, item).length + FIELD_OVERHEAD_BYTES;
      if (total > limit && items.length > 0) return { items, next: after! };
      items.push(item);
      after = source.cursorOf(row);
    }
    if (page.next === null) return { items, next: null };
    if (items.length >= options.pageSize) return { items, next: page.next };
    after = page.next;
    const average = (total - start) / items.length;
    rows = Math.max(FIRST_FETCH_ROWS, Math.floor(Math.min(limit - total, FETCH_BYTES) / average) + 1);
  }
}
