/**
 * The outline every journaled procedure shares: plan once under the lock,
 * write the journal, run its steps (steps.ts), archive it. A procedure is a
 * planner plus a handler table; there is one journal per keyring, so a run
 * that finds an unfinished journal deals with it first, as the procedure
 * says. `dryRun` takes no lock and changes nothing: it previews the
 * unfinished journal, or a draft of the plan.
 */
import type { KingdomClient } from '../../client/index.js';
import type { AuditRecord } from '../audit-log.js';
import { RotationError } from '../errors.js';
import type { KingdomPort } from '../kingdom-port.js';
import type { KeyringSession } from '../session.js';
import { type KingdomAccess, type StepContext, type StepHandlers, kingdomAccess } from './context.js';
import { type Journal, type JournalIdPrefix, type JournalPlan, type JournalStep, archiveAborted, archiveJournal, journalProcedure, newJournal, newJournalId, readJournal, writeJournal } from './journal.js';
import { acquireLock } from './lock.js';
import { type StepOptions, type StepPreview, pendingSteps, previewSteps, runSteps } from './steps.js';

export interface Procedure {
  /** As its journals record it (`procedure`; a rotation's name none) and the audit log names it. */
  readonly name: string;
  readonly idPrefix: JournalIdPrefix;
  /** The command named in the lock file. */
  readonly command: string;
  readonly handlers: StepHandlers;
  /**
   * An unfinished journal of another procedure is resumed as if it were this
   * one's (`resume`: a rotation finishes whatever was interrupted), finished
   * before planning (`finish-first`), or given to the planner and archived as
   * aborted, the new journal replacing it (`abort`: without one there is
   * nothing to plan).
   */
  readonly unfinished: 'resume' | 'finish-first' | 'abort';
  /** The planner writes records of its own, so the passphrase is checked before it runs; otherwise only once there are steps to run. */
  readonly planWrites?: boolean;
}

export interface RunOptions extends StepOptions {
  dryRun?: boolean;
  /** Insist on finishing an unfinished journal (NO_JOURNAL when there is none). */
  resume?: boolean;
  breakLock?: boolean;
  /** The Kingdom; by default connected from the config on first use. */
  kingdom?: () => KingdomPort;
  /** The typed client (compromise procedures); by default connected from the config on first use. */
  client?: () => KingdomClient;
  rolloutDelayMs?: number;
}

export interface PlanEnvironment {
  journalId: string;
  client: () => KingdomClient;
  /** False in a dry run: the plan must not write anything. */
  write: boolean;
  /** Under `unfinished: 'abort'`: the journal the plan walks back. */
  aborting?: Journal;
}

export interface Planned extends JournalPlan {
  /** What the `<procedure>.start` audit record says; by default it names the journal and its step types. */
  start?: Pick<AuditRecord, 'resource' | 'before' | 'after' | 'detail'>;
}

export interface JournaledRun {
  session: KeyringSession;
  procedure: Procedure;
  plan(env: PlanEnvironment): Promise<Planned>;
  /** The procedure an unfinished journal records, whose handlers run or preview it. */
  procedureOf(journal: Journal): Procedure;
  /** Adjusts an unfinished journal of this procedure before it is resumed. */
  resuming?(journal: Journal): void;
  options: RunOptions;
}

export interface RunOutcome {
  /** The journal run; absent in a dry run of a fresh plan and when the plan has no steps. */
  journal?: Journal;
  /** The journal's steps, or in a dry run of a fresh plan the draft's. */
  steps: JournalStep[];
  resumed: boolean;
  dryRun: boolean;
  previews?: StepPreview[];
  /** Another procedure's unfinished journal that was finished first. */
  finishedFirst?: string;
  archived?: string;
  lockTakenOver?: string;
}

function unfinishedIn(dir: string): Journal | undefined {
  const journal = readJournal(dir);
  return journal && journal.status !== 'done' ? journal : undefined;
}

export async function runJournaled(run: JournaledRun): Promise<RunOutcome> {
  const { session, procedure, options } = run;
  const kingdom = kingdomAccess(session, options);
  const ours = (journal: Journal) => procedure.unfinished === 'resume' || journalProcedure(journal) === procedure.name;
  // Checked before anything is recorded: a journal this version cannot run is left as it is.
  const handlersFor = (journal: Journal) => {
    const handlers = journalProcedure(journal) === procedure.name ? procedure.handlers : run.procedureOf(journal).handlers;
    pendingSteps(session, journal, handlers);
    return handlers;
  };
  const contextFor = (journalId: string) => context(session, journalId, kingdom, options);
  const noJournal = () => new RotationError('NO_JOURNAL', procedure.unfinished === 'abort' ? 'no unfinished journal to abort' : `no unfinished ${procedure.name} to resume`);
  const aborting = (journal: Journal | undefined) => (procedure.unfinished === 'abort' && journal && !ours(journal) ? journal : undefined);

  const existing = unfinishedIn(session.dir);
  if ((options.resume || procedure.unfinished === 'abort') && !existing) throw noJournal();
  if (options.dryRun) {
    const walkedBack = aborting(existing);
    if (existing && !walkedBack) {
      return { journal: existing, steps: existing.steps, resumed: true, dryRun: true, previews: await previewSteps(session, existing, handlersFor(existing), contextFor(existing.id)) };
    }
    const planned = await run.plan({ journalId: 'dry-run', client: kingdom.client, write: false, ...(walkedBack ? { aborting: walkedBack } : {}) });
    const draft = newJournal('dry-run', session.now(), procedure.name, planned);
    return { steps: draft.steps, resumed: false, dryRun: true, previews: await previewSteps(session, draft, procedure.handlers, contextFor(draft.id)) };
  }

  const lock = acquireLock(session.dir, { clock: session.clock, command: procedure.command, ...(options.breakLock ? { breakLock: true } : {}) });
  try {
    const tookOver = lock.tookOver ? { lockTakenOver: lock.tookOver } : {};
    // Read again under the lock: another run may have finished it meanwhile.
    let journal = readJournal(session.dir);
    if (journal?.status === 'done') {
      archiveJournal(session.dir, journal);
      journal = undefined;
    }
    let finishedFirst: { finishedFirst: string } | undefined;
    if (journal && !ours(journal) && procedure.unfinished === 'finish-first') {
      const handlers = handlersFor(journal);
      session.unlock();
      session.record({ action: `${journalProcedure(journal)}.resume`, resource: journal.id, outcome: 'ok', detail: `finished before ${procedure.name}` });
      await runSteps(session, journal, handlers, contextFor(journal.id), options);
      archiveJournal(session.dir, journal);
      finishedFirst = { finishedFirst: journal.id };
      journal = undefined;
    }
    const resumed = journal !== undefined && ours(journal);
    let handlers = procedure.handlers;
    if (journal && resumed) {
      handlers = handlersFor(journal);
      session.unlock();
      if (run.resuming) {
        run.resuming(journal);
        writeJournal(session.dir, journal);
      }
      session.record({ action: `${procedure.name}.resume`, resource: journal.id, outcome: 'ok', detail: `${journal.steps.filter((s) => s.status === 'done').length}/${journal.steps.length} steps done` });
    } else {
      const walkedBack = aborting(journal);
      if (options.resume || (procedure.unfinished === 'abort' && !walkedBack)) throw noJournal();
      if (procedure.planWrites) session.unlock();
      const journalId = newJournalId(procedure.idPrefix, session.now());
      const planned = await run.plan({ journalId, client: kingdom.client, write: true, ...(walkedBack ? { aborting: walkedBack } : {}) });
      // A walk-back is journaled even when empty: the journal it replaces leaves journal.json that way.
      if (planned.steps.length === 0 && !walkedBack) return { steps: [], resumed: false, dryRun: false, ...finishedFirst, ...tookOver };
      if (!procedure.planWrites) session.unlock();
      if (walkedBack) archiveAborted(session.dir, walkedBack);
      journal = newJournal(journalId, session.now(), procedure.name, planned);
      writeJournal(session.dir, journal);
      session.record({ action: `${procedure.name}.start`, resource: journal.id, outcome: 'ok', after: { steps: journal.steps.map((s) => s.type) }, ...planned.start });
    }
    await runSteps(session, journal, handlers, contextFor(journal.id), options);
    const archived = archiveJournal(session.dir, journal);
    return { journal, steps: journal.steps, resumed, dryRun: false, archived, ...finishedFirst, ...tookOver };
  } finally {
    lock.release();
  }
}

function context(session: KeyringSession, journalId: string, kingdom: KingdomAccess, options: Pick<RunOptions, 'rolloutDelayMs' | 'onItems' | 'faultAfterPage' | 'faultAfterItem'>): StepContext {
  return {
    session,
    journalId,
    ...kingdom,
    ...(options.rolloutDelayMs !== undefined ? { rolloutDelayMs: options.rolloutDelayMs } : {}),
    ...(options.onItems ? { items: options.onItems } : {}),
    ...(options.faultAfterPage !== undefined ? { faultAfterPage: options.faultAfterPage } : {}),
    ...(options.faultAfterItem !== undefined ? { faultAfterItem: options.faultAfterItem } : {}),
  };
}
