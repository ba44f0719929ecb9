/**
 * The embedded Kingdom's memory: a real `halo-keys kingdom serve` on PGlite
 * (and on PostgreSQL when HALO_KEYS_BENCH_DATABASE_URL is set, as the
 * baseline), its RSS idle after start, peak under a load of event-group
 * creates, measurements and full listings over mTLS from the rehearsal's
 * participants, and idle again after the load. The embedded Kingdom runs once
 * per `--embedded-cache-mb` size (HALO_KEYS_BENCH_MEMORY_CACHES, default the
 * default and PGlite's own 128), so they are compared in one run.
 *
 * HALO_KEYS_BENCH_MEMORY_EVENT_GROUPS sets the number of event groups (default 3000).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../src/lib/clock.js';
import { DEFAULT_EMBEDDED_CACHE_MIB } from '../src/kingdom/store/database.js';
import { prepareCluster } from '../src/rehearse/cluster.js';
import { CommandRunner } from '../src/rehearse/commands.js';
import { startKingdom } from '../src/rehearse/kingdom.js';
import { makeCast } from '../src/rehearse/participants.js';
import { runWorkload } from '../src/rehearse/workload.js';
import { connectKingdomClient, KeyringSession } from '../src/rotation/index.js';

const MiB = 1048576;

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Figures {
  readonly label: string;
  readonly idle: number;
  readonly peak: number;
  readonly after: number;
  readonly seconds: number;
}

async function measure(label: string, eventGroups: number, options: { databaseUrl?: string; cacheMb?: number }): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'halo-keys-bench-memory-'));
  const passphrase = randomBytes(18).toString('base64url');
  const run = new CommandRunner({ HALO_KEYS_PASSPHRASE: passphrase, HALO_KEYS_LOG_LEVEL: 'warn' }, root);
  const extraArgs = options.cacheMb !== undefined ? ['--embedded-cache-mb', String(options.cacheMb)] : [];
  const kingdom = await startKingdom(join(root, 'kingdom'), options.databaseUrl, extraArgs);
  try {
    prepareCluster(root);
    const cast = await makeCast(root, run, kingdom, []);
    await settle(3000);
    const idle = rss(kingdom.pid);
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rss(kingdom.pid))), 100);
    const started = Date.now();
    try {
      await runWorkload(cast, passphrase, { eventGroups, measurements: Math.ceil(eventGroups / 10) });
      // Every event group listed, page by page, by both DataProviders a few times over.
      for (const dp of [cast.edp1, cast.edp2]) {
        const session = KeyringSession.open(dp.dir, { clock: systemClock, passphrase: () => passphrase });
        const client = connectKingdomClient(session);
        for (let round = 0; round < 3; round++) {
          let pageToken = '';
          do {
            const page = await client.eventGroups.listEventGroups({ parent: dp.name, pageSize: 100, pageToken });
            pageToken = page.nextPageToken;
          } while (pageToken !== '');
        }
      }
    } finally {
      clearInterval(sampler);
    }
    const seconds = (Date.now() - started) / 1000;
    peak = Math.max(peak, rss(kingdom.pid));
    await settle(3000);
    return { label, idle, peak, after: rss(kingdom.pid), seconds };
  } finally {
    await kingdom.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const eventGroups = Number(process.env.HALO_KEYS_BENCH_MEMORY_EVENT_GROUPS ?? 3000);
  const caches = (process.env.HALO_KEYS_BENCH_MEMORY_CACHES?.split(',') ?? [DEFAULT_EMBEDDED_CACHE_MIB, 128]).map(Number);
  console.log(`\n== Kingdom memory: RSS of \`kingdom serve\`, ${eventGroups} event groups + ${Math.ceil(eventGroups / 10)} measurements created, then listed 3x over mTLS ==`);
  const rows: Figures[] = [];
  const databaseUrl = process.env.HALO_KEYS_BENCH_DATABASE_URL;
  if (databaseUrl) rows.push(await measure('PostgreSQL (baseline)', eventGroups, { databaseUrl }));
  for (const cacheMb of caches) rows.push(await measure(`embedded, --embedded-cache-mb ${cacheMb}`, eventGroups, { cacheMb }));
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(38)} idle ${(r.idle / MiB).toFixed(0).padStart(4)} MiB  peak under load ${(r.peak / MiB).toFixed(0).padStart(4)} MiB  ` +
        `idle after ${(r.after / MiB).toFixed(0).padStart(4)} MiB  load ${r.seconds.toFixed(1)} s`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
