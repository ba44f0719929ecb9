/**
 * The MeasurementConsumer's encryption key leaked, at production volume, end
 * to end with the operators' commands: the rehearsal's CMMS (a Kingdom
 * process, two DataProviders, an MC) with N EventGroups split between the
 * DataProviders and M measurements (two fifths of them ongoing), then as CLI
 * processes the MC's `halo-keys compromise encryption-key` (key rotated,
 * re-encryption requests created, ongoing measurements replaced) and each
 * DataProvider's `halo-keys reencrypt event-groups`.
 *
 * Printed per engine (embedded PGlite; PostgreSQL in a throwaway database,
 * skipped when unreachable) and per size (N/10 and N, so the CLI's memory can
 * be compared across a tenfold difference): each phase's wall time, the
 * Kingdom's peak RSS during it and the CLI process's peak RSS, and the
 * re-encryption throughput beside bare ECIES encryption of the same metadata
 * with src/crypto in the same run.
 *
 * Peak RSS is the kernel's VmHWM: for the Kingdom reset at the start of each
 * phase (/proc/PID/clear_refs) and read at its end, sampled VmRSS where the
 * reset is refused; for a CLI process read by a preloaded hook as the process
 * exits. On PostgreSQL the Kingdom's figure excludes the database server.
 *
 * Sizes: HALO_KEYS_BENCH_EVENT_GROUPS (default 10000) and
 * HALO_KEYS_BENCH_MEASUREMENTS (default 1000), or --event-groups=N and
 * --measurements=M after the section name. The PostgreSQL server:
 * HALO_KEYS_BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
 * HALO_KEYS_BENCH_ENGINES=embedded (or postgresql) runs one engine only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromBinary } from '@bufbuild/protobuf';
import pg from 'pg';
import { decryptMessage, encryptMessage, publicKeyset, type Keyset } from '../src/crypto/index.js';
import { EventGroup_MetadataSchema } from '../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { prepareCluster, type TlsEndpoint } from '../src/rehearse/cluster.js';
import { CommandRunner, HALO_KEYS_BIN } from '../src/rehearse/commands.js';
import { startKingdom, type RehearsalKingdom } from '../src/rehearse/kingdom.js';
import { active, clientOf, decrypts, privateKeyset } from '../src/rehearse/observe.js';
import { copiesDir, makeCast, type Cast, type Participant } from '../src/rehearse/participants.js';
import { runWorkload, type WorkloadSummary } from '../src/rehearse/workload.js';
import type { CompromiseReport } from '../src/rotation/index.js';
import { opsPerSecondSync, printFigures, type Figure } from './harness.js';

const MiB = 1048576;
const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres';
/** Metadata encrypted for the bare ECIES baseline at most (an even spread of the DataProvider's copies). */
const BASELINE_ITEMS = 10_000;
/** EventGroups per DataProvider decrypted after its re-encryption, as a check that it happened. */
const VERIFIED = 200;

function sizeArg(name: string, env: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  const value = Number(arg ? arg.slice(name.length + 3) : (process.env[env] ?? fallback));
  if (!Number.isInteger(value) || value < 10) throw new Error(`--${name} / ${env} must be an integer of at least 10`);
  return value;
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** The Kingdom's peak RSS over a phase: VmHWM after a reset, or sampled VmRSS if the kernel refuses the reset. */
class KingdomPeak {
  readonly #pid: number;
  #sampled = 0;
  #timer: NodeJS.Timeout | undefined;
  #reset = false;
  constructor(pid: number) {
    this.#pid = pid;
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      this.#reset = true;
    } catch {
      this.#timer = setInterval(() => (this.#sampled = Math.max(this.#sampled, statusKb(pid, 'VmRSS'))), 100);
    }
  }
  end(): { kb: number; how: string } {
    if (this.#timer) clearInterval(this.#timer);
    return this.#reset ? { kb: statusKb(this.#pid, 'VmHWM'), how: 'VmHWM' } : { kb: Math.max(this.#sampled, statusKb(this.#pid, 'VmRSS')), how: 'sampled' };
  }
}

/** Preloaded into each CLI process: its VmHWM, written to a file as it exits. */
const PEAK_HOOK = `import { readFileSync, writeFileSync } from 'node:fs';
const out = process.env.HALO_KEYS_BENCH_PEAK_FILE;
process.on('exit', () => {
  const m = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  if (out && m) writeFileSync(out, m[1]);
});
`;

interface CliRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly ms: number;
  readonly peakKb: number;
}

/** `halo-keys ARGS` in its own process (stdout discarded: a line per step), its peak RSS from the hook. */
function haloKeys(root: string, env: Record<string, string>, args: string[]): Promise<CliRun> {
  const hook = join(root, 'peak-rss-hook.mjs');
  if (!existsSync(hook)) writeFileSync(hook, PEAK_HOOK);
  const peakFile = join(root, `peak-${randomBytes(4).toString('hex')}`);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', `file://${hook}`, HALO_KEYS_BIN, ...args], {
      cwd: root,
      env: { ...process.env, ...env, HALO_KEYS_BENCH_PEAK_FILE: peakFile },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.once('error', reject);
    child.once('close', (code) => {
      const peakKb = existsSync(peakFile) ? Number(readFileSync(peakFile, 'utf8')) : 0;
      resolve({ code, stderr, ms: Date.now() - started, peakKb });
    });
  });
}

function lastLine(text: string): string {
  return text.trim().split('\n').filter((l) => !l.startsWith('progress: ')).pop() ?? '';
}

/** Of the DataProvider's first VERIFIED EventGroups, how many the MC's new keyset decrypts. */
async function verifyReencrypted(dp: Participant, mc: Participant, passphrase: string, now: Keyset): Promise<{ checked: number; ok: number }> {
  const page = await clientOf(dp, passphrase).eventGroups.listEventGroups({ parent: dp.name, pageSize: VERIFIED });
  const mine = page.eventGroups.filter((eg) => eg.measurementConsumer === mc.name && eg.encryptedMetadata);
  return { checked: mine.length, ok: mine.filter((eg) => decrypts(now, eg.encryptedMetadata!)).length };
}

/**
 * Bare ECIES: the DataProvider's own plaintext copies (an even spread, at most BASELINE_ITEMS, parsed
 * beforehand) encrypted to `key` with src/crypto, round after round for a second; items/s.
 */
function bareEncryptionRate(dp: Participant, indices: number[], key: Keyset): { rate: number; items: number } {
  const stride = Math.max(1, Math.ceil(indices.length / BASELINE_ITEMS));
  const metadata = indices.filter((_, k) => k % stride === 0).map((i) => fromBinary(EventGroup_MetadataSchema, readFileSync(join(copiesDir(dp), `eg-${i}.binpb`))));
  let next = 0;
  const rate = opsPerSecondSync(() => encryptMessage(key, EventGroup_MetadataSchema, metadata[next++ % metadata.length]!));
  return { rate, items: metadata.length };
}

interface PhaseRow {
  readonly phase: string;
  readonly ms: number;
  readonly kingdomKb: number;
  readonly cliKb?: number;
  readonly note?: string;
}

interface ScenarioResult {
  readonly engine: string;
  readonly eventGroups: number;
  readonly measurements: number;
  readonly rows: PhaseRow[];
  readonly figures: Figure[];
  readonly kingdomHow: string;
}

async function scenario(engine: string, databaseUrl: string | undefined, eventGroups: number, measurements: number): Promise<ScenarioResult> {
  const root = mkdtempSync(join(tmpdir(), 'halo-keys-bench-compromise-'));
  const passphrase = randomBytes(18).toString('base64url');
  const env = { HALO_KEYS_PASSPHRASE: passphrase, HALO_KEYS_LOG_LEVEL: 'warn' };
  const run = new CommandRunner(env, root);
  const endpoints: TlsEndpoint[] = [];
  const rows: PhaseRow[] = [];
  const figures: Figure[] = [];
  let kingdom: RehearsalKingdom | undefined;
  let kingdomHow = '';
  const label = `${engine}, N=${eventGroups}, M=${measurements}`;
  const note = (line: string) => console.log(`  [${label}] ${line}`);
  try {
    kingdom = await startKingdom(join(root, 'kingdom'), databaseUrl);
    const k = kingdom;
    prepareCluster(root);
    const cast: Cast = await makeCast(root, run, kingdom, endpoints);
    const phase = async <T>(name: string, fn: () => Promise<T>): Promise<{ value: T; ms: number; kingdomKb: number }> => {
      const peak = new KingdomPeak(k.pid);
      const started = Date.now();
      const value = await fn();
      const ms = Date.now() - started;
      const p = peak.end();
      kingdomHow = p.how;
      return { value, ms, kingdomKb: p.kb };
    };

    let lastShown = 0;
    const w = await phase('workload', () =>
      runWorkload(cast, passphrase, { eventGroups, measurements }, (done, total) => {
        if (done === total || Date.now() - lastShown > 30_000) {
          lastShown = Date.now();
          note(`workload ${done}/${total}`);
        }
      }),
    );
    const workload: WorkloadSummary = w.value;
    rows.push({ phase: 'workload (rehearsal code, in-process)', ms: w.ms, kingdomKb: w.kingdomKb, note: `${workload.eventGroups.edp1}+${workload.eventGroups.edp2} EventGroups, ${measurements} measurements` });

    const mc = cast.mc;
    const leaked = active(mc, 'encryption');
    const compromise = await phase('compromise', () =>
      haloKeys(root, env, ['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(leaked.tinkKeyId), '--report', join(root, 'mc-compromise')]),
    );
    if (compromise.value.code !== 0) throw new Error(`compromise encryption-key exited ${compromise.value.code}: ${lastLine(compromise.value.stderr)}`);
    // The report keeps a sample of each list; the counts are the whole.
    const report = JSON.parse(readFileSync(join(root, 'mc-compromise.json'), 'utf8')) as Pick<CompromiseReport, 'counts'>;
    rows.push({
      phase: 'MC: compromise encryption-key',
      ms: compromise.ms,
      kingdomKb: compromise.kingdomKb,
      cliKb: compromise.value.peakKb,
      note: `${report.counts?.reencryptionRequests?.created ?? 0} re-encryption requests, ${report.counts?.replaced ?? 0} measurements replaced (${workload.measurements['awaiting-edp1'].count + workload.measurements['awaiting-edp2'].count} ongoing)`,
    });

    const now = privateKeyset(mc, passphrase);
    const newKey = publicKeyset(now);
    for (const [dp, made, parity] of [[cast.edp1, workload.eventGroups.edp1, 0], [cast.edp2, workload.eventGroups.edp2, 1]] as const) {
      const r = await phase(`reencrypt ${dp.label}`, () => haloKeys(root, env, ['reencrypt', 'event-groups', '--dir', dp.dir]));
      if (r.value.code !== 0) throw new Error(`${dp.label}: reencrypt event-groups exited ${r.value.code}: ${lastLine(r.value.stderr)}`);
      const v = await verifyReencrypted(dp, mc, passphrase, now);
      if (v.ok !== v.checked) throw new Error(`${dp.label}: ${v.checked - v.ok} of ${v.checked} EventGroups checked do not decrypt with the new key`);
      rows.push({ phase: `${dp.label}: reencrypt event-groups`, ms: r.ms, kingdomKb: r.kingdomKb, cliKb: r.value.peakKb, note: `${made} EventGroups; ${v.ok}/${v.checked} checked decrypt with the new key` });
      const indices = Array.from({ length: eventGroups }, (_, i) => i).filter((i) => i % 2 === parity);
      const bare = bareEncryptionRate(dp, indices, newKey);
      figures.push({
        name: `${dp.label} re-encryption (${made} EventGroups, CLI wall time)`,
        ours: (made * 1000) / r.ms,
        baseline: bare.rate,
        unit: 'ops/s',
        baselineName: `bare ECIES encryptMessage over ${bare.items} of its copies`,
        target: '>= 0.5',
      });
    }
    return { engine, eventGroups, measurements, rows, figures, kingdomHow };
  } finally {
    for (const e of endpoints) await e.close();
    await kingdom?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

function printScenario(r: ScenarioResult): void {
  console.log(`\n### ${r.engine}: N=${r.eventGroups} EventGroups, M=${r.measurements} measurements`);
  const head = ['phase', 'wall', `Kingdom peak RSS (${r.kingdomHow})`, 'CLI peak RSS (VmHWM)', ''];
  const cells = r.rows.map((row) => [row.phase, `${(row.ms / 1000).toFixed(1)} s`, `${(row.kingdomKb / 1024).toFixed(0)} MiB`, row.cliKb ? `${(row.cliKb / 1024).toFixed(0)} MiB` : '-', row.note ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  for (const c of [head, ...cells]) console.log(c.map((x, i) => x.padEnd(widths[i]!)).join('  ').trimEnd());
  printFigures(`scale-compromise: re-encryption throughput, ${r.engine}, N=${r.eventGroups}`, r.figures);
}

/** A throwaway database on the server at `serverUrl`, or why there is none. */
async function throwawayDatabase(serverUrl: string): Promise<{ url: string; drop(): Promise<void> } | string> {
  const name = `halo_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    return (err as Error).message || String(err);
  } finally {
    await admin.end().catch(() => {});
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

export async function run(): Promise<void> {
  const eventGroups = sizeArg('event-groups', 'HALO_KEYS_BENCH_EVENT_GROUPS', 10_000);
  const measurements = sizeArg('measurements', 'HALO_KEYS_BENCH_MEASUREMENTS', 1_000);
  const sizes = [
    { eventGroups: Math.max(10, Math.round(eventGroups / 10)), measurements: Math.max(10, Math.round(measurements / 10)) },
    { eventGroups, measurements },
  ];
  console.log(`\n== scale-compromise: the MC's encryption key leaked; compromise encryption-key, then reencrypt event-groups by each DataProvider, at N=${sizes[0]!.eventGroups} and N=${eventGroups} ==`);
  const results: ScenarioResult[] = [];
  const serverUrl = process.env.HALO_KEYS_BENCH_DATABASE_URL ?? DEFAULT_SERVER;
  const engines: Array<{ engine: string; open(): Promise<{ url?: string; drop(): Promise<void> } | string> }> = [
    { engine: 'embedded', open: async () => ({ drop: async () => {} }) },
    { engine: 'postgresql', open: () => throwawayDatabase(serverUrl) },
  ];
  const wanted = process.env.HALO_KEYS_BENCH_ENGINES?.split(',').map((e) => e.trim()) ?? engines.map((e) => e.engine);
  for (const { engine, open } of engines.filter((e) => wanted.includes(e.engine))) {
    for (const size of sizes) {
      const db = await open();
      if (typeof db === 'string') {
        console.log(`scale-compromise: ${engine} skipped, the server ${new URL(serverUrl).host} is unreachable: ${db.split('\n')[0]}`);
        break;
      }
      try {
        const r = await scenario(engine, db.url, size.eventGroups, size.measurements);
        printScenario(r);
        results.push(r);
      } finally {
        await db.drop();
      }
    }
  }
  // The CLI's memory at the two sizes side by side: flat means it does not hold every item.
  if (results.length === 0) return;
  console.log('\n### CLI peak RSS (VmHWM) by size');
  for (const engine of new Set(results.map((r) => r.engine))) {
    const mine = results.filter((r) => r.engine === engine);
    for (const phase of mine[0]!.rows.filter((row) => row.cliKb).map((row) => row.phase)) {
      const cells = mine.map((r) => `N=${r.eventGroups}: ${((r.rows.find((row) => row.phase === phase)?.cliKb ?? 0) / 1024).toFixed(0)} MiB`);
      console.log(`${engine.padEnd(11)} ${phase.padEnd(32)} ${cells.join('   ')}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
