/**
 * `MeasurementSystem accounts activate`: upstream's command; the Account
 * is bound to the identity of the caller's ID token.
 */
import type { Command } from 'commander';
import { AccountSchema } from '../../../gen/wfa/measurement/api/v2alpha/account_pb.js';
import { connect, rpcAction } from './connection.js';
import { readIdToken, withIdToken } from './id-token.js';
import { printMessage } from './print.js';

export function registerAccountsCommands(program: Command): void {
  const group = program.command('accounts').description('Account resources: activate');

  group
    .command('activate')
    .description('Activates an Account with its activation token')
    .argument('<name>', 'Resource name of the Account')
    .requiredOption('--activation-token <activationToken>', 'the activation token the Kingdom operator issued with the Account')
    .option('--id-token <idToken>', 'OpenID Connect ID token of the identity to bind (asked for on the terminal when not given)')
    .option('--json', 'print the Account as JSON')
    .addHelpText(
      'after',
      '\nPrints the activated Account in protobuf text format.\n\nExample:\n  MeasurementSystem ... accounts activate accounts/KcuXSjfBx9E --activation-token vzmtXavLdk4 --id-token "$ID_TOKEN"',
    )
    .action(rpcAction(async (name: string, opts: { activationToken: string; idToken?: string; json?: boolean }, cmd: Command) => {
      const idToken = await readIdToken(opts.idToken);
      const account = await connect(cmd).accounts.activateAccount({ name, activationToken: opts.activationToken }, withIdToken(idToken));
      printMessage(opts.json, AccountSchema, account);
    }));
}
