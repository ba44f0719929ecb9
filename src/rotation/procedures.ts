/**
 * Every journaled procedure, by the name its journals record. Whichever run
 * finds an unfinished journal (a rotation resumes anything, a compromise
 * procedure finishes another first) runs it with its own procedure's handlers.
 */
import {
  CERTIFICATE_COMPROMISE_HANDLERS,
  ENCRYPTION_KEY_COMPROMISE_HANDLERS,
  REENCRYPTION_HANDLERS,
  RELEASE_HOLD_HANDLERS,
} from './compromise/handlers.js';
import { RotationError } from './errors.js';
import { type Journal, ROTATION_PROCEDURE, journalProcedure } from './journal/journal.js';
import type { Procedure } from './journal/run.js';
import { ABORT_HANDLERS, ROTATION_HANDLERS } from './steps/index.js';

export const ROTATION: Procedure = { name: ROTATION_PROCEDURE, idPrefix: 'rot', command: 'rotate', handlers: ROTATION_HANDLERS, unfinished: 'resume' };

export const ROTATION_ABORT: Procedure = { name: 'rotation.abort', idPrefix: 'abt', command: 'rotate --abort', handlers: ABORT_HANDLERS, unfinished: 'abort' };

/** The compromise procedures plan under the lock and write their assessment while planning. */
const compromise = (name: string, handlers: Procedure['handlers']): Procedure => ({ name, idPrefix: 'cmp', command: name, handlers, unfinished: 'finish-first', planWrites: true });

export const COMPROMISE_PROCEDURES = {
  'compromise.certificate': compromise('compromise.certificate', CERTIFICATE_COMPROMISE_HANDLERS),
  'compromise.release-hold': compromise('compromise.release-hold', RELEASE_HOLD_HANDLERS),
  'compromise.encryption-key': compromise('compromise.encryption-key', ENCRYPTION_KEY_COMPROMISE_HANDLERS),
  'reencrypt.event-groups': compromise('reencrypt.event-groups', REENCRYPTION_HANDLERS),
} as const;

export type CompromiseProcedureName = keyof typeof COMPROMISE_PROCEDURES;

const PROCEDURES: ReadonlyMap<string, Procedure> = new Map([ROTATION, ROTATION_ABORT, ...Object.values(COMPROMISE_PROCEDURES)].map((p) => [p.name, p]));

export function procedureOf(journal: Journal): Procedure {
  const procedure = PROCEDURES.get(journalProcedure(journal));
  if (!procedure) throw new RotationError('JOURNAL_CORRUPT', `journal ${journal.id} runs ${journalProcedure(journal)}, which this version does not know`);
  return procedure;
}
