/**
 * `MeasurementSystem data-providers --name NAME get` (upstream),
 * `measurement-consumers --name NAME get` and `event-groups list|get`.
 */
import type { Command } from 'commander';
import { DataProviderSchema } from '../../../gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { EventGroupSchema, EventGroup_State, type EventGroup } from '../../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { MeasurementConsumerSchema } from '../../../gen/wfa/measurement/api/v2alpha/measurement_consumer_pb.js';
import { output } from '../../run.js';
import { pageSize } from '../../option-values.js';
import { connect, rpcAction } from './connection.js';
import { enumName, messageJson, printMessage } from './print.js';

export function registerPartyCommands(program: Command): void {
  const dataProviders = program
    .command('data-providers')
    .description('DataProvider resources: get')
    .requiredOption('--name <name>', 'API resource name of the DataProvider');
  dataProviders
    .command('get')
    .description('gets a DataProvider')
    .option('--json', 'print the DataProvider as JSON')
    .addHelpText(
      'after',
      '\nPrints "Data Provider Resource: NAME", then the DataProvider (its current\ncertificate and signed public key) in protobuf text format.\n\nExample:\n  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 get',
    )
    .action(rpcAction(async (opts: { json?: boolean }, cmd: Command) => {
      const name = cmd.parent!.opts<{ name: string }>().name;
      const dataProvider = await connect(cmd).dataProviders.getDataProvider({ name });
      printMessage(opts.json, DataProviderSchema, dataProvider, [`Data Provider Resource: ${dataProvider.name}`]);
    }));

  const measurementConsumers = program
    .command('measurement-consumers')
    .description('MeasurementConsumer resources: get')
    .requiredOption('--name <name>', 'API resource name of the MeasurementConsumer')
    .option('--api-key <apiKey>', 'API authentication key of the MeasurementConsumer');
  measurementConsumers
    .command('get')
    .description('gets a MeasurementConsumer')
    .option('--json', 'print the MeasurementConsumer as JSON')
    .addHelpText('after', '\nExample:\n  MeasurementSystem ... measurement-consumers --name measurementConsumers/TjyUnormbAg --api-key KEY get')
    .action(rpcAction(async (opts: { json?: boolean }, cmd: Command) => {
      const { name, apiKey } = cmd.parent!.opts<{ name: string; apiKey?: string }>();
      const mc = await connect(cmd, apiKey).measurementConsumers.getMeasurementConsumer({ name });
      printMessage(opts.json, MeasurementConsumerSchema, mc, [`Measurement Consumer Resource: ${mc.name}`]);
    }));

  const eventGroups = program
    .command('event-groups')
    .description('EventGroup resources: list, get')
    .option('--api-key <apiKey>', 'API authentication key (MeasurementConsumer callers)');
  eventGroups
    .command('list')
    .description("lists a DataProvider's or MeasurementConsumer's EventGroups")
    .requiredOption('--parent <parent>', 'dataProviders/... or measurementConsumers/...')
    .option('--page-size <n>', 'one page of at most this many (default: every page)', pageSize)
    .option('--page-token <token>', 'the page after a previous list')
    .option('--show-deleted', 'include DELETED EventGroups')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nPrints one line per EventGroup: name, state, reference id.\n\nExample:\n  MeasurementSystem ... event-groups list --parent dataProviders/OljiQHRz-E4')
    .action(rpcAction(async (opts: { parent: string; pageSize?: number; pageToken?: string; showDeleted?: boolean; json?: boolean }, cmd: Command) => {
      const client = connect(cmd, cmd.parent!.opts<{ apiKey?: string }>().apiKey);
      const groups: EventGroup[] = [];
      let pageToken = opts.pageToken ?? '';
      let nextPageToken = '';
      for (;;) {
        const page = await client.eventGroups.listEventGroups({ parent: opts.parent, pageSize: opts.pageSize ?? 0, pageToken, showDeleted: opts.showDeleted ?? false });
        groups.push(...page.eventGroups);
        nextPageToken = page.nextPageToken;
        if (opts.pageSize !== undefined || nextPageToken === '') break;
        pageToken = nextPageToken;
      }
      output(
        opts.json,
        { eventGroups: groups.map((g) => messageJson(EventGroupSchema, g)), ...(nextPageToken ? { nextPageToken } : {}) },
        () =>
          [
            ...groups.map((g) => `${g.name} ${enumName(EventGroup_State, g.state)}${g.eventGroupReferenceId ? ` ${g.eventGroupReferenceId}` : ''}`),
            ...(nextPageToken ? [`Next page token: ${nextPageToken}`] : []),
          ].join('\n'),
      );
    }));
  eventGroups
    .command('get')
    .description('gets an EventGroup')
    .argument('<name>', 'EventGroup resource name')
    .option('--json', 'print the EventGroup as JSON')
    .addHelpText('after', '\nExample:\n  MeasurementSystem ... event-groups get dataProviders/OljiQHRz-E4/eventGroups/AAAAAAAAAHs')
    .action(rpcAction(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const client = connect(cmd, cmd.parent!.opts<{ apiKey?: string }>().apiKey);
      printMessage(opts.json, EventGroupSchema, await client.eventGroups.getEventGroup({ name }));
    }));
}
