/**
 * The flags of `MeasurementSystem measurements create`: upstream's
 * CreateMeasurementFlags, 38 options in picocli argument groups, read the way
 * picocli reads them. Its groups repeat by position: each
 * `--event-data-provider` starts a DataProvider, and within it each
 * `--event-group` an EventGroup entry (with its `--event-start-time` and
 * `--event-end-time`) and each `--event-filter` a filter, where a group starts
 * again when one of its options comes a second time. So the grouped options
 * are recorded with their place on the command line and replayed in order.
 * Every check is a usage error, found before anything is sent.
 */
import { create } from '@bufbuild/protobuf';
import { DurationSchema, TimestampSchema, type Duration, type Timestamp } from '@bufbuild/protobuf/wkt';
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  MeasurementSpec_DurationSchema,
  MeasurementSpec_ImpressionSchema,
  MeasurementSpec_ReachAndFrequencySchema,
  MeasurementSpec_ReachSchema,
  type MeasurementSpec,
} from '../../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { UsageError } from '../../run.js';

export interface EventGroupInput {
  name: string;
  startTime: Timestamp;
  endTime: Timestamp;
}

export interface EventDataProviderInput {
  name: string;
  eventGroups: EventGroupInput[];
  /** The one CEL expression upstream applies to every EventGroup of this DataProvider. */
  filter: string;
}

export type MeasurementParams =
  | {
      kind: 'event';
      dataProviders: EventDataProviderInput[];
      vidSamplingInterval: { start: number; width: number };
      measurementType: MeasurementSpec['measurementType'];
    }
  | { kind: 'population'; dataProvider: string; filter: string; startTime: Timestamp; endTime: Timestamp };

export interface CreateMeasurementFlags {
  measurementConsumer: string;
  requestId: string;
  privateKeyDerFile: string;
  measurementReferenceId: string;
  modelLine: string;
  params: MeasurementParams;
}

// --- values, as picocli's converters read them ---------------------------------

const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fFdD]?$/;

/** Java's Double.valueOf for decimal text (an optional f/d suffix included). */
export function javaDouble(value: string): number {
  if (!DECIMAL.test(value.trim())) throw new InvalidArgumentError('must be a decimal number');
  return Number(value.trim().replace(/[fFdD]$/, ''));
}

/** Java's Float.valueOf: the double rounded to the nearest float. */
export function javaFloat(value: string): number {
  return Math.fround(javaDouble(value));
}

/** Java's Integer.valueOf. */
export function javaInt(value: string): number {
  const n = Number(value);
  if (!/^[+-]?\d+$/.test(value) || n < -(2 ** 31) || n > 2 ** 31 - 1) throw new InvalidArgumentError('must be a 32-bit integer');
  return n;
}

/** Java's Instant.parse: `2024-01-31T00:00:00Z`, a fraction of up to nine digits, or an offset. */
export function instant(value: string): Timestamp {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/.exec(value);
  const [year, month, day, hour, minute, second] = (m?.slice(1, 7) ?? []).map((v) => Number(v ?? 0));
  const ms = m ? Date.UTC(year!, month! - 1, day!, hour!, minute!, second!) : NaN;
  const date = new Date(ms);
  if (!m || date.getUTCDate() !== day || date.getUTCMonth() !== month! - 1 || hour! > 23 || minute! > 59 || second! > 59) {
    throw new InvalidArgumentError('must be an ISO 8601 instant such as 2024-01-31T00:00:00Z');
  }
  const offset = m[8] === 'Z' ? 0 : (m[8]!.startsWith('-') ? -1 : 1) * (Number(m[8]!.slice(1, 3)) * 3600 + Number(m[8]!.slice(4, 6)) * 60);
  return create(TimestampSchema, { seconds: BigInt(ms / 1000 - offset), nanos: Number((m[7] ?? '').padEnd(9, '0')) });
}

const DURATION_UNITS: Record<string, bigint> = { ns: 1n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n };

/** Upstream's human-readable duration (`5m20s`, `1h`, `250ms`): number-unit pairs, ns ms s m h d. */
export function humanDuration(value: string): Duration {
  if (!/^(?:\d+(?:ns|ms|s|m|h|d))+$/.test(value)) throw new InvalidArgumentError('must be a duration such as 5m20s (units ns, ms, s, m, h, d)');
  let nanos = 0n;
  for (const [, amount, unit] of value.matchAll(/(\d+)(ns|ms|s|m|h|d)/g)) nanos += BigInt(amount!) * DURATION_UNITS[unit!]!;
  return create(DurationSchema, { seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) });
}

// --- the options ----------------------------------------------------------------

/** A grouped option's values with their place on the command line. */
interface Occurrence {
  flag: string;
  value: string;
  at: number;
}

const GROUPED = ['--event-data-provider', '--event-filter', '--event-group', '--event-start-time', '--event-end-time'] as const;

const EVENT_TYPES = {
  reach: ['--reach-privacy-epsilon', '--reach-privacy-delta'],
  'reach-and-frequency': ['--rf-reach-privacy-epsilon', '--rf-reach-privacy-delta', '--rf-frequency-privacy-epsilon', '--rf-frequency-privacy-delta'],
  impression: ['--impression-privacy-epsilon', '--impression-privacy-delta', '--max-frequency-per-user'],
  duration: ['--duration-privacy-epsilon', '--duration-privacy-delta', '--max-duration'],
} as const;

const POPULATION = ['--population-data-provider', '--population-filter', '--population-start-time', '--population-end-time'] as const;

/** Adds the 38 options with upstream's names and descriptions. */
export function addCreateMeasurementOptions(command: Command): Command {
  let at = 0;
  const groupedOption = (flag: (typeof GROUPED)[number], placeholder: string, description: string, check?: (v: string) => unknown) =>
    new Option(`${flag} ${placeholder}`, description).argParser((value: string, previous: Occurrence[] | undefined) => {
      check?.(value);
      return [...(previous ?? []), { flag, value, at: at++ }];
    });
  return command
    .requiredOption('--measurement-consumer <name>', 'API resource name of the MeasurementConsumer')
    .option('--request-id <id>', 'ID of API request for idempotency', '')
    .requiredOption('--private-key-der-file <file>', 'Private key for MeasurementConsumer')
    .option('--measurement-ref-id <id>', 'Measurement reference id', '')
    .option('--model-line <name>', 'API resource name of the ModelLine', '')
    .addOption(groupedOption('--event-data-provider', '<name>', 'API resource name of the Event Data Provider (starts its group)'))
    .addOption(groupedOption('--event-filter', '<expression>', "Raw CEL expression of EventFilter (one per Event Data Provider)"))
    .addOption(groupedOption('--event-group', '<name>', 'API resource name of the EventGroup (starts its group)'))
    .addOption(groupedOption('--event-start-time', '<time>', 'Start time of Event range in ISO 8601 format of UTC', instant))
    .addOption(groupedOption('--event-end-time', '<time>', 'End time of Event range in ISO 8601 format of UTC', instant))
    .option('--vid-sampling-start <float>', 'Start point of vid sampling interval', javaFloat)
    .option('--vid-sampling-width <float>', 'Width of vid sampling interval', javaFloat)
    .option('--reach', 'Measurement type of Reach Measurement.')
    .option('--reach-privacy-epsilon <double>', 'Epsilon value of privacy params for Reach Measurement.', javaDouble)
    .option('--reach-privacy-delta <double>', 'Delta value of privacy params for Reach Measurement.', javaDouble)
    .option('--reach-and-frequency', 'Measurement Type of ReachAndFrequency')
    .option('--rf-reach-privacy-epsilon <double>', 'Epsilon value of reach privacy params for ReachAndFrequency Measurement.', javaDouble)
    .option('--rf-reach-privacy-delta <double>', 'Delta value of reach privacy params for ReachAndFrequency Measurement.', javaDouble)
    .option('--rf-frequency-privacy-epsilon <double>', 'Epsilon value of frequency privacy params for ReachAndFrequency Measurement.', javaDouble)
    .option('--rf-frequency-privacy-delta <double>', 'Delta value of frequency privacy params for ReachAndFrequency Measurement.', javaDouble)
    .option('--max-frequency <int>', 'Maximum frequency revealed in the distribution (default: 10)', javaInt)
    .option('--impression', 'Measurement Type of Impression')
    .option('--impression-privacy-epsilon <double>', 'Epsilon value of impression privacy params', javaDouble)
    .option('--impression-privacy-delta <double>', 'Delta value of impression privacy params', javaDouble)
    .option('--max-frequency-per-user <int>', 'Maximum frequency per user', javaInt)
    .option('--duration', 'Measurement Type of Duration')
    .option('--duration-privacy-epsilon <double>', 'Epsilon value of duration privacy params', javaDouble)
    .option('--duration-privacy-delta <double>', 'Delta value of duration privacy params', javaDouble)
    .option('--max-duration <duration>', 'Maximum watch duration per user as a human-readable string, e.g. 5m20s', humanDuration)
    .option('--report <name>', 'API resource name of the Report (read, unused by create, as upstream)', '')
    .option('--cumulative', 'Whether the multiple cumulative requisitions should be created (read, unused by create, as upstream)')
    .option('--create-direct', 'Whether to create direct reports, too, when more than one EDP is provided (read, unused by create, as upstream)')
    .option('--direct-vid-sampling-width <float>', 'Width of vid sampling interval of the direct reports (with --create-direct)', javaFloat)
    .option('--population', 'Population Measurement')
    .option('--population-filter <expression>', 'Raw CEL expression of Population Filter')
    .option('--population-start-time <time>', 'Start time of Population range in ISO 8601 format of UTC', instant)
    .option('--population-end-time <time>', 'End time of Population range in ISO 8601 format of UTC', instant)
    .option('--population-data-provider <name>', 'API resource name of the Population Data Provider');
}

const attribute = (flag: string) => flag.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Turns the parsed options into the measurement to create; a usage error names what is missing or conflicting. */
export function readCreateMeasurementFlags(opts: Record<string, unknown>): CreateMeasurementFlags {
  const given = (flag: string) => opts[attribute(flag)] !== undefined;
  const value = <T>(flag: string): T => {
    if (!given(flag)) throw new UsageError(`${flag} is required`);
    return opts[attribute(flag)] as T;
  };
  const eventFlags = [...GROUPED, '--vid-sampling-start', '--vid-sampling-width', ...Object.keys(EVENT_TYPES).map((t) => `--${t}`), ...Object.values(EVENT_TYPES).flat()];
  const isEvent = eventFlags.some(given) || given('--max-frequency');
  const isPopulation = given('--population') || POPULATION.some(given);
  if (isEvent && isPopulation) throw new UsageError('an event measurement (--event-data-provider ...) and --population are mutually exclusive (specify only one)');
  if (!isEvent && !isPopulation) throw new UsageError('give an event measurement (--event-data-provider ... with --reach, --reach-and-frequency, --impression or --duration) or --population');
  if (given('--create-direct') !== given('--direct-vid-sampling-width')) throw new UsageError('--create-direct and --direct-vid-sampling-width go together');

  let params: MeasurementParams;
  if (isPopulation) {
    if (!given('--population')) throw new UsageError(`--population is required with ${POPULATION.filter(given).join(', ')}`);
    params = {
      kind: 'population',
      dataProvider: value('--population-data-provider'),
      filter: (opts.populationFilter as string | undefined) ?? '',
      startTime: value('--population-start-time'),
      endTime: value('--population-end-time'),
    };
  } else {
    params = {
      kind: 'event',
      dataProviders: eventDataProviders(GROUPED.flatMap((flag) => (opts[attribute(flag)] as Occurrence[] | undefined) ?? []).sort((a, b) => a.at - b.at)),
      vidSamplingInterval: { start: value('--vid-sampling-start'), width: value('--vid-sampling-width') },
      measurementType: measurementType(opts, given, value),
    };
  }
  return {
    measurementConsumer: value('--measurement-consumer'),
    requestId: (opts.requestId as string | undefined) ?? '',
    privateKeyDerFile: value('--private-key-der-file'),
    measurementReferenceId: (opts.measurementRefId as string | undefined) ?? '',
    modelLine: (opts.modelLine as string | undefined) ?? '',
    params,
  };
}

function measurementType(
  opts: Record<string, unknown>,
  given: (flag: string) => boolean,
  value: <T>(flag: string) => T,
): MeasurementSpec['measurementType'] {
  const types = (Object.keys(EVENT_TYPES) as (keyof typeof EVENT_TYPES)[]).filter((t) => given(`--${t}`) || EVENT_TYPES[t].some(given));
  if (given('--max-frequency') && !types.includes('reach-and-frequency')) types.push('reach-and-frequency');
  if (types.length === 0) throw new UsageError('give one of --reach, --reach-and-frequency, --impression or --duration');
  if (types.length > 1) throw new UsageError(`${types.map((t) => `--${t}`).join(', ')} are mutually exclusive (specify only one)`);
  const type = types[0]!;
  if (!given(`--${type}`)) throw new UsageError(`--${type} is required with ${[...EVENT_TYPES[type], '--max-frequency'].filter(given).join(', ')}`);
  const privacy = (epsilon: string, delta: string) => ({ epsilon: value<number>(epsilon), delta: value<number>(delta) });
  switch (type) {
    case 'reach':
      return { case: 'reach', value: create(MeasurementSpec_ReachSchema, { privacyParams: privacy('--reach-privacy-epsilon', '--reach-privacy-delta') }) };
    case 'reach-and-frequency':
      return {
        case: 'reachAndFrequency',
        value: create(MeasurementSpec_ReachAndFrequencySchema, {
          reachPrivacyParams: privacy('--rf-reach-privacy-epsilon', '--rf-reach-privacy-delta'),
          frequencyPrivacyParams: privacy('--rf-frequency-privacy-epsilon', '--rf-frequency-privacy-delta'),
          maximumFrequency: (opts.maxFrequency as number | undefined) ?? 10,
        }),
      };
    case 'impression':
      return {
        case: 'impression',
        value: create(MeasurementSpec_ImpressionSchema, {
          privacyParams: privacy('--impression-privacy-epsilon', '--impression-privacy-delta'),
          maximumFrequencyPerUser: value<number>('--max-frequency-per-user'),
        }),
      };
    case 'duration':
      return {
        case: 'duration',
        value: create(MeasurementSpec_DurationSchema, {
          privacyParams: privacy('--duration-privacy-epsilon', '--duration-privacy-delta'),
          maximumWatchDurationPerUser: value<Duration>('--max-duration'),
        }),
      };
  }
}

/** Replays the grouped options in command-line order into picocli's repeating groups. */
function eventDataProviders(occurrences: Occurrence[]): EventDataProviderInput[] {
  interface Draft {
    name?: string;
    groups: Partial<Record<'name' | 'startTime' | 'endTime', string>>[];
    filters: string[];
  }
  const drafts: Draft[] = [];
  const current = (): Draft => {
    if (drafts.length === 0) drafts.push({ groups: [], filters: [] });
    return drafts[drafts.length - 1]!;
  };
  for (const { flag, value } of occurrences) {
    if (flag === '--event-data-provider') {
      // A second --event-data-provider starts the next DataProvider; the first fills the group any earlier option began.
      if (current().name !== undefined) drafts.push({ groups: [], filters: [] });
      current().name = value;
    } else if (flag === '--event-filter') {
      current().filters.push(value);
    } else {
      const key = flag === '--event-group' ? 'name' : flag === '--event-start-time' ? 'startTime' : 'endTime';
      const draft = current();
      const group = draft.groups[draft.groups.length - 1];
      if (group === undefined || group[key] !== undefined) draft.groups.push({ [key]: value });
      else group[key] = value;
    }
  }
  if (drafts.length === 0) throw new UsageError('--event-data-provider is required for an event measurement');
  return drafts.map((d, i) => {
    const which = d.name ?? `number ${i + 1}`;
    if (d.name === undefined) throw new UsageError(`--event-data-provider is required before the --event-group and --event-filter of data provider ${which}`);
    if (d.groups.length === 0) throw new UsageError(`--event-data-provider ${which} needs at least one --event-group with --event-start-time and --event-end-time`);
    if (d.filters.length !== 1) throw new UsageError(`--event-data-provider ${which} takes exactly one --event-filter (given ${d.filters.length})`);
    return {
      name: d.name,
      filter: d.filters[0]!,
      eventGroups: d.groups.map((g) => {
        for (const [key, flag] of [['name', '--event-group'], ['startTime', '--event-start-time'], ['endTime', '--event-end-time']] as const) {
          if (g[key] === undefined) throw new UsageError(`${flag} is missing in an EventGroup of --event-data-provider ${which}`);
        }
        return { name: g.name!, startTime: instant(g.startTime!), endTime: instant(g.endTime!) };
      }),
    };
  });
}
