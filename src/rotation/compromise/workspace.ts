/**
 * What a compromise procedure learns and decides, kept beside its journal in
 * `compromise/<journal id>/`: the assessment made before anything changed
 * (a re-run after a crash must report the blast radius as it was, not as the
 * revocation left it), what each step did, and the report. Files are JSON,
 * written atomically, mode 0600; they hold names and fingerprints only.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/index.js';
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
