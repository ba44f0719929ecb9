/**
 * The keyring's audit trail: an append-only JSON-lines file where every entry
 * carries the SHA-256 of the one before it, so an edit, a deletion or a
 * reordering breaks the chain. The head (sequence number and hash of the last
 * entry) is also kept in a separate anchor file, so cutting entries off the
 * end is caught too. Each append is fsynced before the call returns; a batch
 * of entries (one per item of a page of work) is written with one fsync, the
 * anchor first saying how many may follow it, so a crash midway is not taken
 * for entries appended outside halo-keys.
 *
 * Entries hold names, SKIDs and fingerprints, never key material.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { writeFileAtomic } from '../lib/files.js';
import { RotationError } from './errors.js';

export const AUDIT_FILES = { log: 'audit.jsonl', anchor: 'audit.anchor.json' } as const;

export const GENESIS_HASH = '0'.repeat(64);

export type AuditOutcome = 'ok' | 'failed' | 'skipped';

/** What a caller says happened; the log adds sequence, time, actor and the chain. */
export interface AuditRecord {
  action: string;
  resource?: string;
  skids?: string[];
  fingerprints?: string[];
  before?: unknown;
  after?: unknown;
  outcome: AuditOutcome;
  detail?: string;
}

export interface AuditEntry extends AuditRecord {
  seq: number;
  time: string;
  actor: string;
  participant: string;
  prev: string;
  hash: string;
}

interface Anchor {
  seq: number;
  hash: string;
  /** A batch of this many entries is being appended after the anchored one. */
  pending?: number;
}

/** Who is acting: HALO_KEYS_ACTOR, else user@host. */
export function defaultActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HALO_KEYS_ACTOR) return env.HALO_KEYS_ACTOR;
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry (containers): keep "unknown".
  }
  return `${user}@${hostname()}`;
}

/** JSON with object keys sorted at every level: one byte string per value, whatever the key order it was built in. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

export function entryHash(entry: Omit<AuditEntry, 'hash'>): string {
  const { hash: _ignored, ...rest } = entry as AuditEntry;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

export interface AuditLogOptions {
  participant: () => string;
  clock: Clock;
  actor?: string;
}

export class AuditLog {
  readonly path: string;
  readonly anchorPath: string;
  readonly #options: AuditLogOptions;
  #head: Anchor | undefined;

  constructor(dir: string, options: AuditLogOptions) {
    this.path = join(dir, AUDIT_FILES.log);
    this.anchorPath = join(dir, AUDIT_FILES.anchor);
    this.#options = options;
  }

  /** The last entry as the file has it (not trusting the anchor: a crash may have left it one behind). */
  #currentHead(): Anchor {
    if (this.#head) return this.#head;
    const entries = readEntries(this.path);
    const last = entries[entries.length - 1];
    this.#head = last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
    return this.#head;
  }

  /** Appends one entry, fsyncs it, then moves the anchor. */
  append(record: AuditRecord): AuditEntry {
    return this.appendAll([record])[0]!;
  }

  /**
   * Appends the entries in order with one write and one fsync, then moves the
   * anchor. More than one: the anchor first notes the batch, so a crash after
   * the write leaves a log that still verifies (and the next append anchors it).
   */
  appendAll(records: readonly AuditRecord[]): AuditEntry[] {
    if (records.length === 0) return [];
    const head = this.#currentHead();
    const time = this.#options.clock.now().toISOString();
    const actor = this.#options.actor ?? defaultActor();
    const participant = this.#options.participant();
    const entries: AuditEntry[] = [];
    let prev = head;
    for (const record of records) {
      const body: Omit<AuditEntry, 'hash'> = {
        seq: prev.seq + 1,
        time,
        actor,
        participant,
        action: record.action,
        ...(record.resource !== undefined ? { resource: record.resource } : {}),
        ...(record.skids?.length ? { skids: record.skids } : {}),
        ...(record.fingerprints?.length ? { fingerprints: record.fingerprints } : {}),
        ...(record.before !== undefined ? { before: record.before } : {}),
        ...(record.after !== undefined ? { after: record.after } : {}),
        outcome: record.outcome,
        ...(record.detail !== undefined ? { detail: record.detail } : {}),
        prev: prev.hash,
      };
      const entry: AuditEntry = { ...body, hash: entryHash(body) };
      entries.push(entry);
      prev = { seq: entry.seq, hash: entry.hash };
    }
    if (entries.length > 1) writeFileAtomic(this.anchorPath, `${JSON.stringify({ ...head, pending: entries.length })}\n`, { mode: 0o600 });
    const bytes = Buffer.from(entries.map((e) => `${JSON.stringify(e)}\n`).join(''), 'utf8');
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'a', 0o600);
      let off = 0;
      while (off < bytes.length) off += writeSync(fd, bytes, off);
      fsyncSync(fd);
    } catch (err) {
      throw new RotationError('STEP_FAILED', `cannot append to the audit log ${this.path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    this.#head = prev;
    writeFileAtomic(this.anchorPath, `${JSON.stringify(this.#head)}\n`, { mode: 0o600 });
    return entries;
  }

  verify(): AuditVerification {
    return verifyAuditLog(this.path, this.anchorPath);
  }

  entries(): AuditEntry[] {
    return readEntries(this.path);
  }
}

function readEntries(path: string): AuditEntry[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  const out: AuditEntry[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    try {
      out.push(JSON.parse(line) as AuditEntry);
    } catch (err) {
      throw new RotationError('AUDIT_CHAIN_BROKEN', `${path}: line ${i + 1} is not JSON`, { cause: err });
    }
  }
  return out;
}

export interface AuditVerification {
  ok: boolean;
  entries: number;
  head: string;
  /** Each problem found, with the line it was found at. */
  problems: string[];
  /** Entries after the anchor: 1 (or a batch the anchor announced) after a crash between append and anchor write, which the next append repairs. */
  unanchored: number;
}

/** Walks the whole chain and checks it against the anchor; never throws on a broken log, it reports. */
export function verifyAuditLog(path: string, anchorPath: string): AuditVerification {
  const problems: string[] = [];
  if (!existsSync(path)) {
    const anchored = existsSync(anchorPath);
    return { ok: !anchored, entries: 0, head: GENESIS_HASH, problems: anchored ? ['the audit log is missing but its anchor exists'] : [], unanchored: 0 };
  }
  const text = readFileSync(path, 'utf8');
  if (text.length > 0 && !text.endsWith('\n')) problems.push('the last line is incomplete (torn write or truncation)');
  let prev = GENESIS_HASH;
  let count = 0;
  const hashes = new Map<number, string>();
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue;
    const at = `line ${i + 1}`;
    let entry: AuditEntry;
    try {
      entry = JSON.parse(line) as AuditEntry;
    } catch {
      problems.push(`${at}: not JSON`);
      break;
    }
    count++;
    // Entries are written in one spelling; any other bytes for the same content are an edit too.
    if (JSON.stringify(entry) !== line) problems.push(`${at}: not in the form halo-keys writes (edited)`);
    if (entry.seq !== count) problems.push(`${at}: sequence ${entry.seq} where ${count} was expected (deleted or reordered entries)`);
    if (entry.prev !== prev) problems.push(`${at}: does not follow the entry before it (deleted, inserted or reordered entries)`);
    if (entryHash(entry) !== entry.hash) problems.push(`${at}: content does not match its hash (edited)`);
    hashes.set(entry.seq, entry.hash);
    prev = entry.hash;
    if (problems.length > 20) break;
  }
  let unanchored = 0;
  if (!existsSync(anchorPath)) {
    if (count > 0) problems.push('the anchor file is missing');
  } else {
    let anchor: Anchor | undefined;
    try {
      anchor = JSON.parse(readFileSync(anchorPath, 'utf8')) as Anchor;
    } catch {
      problems.push('the anchor file is not JSON');
    }
    if (anchor) {
      if (anchor.seq > count) problems.push(`the log ends at entry ${count} but the anchor names entry ${anchor.seq} (entries cut off the end)`);
      else if (anchor.seq > 0 && hashes.get(anchor.seq) !== anchor.hash) problems.push(`entry ${anchor.seq} does not match the anchor (edited or replaced)`);
      else {
        unanchored = count - anchor.seq;
        if (unanchored > Math.max(1, anchor.pending ?? 0)) problems.push(`${unanchored} entries after the anchor (appended outside halo-keys)`);
      }
    }
  }
  return { ok: problems.length === 0, entries: count, head: prev, problems, unanchored };
}

export interface ExportOptions {
  since?: Date;
}

export function selectEntries(entries: readonly AuditEntry[], options: ExportOptions = {}): AuditEntry[] {
  const since = options.since?.getTime();
  return since === undefined ? [...entries] : entries.filter((e) => Date.parse(e.time) >= since);
}

const CSV_COLUMNS = ['seq', 'time', 'actor', 'participant', 'action', 'resource', 'skids', 'fingerprints', 'before', 'after', 'outcome', 'detail', 'prev', 'hash'] as const;

function csvField(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = Array.isArray(value) && value.every((v) => typeof v === 'string') ? value.join(' ') : typeof value === 'object' ? canonicalJson(value) : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180 CSV with a header row; lists space-separated, states as canonical JSON. */
export function entriesToCsv(entries: readonly AuditEntry[]): string {
  const rows = [CSV_COLUMNS.join(',')];
  for (const e of entries) rows.push(CSV_COLUMNS.map((c) => csvField((e as unknown as Record<string, unknown>)[c])).join(','));
  return `${rows.join('\r\n')}\r\n`;
}
