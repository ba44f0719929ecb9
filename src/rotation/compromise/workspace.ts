/**
 * What a compromise procedure learns and decides, kept beside its journal in
 * `compromise/<journal id>/`: the assessment made before anything changed
 * (a re-run after a crash must report the blast radius as it was, not as the
 * revocation left it), what each step did, and the report. Files are JSON,
 * written atomically, mode 0600; they hold names and fingerprints only.
 * Outcomes of many items (re-encrypted EventGroups) are JSON lines instead,
 * appended a page at a time, so recording item n costs the same as item 1,
 * and read back a chunk at a time, so reading them holds one line, not the list.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../lib/files.js';
import { RotationError } from '../errors.js';
import type { KeyringSession } from '../session.js';

export const COMPROMISE_DIR = 'compromise';

export function workspaceDir(session: KeyringSession, journalId: string): string {
  const dir = join(session.dir, COMPROMISE_DIR, journalId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

export function readRecord<T>(session: KeyringSession, journalId: string, name: string): T | undefined {
  const path = join(session.dir, COMPROMISE_DIR, journalId, `${name}.json`);
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new RotationError('JOURNAL_CORRUPT', `${path} is not JSON`, { cause: err });
  }
}

export function writeRecord(session: KeyringSession, journalId: string, name: string, value: unknown): string {
  const path = join(workspaceDir(session, journalId), `${name}.json`);
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** Adds or replaces one keyed outcome in a record holding a map (one write per item, so a crash loses at most the item in flight). */
export function recordOutcome<T>(session: KeyringSession, journalId: string, name: string, key: string, outcome: T): void {
  const current = readRecord<Record<string, T>>(session, journalId, name) ?? {};
  current[key] = outcome;
  writeRecord(session, journalId, name, current);
}

/** The path of a JSON-lines list in the workspace (`<name>.jsonl`), for lists too long for one record. */
export function listPath(session: KeyringSession, journalId: string, name: string): string {
  return join(workspaceDir(session, journalId), `${name}.jsonl`);
}

/** Appends items to a JSON-lines list with one write and one fsync (a crash loses at most the lines of this call). */
export function appendToList(session: KeyringSession, journalId: string, name: string, items: readonly unknown[]): void {
  if (items.length === 0) return;
  const path = listPath(session, journalId, name);
  const bytes = Buffer.from(items.map((i) => `${JSON.stringify(i)}\n`).join(''), 'utf8');
  let fd: number | undefined;
  try {
    fd = openSync(path, 'a', 0o600);
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off);
    fsyncSync(fd);
  } catch (err) {
    throw new RotationError('STEP_FAILED', `cannot append to ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Bytes read or written at a time by readList and writeList. */
const LIST_CHUNK = 64 * 1024;

/**
 * Writes a JSON-lines list from items produced one at a time, atomically
 * (readers see the old list or the whole new one), holding one chunk of
 * lines in memory however many there are. Returns its path.
 */
export function writeList(session: KeyringSession, journalId: string, name: string, items: Iterable<unknown>): string {
  const path = listPath(session, journalId, name);
  const dir = workspaceDir(session, journalId);
  const tmp = join(dir, `.${name}.jsonl.${randomBytes(6).toString('hex')}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', 0o600);
    let pending: string[] = [];
    let size = 0;
    const flush = () => {
      const bytes = Buffer.from(pending.join(''), 'utf8');
      let off = 0;
      while (off < bytes.length) off += writeSync(fd!, bytes, off);
      pending = [];
      size = 0;
    };
    for (const item of items) {
      const line = `${JSON.stringify(item)}\n`;
      pending.push(line);
      size += line.length;
      if (size >= LIST_CHUNK) flush();
    }
    flush();
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dir);
    return path;
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if (err instanceof RotationError) throw err;
    throw new RotationError('STEP_FAILED', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
}

/** Starts a JSON-lines list afresh (a re-planned assessment replaces what an earlier attempt wrote). */
export function resetList(session: KeyringSession, journalId: string, name: string): void {
  writeFileAtomic(listPath(session, journalId, name), '', { mode: 0o600 });
}

/**
 * Each item of a JSON-lines list, in order, read a chunk at a time; none when
 * the list does not exist. A torn last line (a crash mid-append, so no
 * newline after it) is skipped; any other line that is not JSON is corruption.
 */
export function* readList<T>(session: KeyringSession, journalId: string, name: string): Generator<T> {
  const path = join(session.dir, COMPROMISE_DIR, journalId, `${name}.jsonl`);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new RotationError('JOURNAL_CORRUPT', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  const parse = (line: string, lineNumber: number): T => {
    try {
      return JSON.parse(line) as T;
    } catch (err) {
      throw new RotationError('JOURNAL_CORRUPT', `${path}:${lineNumber} is not JSON`, { cause: err });
    }
  };
  try {
    const chunk = Buffer.allocUnsafe(LIST_CHUNK);
    // The bytes after the last newline read so far (a newline byte never occurs inside a UTF-8 sequence).
    let rest = Buffer.alloc(0);
    let lineNumber = 0;
    for (let n = readSync(fd, chunk, 0, LIST_CHUNK, null); n > 0; n = readSync(fd, chunk, 0, LIST_CHUNK, null)) {
      const data = rest.length > 0 ? Buffer.concat([rest, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        lineNumber += 1;
        const line = data.toString('utf8', start, nl);
        start = nl + 1;
        if (line !== '') yield parse(line, lineNumber);
      }
      // Copied: `chunk` is overwritten by the next read.
      rest = Buffer.from(data.subarray(start));
    }
    if (rest.length > 0) {
      let last: T;
      try {
        last = JSON.parse(rest.toString('utf8')) as T;
      } catch {
        return;
      }
      yield last;
    }
  } finally {
    closeSync(fd);
  }
}
