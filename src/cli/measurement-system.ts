/**
 * `MeasurementSystem`: upstream's client of the Kingdom public API, with the
 * same global flags, subcommands, options and output lines, so operator
 * scripts run unchanged; extended with get/list/release-hold, event groups,
 * data availability, measurement trust and `--json`.
 */
import { Command } from 'commander';
import { registerAccountsCommands } from './commands/measurement-system/accounts.js';
import { registerApiKeysCommands } from './commands/measurement-system/api-keys.js';
import { registerCertificatesCommands } from './commands/measurement-system/certificates.js';
import { addGlobalOptions } from './commands/measurement-system/connection.js';
import { registerDataProvidersCommands } from './commands/measurement-system/data-providers.js';
import { registerEventGroupsCommands } from './commands/measurement-system/event-groups.js';
import { registerMeasurementConsumersCommands } from './commands/measurement-system/measurement-consumers.js';
import { registerMeasurementsCommands } from './commands/measurement-system/measurements.js';
import { registerPublicKeysCommands } from './commands/measurement-system/public-keys.js';
import { addCompletionCommand } from './completion.js';
import { configureProgram, picocliShortOptionValues, runProgram } from './run.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = addGlobalOptions(configureProgram(new Command('MeasurementSystem')))
    .description('Interacts with the Cross-Media Measurement System API')
    .version(VERSION)
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failure (one line on stderr naming what to fix), 2 usage error.

Example (register a new certificate, then re-point the public key to it):
  MeasurementSystem --tls-cert-file edp1_tls.pem --tls-key-file edp1_tls.key \\
    --cert-collection-file kingdom_root.pem --kingdom-public-api-target localhost:8443 \\
    certificates create --parent dataProviders/OljiQHRz-E4 --certificate edp1_cs_cert.der`,
    );
  registerAccountsCommands(program);
  registerApiKeysCommands(program);
  registerCertificatesCommands(program);
  registerPublicKeysCommands(program);
  registerMeasurementConsumersCommands(program);
  registerMeasurementsCommands(program);
  registerDataProvidersCommands(program);
  registerEventGroupsCommands(program);
  return addCompletionCommand(program);
}

export async function main(argv: readonly string[]): Promise<number> {
  const code = await runProgram(buildProgram(), picocliShortOptionValues(argv));
  // An idle HTTP/2 session to the Kingdom would keep the process alive; leave once output is flushed.
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}
