/** A real SoftHSM2 token in a scratch directory, for the suites that keep keyring keys on a token. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

export const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
export const PIN = '314159';

export interface TestToken {
  label: string;
  /** SOFTHSM2_CONF, for every process that opens the token. */
  env: Record<string, string>;
  /** `pkcs11-tool` on this token, logged in. */
  tool(args: string[]): { code: number | null; out: string };
  /** Labels of the private keys on the token. */
  privateKeyLabels(): string[];
}

export function softhsmToken(dir: string, label: string): TestToken {
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(join(dir, 'tokens'), { recursive: true });
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`);
  const env = { SOFTHSM2_CONF: conf };
  const made = spawnSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', PIN, '--so-pin', '271828'], { env: { ...process.env, ...env }, encoding: 'utf8' });
  assert.equal(made.status, 0, made.stderr);
  const tool = (args: string[]) => {
    const r = spawnSync('pkcs11-tool', ['--module', MODULE, '--token-label', label, '--login', '--pin', 'env:TEST_PIN', ...args], {
      env: { ...process.env, ...env, TEST_PIN: PIN },
      encoding: 'utf8',
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}` };
  };
  const privateKeyLabels = () => [...tool(['--list-objects', '--type', 'privkey']).out.matchAll(/label:\s+(\S+)/g)].map((m) => m[1]!);
  return { label, env, tool, privateKeyLabels };
}
