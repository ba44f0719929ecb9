/**
 * The rehearsal drives the binaries an operator runs, as child processes:
 * what it checks is what the commands did, and internal refactors of the
 * procedures cannot change the path it exercises.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** `bin/halo-keys.js` of this package (the same relative path from src/ and dist/). */
export const HALO_KEYS_BIN = fileURLToPath(new URL('../../bin/halo-keys.js', import.meta.url));

export interface CommandRun {
  readonly argv: readonly string[];
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Test hooks of the procedures: set only where a drill means to crash a run, never inherited. */
const FAULT_HOOKS = ['HALO_KEYS_FAULT_AFTER_STEP', 'HALO_KEYS_FAULT_BEFORE_RECORD', 'HALO_KEYS_NOW'];

/** What the runner keeps of each command: not its output, which a procedure at scale makes large. */
export type CommandRecord = Pick<CommandRun, 'argv' | 'code' | 'signal' | 'ms'>;

export class CommandRunner {
  readonly log: CommandRecord[] = [];
  readonly #env: NodeJS.ProcessEnv;

  constructor(env: Record<string, string>, readonly cwd: string) {
    const base = { ...process.env };
    for (const k of FAULT_HOOKS) delete base[k];
    this.#env = { ...base, ...env };
  }

  /** Runs a program with the rehearsal's environment plus `env`. */
  run(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<CommandRun> {
    const started = Date.now();
    return new Promise((resolve, reject) => {
      const child = spawn(file, args, { cwd: this.cwd, env: { ...this.#env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('error', reject);
      child.once('close', (code, signal) => {
        const run = { argv: [file, ...args], code, signal, stdout, stderr, ms: Date.now() - started };
        this.log.push({ argv: run.argv, code, signal, ms: run.ms });
        resolve(run);
      });
    });
  }

  /** `halo-keys ARGS`. */
  haloKeys(args: readonly string[], env: Record<string, string> = {}): Promise<CommandRun> {
    return this.run(process.execPath, [HALO_KEYS_BIN, ...args], env);
  }

  /** `halo-keys ARGS`, which must exit 0; its stdout. */
  async ok(args: readonly string[], env: Record<string, string> = {}): Promise<string> {
    const r = await this.haloKeys(args, env);
    if (r.code !== 0) throw new RehearsalStepError(`halo-keys ${args.slice(0, 2).join(' ')} exited ${r.code ?? r.signal}: ${firstLine(r.stderr || r.stdout)}`);
    return r.stdout;
  }

  /** `halo-keys ARGS --json`, which must exit with one of `codes`; the parsed output. */
  async json<T>(args: readonly string[], env: Record<string, string> = {}, codes: readonly number[] = [0]): Promise<T> {
    const r = await this.haloKeys([...args, '--json'], env);
    if (r.code === null || !codes.includes(r.code)) throw new RehearsalStepError(`halo-keys ${args.slice(0, 2).join(' ')} exited ${r.code ?? r.signal}: ${firstLine(r.stderr || r.stdout)}`);
    return JSON.parse(r.stdout) as T;
  }
}

/** The first line of a command's output that is not a progress line (src/cli/progress.ts). */
export function firstLine(text: string): string {
  return text.trim().split('\n').find((l) => !l.startsWith('progress: ')) ?? '';
}

/** A command of the rehearsal that did not do what it must; the drill records it as a failed check. */
export class RehearsalStepError extends Error {
  override readonly name = 'RehearsalStepError';
}
