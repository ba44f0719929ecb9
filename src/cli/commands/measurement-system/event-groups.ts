/** `MeasurementSystem event-groups list|get`. */
import type { Command } from 'commander';
import { EventGroupSchema, EventGroup_State, type EventGroup } from '../../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { output } from '../../run.js';
import { pageSize } from '../../option-values.js';
import { connect, rpcAction } from './connection.js';
import { enumName, messageJson, printMessage } from './print.js';

export function registerEventGroupsCommands(program: Command): void {
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
