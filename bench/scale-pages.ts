/**
 * List pages at production volume: on each engine, a page of 50 of
 * ListEventGroups and ListMeasurements (store calls, no RPC stack) at the
 * first page, beside the same call with a page token near the last rows
 * (target: the last page costs at most twice the first), and the certificate
 * blast radius of a certificate 10,000 pending measurements depend on
 * (target: under 100 ms), beside the dependent-measurement query the store
 * used before (an OR of the two kinds of reference) run alone.
 *
 * Setup: parties and certificates through the store, then 1,000,000
 * EventGroups and 1,000,000 measurements with one requisition each inserted
 * by SQL (generate_series, test/kingdom/scale-fixtures.ts), then VACUUM
 * ANALYZE. Setup stops early when it has taken SETUP_BUDGET_MS, and the
 * row counts used are printed. PostgreSQL gets a database of its own,
 * dropped at the end, and is skipped with a line when none is reachable.
 */
import { openKingdomStore, type SqlKingdomStore } from '../src/kingdom/store/index.js';
import { type ScaleWorld, insertEventGroups, insertMeasurements, scaleWorld } from '../test/kingdom/scale-fixtures.js';
import { tempDataDir } from '../test/kingdom/store-fixtures.js';
import { freshBenchPostgres } from './kingdom.js';
import { type Figure, median, printFigures } from './harness.js';

const ROWS = 1_000_000;
const CHUNK = 100_000;
/** Measurements that depend on each of the two hot certificates. */
const HOT = 10_000;
const PAGE = 50;
const SETUP_BUDGET_MS = 5 * 60_000;
const WARM_UP = 5;
const SAMPLES = 31;

/** The dependent-measurement query of the blast radius before it followed the owner's kind of reference. */
const OR_FORM = `SELECT mp.external_id AS mc, m.external_measurement_id AS m
   FROM measurements m JOIN parties mp ON mp.party_id = m.measurement_consumer_id
  WHERE m.state IN ('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING') AND (m.measurement_consumer_certificate_id = $1 OR EXISTS (
    SELECT 1 FROM requisitions r WHERE r.measurement_id = m.measurement_id
      AND r.data_provider_certificate_id = $1 AND r.state = 'UNFULFILLED'))
  ORDER BY m.measurement_id`;

/**
 * Median ms of `first` and of `last`, their runs alternating so that a load
 * from elsewhere on the machine falls on both alike.
 */
async function timePair(first: () => Promise<unknown>, last: () => Promise<unknown>): Promise<[number, number]> {
  for (let i = 0; i < WARM_UP; i++) {
    await first();
    await last();
  }
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    for (const [fn, samples] of [[first, a], [last, b]] as const) {
      const start = performance.now();
      await fn();
      samples.push(performance.now() - start);
    }
  }
  return [median(a), median(b)];
}

/** Fills both tables chunk by chunk, in step, until ROWS or the budget; returns the rows inserted in each. */
async function fill(store: SqlKingdomStore, w: ScaleWorld, engine: string): Promise<number> {
  const start = performance.now();
  let rows = 0;
  while (rows < ROWS && performance.now() - start < SETUP_BUDGET_MS) {
    const to = Math.min(ROWS, rows + CHUNK);
    await insertEventGroups(store.database, w, rows + 1, to);
    await insertMeasurements(store.database, w, rows + 1, to, HOT);
    rows = to;
    console.log(`  ${engine}: ${rows} event groups and ${rows} measurements after ${((performance.now() - start) / 1000).toFixed(0)} s`);
  }
  for (const table of ['parties', 'certificates', 'event_groups', 'measurements', 'requisitions']) {
    await store.database.exec(`VACUUM ANALYZE ${table}`);
  }
  console.log(`  ${engine}: setup (inserts and VACUUM ANALYZE) took ${((performance.now() - start) / 1000).toFixed(0)} s`);
  return rows;
}

async function one<R>(store: SqlKingdomStore, sql: string, params: unknown[]): Promise<R> {
  const [row] = await store.database.query<R & object>(sql, params);
  if (row === undefined) throw new Error(`setup query found nothing: ${sql}`);
  return row;
}

async function measure(engine: string, store: SqlKingdomStore): Promise<void> {
  console.log(`\nscale-pages on ${engine}: filling`);
  const w = await scaleWorld(store);
  const rows = await fill(store, w, engine);
  const figures: Figure[] = [];
  const pages = (name: string, [first, last]: [number, number]) =>
    figures.push({ name: `${name} page of ${PAGE}, near the end`, ours: last, baseline: first, unit: 'ms', baselineName: 'first page', target: '>= 0.5 (last <= 2x first)' });

  // Cursors 60 rows before the end of each list, so the last page is full.
  const egOfDp = await one<{ id: bigint }>(
    store,
    `SELECT external_event_group_id AS id FROM event_groups WHERE data_provider_id = $1 AND state <> 'DELETED'
      ORDER BY external_event_group_id DESC OFFSET 60 LIMIT 1`,
    [w.dpA.partyId],
  );
  const egOfMc = await one<{ dp: bigint; id: bigint }>(
    store,
    `SELECT data_provider_external_id AS dp, external_event_group_id AS id FROM event_groups
      WHERE measurement_consumer_id = $1 AND state <> 'DELETED'
      ORDER BY data_provider_external_id DESC, external_event_group_id DESC OFFSET 60 LIMIT 1`,
    [w.mcX.partyId],
  );
  const mOfMc = await one<{ id: bigint }>(
    store,
    'SELECT external_measurement_id AS id FROM measurements WHERE measurement_consumer_id = $1 ORDER BY 1 DESC OFFSET 60 LIMIT 1',
    [w.mcX.partyId],
  );
  const count = async (sql: string, params: unknown[]) => (await one<{ n: bigint }>(store, sql, params)).n;
  const dpGroups = await count(`SELECT count(*) AS n FROM event_groups WHERE data_provider_id = $1 AND state <> 'DELETED'`, [w.dpA.partyId]);
  const mcGroups = await count(`SELECT count(*) AS n FROM event_groups WHERE measurement_consumer_id = $1 AND state <> 'DELETED'`, [w.mcX.partyId]);

  const full = (page: { items: unknown[]; next: unknown }) => {
    if (page.items.length !== PAGE || page.next === null) throw new Error('a timed page is not a full page with a next token');
  };
  pages(
    `ListEventGroups of a DataProvider (${dpGroups} live groups)`,
    await timePair(
      async () => full(await store.listEventGroups({ dataProviderId: w.dpA.id, limit: PAGE })),
      async () => full(await store.listEventGroups({ dataProviderId: w.dpA.id, limit: PAGE, after: { dataProviderId: w.dpA.id, externalEventGroupId: egOfDp.id } })),
    ),
  );
  pages(
    `ListEventGroups of an MC (${mcGroups} live groups, 2 DataProviders)`,
    await timePair(
      async () => full(await store.listEventGroups({ measurementConsumerId: w.mcX.id, limit: PAGE })),
      async () => full(await store.listEventGroups({ measurementConsumerId: w.mcX.id, limit: PAGE, after: { dataProviderId: egOfMc.dp, externalEventGroupId: egOfMc.id } })),
    ),
  );
  pages(
    `ListMeasurements of an MC (${rows} measurements)`,
    await timePair(
      async () => full(await store.listMeasurements({ measurementConsumerId: w.mcX.id, limit: PAGE })),
      async () => full(await store.listMeasurements({ measurementConsumerId: w.mcX.id, limit: PAGE, after: mOfMc.id })),
    ),
  );

  for (const [who, cert] of [['MC', w.mcHot], ['DataProvider', w.dpHot]] as const) {
    const radius = await store.certificateBlastRadius(cert.owner, cert.externalId);
    if (radius.pendingMeasurements.length !== HOT) throw new Error(`blast radius found ${radius.pendingMeasurements.length} measurements, not ${HOT}`);
    const [ours, baseline] = await timePair(
      () => store.certificateBlastRadius(cert.owner, cert.externalId),
      () => store.database.query(OR_FORM, [cert.certificateId]),
    );
    figures.push({
      name: `GetCertificateBlastRadius, ${who} certificate, ${HOT} pending measurements`,
      ours,
      baseline,
      unit: 'ms',
      baselineName: 'OR-form dependent query alone',
      target: 'ours < 100 ms',
    });
  }
  printFigures(`scale-pages on ${engine} (${rows} event groups, ${rows} measurements with a requisition each)`, figures);
}

export async function run(): Promise<void> {
  const dir = tempDataDir();
  try {
    const store = await openKingdomStore({ dataDir: dir.dir });
    try {
      await measure('PGlite', store);
    } finally {
      await store.close();
    }
  } finally {
    dir.remove();
  }

  const postgres = await freshBenchPostgres();
  if (!postgres) {
    console.log('\n(scale-pages: no PostgreSQL reachable at HALO_KEYS_TEST_DATABASE_URL or 127.0.0.1:5432; PostgreSQL figures skipped)');
    return;
  }
  try {
    const store = await openKingdomStore({ databaseUrl: postgres.url });
    try {
      await measure('PostgreSQL', store);
    } finally {
      await store.close();
    }
  } finally {
    await postgres.drop();
  }
}
