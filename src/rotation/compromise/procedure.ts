/**
 * Runs a compromise procedure as a journal (journal/run.ts): planned once
 * under the lock, so a rotation and a compromise never interleave, each step
 * recorded before and after, resumable after a crash by running the same
 * command again (or `--resume`). An unfinished journal of another procedure
 * is finished first: there is one journal per keyring. `--dry-run` takes no
 * lock and changes nothing.
 */
import { RotationError } from '../errors.js';
import type { JournalStep } from '../journal/journal.js';
import { type PlanEnvironment, type RunOptions, runJournaled } from '../journal/run.js';
import type { StepPreview } from '../journal/steps.js';
import { COMPROMISE_PROCEDURES, type CompromiseProcedureName, procedureOf } from '../procedures.js';
import type { KeyringSession } from '../session.js';
import type { ProcedurePlan } from './plans.js';
import type { CompromiseReport } from './report.js';
import { readRecord } from './workspace.js';

export type { PlanEnvironment };

export interface ProcedureOptions extends RunOptions {
  /** `--report FILE` of this run: also given to an unfinished journal's report step when this run finishes it. */
  reportFile?: string;
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
  procedure: CompromiseProcedureName,
  plan: (env: PlanEnvironment) => Promise<ProcedurePlan>,
  options: ProcedureOptions = {},
): Promise<ProcedureResult> {
  if (session.config.rehearsalOf && !options.dryRun) {
    throw new RotationError('REHEARSAL_ONLY', `${procedure} acts at the Kingdom and cannot run in a rehearsal copy: use --dry-run`);
  }
  let summary: string | undefined;
  const { reportFile } = options;
  const { journal, ...run } = await runJournaled({
    session,
    procedure: COMPROMISE_PROCEDURES[procedure],
    procedureOf,
    options,
    plan: async (env) => {
      const planned = await plan(env);
      summary = planned.summary;
      return { kinds: planned.kinds, steps: planned.steps, start: { after: { summary: planned.summary, steps: planned.steps.map((s) => s.type) } } };
    },
    ...(reportFile
      ? {
          resuming: (unfinished) => {
            for (const step of unfinished.steps) if (step.type === 'compromise.report' && step.status !== 'done') step.args = { ...step.args, reportFile };
          },
        }
      : {}),
  });
  const report = journal && !run.dryRun ? readRecord<CompromiseReport>(session, journal.id, 'report') : undefined;
  return { procedure, ...(journal ? { journalId: journal.id } : {}), ...(summary ? { summary } : {}), ...run, ...(report ? { report } : {}) };
}
