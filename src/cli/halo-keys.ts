/** `halo-keys`: the project's own command line. */
import { Command } from 'commander';
import { registerSignatureCommands } from './commands/signature.js';
import { registerKeysetCommands } from './commands/keyset.js';
import { registerCaCommands } from './commands/ca.js';
import { registerCertCommands } from './commands/cert.js';
import { registerKingdomCommands } from './commands/kingdom.js';
import { registerKeyringCommands } from './commands/keyring.js';
import { registerStatusCommands } from './commands/status.js';
import { registerRotateCommands } from './commands/rotate.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerCompromiseCommands } from './commands/compromise.js';
import { registerReencryptCommands } from './commands/reencrypt.js';
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
  registerKingdomCommands(program);
  registerKeyringCommands(program);
  registerStatusCommands(program);
  registerRotateCommands(program);
  registerAuditCommands(program);
  registerAgentCommands(program);
  registerCompromiseCommands(program);
  registerReencryptCommands(program);
  return program;
}

export function main(argv: readonly string[]): Promise<number> {
  return runProgram(buildProgram(), argv);
}
