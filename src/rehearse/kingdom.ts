/**
 * The rehearsal's Kingdom: `halo-keys kingdom serve` in its own process on a
 * free port, on the embedded database in the scratch directory or on
 * PostgreSQL (the URL goes in the environment, never in argv).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HALO_KEYS_BIN } from './commands.js';

export interface RehearsalKingdom {
  readonly dataDir: string;
  readonly target: string;
  readonly rootPem: string;
  readonly adminTokenFile: string;
  readonly databaseUrl?: string;
  readonly pid: number;
  /** SIGTERM and wait: the server drains, closes its database and exits. */
  stop(): Promise<number | null>;
}

const START_TIMEOUT_MS = 180_000;

export async function startKingdom(dataDir: string, databaseUrl?: string, extraArgs: readonly string[] = []): Promise<RehearsalKingdom> {
  const env: NodeJS.ProcessEnv = { ...process.env, HALO_KEYS_LOG_LEVEL: 'warn' };
  delete env.HALO_KEYS_DATABASE_URL;
  if (databaseUrl) env.HALO_KEYS_DATABASE_URL = databaseUrl;
  const child: ChildProcess = spawn(process.execPath, [HALO_KEYS_BIN, 'kingdom', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0', ...extraArgs], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const target = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      child.kill('SIGKILL');
      reject(new Error(`the Kingdom did not start within ${START_TIMEOUT_MS / 1000} s: ${output.trim().split('\n').pop() ?? ''}`));
    }, START_TIMEOUT_MS);
    const poll = setInterval(() => {
      const info = join(dataDir, 'server.json');
      if (!existsSync(info)) return;
      try {
        const s = JSON.parse(readFileSync(info, 'utf8')) as { host?: string; port?: number; pid?: number };
        if (s.pid === child.pid && typeof s.port === 'number' && s.port !== 0) {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(`${s.host ?? '127.0.0.1'}:${s.port}`);
        }
      } catch {
        // written atomically; a partial read is retried
      }
    }, 100);
    void exited.then((code) => {
      clearInterval(poll);
      clearTimeout(timer);
      reject(new Error(`the Kingdom exited ${code} before it answered: ${output.trim().split('\n').pop() ?? ''}`));
    });
  });
  return {
    dataDir,
    target,
    rootPem: join(dataDir, 'kingdom_root.pem'),
    adminTokenFile: join(dataDir, 'admin-token'),
    ...(databaseUrl ? { databaseUrl } : {}),
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
  };
}
