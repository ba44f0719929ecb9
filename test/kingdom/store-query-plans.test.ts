/**
 * The list queries page at constant cost, and a lookup is one probe: on both
 * engines, the exact SQL the store sends for a first and a later page (or the
 * lookup) is planned as one walk of the expected index, with no Sort and no Seq Scan of the big tables, both with
 * the parameters bound (custom plan) and as a prepared statement's generic
 * plan (what a PostgreSQL connection reuses after a few executions).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { eventGroupByConsumerQuery, listEventGroupsQuery } from '../../src/kingdom/store/event-groups.js';
import { listMeasurementsQuery } from '../../src/kingdom/store/measurements.js';
import { listRequisitionsQuery } from '../../src/kingdom/store/requisitions.js';
import { type Queryable, type SqlKingdomStore, openKingdomStore } from '../../src/kingdom/store/index.js';
import { type ScaleWorld, analyze, insertEventGroups, insertMeasurements, scaleWorld } from './scale-fixtures.js';
import { freshPostgresDatabase, tempDataDir } from './store-fixtures.js';

const ROWS = 20_000;
const HOT = 500;
const LIMIT = 50;
const BIG_TABLES = new Set(['event_groups', 'measurements', 'requisitions']);

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const nodesOf = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(nodesOf)];

/** A parameter as an SQL literal, for EXECUTE of a prepared statement. */
function literal(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `ARRAY[${v.map((s) => `'${String(s)}'`).join(', ')}]::text[]`;
  if (v instanceof Date) return `'${v.toISOString()}'::timestamptz`;
  throw new Error(`no literal for ${typeof v}`);
}

async function plans(tx: Queryable, sql: string, params: readonly unknown[]): Promise<{ custom: PlanNode; generic: PlanNode }> {
  const explain = async (text: string, values: readonly unknown[] = []) => {
    const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${text}`, values);
    const json = typeof row?.['QUERY PLAN'] === 'string' ? JSON.parse(row['QUERY PLAN']) : row?.['QUERY PLAN'];
    return (json as Array<{ Plan: PlanNode }>)[0]!.Plan;
  };
  const custom = await explain(sql, params);
  await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
  await tx.query(`PREPARE plan_probe AS ${sql}`);
  try {
    const generic = await explain(`EXECUTE plan_probe(${params.map(literal).join(', ')})`);
    return { custom, generic };
  } finally {
    await tx.query('DEALLOCATE plan_probe');
  }
}

function assertIndexWalk(plan: PlanNode, table: string, indexes: readonly string[], what: string): void {
  const nodes = nodesOf(plan);
  const shape = JSON.stringify(nodes.map((n) => [n['Node Type'], n['Relation Name'], n['Index Name']]));
  assert.ok(
    nodes.some((n) => /^Index (Only )?Scan$/.test(n['Node Type']) && n['Relation Name'] === table && indexes.includes(n['Index Name'] ?? '')),
    `${what}: no index scan of ${table} on ${indexes.join(' or ')}: ${shape}`,
  );
  assert.ok(!nodes.some((n) => n['Node Type'].includes('Sort')), `${what}: sorts: ${shape}`);
  assert.ok(
    !nodes.some((n) => n['Node Type'] === 'Seq Scan' && BIG_TABLES.has(n['Relation Name'] ?? '')),
    `${what}: scans a big table sequentially: ${shape}`,
  );
  assert.ok(!nodes.some((n) => n['Node Type'].startsWith('Bitmap')), `${what}: bitmap scans do not keep index order: ${shape}`);
}

function planSuite(name: string, open: () => Promise<{ store: SqlKingdomStore; cleanup(): Promise<void> }>): void {
  describe(name, () => {
    let store: SqlKingdomStore;
    let cleanup: () => Promise<void>;
    let w: ScaleWorld;

    before(async () => {
      ({ store, cleanup } = await open());
      w = await scaleWorld(store);
      await insertEventGroups(store.database, w, 1, ROWS);
      await insertMeasurements(store.database, w, 1, ROWS, HOT);
      await analyze(store.database);
    });
    after(async () => {
      await store.close();
      await cleanup();
    });

    /** Checks both plans of one page query and that it really returns `expected` rows. */
    async function check(query: { sql: string; params: readonly unknown[] } | null, table: string, indexes: string[], expected: number, what: string) {
      assert.ok(query !== null, `${what}: a page query`);
      const rows = await store.database.query(query.sql, query.params);
      assert.equal(rows.length, expected, `${what}: rows`);
      await store.database.transaction(async (tx) => {
        const { custom, generic } = await plans(tx, query.sql, query.params);
        assertIndexWalk(custom, table, indexes, `${what} (custom plan)`);
        assertIndexWalk(generic, table, indexes, `${what} (generic plan)`);
      });
    }

    /** The one row a setup query finds (a cursor near the end of a list). */
    async function nearEnd<R extends object>(sql: string, params: unknown[]): Promise<R> {
      const [row] = await store.database.query<R>(sql, params);
      assert.ok(row !== undefined);
      return row;
    }

    it('ListEventGroups of a DataProvider walks (data_provider_id, external_event_group_id)', async () => {
      const o = { dataProviderId: w.dpA.id };
      await check(listEventGroupsQuery(o, LIMIT), 'event_groups', ['event_groups_external_id'], LIMIT + 1, 'first page');
      const last = await nearEnd<{ id: bigint }>(
        `SELECT external_event_group_id AS id FROM event_groups WHERE data_provider_id = $1 AND state <> 'DELETED'
          ORDER BY external_event_group_id DESC OFFSET 10 LIMIT 1`,
        [w.dpA.partyId],
      );
      const later = { ...o, after: { dataProviderId: w.dpA.id, externalEventGroupId: last.id } };
      await check(listEventGroupsQuery(later, LIMIT), 'event_groups', ['event_groups_external_id'], 10, 'page near the end');
      const [beyond] = await store.database.query<{ n: bigint }>(
        'SELECT count(*) AS n FROM event_groups WHERE data_provider_id = $1 AND external_event_group_id > $2',
        [w.dpA.partyId, last.id],
      );
      const shown = { ...later, showDeleted: true };
      await check(listEventGroupsQuery(shown, LIMIT), 'event_groups', ['event_groups_external_id'], Number(beyond!.n), 'with deleted ones');
    });

    it('ListEventGroups of a MeasurementConsumer walks its index in (DataProvider, EventGroup) order', async () => {
      const o = { measurementConsumerId: w.mcX.id };
      const index = ['event_groups_by_consumer_in_list_order'];
      await check(listEventGroupsQuery(o, LIMIT), 'event_groups', index, LIMIT + 1, 'first page');
      // A cursor inside the first DataProvider's groups: the page runs on into the second's.
      const [firstDp, secondDp] = [w.dpA.id, w.dpB.id].sort((a, b) => (a < b ? -1 : 1));
      const last = await nearEnd<{ id: bigint }>(
        `SELECT external_event_group_id AS id FROM event_groups
          WHERE measurement_consumer_id = $1 AND data_provider_external_id = $2 AND state <> 'DELETED'
          ORDER BY external_event_group_id DESC OFFSET 19 LIMIT 1`,
        [w.mcX.partyId, firstDp],
      );
      const later = { ...o, after: { dataProviderId: firstDp!, externalEventGroupId: last.id } };
      await check(listEventGroupsQuery(later, LIMIT), 'event_groups', index, LIMIT + 1, 'page across DataProviders');
      const page = await store.listEventGroups({ ...later, limit: LIMIT });
      assert.deepEqual(
        [...new Set(page.items.map((g) => g.dataProviderId))],
        [firstDp, secondDp],
        'the page ends the first DataProvider and starts the second',
      );
      assert.equal(page.items.filter((g) => g.dataProviderId === firstDp).length, 19);
      const ids = page.items.map((g) => [g.dataProviderId, g.externalEventGroupId] as const);
      assert.deepEqual(ids, [...ids].sort((a, b) => (a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] < b[1] ? -1 : 1)));
    });

    it('ListEventGroups of a DataProvider for one MeasurementConsumer walks an index with both', async () => {
      const o = { dataProviderId: w.dpA.id, measurementConsumerId: w.mcY.id };
      await check(listEventGroupsQuery(o, LIMIT), 'event_groups', ['event_groups_by_consumer_in_list_order'], LIMIT + 1, 'first page');
    });

    it('GetEventGroup by the MeasurementConsumer-form name probes (measurement_consumer_id, external_event_group_id)', async () => {
      // The MeasurementConsumer's last group in list order: the list-order index would read all of the others first.
      const last = await nearEnd<{ id: bigint }>(
        `SELECT external_event_group_id AS id FROM event_groups WHERE measurement_consumer_id = $1
          ORDER BY data_provider_external_id DESC, external_event_group_id DESC LIMIT 1`,
        [w.mcX.partyId],
      );
      await check(eventGroupByConsumerQuery(w.mcX.id, last.id), 'event_groups', ['event_groups_by_consumer_and_id'], 1, 'lookup');
      assert.equal((await store.getEventGroupByConsumer(w.mcX.id, last.id)).externalEventGroupId, last.id);
    });

    it('ListMeasurements walks (measurement_consumer_id, external_measurement_id)', async () => {
      const index = ['measurements_external_id'];
      await check(listMeasurementsQuery({ measurementConsumerId: w.mcX.id }, LIMIT), 'measurements', index, LIMIT + 1, 'first page');
      const last = await nearEnd<{ id: bigint }>(
        'SELECT external_measurement_id AS id FROM measurements WHERE measurement_consumer_id = $1 ORDER BY 1 DESC OFFSET 20 LIMIT 1',
        [w.mcX.partyId],
      );
      const later = { measurementConsumerId: w.mcX.id, after: last.id };
      await check(listMeasurementsQuery(later, LIMIT), 'measurements', index, 20, 'page near the end');
      const filtered = { ...later, states: ['AWAITING_REQUISITION_FULFILLMENT' as const], updatedAfter: new Date(0) };
      const pending = await store.listMeasurements({ ...filtered, limit: LIMIT });
      assert.ok(pending.items.length > 0 && pending.items.every((m) => m.state === 'AWAITING_REQUISITION_FULFILLMENT'));
      await check(listMeasurementsQuery(filtered, LIMIT), 'measurements', index, pending.items.length, 'filtered by state and time');
    });

    it('ListRequisitions walks (data_provider_id, external_requisition_id)', async () => {
      const index = ['requisitions_external_id'];
      const o = { dataProviderId: w.dpA.id, states: ['UNFULFILLED' as const] };
      await check(listRequisitionsQuery(o, LIMIT), 'requisitions', index, LIMIT + 1, 'first page');
      const last = await nearEnd<{ id: bigint }>(
        'SELECT external_requisition_id AS id FROM requisitions WHERE data_provider_id = $1 ORDER BY 1 DESC OFFSET 30 LIMIT 1',
        [w.dpA.partyId],
      );
      const later = { dataProviderId: w.dpA.id, after: last.id, measurementStates: ['AWAITING_REQUISITION_FULFILLMENT' as const, 'SUCCEEDED' as const] };
      await check(listRequisitionsQuery(later, LIMIT), 'requisitions', index, 30, 'page near the end');
    });

    it('the certificate blast radius finds what depends on the certificate through each kind of reference', async () => {
      const mc = await store.certificateBlastRadius(w.mcHot.owner, w.mcHot.externalId);
      assert.equal(mc.pendingMeasurements.length, HOT);
      assert.equal(mc.pendingRequisitions.length, 0);
      const dp = await store.certificateBlastRadius(w.dpHot.owner, w.dpHot.externalId);
      assert.equal(dp.pendingMeasurements.length, HOT);
      assert.equal(dp.pendingRequisitions.length, HOT);
    });
  });
}

planSuite('query plans on PGlite', async () => {
  const dir = tempDataDir();
  const store = await openKingdomStore({ dataDir: dir.dir });
  return { store, cleanup: async () => dir.remove() };
});

planSuite('query plans on PostgreSQL', async () => {
  const db = await freshPostgresDatabase();
  const store = await openKingdomStore({ databaseUrl: db.url });
  return { store, cleanup: () => db.drop() };
});
