/** Shared helpers for the CA tests: a scratch directory and the real `openssl` CLI. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePem } from '../../src/lib/pem.js';

export interface OpensslResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function openssl(args: readonly string[], input?: string): OpensslResult {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-ca-'));

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Writes PEM certificates (or any text) and returns the path. */
  pem(name: string, ...ders: Uint8Array[]): string {
    const p = this.path(name);
    writeFileSync(p, ders.map((d) => encodePem('CERTIFICATE', d)).join(''));
    return p;
  }

  text(name: string, content: string | Uint8Array): string {
    const p = this.path(name);
    writeFileSync(p, content);
    return p;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The uppercase colon-separated hex openssl prints for key identifiers. */
export function opensslHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex').toUpperCase().match(/../g)!.join(':');
}

export const cmmsSecretFiles = new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url);
