/**
 * `halo-keys rehearse`: a complete local CMMS in a scratch directory (a
 * Kingdom, five participants with their own CAs, a cluster stand-in with TLS
 * endpoints), a workload, and every drill of the key lifecycle, each checked
 * from outside. The report says what passed; `ok` only when every check did.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { auditChains } from './audit-drill.js';
import type { DrillResult, Progress } from './checks.js';
import { prepareCluster, type TlsEndpoint } from './cluster.js';
import { CommandRunner } from './commands.js';
import type { DrillContext } from './drill-context.js';
import { dataProviderEncryptionKeyCompromise, crashedCompromise, mcEncryptionKeyCompromise, signingCertificateCompromise } from './drills-compromise.js';
import { crashedRotation, scheduledRotation, tlsRotation } from './drills-rotation.js';
import { startKingdom, type RehearsalKingdom } from './kingdom.js';
import { makeCast, type Cast } from './participants.js';
import { failedChecks, lifetimesOf, type Phase, type RehearsalReport } from './report.js';
import { runWorkload, type WorkloadSize } from './workload.js';

export interface RehearseOptions {
  /** Scratch directory (created; must be empty when it exists); default a new temporary directory. */
  readonly dir?: string;
  readonly databaseUrl?: string;
  readonly size: WorkloadSize;
  /** Keep the directory even when every check passed. */
  readonly keep: boolean;
  readonly progress: Progress;
  /** Workload progress: items done of total. */
  readonly workloadProgress?: (done: number, total: number) => void;
}

export class RehearsalDirError extends Error {
  override readonly name = 'RehearsalDirError';
}

function scratch(dir: string | undefined): string {
  if (dir === undefined) return mkdtempSync(join(tmpdir(), 'halo-keys-rehearse-'));
  const root = resolve(dir);
  if (existsSync(root) && readdirSync(root).length > 0) throw new RehearsalDirError(`--dir ${dir} is not empty: a rehearsal starts from nothing`);
  mkdirSync(root, { recursive: true, mode: 0o700 });
  return root;
}

type DrillFn = (ctx: DrillContext) => Promise<DrillResult>;

export async function rehearse(options: RehearseOptions): Promise<RehearsalReport> {
  const root = scratch(options.dir);
  const started = new Date();
  const phases: Phase[] = [];
  const report: RehearsalReport = {
    version: 1,
    ok: false,
    startedAt: started.toISOString(),
    endedAt: '',
    engine: options.databaseUrl ? 'postgresql' : 'embedded',
    dir: root,
    kept: true,
    size: options.size,
    participants: [],
    phases,
    drills: [],
    lifetimes: [],
    failedChecks: [],
    commands: 0,
  };
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const startedAt = new Date().toISOString();
    options.progress(`${name}...`);
    try {
      return await fn();
    } finally {
      phases.push({ name, startedAt, endedAt: new Date().toISOString() });
    }
  };

  // The keyrings' passphrase, random per rehearsal, kept beside them (0600) for commands run by hand with --keep.
  const passphrase = randomBytes(18).toString('base64url');
  writeFileSync(join(root, 'passphrase'), `${passphrase}\n`, { mode: 0o600 });
  const run = new CommandRunner({ HALO_KEYS_PASSPHRASE: passphrase, HALO_KEYS_LOG_LEVEL: 'warn' }, root);
  let kingdom: RehearsalKingdom | undefined;
  let cast: Cast | undefined;
  const endpoints: TlsEndpoint[] = [];
  try {
    prepareCluster(root);
    kingdom = await phase('Kingdom start', () => startKingdom(join(root, 'kingdom'), options.databaseUrl));
    const k = kingdom;
    cast = await phase('participants: init, register, configure', () => makeCast(root, run, k, endpoints));
    report.participants = cast.all.map((p) => ({ label: p.label, kind: p.kind, name: p.name }));
    const ctx: DrillContext = { root, run, kingdom, cast, passphrase, progress: options.progress };
    const drill = async (fn: DrillFn) => {
      report.drills.push(await fn(ctx));
    };
    await drill(scheduledRotation);
    await drill(tlsRotation);
    const c = cast;
    ctx.workload = await phase(`workload: ${options.size.eventGroups} event groups, ${options.size.measurements} measurements`, () =>
      runWorkload(c, passphrase, options.size, options.workloadProgress),
    );
    report.workload = ctx.workload;
    for (const fn of [signingCertificateCompromise, mcEncryptionKeyCompromise, dataProviderEncryptionKeyCompromise, crashedRotation, crashedCompromise, auditChains]) await drill(fn);
  } catch (err) {
    report.error = (err as Error).message.split('\n')[0] ?? String(err);
    options.progress(`stopped: ${report.error}`);
  } finally {
    for (const e of endpoints) await e.close();
    if (cast) {
      try {
        report.lifetimes = lifetimesOf(cast.all);
      } catch {
        // a keyring that cannot be read is already a failed check
      }
    }
    await kingdom?.stop();
  }
  report.commands = run.log.length;
  report.failedChecks = failedChecks(report.drills);
  report.ok = report.error === undefined && report.failedChecks.length === 0 && report.drills.length > 0;
  report.endedAt = new Date().toISOString();
  if (report.ok && !options.keep) {
    rmSync(root, { recursive: true, force: true });
    report.kept = false;
  }
  return report;
}
