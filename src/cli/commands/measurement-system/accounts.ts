/**
 * `MeasurementSystem accounts`: upstream's `authenticate` (an ID token from
 * a self-issued OpenID provider key) and `activate` (binds the Account to
 * that token's identity).
 */
import type { Command } from 'commander';
import { AccountSchema } from '../../../gen/wfa/measurement/api/v2alpha/account_pb.js';
import { output } from '../../run.js';
import { PASSPHRASE_ENV, readPassphrase } from '../../signing-files.js';
import { connect, rpcAction } from './connection.js';
import { readIdToken, withIdToken } from './id-token.js';
import { printMessage } from './print.js';
import { readSelfIssuedKey, SELF_ISSUED_ISSUER, selfIssuedIdToken } from './self-issued-id-token.js';

export function registerAccountsCommands(program: Command): void {
  const group = program.command('accounts').description('Account resources: authenticate, activate');

  group
    .command('authenticate')
    .description('Prints an ID token for the Kingdom from a self-issued OpenID provider key')
    .requiredOption('--self-issued-openid-provider-key, --siop-key <file>', 'Self-issued OpenID Provider key as a binary Tink keyset (RS256)')
    .option('--passphrase-file <file>', `passphrase of an encrypted keyset (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print the ID token as JSON')
    .addHelpText(
      'after',
      `
Asks the Kingdom for an authentication request, answers it with an RS256 ID
token signed by the key, and prints "ID Token: TOKEN" (valid 5000 s). The
identity is the key: keep the keyset secret.

Example:
  MeasurementSystem ... accounts authenticate --siop-key account1_siop_private.tink`,
    )
    .action(rpcAction(async (opts: { siopKey: string; passphraseFile?: string; json?: boolean }, cmd: Command) => {
      const key = readSelfIssuedKey(opts.siopKey, readPassphrase(opts.passphraseFile));
      const response = await connect(cmd).accounts.authenticate({ issuer: SELF_ISSUED_ISSUER });
      const idToken = selfIssuedIdToken(response.authenticationRequestUri, key, new Date());
      output(opts.json, { idToken }, () => `ID Token: ${idToken}`);
    }));

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
