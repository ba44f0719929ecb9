/**
 * Runs and previews the steps of a journal with its procedure's handlers:
 * each step not yet done is recorded as started, run, and recorded as done
 * (in the journal and the audit log), so a crash anywhere leaves a journal
 * that the next run finishes.
 */
import { RotationError } from '../errors.js';
import { isHaloError } from '../../lib/errors.js';
import type { KeyringSession } from '../session.js';
import type { StepContext, StepHandler, StepHandlers } from './context.js';
import { die, type FaultHooks } from './faults.js';
import { type Journal, type JournalStep, journalPath, journalProcedure, writeJournal } from './journal.js';

export interface StepPreview {
  n: number;
  type: string;
  summary: string;
  change: string;
}

export interface StepOptions extends FaultHooks {
  /** Progress: called before and after each step. */
  onStep?: (step: JournalStep, phase: 'start' | 'done' | 'failed') => void;
  /** Progress: steps done of all the journal's, before the first pending step and after each. */
  onProgress?: (done: number, total: number) => void;
  /** Progress inside a step that works through many items (re-encrypted EventGroups, replaced measurements): items done of those it knows of. */
  onItems?: (done: number, total: number) => void;
}

/** The handler of each step not yet done, all found before any runs (a journal this version cannot finish is left as it is). */
export function pendingSteps(session: KeyringSession, journal: Journal, handlers: StepHandlers): Map<JournalStep, StepHandler> {
  const out = new Map<JournalStep, StepHandler>();
  for (const step of journal.steps) {
    if (step.status === 'done') continue;
    const handler = handlers[step.type];
    if (!handler) throw new RotationError('JOURNAL_CORRUPT', `${journalPath(session.dir)}: step ${step.n} (${step.type}) is not a step of ${journalProcedure(journal)}`);
    out.set(step, handler);
  }
  return out;
}

/** What each step not yet done would change, without changing anything. */
export async function previewSteps(session: KeyringSession, journal: Journal, handlers: StepHandlers, ctx: StepContext): Promise<StepPreview[]> {
  const out: StepPreview[] = [];
  for (const [step, handler] of pendingSteps(session, journal, handlers)) {
    out.push({ n: step.n, type: step.type, summary: step.summary, change: await handler.preview(ctx, step) });
  }
  return out;
}

/**
 * Runs every step of `journal` not yet done, recording each before and after
 * (journal and audit log), then marks the journal done. The caller holds the
 * lock and archives.
 */
export async function runSteps(session: KeyringSession, journal: Journal, handlers: StepHandlers, ctx: StepContext, options: StepOptions): Promise<void> {
  const label = journalProcedure(journal);
  const pending = pendingSteps(session, journal, handlers);
  journal.status = 'running';
  let done = journal.steps.length - pending.size;
  options.onProgress?.(done, journal.steps.length);
  for (const [step, handler] of pending) {
    step.status = 'started';
    step.startedAt = session.now().toISOString();
    step.attempts += 1;
    writeJournal(session.dir, journal);
    options.onStep?.(step, 'start');
    let result: string;
    try {
      result = await handler.run(ctx, step);
    } catch (err) {
      step.lastError = err instanceof Error ? err.message.split('\n')[0] : String(err);
      journal.status = 'failed';
      writeJournal(session.dir, journal);
      session.record({ action: `${label}.step`, resource: `${journal.id}#${step.n}`, outcome: 'failed', detail: `${step.type}: ${step.lastError}` });
      options.onStep?.(step, 'failed');
      throw isHaloError(err)
        ? err
        : new RotationError('STEP_FAILED', `step ${step.n} (${step.type}) failed: ${step.lastError}`, { cause: err });
    }
    if (options.faultBeforeRecord === step.n) die();
    step.status = 'done';
    step.doneAt = session.now().toISOString();
    step.result = result;
    delete step.lastError;
    writeJournal(session.dir, journal);
    session.record({ action: `${label}.step`, resource: `${journal.id}#${step.n}`, outcome: 'ok', detail: `${step.type}: ${result}` });
    options.onStep?.(step, 'done');
    options.onProgress?.(++done, journal.steps.length);
    if (options.faultAfterStep === step.n) die();
  }
  journal.status = 'done';
  writeJournal(session.dir, journal);
  session.record({ action: `${label}.done`, resource: journal.id, outcome: 'ok', after: { steps: journal.steps.length } });
}
