/**
 * README, `--help` and behaviour in step, for every command of the three
 * binaries: the command tree is walked (commander's own, as the binaries
 * build it), `--help` of each command run in the real binary exits 0, and
 * every command the README says takes `--json` has it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Command } from 'commander';
import { type CliResult, buildIfStale, repo } from './run-cli.js';

const BINARIES = {
  'halo-keys': { bin: 'bin/halo-keys.js', module: 'dist/cli/halo-keys.js' },
  MeasurementSystem: { bin: 'bin/MeasurementSystem.js', module: 'dist/cli/measurement-system.js' },
  EncryptionPublicKeys: { bin: 'bin/EncryptionPublicKeys.js', module: 'dist/cli/encryption-public-keys.js' },
} as const;
type Binary = keyof typeof BINARIES;

interface Walked {
  readonly binary: Binary;
  /** The words after the binary, e.g. `kingdom admin akid list`. */
  readonly path: string;
  readonly leaf: boolean;
  /** `--json` on the command or a group above it (commander accepts a group's options after the subcommand). */
  readonly json: boolean;
  readonly ownJson: boolean;
}

async function walk(binary: Binary): Promise<Walked[]> {
  const { buildProgram } = (await import(pathToFileURL(join(repo, BINARIES[binary].module)).href)) as { buildProgram: () => Command | Promise<Command> };
  const out: Walked[] = [];
  const visit = (cmd: Command, words: string[], inherited: boolean) => {
    const ownJson = cmd.options.some((o) => o.long === '--json');
    const json = inherited || ownJson;
    if (words.length > 0) out.push({ binary, path: words.join(' '), leaf: cmd.commands.length === 0, json, ownJson });
    for (const sub of cmd.commands) visit(sub, [...words, sub.name()], json);
  };
  visit(await buildProgram(), [], false);
  return out;
}

/** Runs the binaries `concurrency` at a time (the machine is shared). */
async function runAll(runs: ReadonlyArray<{ bin: string; args: string[] }>, concurrency = 2): Promise<CliResult[]> {
  const results: CliResult[] = new Array(runs.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < runs.length; i = next++) {
      const { bin, args } = runs[i]!;
      results[i] = await new Promise<CliResult>((resolve) => {
        const child = spawn(process.execPath, [bin, ...args], { cwd: repo });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** The commands the README exempts from "every command takes `--json`", as `binary words...`. */
function readmeJsonExceptions(): string[] {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8').replace(/\s+/g, ' ');
  const m = /Every command of the three binaries takes `--json` except ([^.]+)\./.exec(readme);
  assert.ok(m, 'README states which commands take --json');
  return [...m[1]!.matchAll(/`(halo-keys [a-z -]+?|MeasurementSystem [a-z -]+?|EncryptionPublicKeys [a-z -]+?)`/g)].map((x) => x[1]!.trim());
}

describe('README, --help and behaviour agree', () => {
  let commands: Walked[] = [];

  before(async () => {
    buildIfStale('src/cli/halo-keys.ts');
    for (const binary of Object.keys(BINARIES) as Binary[]) commands.push(...(await walk(binary)));
    commands = commands.filter((c) => c.path !== 'help');
  });

  it('walks every binary and finds the commands the README names', () => {
    const paths = new Set(commands.map((c) => `${c.binary} ${c.path}`));
    for (const name of ['halo-keys register', 'halo-keys config show', 'halo-keys config set', 'halo-keys completion', 'EncryptionPublicKeys serialize', 'MeasurementSystem certificates create']) {
      assert.ok(paths.has(name), `${name} is a command`);
    }
  });

  it('every command the README says takes --json takes it (and only the named exceptions do not)', () => {
    const exceptions = readmeJsonExceptions();
    assert.ok(exceptions.length > 0);
    const leaves = commands.filter((c) => c.leaf);
    for (const e of exceptions) assert.ok(leaves.some((c) => `${c.binary} ${c.path}` === e), `README exception ${e} is a command`);
    const missing = leaves.filter((c) => !c.json && !exceptions.includes(`${c.binary} ${c.path}`)).map((c) => `${c.binary} ${c.path}`);
    assert.deepEqual(missing, [], 'commands without --json the README does not exempt');
    const needless = leaves.filter((c) => c.json && exceptions.includes(`${c.binary} ${c.path}`)).map((c) => `${c.binary} ${c.path}`);
    assert.deepEqual(needless, [], 'README exempts commands that do take --json');
  });

  it('--help of every command exits 0 in the real binary and lists --json where the command has it', async () => {
    const runs = commands.map((c) => ({ bin: BINARIES[c.binary].bin, args: [...c.path.split(' '), '--help'] }));
    const results = await runAll(runs);
    assert.ok(results.length > 60, `${results.length} commands`);
    results.forEach((r, i) => {
      const c = commands[i]!;
      const what = `${c.binary} ${c.path} --help`;
      assert.equal(r.code, 0, `${what}: ${r.stderr}`);
      assert.equal(r.stderr, '', what);
      assert.match(r.stdout, new RegExp(`^Usage: ${c.binary} `), what);
      if (c.ownJson) assert.match(r.stdout, /^\s+--json\b/m, what);
    });
  });
});

describe('the package', () => {
  it('ships the Apache-2.0 LICENSE that package.json names, in full', () => {
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { license: string };
    assert.equal(pkg.license, 'Apache-2.0');
    const text = readFileSync(join(repo, 'LICENSE'), 'utf8');
    assert.match(text, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    for (let section = 1; section <= 9; section++) assert.match(text, new RegExp(`^\\s+${section}\\. [A-Z]`, 'm'), `section ${section}`);
    assert.match(text, /END OF TERMS AND CONDITIONS/);
    assert.doesNotMatch(text, /\r/);
  });
});
