/**
 * Runs a rotation as a journal: plan, record, then each step with its start
 * and end written to `journal.json` (and the audit log) around it. A run that
 * finds an unfinished journal finishes that one first. `--dry-run` reads
 * only: no lock, no journal, no key, no call that changes anything.
 *
 * Test hook (documented in the README): `HALO_KEYS_FAULT_AFTER_STEP=n` makes
 * the process SIGKILL itself right after step n is recorded as done, and
 * `HALO_KEYS_FAULT_BEFORE_RECORD=n` right after step n has run but before it
 * is recorded, so tests can crash a rotation at every point.
 */
import type { KeyKind } from './config.js';
import { RotationError } from './errors.js';
import { type Journal, type JournalStep, archiveJournal, newJournal, newJournalId, readJournal, writeJournal } from './journal/journal.js';
import type { KingdomClient } from '../client/index.js';
import { connectKingdomClient } from './kingdom-connect.js';
import { kingdomPortOver, type KingdomPort } from './kingdom-port.js';
import { acquireLock } from './journal/lock.js';
import { planRotation, type Plan } from './plan.js';
import type { KeyringSession } from './session.js';
import type { StepContext } from './journal/context.js';
import { stepHandler } from './steps/index.js';

export interface RotateOptions {
  /** Kinds to rotate whatever the schedule; undefined = what is due. */
  kinds?: readonly KeyKind[];
  dryRun?: boolean;
  /** Insist on finishing an unfinished journal (NO_JOURNAL when there is none). */
  resume?: boolean;
  breakLock?: boolean;
  /** The Kingdom; by default connected from the config on first use. */
  kingdom?: () => KingdomPort;
  /** The typed client (compromise steps); by default connected from the config on first use. */
  client?: () => KingdomClient;
  /** Progress: called before and after each step. */
  onStep?: (step: JournalStep, phase: 'start' | 'done' | 'failed') => void;
  faultAfterStep?: number;
  faultBeforeRecord?: number;
  rolloutDelayMs?: number;
}

export interface StepPreview {
  n: number;
  type: string;
  summary: string;
  change: string;
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

/** Reads the fault-injection hooks from the environment (tests only). */
export function faultHooks(env: NodeJS.ProcessEnv = process.env): Pick<RotateOptions, 'faultAfterStep' | 'faultBeforeRecord'> {
  const num = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  const after = num(env.HALO_KEYS_FAULT_AFTER_STEP);
  const before = num(env.HALO_KEYS_FAULT_BEFORE_RECORD);
  return { ...(after !== undefined ? { faultAfterStep: after } : {}), ...(before !== undefined ? { faultBeforeRecord: before } : {}) };
}

function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not deliverable synchronously everywhere; never continue past it.
  throw new RotationError('STEP_FAILED', 'killed by fault injection');
}

export function contextFor(session: KeyringSession, journalId: string, options: Pick<RotateOptions, 'kingdom' | 'client' | 'rolloutDelayMs'>): StepContext {
  let port: KingdomPort | undefined;
  let client: KingdomClient | undefined;
  const clientOf = () => (client ??= options.client ? options.client() : connectKingdomClient(session));
  return {
    session,
    journalId,
    // One connection for both: the port is the client's unless a port was given.
    kingdom: () => (port ??= options.kingdom ? options.kingdom() : kingdomPortOver(clientOf())),
    client: clientOf,
    ...(options.rolloutDelayMs !== undefined ? { rolloutDelayMs: options.rolloutDelayMs } : {}),
  };
}

/** What each step not yet done would change, without changing anything. */
export async function previewSteps(
  session: KeyringSession,
  journal: Journal,
  options: Pick<RotateOptions, 'kingdom' | 'client' | 'rolloutDelayMs'>,
): Promise<StepPreview[]> {
  const ctx = contextFor(session, journal.id, options);
  const out: StepPreview[] = [];
  for (const step of journal.steps) {
    if (step.status === 'done') continue;
    out.push({ n: step.n, type: step.type, summary: step.summary, change: await stepHandler(step.type).preview(ctx, step) });
  }
  return out;
}

export async function rotate(session: KeyringSession, options: RotateOptions = {}): Promise<RotateResult> {
  const existing = readJournal(session.dir);
  const unfinished = existing && existing.status !== 'done' ? existing : undefined;
  if (options.resume && !unfinished) throw new RotationError('NO_JOURNAL', 'no unfinished rotation to resume');

  if (options.dryRun) {
    if (unfinished) return { journalId: unfinished.id, resumed: true, dryRun: true, steps: unfinished.steps, previews: await previewSteps(session, unfinished, options) };
    const plan = planRotation(session, options.kinds ? { kinds: options.kinds } : {});
    const draft = newJournal('dry-run', session.now(), plan.kinds, plan.steps);
    return { resumed: false, dryRun: true, plan: plan.reasons, steps: draft.steps, previews: await previewSteps(session, draft, options) };
  }

  const lock = acquireLock(session.dir, { clock: session.clock, command: 'rotate', ...(options.breakLock ? { breakLock: true } : {}) });
  try {
    // Read again under the lock: another run may have finished it meanwhile.
    let journal = readJournal(session.dir);
    if (journal?.status === 'done') {
      archiveJournal(session.dir, journal);
      journal = undefined;
    }
    let resumed = false;
    let reasons: Plan['reasons'] | undefined;
    if (journal) {
      resumed = true;
      session.unlock();
      session.record({ action: 'rotation.resume', resource: journal.id, outcome: 'ok', detail: `${journal.steps.filter((s) => s.status === 'done').length}/${journal.steps.length} steps done` });
    } else {
      if (options.resume) throw new RotationError('NO_JOURNAL', 'no unfinished rotation to resume');
      const plan = planRotation(session, options.kinds ? { kinds: options.kinds } : {});
      reasons = plan.reasons;
      if (plan.steps.length === 0) return { resumed: false, dryRun: false, plan: reasons, steps: [], ...(lock.tookOver ? { lockTakenOver: lock.tookOver } : {}) };
      session.unlock();
      journal = newJournal(newJournalId('rot', session.now()), session.now(), plan.kinds, plan.steps);
      writeJournal(session.dir, journal);
      session.record({ action: 'rotation.start', resource: journal.id, outcome: 'ok', after: { kinds: plan.kinds, steps: journal.steps.map((s) => s.type) } });
    }
    await runJournalSteps(session, journal, contextFor(session, journal.id, options), options);
    const archived = archiveJournal(session.dir, journal);
    return {
      journalId: journal.id,
      resumed,
      dryRun: false,
      ...(reasons ? { plan: reasons } : {}),
      steps: journal.steps,
      archived,
      ...(lock.tookOver ? { lockTakenOver: lock.tookOver } : {}),
    };
  } finally {
    lock.release();
  }
}

/**
 * Runs every step of `journal` not yet done, recording each before and after
 * (journal and audit log), then marks the journal done. Shared by rotations
 * and the compromise procedures; the caller holds the lock and archives.
 */
export async function runJournalSteps(
  session: KeyringSession,
  journal: Journal,
  ctx: StepContext,
  options: Pick<RotateOptions, 'onStep' | 'faultAfterStep' | 'faultBeforeRecord'>,
): Promise<void> {
  const label = journal.procedure ?? 'rotation';
  journal.status = 'running';
  for (const step of journal.steps) {
    if (step.status === 'done') continue;
    step.status = 'started';
    step.startedAt = session.now().toISOString();
    step.attempts += 1;
    writeJournal(session.dir, journal);
    options.onStep?.(step, 'start');
    let result: string;
    try {
      result = await stepHandler(step.type).run(ctx, step);
    } catch (err) {
      step.lastError = err instanceof Error ? err.message.split('\n')[0] : String(err);
      journal.status = 'failed';
      writeJournal(session.dir, journal);
      session.record({ action: `${label}.step`, resource: `${journal.id}#${step.n}`, outcome: 'failed', detail: `${step.type}: ${step.lastError}` });
      options.onStep?.(step, 'failed');
      throw err instanceof RotationError || (err as { code?: unknown }).code !== undefined
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
    if (options.faultAfterStep === step.n) die();
  }
  journal.status = 'done';
  writeJournal(session.dir, journal);
  session.record({ action: `${label}.done`, resource: journal.id, outcome: 'ok', after: { steps: journal.steps.length } });
}
