/**
 * `halo-keys compromise certificate | release-hold | encryption-key`: the
 * compromise procedures of src/rotation/compromise from the command line.
 * Each runs as a crash-safe journal (the rotation's): after a crash, run the
 * same command again, or with `--resume`.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { ProcedureOptions, ProcedureResult, KeyringSession } from '../../rotation/index.js';
import { hexString } from '../option-values.js';
import { UsageError, output } from '../run.js';
import { type StateFlags, addStateOptions, openSession, openWritingSession } from './keyring.js';

export interface ProcedureFlags extends StateFlags {
  dryRun?: boolean;
  resume?: boolean;
  breakLock?: boolean;
  report?: string;
}

export function addProcedureOptions(cmd: Command): Command {
  return addStateOptions(cmd)
    .option('--dry-run', 'change nothing anywhere; print what each step would change')
    .option('--resume', 'finish an unfinished procedure (an error when there is none)')
    .option('--break-lock', "take over a lock held by another host's process")
    .option('--report <file>', 'also write the report to FILE.json and FILE.txt')
    .option('--json', 'print JSON');
}

/**
 * Options of runProcedure from the flags: fault hooks from the environment,
 * progress on stderr (steps done, rate, ETA; with `itemLabel`, also the items
 * of a step that works through many), and unless --json a line per step on stdout.
 */
export async function procedureOptions(flags: ProcedureFlags, label: string, itemLabel?: string): Promise<ProcedureOptions> {
  const { faultHooks } = await import('../../rotation/journal/faults.js');
  const { Progress } = await import('../progress.js');
  const progress = new Progress(label);
  const items = itemLabel ? new Progress(itemLabel) : undefined;
  const line = (text: string) => progress.around(() => process.stdout.write(text));
  return {
    ...(flags.dryRun ? { dryRun: true } : {}),
    ...(flags.resume ? { resume: true } : {}),
    ...(flags.breakLock ? { breakLock: true } : {}),
    ...(flags.report ? { reportFile: flags.report } : {}),
    ...faultHooks(),
    onProgress: (done, total) => {
      progress.update(done, total);
      if (done === total) progress.end();
    },
    ...(items
      ? {
          onItems: (done: number, total: number) => {
            items.update(done, total);
            if (done === total) items.end();
          },
        }
      : {}),
    onStep: (step, phase) => {
      if (phase === 'done' && !flags.json) line(`${String(step.n).padStart(2)}. ${step.type.padEnd(32)} ${step.result ?? ''}\n`);
      if (phase === 'failed') {
        if (!flags.json) line(`${String(step.n).padStart(2)}. ${step.type.padEnd(32)} FAILED\n`);
        items?.end();
        progress.end();
      }
    },
  };
}

export async function printResult(flags: ProcedureFlags, result: ProcedureResult): Promise<void> {
  const { renderReportText } = await import('../../rotation/compromise/report.js');
  output(flags.json, result, () => {
    const lines: string[] = [];
    if (result.dryRun) {
      lines.push('dry run: nothing was changed');
      if (result.summary) lines.push(result.summary);
      if (result.resumed) lines.push(`unfinished ${result.procedure} ${result.journalId}: these steps remain`);
      for (const p of result.previews ?? []) lines.push(`${String(p.n).padStart(2)}. ${p.type.padEnd(32)} ${p.summary}\n    ${p.change}`);
      return lines.join('\n');
    }
    if (result.finishedFirst) lines.push(`finished the unfinished journal ${result.finishedFirst} first`);
    if (result.steps.length === 0) {
      lines.push(`${result.summary ?? ''}${result.summary ? ': ' : ''}nothing to do`);
      return lines.join('\n');
    }
    if (result.report) lines.push(renderReportText(result.report).trimEnd());
    lines.push(`${result.resumed ? 'finished' : 'completed'} ${result.procedure} ${result.journalId} (${result.steps.length} steps)`);
    return lines.join('\n');
  });
}

function keyId(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 0xffffffff) throw new InvalidArgumentError('must be a Tink key id (an unsigned 32-bit integer)');
  return Number(value);
}

interface CertificateFlags extends ProcedureFlags {
  skid?: string;
  hold?: boolean;
  keepKeyMaterial?: boolean;
}

function requireOneTarget(name: string | undefined, flags: { skid?: string; resume?: boolean }): void {
  if (flags.resume) return;
  if ((name === undefined) === (flags.skid === undefined)) throw new UsageError('name the certificate by its Kingdom name or by --skid HEX (one of the two)');
}

async function certificateTargetOf(session: KeyringSession, name: string | undefined, flags: CertificateFlags) {
  const { certificateTarget } = await import('../../rotation/compromise/target.js');
  return certificateTarget(session, { ...(name !== undefined ? { name } : {}), ...(flags.skid !== undefined ? { skid: flags.skid } : {}) });
}

export function registerCompromiseCommands(program: Command): void {
  const group = program
    .command('compromise')
    .description('respond to a leaked certificate or encryption key: blast radius, rotate, revoke, re-encrypt, report')
    .addHelpText(
      'after',
      `
Examples:
  halo-keys compromise certificate dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAcs --report incident
  halo-keys compromise certificate --skid 3f:1a:... --hold
  halo-keys compromise release-hold dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAcs
  halo-keys compromise encryption-key --key-id 1234567 --requisition-specs specs/ --trusted-roots dp_roots.pem`,
    );

  addProcedureOptions(
    group
      .command('certificate')
      .description('blast radius, rotate to a new certificate, revoke the leaked one (Kingdom and CRL), destroy its key, report')
      .argument('[name]', 'the Kingdom Certificate name (signing certificates)')
      .option('--skid <hex>', 'the certificate by subject key identifier (also TLS certificates)', hexString)
      .option('--hold', 'suspected compromise: HOLD at the Kingdom and certificateHold in the CRL, releasable with release-hold')
      .option('--keep-key-material', 'do not destroy the private key'),
  ).action(async (name: string | undefined, flags: CertificateFlags) => {
    requireOneTarget(name, flags);
    const session = await (flags.dryRun ? openSession(flags) : openWritingSession(flags, 'compromise'));
    const { runProcedure } = await import('../../rotation/compromise/procedure.js');
    const { planCertificateCompromise } = await import('../../rotation/compromise/plans.js');
    const result = await runProcedure(
      session,
      'compromise.certificate',
      async () =>
        planCertificateCompromise(session, {
          target: await certificateTargetOf(session, name, flags),
          hold: !!flags.hold,
          keepKeyMaterial: !!flags.keepKeyMaterial,
          ...(flags.report ? { reportFile: flags.report } : {}),
        }),
      await procedureOptions(flags, 'compromise certificate: steps'),
    );
    await printResult(flags, result);
  });

  addProcedureOptions(
    group
      .command('release-hold')
      .description('lift a HOLD put by "compromise certificate --hold" (Kingdom and CRL); failed measurements stay failed')
      .argument('[name]', 'the Kingdom Certificate name')
      .option('--skid <hex>', 'the certificate by subject key identifier', hexString),
  ).action(async (name: string | undefined, flags: CertificateFlags) => {
    requireOneTarget(name, flags);
    const session = await (flags.dryRun ? openSession(flags) : openWritingSession(flags, 'compromise'));
    const { runProcedure } = await import('../../rotation/compromise/procedure.js');
    const { planReleaseHold } = await import('../../rotation/compromise/plans.js');
    const result = await runProcedure(session, 'compromise.release-hold', async () => planReleaseHold(await certificateTargetOf(session, name, flags)), await procedureOptions(flags, 'compromise release-hold: steps'));
    await printResult(flags, result);
  });

  addProcedureOptions(
    group
      .command('encryption-key')
      .description('rotate to a new encryption key at once and remove the leaked one; an MC replaces its ongoing measurements and asks for EventGroup re-encryption, a DataProvider refuses requisitions encrypted to it')
      .option('--key-id <n>', 'the leaked key by Tink key id (default: the active key)', keyId)
      .option('--requisition-specs <dir>', "MC: its own RequisitionSpecs, <nonce hash hex>.binpb (default: compromise.requisitionSpecs)")
      .option('--trusted-roots <file>', "MC: the DataProviders' roots, PEM (default: compromise.trustedRoots)"),
  ).action(async (flags: ProcedureFlags & { keyId?: number; requisitionSpecs?: string; trustedRoots?: string }) => {
    const session = await (flags.dryRun ? openSession(flags) : openWritingSession(flags, 'compromise'));
    const { runProcedure } = await import('../../rotation/compromise/procedure.js');
    const { planEncryptionKeyCompromise } = await import('../../rotation/compromise/plans.js');
    const { compromiseSettings } = await import('../../rotation/compromise/settings.js');
    const { encryptionKeyTarget } = await import('../../rotation/compromise/target.js');
    const settings = compromiseSettings(session.config, {
      ...(flags.requisitionSpecs ? { requisitionSpecs: flags.requisitionSpecs } : {}),
      ...(flags.trustedRoots ? { trustedRoots: flags.trustedRoots } : {}),
    });
    const result = await runProcedure(
      session,
      'compromise.encryption-key',
      async (env) =>
        planEncryptionKeyCompromise(session, env.client(), env.journalId, env.write, {
          target: encryptionKeyTarget(session, flags.keyId),
          settings,
          ...(flags.report ? { reportFile: flags.report } : {}),
        }),
      await procedureOptions(flags, 'compromise encryption-key: steps', `compromise encryption-key: ${session.config.participantKind === 'dataProvider' ? 'refuse-requisitions' : 'replace-measurements'}`),
    );
    await printResult(flags, result);
  });
}
