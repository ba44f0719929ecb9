/** `halo-keys`: the project's own command line. */
import { Command } from 'commander';
import { configureProgram, runProgram } from './run.js';
import { VERSION } from './version.js';

type Register = (program: Command) => void;

/**
 * Command groups, loaded on demand: a run imports only the group it calls
 * (all of them for top-level help), so start-up stays fast as groups grow.
 */
const GROUPS: ReadonlyArray<{ commands: readonly string[]; load: () => Promise<Register> }> = [
  { commands: ['keyset', 'encrypt', 'decrypt'], load: async () => (await import('./commands/keyset.js')).registerKeysetCommands },
  { commands: ['sign', 'verify'], load: async () => (await import('./commands/signature.js')).registerSignatureCommands },
  { commands: ['ca'], load: async () => (await import('./commands/ca.js')).registerCaCommands },
  { commands: ['cert'], load: async () => (await import('./commands/cert.js')).registerCertCommands },
  { commands: ['kingdom'], load: async () => (await import('./commands/kingdom.js')).registerKingdomCommands },
  {
    commands: ['init', 'import', 'register', 'registration', 'sync'],
    load: async () => (await import('./commands/keyring.js')).registerKeyringCommands,
  },
  { commands: ['status'], load: async () => (await import('./commands/status.js')).registerStatusCommands },
  { commands: ['plan', 'rotate'], load: async () => (await import('./commands/rotate.js')).registerRotateCommands },
  { commands: ['config'], load: async () => (await import('./commands/config.js')).registerConfigCommands },
  {
    commands: ['completion'],
    load: async () => (await import('./completion.js')).registerCompletion(async () => buildProgram()),
  },
  { commands: ['audit'], load: async () => (await import('./commands/audit.js')).registerAuditCommands },
  { commands: ['agent'], load: async () => (await import('./commands/agent.js')).registerAgentCommands },
  { commands: ['compromise'], load: async () => (await import('./commands/compromise.js')).registerCompromiseCommands },
  { commands: ['reencrypt'], load: async () => (await import('./commands/reencrypt.js')).registerReencryptCommands },
  { commands: ['rehearse'], load: async () => (await import('./commands/rehearse.js')).registerRehearseCommands },
];

/** The groups a run of `args` (argv without node and script) needs. */
function groupsFor(args: readonly string[]): typeof GROUPS {
  const command = args.find((a) => !a.startsWith('-'));
  if (command === undefined) {
    const versionOnly = args.length > 0 && args.every((a) => a === '-V' || a === '--version');
    return versionOnly ? [] : GROUPS;
  }
  const group = GROUPS.find((g) => g.commands.includes(command));
  // An unknown command gets commander's error, which lists every command.
  return group ? [group] : GROUPS;
}

export async function buildProgram(args: readonly string[] = []): Promise<Command> {
  const program = configureProgram(new Command('halo-keys'))
    .description('Certificate and encryption-key lifecycle for the Halo CMMS')
    .version(VERSION)
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failure, 2 usage error, 3 something overdue or altered (status, audit verify).

Example:
  halo-keys kingdom serve
  halo-keys keyset generate --out mc_enc_private.tink --public-out mc_enc_public.tink`,
    );
  for (const group of groupsFor(args)) (await group.load())(program);
  return program;
}

export async function main(argv: readonly string[]): Promise<number> {
  return runProgram(await buildProgram(argv.slice(2)), argv);
}
