/**
 * `halo-keys rehearse`: the whole key lifecycle drilled on a local CMMS in one
 * command (src/rehearse). Exit 0 only when every check passed.
 */
import { writeFileSync } from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { output, setExitCode, UsageError } from '../run.js';

interface RehearseFlags {
  dir?: string;
  databaseUrl?: string;
  eventGroups: number;
  measurements: number;
  keep?: boolean;
  json?: boolean;
  report?: string;
}

function atLeast(min: number, what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`must be an integer of at least ${min} (${what})`);
    return Number(value);
  };
}

export function registerRehearseCommands(program: Command): void {
  program
    .command('rehearse')
    .description('build a local CMMS in a scratch directory and drill every rotation and compromise procedure on it, checked from outside')
    .option('--dir <dir>', 'the scratch directory (created, or empty); default a new temporary directory')
    .option('--database-url <url>', 'run the Kingdom on this PostgreSQL database instead of the embedded one (default $HALO_KEYS_DATABASE_URL)')
    .option('--event-groups <n>', 'EventGroups in the workload, split between the two DataProviders', atLeast(2, 'one per DataProvider'), 8)
    .option('--measurements <m>', 'measurements in the workload, cycling through every state', atLeast(5, 'one of each state'), 10)
    .option('--keep', 'keep the scratch directory even when every check passed (it is kept whenever one failed)')
    .option('--json', 'print the report as JSON')
    .option('--report <file>', 'also write the report as a self-contained HTML page')
    .addHelpText(
      'after',
      `
The rehearsal starts a Kingdom, makes two DataProviders, a MeasurementConsumer,
a ModelProvider and a Duchy (each with its own CA, registered as an operator
would, their keyrings born 91 days ago), runs a workload (EventGroups,
measurements in every state, requisitions), then the drills: the scheduled
rotation at day 91 for everyone, a TLS rotation with the rollout check against
an endpoint serving the rendered Secret, an EDP signing-certificate compromise,
the MC's and a DataProvider's encryption-key compromise, a rotation and a
compromise killed by SIGKILL and finished by a second run, and the audit chains.
Needs openssl and kubectl (kustomize) on PATH. With PostgreSQL the rehearsal's
participants stay in that database (fresh roots each run, so runs do not clash).

Examples:
  halo-keys rehearse
  halo-keys rehearse --database-url postgres://postgres@127.0.0.1:5432/rehearsal --report rehearsal.html
  halo-keys rehearse --dir /tmp/rehearsal --keep --event-groups 1000 --measurements 200`,
    )
    .action(async (flags: RehearseFlags) => {
      const databaseUrl = flags.databaseUrl ?? (process.env.HALO_KEYS_DATABASE_URL?.trim() || undefined);
      if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new UsageError('--database-url must be a postgres:// URL');
      const { rehearse, RehearsalDirError } = await import('../../rehearse/rehearse.js');
      const { renderText } = await import('../../rehearse/render-text.js');
      const tty = process.stderr.isTTY === true;
      const progress = (line: string) => {
        if (tty) process.stderr.write(`\r\x1b[K${line}\n`);
      };
      const { Progress } = await import('../progress.js');
      const workload = new Progress('workload: items');
      const workloadProgress = (done: number, total: number) => {
        workload.update(done, total);
        if (done === total) workload.end();
      };
      let report;
      try {
        report = await rehearse({
          ...(flags.dir !== undefined ? { dir: flags.dir } : {}),
          ...(databaseUrl !== undefined ? { databaseUrl } : {}),
          size: { eventGroups: flags.eventGroups, measurements: flags.measurements },
          keep: flags.keep === true,
          progress,
          workloadProgress,
        });
      } catch (err) {
        if (err instanceof RehearsalDirError) throw new UsageError(err.message);
        throw err;
      }
      if (flags.report) {
        const { renderHtml } = await import('../../rehearse/render-html.js');
        writeFileSync(flags.report, renderHtml(report));
      }
      output(flags.json, report, () => renderText(report));
      if (!report.ok) setExitCode(1);
    });
}
