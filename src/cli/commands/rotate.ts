/**
 * `halo-keys plan` and `halo-keys rotate`: the rotation journal from the
 * command line. Without a kind flag only what the policy says is due is
 * rotated; `--tls`, `--signing`, `--encryption` or `--all` force those kinds.
 * An unfinished rotation is always finished first (`--resume` insists on one).
 */
import type { Command } from 'commander';
import type { AbortResult, KeyKind, RotateOptions, RotateResult } from '../../rotation/index.js';
import { UsageError, output } from '../run.js';
import { type StateFlags, addRehearsalOption, addStateOptions, openSession, openWritingSession } from './keyring.js';

interface KindFlags {
  tls?: boolean;
  signing?: boolean;
  encryption?: boolean;
  all?: boolean;
}

/** The kinds asked for; `--all` is every kind this participant holds. */
function kindsOf(flags: KindFlags, held: readonly KeyKind[]): readonly KeyKind[] | undefined {
  if (flags.all) {
    if (flags.tls || flags.signing || flags.encryption) throw new UsageError('--all already includes --tls, --signing and --encryption');
    return held;
  }
  const kinds: KeyKind[] = [];
  if (flags.tls) kinds.push('tls');
  if (flags.signing) kinds.push('signing');
  if (flags.encryption) kinds.push('encryption');
  return kinds.length ? kinds : undefined;
}

function addKindOptions(cmd: Command): Command {
  return cmd
    .option('--tls', 'rotate the TLS certificate whatever the schedule')
    .option('--signing', 'rotate the API (signing) certificate whatever the schedule')
    .option('--encryption', 'rotate the encryption key whatever the schedule')
    .option('--all', 'every kind this participant holds (encryption only for DataProviders and MeasurementConsumers)');
}

function planText(result: RotateResult): string {
  const lines: string[] = [];
  if (result.plan) lines.push(`due: ${result.plan.map((r) => `${r.kind} ${r.urgency}${r.included ? '' : ' (skipped)'}`).join(', ')}`);
  if (result.resumed) lines.push(`unfinished rotation ${result.journalId}: these steps remain`);
  if (result.steps.length === 0) lines.push('nothing to do');
  for (const p of result.previews ?? []) lines.push(`${String(p.n).padStart(2)}. ${p.type.padEnd(20)} ${p.summary}\n    ${p.change}`);
  return lines.join('\n');
}

function abortText(result: AbortResult): string {
  const lines = [result.dryRun ? `dry run: nothing was changed; abandoning ${result.procedure} ${result.aborted} would take these steps` : `aborted ${result.aborted}: ${result.steps.length} step(s) walked it back (journal ${result.journalId})`];
  for (const p of result.previews ?? []) lines.push(`${String(p.n).padStart(2)}. ${p.type.padEnd(20)} ${p.summary}\n    ${p.change}`);
  if (result.notes.length) lines.push('not undone:', ...result.notes.map((n) => `  - ${n}`));
  return lines.join('\n');
}

export function registerRotateCommands(program: Command): void {
  addKindOptions(
    addStateOptions(
      program
        .command('plan')
        .description('list every step a rotation would take now, and what each would change')
        .option('--json', 'print JSON'),
    ),
  ).action(async (flags: StateFlags & KindFlags) => {
    const session = await openSession(flags);
    const { rotate } = await import('../../rotation/rotate.js');
    const { keyKindsOf } = await import('../../rotation/config.js');
    const kinds = kindsOf(flags, keyKindsOf(session.config.participantKind));
    const result = await rotate(session, { dryRun: true, ...(kinds ? { kinds } : {}) });
    output(flags.json, result, () => planText(result));
  });

  addKindOptions(
    addRehearsalOption(addStateOptions(
      program
        .command('rotate')
        .description('rotate what is due (or the given kinds) as a crash-safe journal')
        .option('--dry-run', 'change nothing anywhere; print exactly what would change')
        .option('--resume', 'finish an unfinished rotation (an error when there is none)')
        .option('--abort', 'abandon the unfinished journal (rotation or compromise procedure): walk back what it created, say what cannot be undone')
        .option('--break-lock', "take over a lock held by another host's rotation")
        .option('--json', 'print JSON')
        .addHelpText(
          'after',
          `
Each step is recorded in <dir>/journal.json before and after it runs; after a
crash, run rotate again and it finishes the same rotation, or rotate --abort to
abandon it (journaled and audited too). --at (or HALO_KEYS_NOW) writes only to
a rehearsal copy: rotate --at 2027-03-20T00:00:00Z --rehearsal /tmp/rehearsal
(with --dry-run, --at needs no copy). Test hooks:
HALO_KEYS_FAULT_AFTER_STEP=n / HALO_KEYS_FAULT_BEFORE_RECORD=n SIGKILL the
process right after step n is recorded / right after it ran.`,
        ),
    )),
  ).action(async (flags: StateFlags & KindFlags & { dryRun?: boolean; resume?: boolean; abort?: boolean; breakLock?: boolean }) => {
    if (flags.abort && (flags.resume || flags.tls || flags.signing || flags.encryption || flags.all)) throw new UsageError('--abort takes no --resume or kind flags: it abandons the unfinished journal');
    const session = await (flags.dryRun ? openSession(flags) : openWritingSession(flags, 'rotate', true));
    const { rotate, faultHooks } = await import('../../rotation/rotate.js');
    const { keyKindsOf } = await import('../../rotation/config.js');
    const onStep: RotateOptions['onStep'] = flags.json
      ? undefined
      : (step, phase) => {
          if (phase === 'done') process.stdout.write(`${String(step.n).padStart(2)}. ${step.type.padEnd(20)} ${step.result ?? ''}\n`);
          if (phase === 'failed') process.stdout.write(`${String(step.n).padStart(2)}. ${step.type.padEnd(20)} FAILED\n`);
        };
    const common = { ...(flags.dryRun ? { dryRun: true } : {}), ...(flags.breakLock ? { breakLock: true } : {}), ...faultHooks(), onStep };
    if (flags.abort) {
      const { abortJournal } = await import('../../rotation/abort.js');
      const result = await abortJournal(session, common);
      output(flags.json, result, () => abortText(result));
      return;
    }
    const kinds = kindsOf(flags, keyKindsOf(session.config.participantKind));
    const result = await rotate(session, {
      ...(kinds ? { kinds } : {}),
      ...(flags.resume ? { resume: true } : {}),
      ...common,
    });
    output(flags.json, result, () => {
      if (result.dryRun) return `dry run: nothing was changed\n${planText(result)}`;
      if (result.steps.length === 0) return planText(result);
      return `${result.resumed ? 'finished' : 'completed'} rotation ${result.journalId} (${result.steps.length} steps)${result.lockTakenOver ? `; took over a stale lock: ${result.lockTakenOver}` : ''}`;
    });
  });
}
