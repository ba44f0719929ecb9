/** The hash-chained audit log: entries, appending them, verifying the chain, exporting it. */
import { createHash } from 'node:crypto';
import type { Queryable } from './database.js';

/**
 * The append-only audit log. Each entry's hash covers the previous entry's
 * hash and the canonical JSON of the entry, so editing, deleting or
 * reordering a row breaks the chain at that row. (Dropping rows from the tail
 * is only detectable against a head hash kept elsewhere: `verifyAuditChain`
 * returns it for that purpose.)
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * How the caller of a change authenticated, recorded beside the actor: the
 * client certificate (SHA-256 of its DER and its SKID, hex), the API key (its
 * resource name), or the operator's admin token.
 */
export type AuditAuthentication =
  | { readonly method: 'clientCertificate'; readonly clientCertificateSha256: string; readonly clientCertificateSkid: string }
  | { readonly method: 'apiKey'; readonly apiKey: string }
  | { readonly method: 'openIdConnect'; readonly issuer: string; readonly subject: string }
  | { readonly method: 'adminToken' };

/** Who acts: a principal resource name alone, or with how it authenticated. */
export type AuditActor = string | { readonly name: string; readonly authentication: AuditAuthentication };

export const actorName = (actor: AuditActor): string => (typeof actor === 'string' ? actor : actor.name);

/** A state change, recorded in the same transaction as the change itself. */
export interface AuditEvent {
  /** Principal resource name, or 'admin' for the operator surface. */
  readonly actor: string;
  /** The operation, named after the RPC (e.g. `RevokeCertificate`). */
  readonly action: string;
  /** The resource name changed. */
  readonly resource: string;
  readonly before: JsonValue | null;
  readonly after: JsonValue | null;
  /** Absent in entries written before it was recorded; such entries hash as they always did. */
  readonly authentication?: AuditAuthentication | null;
}

export interface AuditEntry extends AuditEvent {
  readonly seq: bigint;
  readonly time: Date;
  readonly prevHash: Uint8Array;
  readonly hash: Uint8Array;
}

export type AuditChainVerification =
  | { readonly ok: true; readonly count: bigint; readonly headHash: Uint8Array }
  | {
      readonly ok: false;
      /** The first sequence number at which the chain is broken. */
      readonly seq: bigint;
      readonly problem: 'SEQUENCE_GAP' | 'PREVIOUS_HASH_MISMATCH' | 'HASH_MISMATCH';
    };

export const GENESIS_HASH = new Uint8Array(32);

/** Transaction-scoped advisory lock that serialises appends across connections and replicas. */
const AUDIT_LOCK_KEY = 0x41756474; // 'Audt'

/** JSON with object keys sorted at every level and no whitespace. */
export function canonicalJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in audit JSON');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k] as JsonValue)}`).join(',')}}`;
}

export function entryHash(prevHash: Uint8Array, e: AuditEvent & { seq: bigint; time: Date }): Uint8Array {
  return hashBody(prevHash, entryBody(e, e.seq, jsonOrNull(e.before), jsonOrNull(e.after), authenticationJson(e.authentication)));
}

const authenticationJson = (a: AuditAuthentication | null | undefined): string | null =>
  a === null || a === undefined ? null : canonicalJson(a as unknown as JsonValue);

const jsonOrNull = (v: JsonValue | null): string | null => (v === null ? null : canonicalJson(v));

/**
 * The canonical JSON of `{seq, time, actor, action, resource, before, after}`
 * and, when recorded, `authentication` (keys in sorted order), with the
 * documents already in canonical form, so an append serialises each once for
 * both the hash and the jsonb column. Without `authentication` the body is
 * byte for byte what older entries were hashed over.
 */
function entryBody(
  e: { time: Date; actor: string; action: string; resource: string },
  seq: bigint,
  before: string | null,
  after: string | null,
  authentication: string | null,
): string {
  return (
    `{"action":${JSON.stringify(e.action)},"actor":${JSON.stringify(e.actor)},"after":${after ?? 'null'},` +
    (authentication === null ? '' : `"authentication":${authentication},`) +
    `"before":${before ?? 'null'},"resource":${JSON.stringify(e.resource)},"seq":${JSON.stringify(seq.toString())},` +
    `"time":${JSON.stringify(e.time.toISOString())}}`
  );
}

const hashBody = (prevHash: Uint8Array, body: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(prevHash).update(body, 'utf8').digest());

/** An event with its time and its before/after in canonical JSON, ready to be chained. */
export interface PreparedAuditEvent {
  readonly time: Date;
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  readonly before: string | null;
  readonly after: string | null;
  readonly authentication: string | null;
}

/**
 * Serialises one operation's events. Done as the operation finishes, so a
 * document that cannot be serialised fails that operation alone.
 */
export function prepareAuditEvents(time: Date, events: readonly AuditEvent[]): PreparedAuditEvent[] {
  // An operation's events share its caller's authentication (one object): serialised once, not once an event.
  let authentication: AuditAuthentication | null | undefined;
  let authenticationText: string | null = null;
  return events.map((e) => {
    if (e.authentication !== authentication) {
      authentication = e.authentication;
      authenticationText = authenticationJson(authentication);
    }
    return { time, actor: e.actor, action: e.action, resource: e.resource, before: jsonOrNull(e.before), after: jsonOrNull(e.after), authentication: authenticationText };
  });
}

/**
 * Appends `events` at the tail. Called last in a write transaction so the
 * lock is held only until commit and never while waiting for row locks. A
 * batch of operations appends all their events here at once: one lock, one
 * tail read and one insert per transaction.
 */
export async function appendAudit(tx: Queryable, events: readonly PreparedAuditEvent[]): Promise<void> {
  if (events.length === 0) return;
  await tx.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_LOCK_KEY]);
  const tail = await tx.query<{ seq: bigint; hash: Uint8Array }>(
    'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
  );
  let seq = tail[0]?.seq ?? 0n;
  let prevHash = tail[0]?.hash ?? GENESIS_HASH;
  // Column arrays of text, so one statement text serves any number of rows.
  const cols: (string | null)[][] = Array.from({ length: 10 }, () => []);
  for (const e of events) {
    seq += 1n;
    const hash = hashBody(prevHash, entryBody(e, seq, e.before, e.after, e.authentication));
    const row = [
      seq.toString(),
      e.time.toISOString(),
      e.actor,
      e.action,
      e.resource,
      e.before,
      e.after,
      Buffer.from(prevHash).toString('hex'),
      Buffer.from(hash).toString('hex'),
      e.authentication,
    ];
    row.forEach((v, i) => cols[i]?.push(v));
    prevHash = hash;
  }
  await tx.query(
    `INSERT INTO audit_log (seq, time, actor, action, resource, before, after, prev_hash, hash, authentication)
     SELECT s::bigint, t::timestamptz, a, act, r, b::jsonb, af::jsonb, decode(ph, 'hex'), decode(h, 'hex'), au::jsonb
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
         AS u(s, t, a, act, r, b, af, ph, h, au)`,
    cols,
  );
}

interface AuditRow {
  seq: bigint;
  time: Date;
  actor: string;
  action: string;
  resource: string;
  before: JsonValue | null;
  after: JsonValue | null;
  prev_hash: Uint8Array;
  hash: Uint8Array;
  authentication: AuditAuthentication | null;
}

const toEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  time: r.time,
  actor: r.actor,
  action: r.action,
  resource: r.resource,
  before: r.before,
  after: r.after,
  prevHash: r.prev_hash,
  hash: r.hash,
  authentication: r.authentication,
});

const PAGE = 1000;

async function readPage(q: Queryable, after: bigint, limit: number): Promise<AuditEntry[]> {
  const rows = await q.query<AuditRow>(
    `SELECT seq, time, actor, action, resource, before, after, prev_hash, hash, authentication
       FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [after, limit],
  );
  return rows.map(toEntry);
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

export async function verifyAuditChain(q: Queryable): Promise<AuditChainVerification> {
  let expectedSeq = 1n;
  let prevHash: Uint8Array = GENESIS_HASH;
  for (;;) {
    const page = await readPage(q, expectedSeq - 1n, PAGE);
    for (const e of page) {
      if (e.seq !== expectedSeq) return { ok: false, seq: expectedSeq, problem: 'SEQUENCE_GAP' };
      if (!sameBytes(e.prevHash, prevHash)) return { ok: false, seq: e.seq, problem: 'PREVIOUS_HASH_MISMATCH' };
      if (!sameBytes(entryHash(prevHash, e), e.hash)) return { ok: false, seq: e.seq, problem: 'HASH_MISMATCH' };
      prevHash = e.hash;
      expectedSeq += 1n;
    }
    if (page.length < PAGE) return { ok: true, count: expectedSeq - 1n, headHash: prevHash };
  }
}

export interface AuditExportOptions {
  /** Only entries after this sequence number (0 for all). */
  readonly since?: bigint;
  /** Only entries recorded at or after this time. */
  readonly sinceTime?: Date;
  readonly limit?: number;
}

/** The selected entries, oldest first. */
export async function exportAudit(q: Queryable, options: AuditExportOptions = {}): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  let after = options.since ?? 0n;
  const max = options.limit ?? Number.POSITIVE_INFINITY;
  const from = options.sinceTime?.getTime();
  while (out.length < max) {
    const page = await readPage(q, after, Math.min(PAGE, max - out.length));
    out.push(...(from === undefined ? page : page.filter((e) => e.time.getTime() >= from)));
    const last = page[page.length - 1];
    if (last === undefined || page.length < PAGE) break;
    after = last.seq;
  }
  return out;
}
