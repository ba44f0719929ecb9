/**
 * Runs a compromise procedure through the rotation journal: planned once
 * (under the rotation lock, so a rotation and a compromise never interleave),
 * each step recorded before and after in `journal.json` and the audit log,
 * resumable after a crash by running the same command again (or `--resume`).
 * An unfinished journal of another procedure is finished first: there is one
 * journal per keyring. `--dry-run` takes no lock and changes nothing.
 */
import type { KingdomClient } from '../../client/index.js';
import { RotationError } from '../errors.js';
import { type JournalStep, archiveJournal, newJournal, newJournalId, readJournal, writeJournal } from '../journal/journal.js';
import { connectKingdomClient } from '../kingdom-connect.js';
import type { KingdomPort } from '../kingdom-port.js';
import { acquireLock } from '../journal/lock.js';
import { contextFor, previewSteps, runJournalSteps, type RotateOptions, type StepPreview } from '../rotate.js';
import type { KeyringSession } from '../session.js';
import type { ProcedurePlan } from './plans.js';
import type { CompromiseReport } from './report.js';
import { readRecord } from './workspace.js';

export type ProcedureOptions = Pick<RotateOptions, 'dryRun' | 'resume' | 'breakLock' | 'onStep' | 'faultAfterStep' | 'faultBeforeRecord' | 'rolloutDelayMs'> & {
  kingdom?: () => KingdomPort;
  client?: () => KingdomClient;
  /** `--report FILE` of this run: also given to an unfinished journal's report step when this run finishes it. */
  reportFile?: string;
};

export interface PlanEnvironment {
  journalId: string;
  client: () => KingdomClient;
  /** False in a dry run: the plan must not write anything. */
  write: boolean;
}

export interface ProcedureResult {
  procedure: string;
  journalId?: string;
  resumed: boolean;
  dryRun: boolean;
  summary?: string;
  steps: JournalStep[];
  previews?: StepPreview[];
  /** Another procedure's unfinished journal that was finished first. */
  finishedFirst?: string;
  archived?: string;
  report?: CompromiseReport;
  lockTakenOver?: string;
}

export async function runProcedure(
  session: KeyringSession,
  procedure: string,
  plan: (env: PlanEnvironment) => Promise<ProcedurePlan>,
  options: ProcedureOptions = {},
): Promise<ProcedureResult> {
  if (session.config.rehearsalOf && !options.dryRun) {
    throw new RotationError('REHEARSAL_ONLY', `${procedure} acts at the Kingdom and cannot run in a rehearsal copy: use --dry-run`);
  }
  let client: KingdomClient | undefined;
  const clientOf = () => (client ??= options.client ? options.client() : connectKingdomClient(session));
  const shared = { ...options, client: clientOf };
  const existing = readJournal(session.dir);
  const unfinished = existing && existing.status !== 'done' ? existing : undefined;
  if (options.resume && !unfinished) throw new RotationError('NO_JOURNAL', `no unfinished ${procedure} to resume`);

  if (options.dryRun) {
    if (unfinished) return { procedure, journalId: unfinished.id, resumed: true, dryRun: true, steps: unfinished.steps, previews: await previewSteps(session, unfinished, shared) };
    const planned = await plan({ journalId: 'dry-run', client: clientOf, write: false });
    const draft = newJournal('dry-run', session.now(), planned.kinds, planned.steps);
    return { procedure, resumed: false, dryRun: true, summary: planned.summary, steps: draft.steps, previews: await previewSteps(session, draft, shared) };
  }

  const lock = acquireLock(session.dir, { clock: session.clock, command: procedure, ...(options.breakLock ? { breakLock: true } : {}) });
  try {
    // A wrong passphrase is found here, before the plan writes anything.
    session.unlock();
    let journal = readJournal(session.dir);
    if (journal?.status === 'done') {
      archiveJournal(session.dir, journal);
      journal = undefined;
    }
    let finishedFirst: string | undefined;
    if (journal && journal.procedure !== procedure) {
      session.record({ action: `${journal.procedure ?? 'rotation'}.resume`, resource: journal.id, outcome: 'ok', detail: `finished before ${procedure}` });
      await runJournalSteps(session, journal, contextFor(session, journal.id, shared), options);
      archiveJournal(session.dir, journal);
      finishedFirst = journal.id;
      journal = undefined;
    }
    let resumed = false;
    let summary: string | undefined;
    if (journal) {
      resumed = true;
      if (options.reportFile) {
        for (const step of journal.steps) if (step.type === 'compromise.report' && step.status !== 'done') step.args = { ...step.args, reportFile: options.reportFile };
        writeJournal(session.dir, journal);
      }
      session.record({ action: `${procedure}.resume`, resource: journal.id, outcome: 'ok', detail: `${journal.steps.filter((s) => s.status === 'done').length}/${journal.steps.length} steps done` });
    } else {
      if (options.resume) throw new RotationError('NO_JOURNAL', `no unfinished ${procedure} to resume`);
      const journalId = newJournalId('cmp', session.now());
      const planned = await plan({ journalId, client: clientOf, write: true });
      summary = planned.summary;
      if (planned.steps.length === 0) return { procedure, resumed: false, dryRun: false, summary, steps: [], ...(finishedFirst ? { finishedFirst } : {}) };
      journal = newJournal(journalId, session.now(), planned.kinds, planned.steps);
      journal.procedure = procedure;
      writeJournal(session.dir, journal);
      session.record({ action: `${procedure}.start`, resource: journal.id, outcome: 'ok', after: { summary, steps: journal.steps.map((s) => s.type) } });
    }
    await runJournalSteps(session, journal, contextFor(session, journal.id, shared), options);
    const archived = archiveJournal(session.dir, journal);
    const report = readRecord<CompromiseReport>(session, journal.id, 'report');
    return {
      procedure,
      journalId: journal.id,
      resumed,
      dryRun: false,
      ...(summary ? { summary } : {}),
      steps: journal.steps,
      archived,
      ...(report ? { report } : {}),
      ...(finishedFirst ? { finishedFirst } : {}),
      ...(lock.tookOver ? { lockTakenOver: lock.tookOver } : {}),
    };
  } finally {
    lock.release();
  }
}
