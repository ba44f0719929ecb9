/**
 * `MeasurementSystem api-keys`: upstream's `--id-token TOKEN create` (an
 * Account that owns the MeasurementConsumer makes it an API key).
 */
import type { Command } from 'commander';
import { ApiKeySchema } from '../../../gen/wfa/measurement/api/v2alpha/api_key_pb.js';
import { connect, rpcAction } from './connection.js';
import { readIdToken, withIdToken } from './id-token.js';
import { printMessage } from './print.js';

interface CreateOptions {
  measurementConsumer: string;
  nickname: string;
  description?: string;
  json?: boolean;
}

export function registerApiKeysCommands(program: Command): void {
  const group = program
    .command('api-keys')
    .description('ApiKey resources: create')
    .option('--id-token <idToken>', "the owning Account's OpenID Connect ID token (asked for on the terminal when not given)");

  group
    .command('create')
    .description('Creates an ApiKey resource')
    .requiredOption('--measurement-consumer <measurementConsumer>', 'API resource name of the MeasurementConsumer')
    .requiredOption('--nickname <nickname>', 'nickname of the key')
    .option('--description <description>', 'description of the key')
    .option('--json', 'print the ApiKey as JSON')
    .addHelpText(
      'after',
      `
Prints the ApiKey in protobuf text format; its authentication_key (send it
as --api-key) is shown this once only.

Example:
  MeasurementSystem ... api-keys --id-token "$ID_TOKEN" create --measurement-consumer measurementConsumers/TjyUnormbAg --nickname reporting`,
    )
    .action(rpcAction(async (opts: CreateOptions, cmd: Command) => {
      const idToken = await readIdToken(cmd.parent!.opts<{ idToken?: string }>().idToken);
      const created = await connect(cmd).apiKeys.createApiKey(
        { parent: opts.measurementConsumer, apiKey: { nickname: opts.nickname, description: opts.description ?? '' } },
        withIdToken(idToken),
      );
      printMessage(opts.json, ApiKeySchema, created);
    }));
}
