/** Runs the compiled binaries as a user would, and the checks every CLI test makes of a failure. */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
/** The CMMS test PKI (`shared/testdata/cmms-secretfiles`). */
export const secretfiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));

/** A file of the CMMS test PKI. */
export const fixture = (name: string): string => join(secretfiles, name);

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `bin` (relative to the repository) with `args`. Passphrases from the
 * caller's environment are blanked so a run never depends on it; `env` sets
 * what a test needs.
 */
export function runBin(bin: string, args: readonly string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd: repo,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: '', HALO_KEYS_CA_PASSPHRASE: '', ...env },
    encoding: 'utf8',
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function haloKeys(args: readonly string[], env: Record<string, string> = {}): CliResult {
  return runBin('bin/halo-keys.js', args, env);
}

/**
 * A failure: the exit code, nothing on stdout, exactly one `<program>: ...` line on stderr matching `pattern`;
 * a usage error (code 2) is `error: ... (see --help)` as `assertUsage` checks.
 */
export function assertFails(r: CliResult, code: number, pattern: RegExp, program = 'halo-keys'): void {
  if (code === 2) return assertUsage(r, pattern);
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0]!.startsWith(`${program}: `), r.stderr);
  assert.match(lines[0]!, pattern);
}

/** Commander's own usage errors (exit 2): exactly one line, `error: <message> (see --help)`. */
export function assertUsage(r: CliResult, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /^error: .* \(see --help\)$/);
  assert.match(lines[0]!, pattern);
}

/** A scratch directory removed after the file's tests; `file(name)` is a path in it. */
export function scratchDir(prefix: string): { readonly dir: string; file(name: string): string } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, file: (name) => join(dir, name) };
}

/** The binaries run compiled JavaScript: build when `dist` is missing or older than `source` (a path in `src/`). */
export function buildIfStale(source: string): void {
  const built = join(repo, 'dist', source.replace(/^src\//, '').replace(/\.ts$/, '.js'));
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(join(repo, source)).mtimeMs) {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: repo, stdio: 'ignore' });
  }
}
