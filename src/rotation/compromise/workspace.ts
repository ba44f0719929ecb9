/**
 * What a compromise procedure learns and decides, kept beside its journal in
 * `compromise/<journal id>/`: the assessment made before anything changed
 * (a re-run after a crash must report the blast radius as it was, not as the
 * revocation left it), what each step did, and the report. Files are JSON,
 * written atomically, mode 0600; they hold names and fingerprints only.
 * Outcomes of many items (re-encrypted EventGroups) are JSON lines instead,
 * appended a page at a time, so recording item n costs the same as item 1.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/files.js';
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

/** Starts a JSON-lines list afresh (a re-planned assessment replaces what an earlier attempt wrote). */
export function resetList(session: KeyringSession, journalId: string, name: string): void {
  writeFileAtomic(listPath(session, journalId, name), '', { mode: 0o600 });
}

/** Each item of a JSON-lines list, in order; none when the list does not exist. A torn last line (a crash mid-append) is skipped. */
export function* readList<T>(session: KeyringSession, journalId: string, name: string): Generator<T> {
  const path = join(session.dir, COMPROMISE_DIR, journalId, `${name}.jsonl`);
  if (!existsSync(path)) return;
  const lines = readFileSync(path, 'utf8').split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    try {
      yield JSON.parse(line) as T;
    } catch (err) {
      if (i === lines.length - 1) return;
      throw new RotationError('JOURNAL_CORRUPT', `${path}:${i + 1} is not JSON`, { cause: err });
    }
  }
}
