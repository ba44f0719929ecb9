/**
 * What a DataProvider states about itself and replaces whole: the Duchies
 * it requires, its data availability (overall and per ModelLine) and its
 * capabilities. Intervals and capabilities are the API messages' bytes.
 */
import type { AuditActor } from './audit.js';
import { type ReadContext, type WriteContext, partyNotFound, requireExternalId, requirePartyId, sha256Hex } from './context.js';
import { partyName } from './names.js';
import { snapshot, write } from './operations.js';
import { dataProvider, duchy, modelProvider } from './records.js';

/** One ModelLine's availability: its resource name's ModelProvider id, and the interval bytes. */
export interface DataAvailabilityEntry {
  readonly modelLine: string;
  readonly modelProviderId: bigint;
  readonly interval: Uint8Array;
}

export interface DataProviderSettings {
  /** Duchy ids, sorted. */
  readonly requiredDuchies: readonly string[];
  readonly dataAvailabilityInterval: Uint8Array | null;
  /** Sorted by ModelLine name. */
  readonly dataAvailabilityIntervals: readonly { modelLine: string; interval: Uint8Array }[];
  readonly capabilities: Uint8Array | null;
}

export async function getDataProviderSettings(ctx: ReadContext, dataProviderId: bigint): Promise<DataProviderSettings> {
  requireExternalId(dataProviderId, 'data provider id');
  const id = await requirePartyId(ctx.tx, dataProvider(dataProviderId));
  const party = await ctx.tx.query<{ data_availability_interval: Uint8Array | null; capabilities: Uint8Array | null }>(
    'SELECT data_availability_interval, capabilities FROM parties WHERE party_id = $1',
    [id],
  );
  const duchies = await ctx.tx.query<{ duchy_id: string }>(
    'SELECT duchy_id FROM data_provider_required_duchies WHERE data_provider_id = $1 ORDER BY duchy_id',
    [id],
  );
  const intervals = await ctx.tx.query<{ model_line: string; data_availability_interval: Uint8Array }>(
    'SELECT model_line, data_availability_interval FROM data_provider_availability_intervals WHERE data_provider_id = $1 ORDER BY model_line',
    [id],
  );
  return {
    requiredDuchies: duchies.map((r) => r.duchy_id),
    dataAvailabilityInterval: party[0]?.data_availability_interval ?? null,
    dataAvailabilityIntervals: intervals.map((r) => ({ modelLine: r.model_line, interval: r.data_availability_interval })),
    capabilities: party[0]?.capabilities ?? null,
  };
}

/** Every Duchy must exist (DUCHY_NOT_FOUND otherwise). */
export async function replaceRequiredDuchies(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; duchyIds: readonly string[] },
): Promise<void> {
  const id = await lockDataProvider(ctx, input.dataProviderId);
  const wanted = [...new Set(input.duchyIds)].sort();
  const known = await ctx.tx.query<{ duchy_id: string }>(`SELECT duchy_id FROM parties WHERE kind = 'DUCHY' AND duchy_id = ANY($1::text[])`, [wanted]);
  const missing = wanted.find((d) => !known.some((k) => k.duchy_id === d));
  if (missing !== undefined) throw partyNotFound(duchy(missing));
  const before = await ctx.tx.query<{ duchy_id: string }>(
    'DELETE FROM data_provider_required_duchies WHERE data_provider_id = $1 RETURNING duchy_id',
    [id],
  );
  if (wanted.length > 0) {
    await ctx.tx.query('INSERT INTO data_provider_required_duchies (data_provider_id, duchy_id) SELECT $1, unnest($2::text[])', [id, wanted]);
  }
  ctx.audit(input.actor, 'ReplaceDataProviderRequiredDuchies', partyName(dataProvider(input.dataProviderId)),
    { requiredDuchies: before.map((r) => r.duchy_id).sort() }, { requiredDuchies: wanted });
}

/** Each entry's ModelProvider must exist (the Kingdom keeps no ModelLines). */
export async function replaceDataAvailabilityIntervals(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; entries: readonly DataAvailabilityEntry[] },
): Promise<void> {
  const id = await lockDataProvider(ctx, input.dataProviderId);
  for (const mp of new Set(input.entries.map((e) => e.modelProviderId))) await requirePartyId(ctx.tx, modelProvider(mp));
  const before = await ctx.tx.query<{ model_line: string; data_availability_interval: Uint8Array }>(
    'DELETE FROM data_provider_availability_intervals WHERE data_provider_id = $1 RETURNING model_line, data_availability_interval',
    [id],
  );
  for (const e of input.entries) {
    await ctx.tx.query(
      'INSERT INTO data_provider_availability_intervals (data_provider_id, model_line, data_availability_interval) VALUES ($1, $2, $3)',
      [id, e.modelLine, e.interval],
    );
  }
  const json = (rows: readonly { modelLine: string; interval: Uint8Array }[]) =>
    Object.fromEntries([...rows].sort((a, b) => (a.modelLine < b.modelLine ? -1 : 1)).map((r) => [r.modelLine, sha256Hex(r.interval)]));
  ctx.audit(input.actor, 'ReplaceDataAvailabilityIntervals', partyName(dataProvider(input.dataProviderId)),
    { dataAvailabilityIntervals: json(before.map((r) => ({ modelLine: r.model_line, interval: r.data_availability_interval }))) },
    { dataAvailabilityIntervals: json(input.entries) });
}

/** Replaces one column of the DataProvider's row: its overall availability interval or its capabilities. */
export async function replaceDataProviderSetting(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; setting: 'dataAvailabilityInterval' | 'capabilities'; value: Uint8Array },
): Promise<void> {
  const id = await lockDataProvider(ctx, input.dataProviderId);
  const column = input.setting === 'capabilities' ? 'capabilities' : 'data_availability_interval';
  const action = input.setting === 'capabilities' ? 'ReplaceDataProviderCapabilities' : 'ReplaceDataAvailabilityInterval';
  const before = await ctx.tx.query<{ value: Uint8Array | null }>(`SELECT ${column} AS value FROM parties WHERE party_id = $1`, [id]);
  await ctx.tx.query(`UPDATE parties SET ${column} = $2, update_time = $3 WHERE party_id = $1`, [id, input.value, ctx.now]);
  const previous = before[0]?.value ?? null;
  ctx.audit(input.actor, action, partyName(dataProvider(input.dataProviderId)),
    { [input.setting]: previous === null ? null : sha256Hex(previous) }, { [input.setting]: sha256Hex(input.value) });
}

/** The DataProvider's row, locked so concurrent replacements of its settings queue. */
function lockDataProvider(ctx: WriteContext, dataProviderId: bigint): Promise<bigint> {
  requireExternalId(dataProviderId, 'data provider id');
  return requirePartyId(ctx.tx, dataProvider(dataProviderId), 'FOR UPDATE');
}

export const dataProviderSettingsOperations = {
  getDataProviderSettings: snapshot(getDataProviderSettings),
  replaceRequiredDuchies: write(replaceRequiredDuchies),
  replaceDataAvailabilityIntervals: write(replaceDataAvailabilityIntervals),
  replaceDataProviderSetting: write(replaceDataProviderSetting),
};
