/**
 * Test support for the CLI end-to-end tests: build dist when stale, run the
 * package binaries, and start a real `halo-keys kingdom serve` process on a
 * free port.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const secretfiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));
export const fixture = (name: string): string => join(secretfiles, name);

/** The binaries run compiled JavaScript; build when dist is missing or older than a source. */
export function ensureBuilt(sources: readonly string[]): void {
  const stale = sources.some((src) => {
    const built = join(repo, 'dist', src.replace(/^src\//, '').replace(/\.ts$/, '.js'));
    return !existsSync(built) || statSync(built).mtimeMs < statSync(join(repo, src)).mtimeMs;
  });
  if (stale) execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'ignore' });
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runBin(bin: string, args: readonly string[], options: { cwd?: string; env?: Record<string, string> } = {}): RunResult {
  const r = spawnSync(process.execPath, [join(repo, 'bin', bin), ...args], {
    cwd: options.cwd ?? repo,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: '', ...options.env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A failure: the exit code, nothing on stdout, exactly one line on stderr matching `pattern`. */
export function assertOneLineFailure(r: RunResult, program: string, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit ${r.code}: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  // A usage error (exit 2) reads as commander's own: `error: <message> (see --help)`.
  assert.match(lines[0]!, code === 2 ? /^error: .* \(see --help\)$/ : new RegExp(`^${program}: `));
  assert.match(lines[0]!, pattern);
}

export interface KingdomProcess {
  readonly dataDir: string;
  /** `127.0.0.1:PORT` */
  readonly target: string;
  readonly kingdomRoot: string;
  readonly pid: number;
  /** What the server printed so far (stdout and stderr). */
  output(): string;
  stop(): Promise<void>;
  /** Sends `signal` and waits for the exit (SIGKILL: a crash that leaves its files behind). */
  kill(signal: NodeJS.Signals): Promise<void>;
}

/** Starts `halo-keys kingdom serve --data-dir DIR --listen 127.0.0.1:0 [ARGS]` and waits until it answers. */
export async function startKingdom(dataDir: string, args: readonly string[] = []): Promise<KingdomProcess> {
  const child: ChildProcess = spawn(process.execPath, [join(repo, 'bin/halo-keys.js'), 'kingdom', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...args], {
    cwd: repo,
    env: { ...process.env, HALO_KEYS_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const target = await new Promise<string>((resolve, reject) => {
    // A server that did not come up in time is stopped, so it cannot serve a later test's data dir.
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`kingdom serve did not start in 120 s:\n${out}`));
    }, 120_000);
    const poll = setInterval(() => {
      const info = join(dataDir, 'server.json');
      if (existsSync(info)) {
        try {
          const parsed = JSON.parse(readFileSync(info, 'utf8')) as { host?: string; port?: number; pid?: number };
          if (parsed.pid === child.pid && typeof parsed.port === 'number' && parsed.port !== 0) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve(`${parsed.host ?? '127.0.0.1'}:${parsed.port}`);
          }
        } catch {
          // written atomically, but keep polling on a partial read
        }
      }
    }, 100);
    child.once('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`kingdom serve exited ${code}:\n${out}`));
    });
  });
  const kill = (signal: NodeJS.Signals) =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  return {
    dataDir,
    target,
    kingdomRoot: join(dataDir, 'kingdom_root.pem'),
    pid: child.pid!,
    output: () => out,
    stop: () => kill('SIGTERM'),
    kill,
  };
}
