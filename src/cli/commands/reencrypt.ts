/**
 * `halo-keys reencrypt event-groups`: run by a DataProvider after a
 * MeasurementConsumer's encryption key leaked. One journaled step answers
 * every open re-encryption request, page by page: verify each MC's new key
 * against its root (once), encrypt the DataProvider's own plaintext metadata
 * to it, and update the page's groups and close its requests with one
 * BatchReencryptEventGroups. Progress (event groups done, rate, ETA) on
 * stderr; a killed run resumes where it stopped.
 */
import type { Command } from 'commander';
import { type ProcedureFlags, addProcedureOptions, printResult, procedureOptions } from './compromise.js';
import { openSession, openWritingSession } from './keyring.js';
import { batchSize } from '../option-values.js';

export function registerReencryptCommands(program: Command): void {
  const group = program.command('reencrypt').description('re-encrypt what a leaked key of another participant protected');
  addProcedureOptions(
    group
      .command('event-groups')
      .description("answer the Kingdom's open EventGroup metadata re-encryption requests (DataProvider)")
      .option('--metadata-dir <dir>', 'plaintext EventGroup.Metadata, <event_group_reference_id>.binpb (default: compromise.eventGroupMetadata)')
      .option('--trusted-roots <file>', "the MeasurementConsumers' roots, PEM (default: compromise.trustedRoots)")
      .option('--page-size <n>', 'requests answered per call, 1 to 1000 (default 200)', batchSize)
      .addHelpText('after', '\nExample:\n  halo-keys reencrypt event-groups --dir edp1 --metadata-dir edp1/metadata --trusted-roots mc_root.pem'),
  ).action(async (flags: ProcedureFlags & { metadataDir?: string; trustedRoots?: string; pageSize?: number }) => {
    const session = await (flags.dryRun ? openSession(flags) : openWritingSession(flags, 'reencrypt'));
    const { runProcedure } = await import('../../rotation/compromise/procedure.js');
    const { planReencryption } = await import('../../rotation/compromise/plans.js');
    const { compromiseSettings } = await import('../../rotation/compromise/settings.js');
    const settings = compromiseSettings(session.config, {
      ...(flags.metadataDir ? { eventGroupMetadata: flags.metadataDir } : {}),
      ...(flags.trustedRoots ? { trustedRoots: flags.trustedRoots } : {}),
    });
    const result = await runProcedure(
      session,
      'reencrypt.event-groups',
      async (env) => planReencryption(session, env.client(), { settings, ...(flags.report ? { reportFile: flags.report } : {}), ...(flags.pageSize !== undefined ? { pageSize: flags.pageSize } : {}) }),
      await procedureOptions(flags, 'reencrypt event-groups: steps', 'reencrypt event-groups: event groups'),
    );
    await printResult(flags, result);
  });
}
