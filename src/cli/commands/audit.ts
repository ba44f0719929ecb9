/**
 * `halo-keys audit verify | export`: check the keyring's hash-chained audit
 * log (edits, deletions, reordering, a cut-off tail) and export it as JSON or
 * CSV. Needs no passphrase: the log holds no key material.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { output } from '../run.js';
import { isoTime } from '../option-values.js';
import { setExitCode } from './keyring.js';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description("the keyring's tamper-evident audit trail");
  audit
    .command('verify')
    .description('check the hash chain and its anchor; exit 3 when the log was altered')
    .option('--dir <dir>', 'the keyring state directory (default: $HALO_KEYS_DIR or .)', process.env.HALO_KEYS_DIR ?? '.')
    .option('--json', 'print JSON')
    .action(async (flags: { dir: string; json?: boolean }) => {
      const { verifyAuditLog, AUDIT_FILES } = await import('../../rotation/audit-log.js');
      const { join } = await import('node:path');
      const v = verifyAuditLog(join(flags.dir, AUDIT_FILES.log), join(flags.dir, AUDIT_FILES.anchor));
      output(flags.json, v, () =>
        v.ok
          ? `audit log intact: ${v.entries} entries, head ${v.head}${v.unanchored ? ` (${v.unanchored} entry after the anchor: an interrupted append, repaired by the next one)` : ''}`
          : `audit log BROKEN (${v.entries} entries read):\n${v.problems.map((p) => `  ${p}`).join('\n')}`,
      );
      if (!v.ok) setExitCode(3);
    });
  audit
    .command('export')
    .description('the entries as JSON or CSV')
    .option('--dir <dir>', 'the keyring state directory (default: $HALO_KEYS_DIR or .)', process.env.HALO_KEYS_DIR ?? '.')
    .addOption(new Option('--format <format>', 'output format').choices(['json', 'csv']).default('json'))
    .option('--since <iso-time>', 'only entries at or after this time', isoTime)
    .action(async (flags: { dir: string; format: 'json' | 'csv'; since?: Date }) => {
      const { AuditLog, entriesToCsv, selectEntries } = await import('../../rotation/audit-log.js');
      const { systemClock } = await import('../../lib/clock.js');
      const entries = selectEntries(new AuditLog(flags.dir, { clock: systemClock, participant: () => '' }).entries(), flags.since ? { since: flags.since } : {});
      process.stdout.write(flags.format === 'csv' ? entriesToCsv(entries) : `${JSON.stringify(entries, null, 2)}\n`);
    });
}
