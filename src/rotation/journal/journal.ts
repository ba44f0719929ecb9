/**
 * The journal (`journal.json`): the planned steps of one procedure (a
 * rotation, a compromise procedure, an abort) and how far it got, rewritten
 * atomically before and after each step. A run that dies leaves the journal
 * behind; the next run picks it up and runs every step not recorded as done
 * (steps are idempotent, so a step that ran but was not recorded is safe to
 * run again). A finished journal is moved to `journals/<id>.json`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/files.js';
import type { KeyKind } from '../config.js';
import { RotationError } from '../errors.js';

export const JOURNAL_FILE = 'journal.json';
export const JOURNAL_ARCHIVE_DIR = 'journals';
/** The procedure of a journal that names none (the format predates the others). */
export const ROTATION_PROCEDURE = 'rotation';

export type StepType =
  | 'tls.issue'
  | 'tls.write-secret'
  | 'tls.apply'
  | 'tls.check-rollout'
  | 'tls.activate'
  | 'signing.issue'
  | 'signing.register'
  | 'encryption.add'
  | 'encryption.promote'
  | 'public-key.publish'
  | 'signing.activate'
  | 'encryption.activate'
  | 'signing.retire'
  | 'encryption.destroy'
  // Compromise response (src/rotation/compromise): run through the same journal.
  | 'compromise.assess-certificate'
  | 'compromise.revoke-kingdom'
  | 'compromise.mark-certificate'
  | 'compromise.destroy-private-key'
  | 'compromise.revoke-crl'
  | 'compromise.release-kingdom'
  | 'compromise.release-crl'
  | 'compromise.release-mark'
  | 'compromise.assess-encryption-key'
  | 'compromise.remove-encryption-key'
  | 'compromise.request-reencryption'
  | 'compromise.replace-measurement'
  | 'compromise.replace-measurements'
  | 'compromise.refuse-requisition'
  | 'compromise.refuse-requisitions'
  | 'compromise.report'
  | 'reencrypt.open-requests'
  // One request per step: journals written before reencrypt.open-requests.
  | 'reencrypt.event-group'
  // rotate --abort (src/rotation/abort.ts): a pending entry the aborted journal created, retired or destroyed.
  | 'abort.discard';

export interface PlannedStep {
  n: number;
  type: StepType;
  /** The keyring entry the step creates or changes. */
  entry?: string;
  /** The entry it replaces (activation steps). */
  previous?: string;
  /** For publication: the signing entry to sign with. */
  signingEntry?: string;
  /** For publication: the encryption entry that must be primary. */
  encryptionEntry?: string;
  /** Step parameters fixed at planning (compromise procedures: revocation state, resource names). */
  args?: Record<string, string | number | boolean>;
  summary: string;
}

export type StepStatus = 'pending' | 'started' | 'done';

export interface JournalStep extends PlannedStep {
  status: StepStatus;
  startedAt?: string;
  doneAt?: string;
  /** What the step did (or found already done). */
  result?: string;
  attempts: number;
  lastError?: string;
}

export interface Journal {
  version: 1;
  id: string;
  createdAt: string;
  kinds: KeyKind[];
  /** What the journal runs: a rotation when absent, else e.g. `compromise.certificate`. */
  procedure?: string;
  /** An abort journal: the id of the journal it walks back. */
  aborts?: string;
  /** An abort journal: what it cannot undo, and what happens to it. */
  notes?: string[];
  /** `aborted`: only in the archive, for a journal that `rotate --abort` walked back. */
  status: 'running' | 'failed' | 'done' | 'aborted';
  steps: JournalStep[];
}

export function journalPath(dir: string): string {
  return join(dir, JOURNAL_FILE);
}

export function readJournal(dir: string): Journal | undefined {
  const path = journalPath(dir);
  if (!existsSync(path)) return undefined;
  let j: Journal;
  try {
    j = JSON.parse(readFileSync(path, 'utf8')) as Journal;
  } catch (err) {
    throw new RotationError('JOURNAL_CORRUPT', `${path} is not JSON`, { cause: err });
  }
  if (j?.version !== 1 || typeof j.id !== 'string' || !Array.isArray(j.steps)) throw new RotationError('JOURNAL_CORRUPT', `${path} is not a rotation journal`);
  return j;
}

export function writeJournal(dir: string, journal: Journal): void {
  writeFileAtomic(journalPath(dir), `${JSON.stringify(journal, null, 2)}\n`, { mode: 0o600 });
}

/** What a journal runs: its `procedure`, or a rotation. */
export function journalProcedure(journal: Journal): string {
  return journal.procedure ?? ROTATION_PROCEDURE;
}

function writeArchive(dir: string, journal: Journal): string {
  const archive = join(dir, JOURNAL_ARCHIVE_DIR);
  mkdirSync(archive, { recursive: true, mode: 0o700 });
  const path = join(archive, `${journal.id}.json`);
  writeFileAtomic(path, `${JSON.stringify(journal, null, 2)}\n`, { mode: 0o600 });
  return path;
}

/** Moves a finished journal to the archive (idempotent: a crash between the two writes is finished next time). */
export function archiveJournal(dir: string, journal: Journal): string {
  const path = writeArchive(dir, journal);
  rmSync(journalPath(dir), { force: true });
  return path;
}

/** Keeps a walked-back journal in the archive, marked aborted; `journal.json` stays until the journal replacing it is written over it. */
export function archiveAborted(dir: string, journal: Journal): void {
  writeArchive(dir, { ...journal, status: 'aborted' });
}

export type JournalIdPrefix = 'rot' | 'cmp' | 'abt';

/** A journal id: the kind of run, its start time, and random bits so two runs in one second differ. */
export function newJournalId(prefix: JournalIdPrefix, at: Date): string {
  return `${prefix}-${at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase()}-${randomBytes(3).toString('hex')}`;
}

/** What a planner decides: the steps, and the journal fields beyond them (an abort: `aborts`, `notes`). */
export interface JournalPlan {
  kinds: KeyKind[];
  steps: PlannedStep[];
  fields?: Pick<Journal, 'aborts' | 'notes'>;
}

export function newJournal(id: string, at: Date, procedure: string, plan: JournalPlan): Journal {
  return {
    version: 1,
    id,
    createdAt: at.toISOString(),
    kinds: plan.kinds,
    status: 'running',
    steps: plan.steps.map((s) => ({ ...s, status: 'pending', attempts: 0 })),
    ...(procedure !== ROTATION_PROCEDURE ? { procedure } : {}),
    ...plan.fields,
  };
}
