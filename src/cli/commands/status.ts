/**
 * `halo-keys status`: every key and certificate of the keyring, when each is
 * due, and what is wrong. Exit codes: 0 in order (due items are warnings),
 * 1 the command failed, 2 usage, 3 something overdue, expired, not valid
 * now, pending or half-rotated, or inconsistent with the Kingdom, so a
 * deployment can be gated on it.
 */
import type { Command } from 'commander';
import { formatDuration } from '../../lib/index.js';
import { output } from '../run.js';
import { type StateFlags, addStateOptions, openSession, setExitCode } from './keyring.js';

export function registerStatusCommands(program: Command): void {
  addStateOptions(
    program
      .command('status')
      .description('every key and certificate: kind, state, age, expiry, next rotation, problems (exit 3 when something is overdue)')
      .option('--no-kingdom', 'do not compare with the Kingdom')
      .option('--json', 'print JSON')
      .addHelpText('after', '\nExit codes: 0 in order (due is a warning), 1 failure, 2 usage, 3 overdue, expired, an active certificate not valid now, a key pending, a journal unfinished or failed, or inconsistent with the Kingdom.'),
  ).action(async (flags: StateFlags & { kingdom: boolean }) => {
    const session = await openSession(flags);
    const { collectStatus } = await import('../../rotation/status.js');
    let port;
    if (flags.kingdom && session.config.kingdom) {
      const { connectKingdom } = await import('../../rotation/kingdom-connect.js');
      try {
        port = connectKingdom(session);
      } catch {
        port = undefined;
      }
    }
    const report = await collectStatus(session, port ? { kingdom: port } : {});
    output(flags.json, report, () => {
      const head = ['KIND', 'STATE', 'ID', 'AGE', 'EXPIRES', 'NEXT DUE', 'URGENCY', 'KINGDOM'];
      const rows = report.rows.map((r) => [
        r.kind,
        r.state,
        r.id,
        formatDuration(r.ageMs, 1),
        r.notAfter ? `${r.notAfter.slice(0, 10)} (${formatDuration(r.remainingMs!, 1)})` : '-',
        r.dueAt ? r.dueAt.slice(0, 16).replace('T', ' ') : '-',
        r.urgency ?? '-',
        r.kingdomCertificate ?? (r.published ? 'published' : '-'),
      ]);
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
      const problems = report.problems.map((p) => `${p.severity === 'error' ? 'ERROR' : 'warn '} ${p.message}`);
      return [
        `${report.participant} at ${report.at} (Kingdom: ${report.kingdom})`,
        line(head),
        ...rows.map(line),
        ...(problems.length ? ['', ...problems] : ['', 'no problems']),
      ].join('\n');
    });
    setExitCode(report.exitCode);
  });
}
