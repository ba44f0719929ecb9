/** `halo-keys`: the project's own command line. */
import { Command } from 'commander';
import { registerSignatureCommands } from './commands/signature.js';
import { registerKeysetCommands } from './commands/keyset.js';
import { registerCaCommands } from './commands/ca.js';
import { registerCertCommands } from './commands/cert.js';
import { configureProgram, runProgram } from './run.js';
import { VERSION } from './version.js';

export function buildProgram(): Command {
  const program = configureProgram(new Command('halo-keys'))
    .description('Certificate and encryption-key lifecycle for the Halo CMMS')
    .version(VERSION)
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failure, 2 usage error.

Example:
  halo-keys keyset generate --out mc_enc_private.tink --public-out mc_enc_public.tink`,
    );
  registerKeysetCommands(program);
  registerSignatureCommands(program);
  registerCaCommands(program);
  registerCertCommands(program);
  return program;
}

export function main(argv: readonly string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
