/**
 * Runs kubectl (or any command with the same argv contract): `kubectl
 * kustomize DIR` to render, `kubectl apply -k DIR` to apply. Commands are
 * argv arrays, never shell strings, so a context or kubeconfig can be added
 * (`['kubectl', '--context', 'prod', 'apply', '-k']`) without quoting
 * trouble; the directory is appended last.
 *
 * Failures become one-line `K8sError`s carrying the first useful line of
 * stderr, with anything that looks like key material cut out.
 */
import { execFile } from 'node:child_process';
import { basename } from 'node:path';
import { formatDuration } from '../lib/index.js';
import { K8sError } from './errors.js';
import { parseRenderedManifests, type RenderedManifests } from './rendered-secrets.js';

export interface KubectlOptions {
  /** Default `['kubectl', 'kustomize']`. */
  readonly renderCommand?: readonly string[];
  /** Default `['kubectl', 'apply', '-k']`. */
  readonly applyCommand?: readonly string[];
  /** Per command; default 120 s. */
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export const DEFAULT_RENDER_COMMAND: readonly string[] = ['kubectl', 'kustomize'];
export const DEFAULT_APPLY_COMMAND: readonly string[] = ['kubectl', 'apply', '-k'];
const DEFAULT_TIMEOUT_MS = 120_000;
const MAX_OUTPUT = 64 * 1024 * 1024;

export interface CommandOutput {
  readonly argv: readonly string[];
  readonly stdout: string;
  readonly stderr: string;
}

export interface ApplyResult extends CommandOutput {
  /** Lines such as `secret/edp7-tls-7g2hk5dbm9 created`. */
  readonly objects: readonly string[];
}

/** `kubectl kustomize DIR`, parsed; Secrets come with their data decoded. */
export async function renderKustomization(dir: string, options: KubectlOptions = {}): Promise<RenderedManifests> {
  const out = await runCommand(withDir(options.renderCommand ?? DEFAULT_RENDER_COMMAND, dir), { ...options, action: `kustomize ${dir}` });
  return parseRenderedManifests(out.stdout);
}

/**
 * `kubectl apply -k DIR`. There is no `--dry-run` here: a client-side dry
 * run still needs the API server, so a rehearsal renders instead
 * (`previewSecretUpdates`).
 */
export async function applyKustomization(dir: string, options: KubectlOptions = {}): Promise<ApplyResult> {
  const out = await runCommand(withDir(options.applyCommand ?? DEFAULT_APPLY_COMMAND, dir), { ...options, action: `apply -k ${dir}` });
  const objects = out.stdout.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  return { ...out, objects };
}

function withDir(command: readonly string[], dir: string): string[] {
  if (command.length === 0 || !command[0]) throw new K8sError('KUBECTL_NOT_FOUND', 'no command configured');
  return [...command, dir];
}

export interface RunOptions extends Pick<KubectlOptions, 'timeoutMs' | 'env'> {
  /** What the command does, for messages (e.g. `apply -k DIR`). */
  readonly action?: string;
}

/**
 * Runs `argv` without a shell. Messages name the program and the action,
 * never the whole argv, which may hold a token (`--token=...`).
 */
export async function runCommand(argv: readonly string[], options: RunOptions = {}): Promise<CommandOutput> {
  const [file, ...args] = argv;
  if (!file) throw new K8sError('KUBECTL_NOT_FOUND', 'no command configured');
  const timeout = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeout) || timeout <= 0) throw new K8sError('KUBECTL_FAILED', 'timeout must be a positive number of milliseconds');
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      { timeout, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, encoding: 'utf8', env: options.env ?? process.env, windowsHide: true },
      (err, stdout, stderr) => {
        if (!err) {
          resolve({ argv: [...argv], stdout, stderr });
          return;
        }
        const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string | null; code?: string | number | null };
        const shown = `${basename(file)}${options.action ? ` ${options.action}` : ''}`;
        if (e.code === 'ENOENT') {
          reject(new K8sError('KUBECTL_NOT_FOUND', `${file} not found: install kubectl or configure the command`, { cause: err }));
        } else if (e.killed && e.signal === 'SIGKILL') {
          reject(new K8sError('KUBECTL_TIMEOUT', `${shown} took longer than ${formatDuration(timeout)}`, { cause: err }));
        } else if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          reject(new K8sError('KUBECTL_FAILED', `${shown} wrote more than ${MAX_OUTPUT} bytes`, { cause: err }));
        } else {
          const status = typeof e.code === 'number' ? `exit ${e.code}` : e.signal ? `signal ${e.signal}` : 'failed';
          reject(new K8sError('KUBECTL_FAILED', `${shown} failed (${status}): ${stderrLine(stderr)}`, { cause: err }));
        }
      },
    );
  });
}

/**
 * The line of stderr worth showing: kubectl's `err="..."` or `error: ...`,
 * else the first non-empty line. Key material never reaches a message:
 * PEM blocks and long base64 runs are cut out.
 */
export function stderrLine(stderr: string): string {
  const redacted = stderr
    .replace(/-----BEGIN [A-Z0-9 ]+-----[\s\S]*?(-----END [A-Z0-9 ]+-----|$)/g, '[redacted PEM]')
    .replace(/[A-Za-z0-9+/=_-]{40,}/g, '[redacted]');
  const lines = redacted.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  let line = lines.find((l) => l.includes(' err="') || l.startsWith('error:')) ?? lines[0] ?? 'no error output';
  const quoted = /\berr="((?:[^"\\]|\\.)*)"/.exec(line);
  if (quoted?.[1] !== undefined) line = quoted[1].replace(/\\(.)/g, '$1');
  else line = line.replace(/^error:\s*/, '');
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}
