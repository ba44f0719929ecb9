/**
 * A rotation: the policy's plan (plan.ts) run as a journal with the rotation's
 * step handlers (journal/run.ts). A run that finds an unfinished journal,
 * whatever its procedure, finishes that one instead. `--dry-run` reads only:
 * no lock, no journal, no key, no call that changes anything.
 */
import type { KeyKind } from './config.js';
import type { JournalStep } from './journal/journal.js';
import { type RunOptions, runJournaled } from './journal/run.js';
import type { StepPreview } from './journal/steps.js';
import { planRotation, type Plan } from './plan.js';
import { ROTATION, procedureOf } from './procedures.js';
import type { KeyringSession } from './session.js';

export interface RotateOptions extends RunOptions {
  /** Kinds to rotate whatever the schedule; undefined = what is due. */
  kinds?: readonly KeyKind[];
}

export interface RotateResult {
  journalId?: string;
  resumed: boolean;
  dryRun: boolean;
  /** Why each kind is in the plan (fresh plans only). */
  plan?: Plan['reasons'];
  steps: JournalStep[];
  previews?: StepPreview[];
  /** Where the finished journal was archived. */
  archived?: string;
  lockTakenOver?: string;
}

export async function rotate(session: KeyringSession, options: RotateOptions = {}): Promise<RotateResult> {
  let reasons: Plan['reasons'] | undefined;
  const { journal, ...run } = await runJournaled({
    session,
    procedure: ROTATION,
    procedureOf,
    options,
    plan: async () => {
      const plan = planRotation(session, options.kinds ? { kinds: options.kinds } : {});
      reasons = plan.reasons;
      return { kinds: plan.kinds, steps: plan.steps, start: { after: { kinds: plan.kinds, steps: plan.steps.map((s) => s.type) } } };
    },
  });
  return { ...(journal ? { journalId: journal.id } : {}), ...(reasons ? { plan: reasons } : {}), ...run };
}
