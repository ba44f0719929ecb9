/**
 * The Kingdom store alone (no RPC stack): CreateCertificate writes per second
 * and p99 at 1, 16 and 128 concurrent callers on PostgreSQL, each beside two
 * baselines from the same run on the same server: the store with one write
 * per transaction (group commit off: every write takes the audit lock and
 * holds it through its own WAL flush), and a bare `pg` transaction (one
 * INSERT, COMMIT with synchronous_commit on, no audit chain).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openKingdomStore, type PartyKey, type SqlKingdomStore } from '../src/kingdom/store/index.js';
import { freshBenchPostgres, measure } from './kingdom.js';
import { printFigures, type Figure } from './harness.js';

const CONCURRENCY = [1, 16, 128];
const MS_PER_FIGURE = 1500;

const facts = () => ({
  x509Der: new Uint8Array(randomBytes(600)),
  subjectKeyIdentifier: new Uint8Array(randomBytes(20)),
  notValidBefore: new Date(Date.now() - 86_400_000),
  notValidAfter: new Date(Date.now() + 365 * 86_400_000),
});

async function party(store: SqlKingdomStore): Promise<PartyKey> {
  const made = await store.createParty({
    actor: 'admin',
    kind: 'MODEL_PROVIDER',
    rootCertificateDer: new Uint8Array([0x30]),
    rootSubjectKeyIdentifier: new Uint8Array(randomBytes(20)),
    certificate: facts(),
  });
  return made.party.key;
}

export async function run(): Promise<void> {
  const postgres = await freshBenchPostgres();
  if (!postgres) {
    console.log('\n(kingdom-store: no PostgreSQL reachable; set HALO_KEYS_TEST_DATABASE_URL)');
    return;
  }
  const figures: Figure[] = [];
  const store = await openKingdomStore({ databaseUrl: postgres.url, poolSize: 32 });
  // One write per transaction, as many transactions as connections.
  const unbatched = await openKingdomStore({
    databaseUrl: postgres.url,
    poolSize: 32,
    writeBatching: { maxBatchSize: 1, concurrency: 32 },
  });
  const pool = new pg.Pool({ connectionString: postgres.url, max: 32 });
  try {
    await pool.query('CREATE TABLE bench_rows (id bigserial PRIMARY KEY, body bytea NOT NULL)');
    const owner = await party(store);
    const bare = async () => {
      const c = await pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('INSERT INTO bench_rows (body) VALUES ($1)', [randomBytes(600)]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
    };
    for (const c of CONCURRENCY) {
      const baseline = await measure(bare, c, MS_PER_FIGURE);
      const single = await measure(
        () => unbatched.createCertificate({ actor: 'admin', owner, certificate: facts() }),
        c,
        MS_PER_FIGURE,
      );
      const created = await measure(
        () => store.createCertificate({ actor: 'admin', owner, certificate: facts() }),
        c,
        MS_PER_FIGURE,
      );
      figures.push(
        { name: `store CreateCertificate postgres c=${c}`, ours: created.opsPerSecond, baseline: single.opsPerSecond, unit: 'ops/s', baselineName: 'one write per tx' },
        { name: `store CreateCertificate postgres c=${c}`, ours: created.opsPerSecond, baseline: baseline.opsPerSecond, unit: 'ops/s', baselineName: 'bare pg tx' },
        { name: `store CreateCertificate p99 postgres c=${c}`, ours: created.p99Ms, baseline: single.p99Ms, unit: 'ms', baselineName: 'one write per tx p99' },
      );
    }
    const chain = await store.verifyAuditChain();
    if (!chain.ok) throw new Error(`audit chain broken at ${chain.seq}: ${chain.problem}`);
    const w = store.writeStats;
    console.log(
      `\nkingdom-store: ${w.operations} writes, ${w.batches} shared transactions (largest ${w.largestBatch}), ` +
        `${w.batchRetries} batch retries, ${w.fallbacks} fallbacks; audit chain of ${chain.count} entries verifies`,
    );
  } finally {
    await pool.end();
    await unbatched.close();
    await store.close();
    await postgres.drop();
  }
  printFigures('kingdom store on PostgreSQL (no RPC stack)', figures);
}
