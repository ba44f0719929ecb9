/**
 * `MeasurementSystem data-providers --name NAME`: upstream's `get`,
 * `replace-required-duchies` and `update-capabilities`, with their output
 * lines; plus `replace-data-availability-intervals` and
 * `replace-data-availability-interval` for the two DataProviders methods
 * upstream's tool has no command for.
 */
import { create } from '@bufbuild/protobuf';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { IntervalSchema, type Interval } from '../../../gen/google/type/interval_pb.js';
import { DataProviderSchema, DataProvider_CapabilitiesSchema, type DataProvider_Capabilities } from '../../../gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { output } from '../../run.js';
import { connect, rpcAction } from './connection.js';
import { instant } from './create-measurement-flags.js';
import { messageJson, printMessage } from './print.js';

/** picocli's boolean option: bare means true; `=true`/`=false` in any case. */
function picocliBoolean(value: string | undefined): boolean {
  if (value === undefined) return true;
  if (/^true$/i.test(value)) return true;
  if (/^false$/i.test(value)) return false;
  throw new InvalidArgumentError("must be 'true' or 'false'");
}

/** `START/END`, two ISO 8601 instants (the ISO 8601 interval form). */
function interval(value: string): Interval {
  const [start, end, ...rest] = value.split('/');
  if (start === undefined || end === undefined || rest.length > 0) throw new InvalidArgumentError('must be START/END, e.g. 2024-01-01T00:00:00Z/2024-02-01T00:00:00Z');
  return create(IntervalSchema, { startTime: instant(start), endTime: instant(end) });
}

/** `MODEL_LINE=START/END`, repeatable. */
function modelLineInterval(value: string, previous: { key: string; value: Interval }[] = []) {
  const at = value.lastIndexOf('=');
  if (at <= 0) throw new InvalidArgumentError('must be MODEL_LINE=START/END');
  return [...previous, { key: value.slice(0, at), value: interval(value.slice(at + 1)) }];
}

/** upstream's update-capabilities flags and the Capabilities field each sets. */
const CAPABILITY_FLAGS: [flags: string, description: string, field: keyof Omit<DataProvider_Capabilities, '$typeName' | '$unknown'>][] = [
  ['--hmss-supported, --honest-majority-share-shuffle-supported [bool]', 'Whether the Honest Majority Share Shuffle (HMSS) protocol is supported', 'honestMajorityShareShuffleSupported'],
  ['--trus-tee-supported [bool]', 'Whether the TrusTee protocol is supported', 'trusTeeSupported'],
  [
    '--noise-mechanism-deterministic-truncated-laplace-supported [bool]',
    'Whether the DETERMINISTIC_TRUNCATED_LAPLACE noise mechanism is supported',
    'noiseMechanismDeterministicTruncatedLaplaceSupported',
  ],
];

export function registerDataProvidersCommands(program: Command): void {
  const group = program
    .command('data-providers')
    .description('DataProvider resources: get, replace-required-duchies, update-capabilities, replace-data-availability-interval(s)')
    .requiredOption('--name <name>', 'API resource name of the DataProvider');
  const nameOf = (cmd: Command) => cmd.parent!.opts<{ name: string }>().name;

  group
    .command('get')
    .description('gets a DataProvider')
    .option('--json', 'print the DataProvider as JSON')
    .addHelpText(
      'after',
      '\nPrints "Data Provider Resource: NAME", then the DataProvider in protobuf text format.\n\nExample:\n  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 get',
    )
    .action(rpcAction(async (opts: { json?: boolean }, cmd: Command) => {
      const dataProvider = await connect(cmd).dataProviders.getDataProvider({ name: nameOf(cmd) });
      printMessage(opts.json, DataProviderSchema, dataProvider, [`Data Provider Resource: ${dataProvider.name}`]);
    }));

  group
    .command('replace-required-duchies')
    .description("Replaces DataProvider's duchy list")
    .requiredOption(
      '--required-duchies <duchy>',
      'The set of new duchies externals IDS that that will replace the old duchy list for this DataProvider (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--json', 'print the DataProvider as JSON')
    .addHelpText(
      'after',
      '\nPrints "Data Provider NAME duchy list replaced with [DUCHIES]".\n\nExample:\n  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 replace-required-duchies \\\n    --required-duchies duchies/worker1 --required-duchies duchies/worker2',
    )
    .action(rpcAction(async (opts: { requiredDuchies: string[]; json?: boolean }, cmd: Command) => {
      const dataProvider = await connect(cmd).dataProviders.replaceDataProviderRequiredDuchies({ name: nameOf(cmd), requiredDuchies: opts.requiredDuchies });
      output(opts.json, messageJson(DataProviderSchema, dataProvider), () =>
        // Java's List.toString: "[a, b]".
        `Data Provider ${dataProvider.name} duchy list replaced with [${dataProvider.requiredDuchies.join(', ')}]`,
      );
    }));

  const capabilities = group
    .command('update-capabilities')
    .description("Updates DataProvider's capabilities")
    .option('--json', 'print the Capabilities as JSON')
    .addHelpText(
      'after',
      `
Reads the DataProvider's capabilities, changes the ones given (a bare flag
means true; --hmss-supported=false turns one off) and prints the new
Capabilities in protobuf text format.

Example:
  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 update-capabilities --hmss-supported=true`,
    );
  const options = CAPABILITY_FLAGS.map(([flags, description, field]) => [new Option(flags, description).argParser(picocliBoolean), field] as const);
  for (const [option] of options) capabilities.addOption(option);
  capabilities.action(rpcAction(async (opts: Record<string, boolean | undefined> & { json?: boolean }, cmd: Command) => {
    const client = connect(cmd);
    const name = nameOf(cmd);
    const current = (await client.dataProviders.getDataProvider({ name })).capabilities ?? create(DataProvider_CapabilitiesSchema);
    for (const [option, field] of options) {
      const value = opts[option.attributeName()];
      if (value !== undefined) current[field] = value;
    }
    const updated = await client.dataProviders.replaceDataProviderCapabilities({ name, capabilities: current });
    printMessage(opts.json, DataProvider_CapabilitiesSchema, updated.capabilities ?? create(DataProvider_CapabilitiesSchema));
  }));

  group
    .command('replace-data-availability-intervals')
    .description("Replaces the DataProvider's data availability interval per ModelLine")
    .requiredOption('--model-line-interval <modelLine=start/end>', 'a ModelLine and its interval, e.g. modelProviders/.../modelLines/...=2024-01-01T00:00:00Z/2024-02-01T00:00:00Z (repeatable)', modelLineInterval)
    .option('--json', 'print the DataProvider as JSON')
    .addHelpText(
      'after',
      '\nPrints the DataProvider in protobuf text format.\n\nExample:\n  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 replace-data-availability-intervals \\\n    --model-line-interval modelProviders/AAAAAAAAAHs/modelSuites/AAAAAAAAAHs/modelLines/AAAAAAAAAHs=2024-01-01T00:00:00Z/2024-02-01T00:00:00Z',
    )
    .action(rpcAction(async (opts: { modelLineInterval: { key: string; value: Interval }[]; json?: boolean }, cmd: Command) => {
      const dataProvider = await connect(cmd).dataProviders.replaceDataAvailabilityIntervals({ name: nameOf(cmd), dataAvailabilityIntervals: opts.modelLineInterval });
      printMessage(opts.json, DataProviderSchema, dataProvider);
    }));

  group
    .command('replace-data-availability-interval')
    .description("Replaces the DataProvider's data availability interval")
    .requiredOption('--interval <start/end>', 'e.g. 2024-01-01T00:00:00Z/2024-02-01T00:00:00Z', interval)
    .option('--json', 'print the DataProvider as JSON')
    .addHelpText(
      'after',
      '\nPrints the DataProvider in protobuf text format.\n\nExample:\n  MeasurementSystem ... data-providers --name dataProviders/OljiQHRz-E4 replace-data-availability-interval \\\n    --interval 2024-01-01T00:00:00Z/2024-02-01T00:00:00Z',
    )
    .action(rpcAction(async (opts: { interval: Interval; json?: boolean }, cmd: Command) => {
      const dataProvider = await connect(cmd).dataProviders.replaceDataAvailabilityInterval({ name: nameOf(cmd), dataAvailabilityInterval: opts.interval });
      printMessage(opts.json, DataProviderSchema, dataProvider);
    }));
}
