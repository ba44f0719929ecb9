/**
 * `measurements create` reads its flags as upstream's picocli argument groups
 * do (upstream's own test command lines), with every combination picocli
 * refuses refused here as a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command, CommanderError } from 'commander';
import {
  addCreateMeasurementOptions,
  humanDuration,
  instant,
  readCreateMeasurementFlags,
  type CreateMeasurementFlags,
} from '../../src/cli/commands/measurement-system/create-measurement-flags.js';
import { UsageError } from '../../src/cli/run.js';

/** Upstream's CreateMeasurementFlags, option by option (CreateMeasurementFlags.kt). */
const UPSTREAM_OPTIONS = [
  '--measurement-consumer', '--request-id', '--private-key-der-file', '--measurement-ref-id', '--model-line',
  '--event-data-provider', '--event-filter', '--event-group', '--event-start-time', '--event-end-time',
  '--vid-sampling-start', '--vid-sampling-width',
  '--reach', '--reach-privacy-epsilon', '--reach-privacy-delta',
  '--reach-and-frequency', '--rf-reach-privacy-epsilon', '--rf-reach-privacy-delta', '--rf-frequency-privacy-epsilon', '--rf-frequency-privacy-delta', '--max-frequency',
  '--impression', '--impression-privacy-epsilon', '--impression-privacy-delta', '--max-frequency-per-user',
  '--duration', '--duration-privacy-epsilon', '--duration-privacy-delta', '--max-duration',
  '--report', '--cumulative', '--create-direct', '--direct-vid-sampling-width',
  '--population-filter', '--population-start-time', '--population-end-time', '--population-data-provider', '--population',
];

function command(): Command {
  return addCreateMeasurementOptions(new Command('create').exitOverride().configureOutput({ writeErr: () => {} }));
}

function parse(args: string[]): CreateMeasurementFlags {
  const cmd = command();
  cmd.parse(args, { from: 'user' });
  return readCreateMeasurementFlags(cmd.opts());
}

const base = ['--measurement-consumer=measurementConsumers/777', '--private-key-der-file=mc_cs_private.der'];
const T = ['2022-05-22T01:00:00.000Z', '2022-05-24T05:00:00.000Z', '2022-03-22T01:00:00.000Z', '2022-03-24T05:00:00.000Z', '2022-04-22T01:00:00.000Z', '2022-04-24T05:00:00.000Z'];
const seconds = (t: string) => BigInt(Date.parse(t) / 1000);

test('the 38 options are upstream\'s, by name', () => {
  const names = command().options.map((o) => o.long!);
  assert.equal(names.length, 38);
  assert.deepEqual([...names].sort(), [...UPSTREAM_OPTIONS].sort());
});

test("upstream's ReachAndFrequency command line: groups by position, an --event-filter per DataProvider", () => {
  const flags = parse([
    '--reach-and-frequency', '--rf-reach-privacy-epsilon=0.015', '--rf-reach-privacy-delta=0.0', '--rf-frequency-privacy-epsilon=0.02',
    '--rf-frequency-privacy-delta=0.0', '--max-frequency=5', '--vid-sampling-start=0.1', '--vid-sampling-width=0.2',
    ...base, '--measurement-ref-id=9999', '--request-id=foo',
    '--event-data-provider=dataProviders/1', '--event-filter=abcd',
    '--event-group=dataProviders/1/eventGroups/1', `--event-start-time=${T[0]}`, `--event-end-time=${T[1]}`,
    '--event-group=dataProviders/1/eventGroups/2', `--event-start-time=${T[2]}`, `--event-end-time=${T[3]}`,
    '--event-data-provider=dataProviders/2', '--event-filter=ijk',
    '--event-group=dataProviders/2/eventGroups/1', `--event-start-time=${T[4]}`, `--event-end-time=${T[5]}`,
  ]);
  assert.equal(flags.measurementConsumer, 'measurementConsumers/777');
  assert.equal(flags.requestId, 'foo');
  assert.equal(flags.measurementReferenceId, '9999');
  assert.equal(flags.modelLine, '');
  assert.equal(flags.params.kind, 'event');
  if (flags.params.kind !== 'event') return;
  const groups = flags.params.dataProviders.map((d) => [d.name, d.filter, d.eventGroups.map((g) => [g.name, g.startTime.seconds, g.endTime.seconds])]);
  assert.deepEqual(groups, [
    ['dataProviders/1', 'abcd', [['dataProviders/1/eventGroups/1', seconds(T[0]!), seconds(T[1]!)], ['dataProviders/1/eventGroups/2', seconds(T[2]!), seconds(T[3]!)]]],
    ['dataProviders/2', 'ijk', [['dataProviders/2/eventGroups/1', seconds(T[4]!), seconds(T[5]!)]]],
  ]);
  // Floats as Java's Float.valueOf gives them.
  assert.deepEqual(flags.params.vidSamplingInterval, { start: Math.fround(0.1), width: Math.fround(0.2) });
  assert.equal(flags.params.measurementType.case, 'reachAndFrequency');
  const rf = flags.params.measurementType.value!;
  assert.equal(rf.maximumFrequency, 5);
  assert.equal(rf.reachPrivacyParams?.epsilon, 0.015);
  assert.equal(rf.frequencyPrivacyParams?.epsilon, 0.02);
});

test('each measurement type, the defaults, and population', () => {
  const events = ['--event-data-provider', 'dataProviders/1', '--event-group', 'dataProviders/1/eventGroups/1', '--event-start-time', T[0]!,
    '--event-end-time', T[1]!, '--event-filter', '', '--vid-sampling-start', '0', '--vid-sampling-width', '1'];
  const reach = parse([...base, ...events, '--reach', '--reach-privacy-epsilon', '0.0072', '--reach-privacy-delta', '1e-15']);
  assert.equal(reach.params.kind === 'event' && reach.params.dataProviders[0]!.filter, '', 'an empty filter is a filter');
  assert.equal(reach.params.kind === 'event' && reach.params.measurementType.case === 'reach' && reach.params.measurementType.value.privacyParams?.delta, 1e-15);
  const rf = parse([...base, ...events, '--reach-and-frequency', '--rf-reach-privacy-epsilon', '1', '--rf-reach-privacy-delta', '0',
    '--rf-frequency-privacy-epsilon', '1', '--rf-frequency-privacy-delta', '0']);
  assert.equal(rf.params.kind === 'event' && rf.params.measurementType.case === 'reachAndFrequency' && rf.params.measurementType.value.maximumFrequency, 10);
  const impression = parse([...base, ...events, '--impression', '--impression-privacy-epsilon', '1', '--impression-privacy-delta', '0', '--max-frequency-per-user', '3']);
  assert.equal(impression.params.kind === 'event' && impression.params.measurementType.case === 'impression' && impression.params.measurementType.value.maximumFrequencyPerUser, 3);
  const duration = parse([...base, ...events, '--duration', '--duration-privacy-epsilon', '1', '--duration-privacy-delta', '0', '--max-duration', '5m20s',
    '--report', 'r', '--cumulative', '--create-direct', '--direct-vid-sampling-width', '0.5', '--model-line', 'modelProviders/1/modelSuites/2/modelLines/3']);
  assert.equal(duration.params.kind === 'event' && duration.params.measurementType.case === 'duration' && duration.params.measurementType.value.maximumWatchDurationPerUser?.seconds, 320n);
  assert.equal(duration.modelLine, 'modelProviders/1/modelSuites/2/modelLines/3');

  const population = parse([...base, '--population', '--population-data-provider=dataProviders/1', '--population-filter=abcd',
    `--population-start-time=${T[0]}`, `--population-end-time=${T[1]}`]);
  assert.deepEqual({ ...population.params, startTime: undefined, endTime: undefined }, { kind: 'population', dataProvider: 'dataProviders/1', filter: 'abcd', startTime: undefined, endTime: undefined });
});

test('values: instants with fractions and offsets, human-readable durations', () => {
  assert.deepEqual([instant('2024-01-31T00:00:00Z').seconds, instant('2024-01-31T00:00:00Z').nanos], [1706659200n, 0]);
  assert.deepEqual([instant('2024-01-31T01:00:00.000000123+01:00').seconds, instant('2024-01-31T01:00:00.000000123+01:00').nanos], [1706659200n, 123]);
  assert.deepEqual([humanDuration('1h2m3s4ms').seconds, humanDuration('1h2m3s4ms').nanos], [3723n, 4_000_000]);
  assert.deepEqual([humanDuration('1d').seconds, humanDuration('90ns').nanos], [86400n, 90]);
  for (const bad of ['2024-02-30T00:00:00Z', '2024-01-31', '2024-01-31T24:00:00Z', 'yesterday']) assert.throws(() => instant(bad), /ISO 8601/, bad);
  for (const bad of ['5', '5x', '1h 2m', '']) assert.throws(() => humanDuration(bad), /duration/, bad);
});

test('what picocli refuses is a usage error naming the flags', () => {
  const group = (dp: string, filter = true) => [
    '--event-data-provider', dp, ...(filter ? ['--event-filter', 'f'] : []),
    '--event-group', `${dp}/eventGroups/1`, '--event-start-time', T[0]!, '--event-end-time', T[1]!,
  ];
  const vid = ['--vid-sampling-start', '0', '--vid-sampling-width', '1'];
  const reach = ['--reach', '--reach-privacy-epsilon', '1', '--reach-privacy-delta', '0'];
  const usage = (args: string[], pattern: RegExp) => assert.throws(() => parse(args), (e: unknown) => e instanceof UsageError && pattern.test(e.message), args.join(' '));
  const commander = (args: string[], pattern: RegExp) =>
    assert.throws(() => parse(args), (e: unknown) => e instanceof CommanderError && pattern.test(e.message), args.join(' '));

  usage([...base, ...group('dataProviders/1'), ...vid], /one of --reach, --reach-and-frequency, --impression or --duration/);
  usage([...base, ...group('dataProviders/1'), ...vid, ...reach, '--impression'], /--reach, --impression are mutually exclusive/);
  usage([...base, ...group('dataProviders/1'), ...vid, '--reach-privacy-epsilon', '1', '--reach-privacy-delta', '0'], /--reach is required/);
  usage([...base, ...group('dataProviders/1'), ...vid, '--reach', '--reach-privacy-epsilon', '1'], /--reach-privacy-delta is required/);
  usage([...base, ...group('dataProviders/1'), ...vid, ...reach, '--max-frequency', '3'], /--reach, --reach-and-frequency are mutually exclusive/);
  usage([...base, ...group('dataProviders/1', false), ...vid, ...reach], /dataProviders\/1 takes exactly one --event-filter \(given 0\)/);
  usage([...base, ...group('dataProviders/1'), '--event-filter', 'g', ...vid, ...reach], /exactly one --event-filter \(given 2\)/);
  usage([...base, ...group('dataProviders/1'), '--event-group', 'dataProviders/1/eventGroups/2', '--event-start-time', T[0]!, ...vid, ...reach],
    /--event-end-time is missing in an EventGroup of --event-data-provider dataProviders\/1/);
  usage([...base, '--event-data-provider', 'dataProviders/1', '--event-filter', 'f', ...vid, ...reach], /needs at least one --event-group/);
  usage([...base, ...group('dataProviders/1'), ...reach], /--vid-sampling-start is required/);
  usage([...base, ...group('dataProviders/1'), ...vid, ...reach, '--population'], /mutually exclusive/);
  usage([...base, ...group('dataProviders/1'), ...vid, ...reach, '--create-direct'], /--create-direct and --direct-vid-sampling-width go together/);
  usage([...base], /give an event measurement/);
  usage([...base, '--population-data-provider', 'dataProviders/1', '--population-start-time', T[0]!, '--population-end-time', T[1]!], /--population is required/);
  usage([...base, '--population', '--population-data-provider', 'dataProviders/1', '--population-start-time', T[0]!], /--population-end-time is required/);
  // Values are checked as commander parses them.
  commander([...base, '--vid-sampling-start', 'half'], /--vid-sampling-start <float>' argument 'half' is invalid\. must be a decimal number/);
  commander([...base, '--max-frequency', '2147483648'], /must be a 32-bit integer/);
  commander([...base, '--event-start-time', '2022-05-22'], /--event-start-time <time>' argument '2022-05-22' is invalid/);
  commander([...base, '--max-duration', '5 minutes'], /--max-duration <duration>/);
  commander(['--private-key-der-file', 'k', ...group('dataProviders/1'), ...vid, ...reach], /required option '--measurement-consumer <name>'/);
});
