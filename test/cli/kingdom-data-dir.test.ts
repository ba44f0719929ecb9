/**
 * The Kingdom's data dir with real `halo-keys kingdom` processes:
 * - operator commands never create a Kingdom where there is none;
 * - `serve` on a taken port fails before it makes a data dir;
 * - one process per embedded database, enforced by a lock in the database
 *   directory itself: with server.json deleted, a second server (and the
 *   admin and audit commands) are refused while the first runs, and a lock
 *   left by a SIGKILLed server is taken over;
 * - `rotate-admin-token`, server running and stopped, audited;
 * - `audit export --since` takes an ISO time like the keyring's.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { before, describe, it } from 'node:test';
import { ADMIN_TOKEN_FILE, ADMIN_TOKEN_HASH_FILE } from '../../src/kingdom/server/admin-token.js';
import { DATA_DIR_FILES } from '../../src/kingdom/server/bootstrap.js';
import { PGLITE_LOCK_FILE } from '../../src/kingdom/store/database.js';
import { type KingdomProcess, assertOneLineFailure, ensureBuilt, runBin, startKingdom } from './kingdom-process.js';
import { assertUsage, scratchDir } from './run-cli.js';

const scratch = scratchDir('halo-kingdom-data-dir-');
const kingdom = (args: readonly string[], cwd = scratch.dir) => runBin('halo-keys.js', ['kingdom', ...args], { cwd });

interface AuditLine {
  seq: string;
  time: string;
  action: string;
}
const auditLines = (stdout: string): AuditLine[] =>
  stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditLine);

/** Waits (up to 30 s) until the server has printed `pattern`. */
async function printed(server: KingdomProcess, pattern: RegExp): Promise<void> {
  for (let i = 0; i < 300 && !pattern.test(server.output()); i++) await sleep(100);
}

before(() =>
  ensureBuilt([
    'src/cli/commands/kingdom.ts',
    'src/cli/commands/kingdom-admin-connection.ts',
    'src/cli/commands/kingdom-admin-token.ts',
    'src/cli/commands/kingdom-audit.ts',
    'src/kingdom/server/serve.ts',
    'src/kingdom/server/admin-token.ts',
    'src/kingdom/store/database.ts',
  ]),
);

describe('operator commands never create a Kingdom', () => {
  it('admin, audit and rotate-admin-token with no server and no data dir fail with one line naming --data-dir', () => {
    const cwd = scratchDir('halo-no-kingdom-').dir;
    const missing = join(scratch.dir, 'no-such-kingdom');
    const cases: Array<[string[], number]> = [
      [['admin', 'akid', 'list'], 2],
      [['admin', '--data-dir', missing, 'create-model-provider', '--root-cert', 'r.pem', '--certificate', 'c.der'], 2],
      [['admin', '--data-dir', missing, 'rotate-admin-token'], 2],
      [['audit', 'verify'], 2],
      [['audit', '--data-dir', missing, 'export'], 2],
    ];
    for (const [args, code] of cases) {
      const r = kingdom(args, cwd);
      assertOneLineFailure(r, 'halo-keys', code, /no Kingdom in .*pass --data-dir DIR/);
    }
    assert.equal(existsSync(join(cwd, '.data')), false, 'nothing made in the working directory');
    assert.equal(existsSync(missing), false, 'nothing made at --data-dir');
  });
});

describe('kingdom serve', () => {
  it('on a port in use fails at once with one line, before creating its data dir; a bare port means 127.0.0.1', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    try {
      for (const listen of [`127.0.0.1:${port}`, String(port)]) {
        const dataDir = join(scratch.dir, `busy-${listen.replace(/\W/g, '-')}`);
        const r = kingdom(['serve', '--data-dir', dataDir, '--listen', listen]);
        assertOneLineFailure(r, 'halo-keys', 1, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
        assert.equal(existsSync(dataDir), false, `${listen}: no data dir`);
      }
    } finally {
      busy.close();
    }
    assertUsage(kingdom(['serve', '--data-dir', join(scratch.dir, 'bad-listen'), '--listen', 'nowhere']), /--listen .*must be HOST:PORT or PORT/);
    assert.equal(existsSync(join(scratch.dir, 'bad-listen')), false);
  });
});

describe('one process per embedded database', () => {
  const dataDir = join(scratch.dir, 'kingdom');
  const tokenPath = join(dataDir, ADMIN_TOKEN_FILE);
  const lockPath = join(dataDir, DATA_DIR_FILES.database, PGLITE_LOCK_FILE);
  let beforeStoppedRotation: Date;

  it('a second server, admin and audit are refused while the first runs without server.json; a SIGKILLed server\'s lock is taken over', async () => {
    const first = await startKingdom(dataDir);
    try {
      // With server.json in place, audit is told to stop the server: a state, not a usage error.
      assertOneLineFailure(kingdom(['audit', '--data-dir', dataDir, 'verify']), 'halo-keys', 1, new RegExp(`server \\(pid ${first.pid}\\).*stop it first`));

      // Rotation while the server runs: the new token works at once, the old one no longer does.
      const old = readFileSync(tokenPath, 'utf8').trim();
      const rotated = kingdom(['admin', '--data-dir', dataDir, 'rotate-admin-token']);
      assert.equal(rotated.code, 0, rotated.stderr);
      assert.match(rotated.stdout, new RegExp(`server \\(pid ${first.pid}\\) accepts it now`));
      const token = readFileSync(tokenPath, 'utf8').trim();
      assert.notEqual(token, old);
      assert.ok(rotated.stdout.includes(token));
      assert.equal(statSync(tokenPath).mode & 0o777, 0o600);
      const oldFile = join(scratch.dir, 'old-token');
      writeFileSync(oldFile, `${old}\n`, { mode: 0o600 });
      assertOneLineFailure(kingdom(['admin', '--data-dir', dataDir, '--admin-token-file', oldFile, 'akid', 'list']), 'halo-keys', 1, /admin bearer token is not valid/i);
      assert.equal(kingdom(['admin', '--data-dir', dataDir, 'akid', 'list']).code, 0);
      // From elsewhere: --target with the Kingdom root and the token file, no data dir needed.
      const remote = ['admin', '--data-dir', join(scratch.dir, 'not-here'), '--target', first.target, '--kingdom-root', first.kingdomRoot, '--admin-token-file', tokenPath];
      const viaTarget = kingdom([...remote, '--json', 'akid', 'list']);
      assert.equal(viaTarget.code, 0, viaTarget.stderr);
      assert.deepEqual(JSON.parse(viaTarget.stdout), []);
      assertOneLineFailure(kingdom([...remote, 'rotate-admin-token']), 'halo-keys', 2, /run it on the Kingdom host with --data-dir DIR, not --target/);

      // The attack: server.json gone, so nothing but the database directory says the Kingdom is in use.
      rmSync(join(dataDir, DATA_DIR_FILES.serverInfo));
      const inUse = new RegExp(`embedded database .* is in use by pid ${first.pid} \\(kingdom serve`);
      const second = runBin('halo-keys.js', ['kingdom', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], { cwd: scratch.dir });
      assertOneLineFailure(second, 'halo-keys', 1, inUse);
      assertOneLineFailure(kingdom(['admin', '--data-dir', dataDir, 'akid', 'list']), 'halo-keys', 1, inUse);
      assertOneLineFailure(kingdom(['audit', '--data-dir', dataDir, 'verify']), 'halo-keys', 1, inUse);
      assertOneLineFailure(kingdom(['admin', '--data-dir', dataDir, 'rotate-admin-token']), 'halo-keys', 1, inUse);
      assert.equal(readFileSync(tokenPath, 'utf8').trim(), token, 'a refused rotation changes nothing');
    } finally {
      await first.kill('SIGKILL');
    }
    assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, first.pid, 'the crash left its lock');

    // A lost token file: the next start says how to make a new one.
    rmSync(tokenPath);
    const next = await startKingdom(dataDir);
    try {
      // server.json is written just before the connection instructions are printed.
      await printed(next, /Create a participant/);
      assert.match(next.output(), new RegExp(`No admin token file in .*: make a new one with halo-keys kingdom admin rotate-admin-token --data-dir ${dataDir}`));
      assert.equal(JSON.parse(readFileSync(lockPath, 'utf8')).pid, next.pid, 'the dead server\'s lock was taken over');
      const rotated = kingdom(['admin', '--data-dir', dataDir, 'rotate-admin-token']);
      assert.equal(rotated.code, 0, rotated.stderr);
      const list = kingdom(['admin', '--data-dir', dataDir, '--json', 'akid', 'list']);
      assert.equal(list.code, 0, list.stderr);
    } finally {
      await next.stop();
    }
    assert.equal(existsSync(lockPath), false, 'a clean stop releases the lock');
    beforeStoppedRotation = new Date();
  });

  it('rotate-admin-token with the server stopped writes token and hash and audits it; audit export selects by time or sequence', () => {
    const rotated = kingdom(['admin', '--data-dir', dataDir, '--json', 'rotate-admin-token']);
    assert.equal(rotated.code, 0, rotated.stderr);
    const shown = JSON.parse(rotated.stdout) as { token: string; serverPid?: number };
    assert.equal(shown.serverPid, undefined, 'no server: audited through the store');
    assert.equal(readFileSync(tokenPath, 'utf8').trim(), shown.token);
    assert.equal(statSync(tokenPath).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dataDir, ADMIN_TOKEN_HASH_FILE), 'utf8').trim(), createHash('sha256').update(shown.token).digest('hex'));
    assert.equal(existsSync(lockPath), false, 'the command released the lock');

    const verify = kingdom(['audit', '--data-dir', dataDir, '--json', 'verify']);
    assert.equal(verify.code, 0, verify.stderr);
    const all = auditLines(kingdom(['audit', '--data-dir', dataDir, 'export']).stdout);
    assert.equal(String(all.length), (JSON.parse(verify.stdout) as { count: string }).count);
    // Two by running servers (first, then after the crash), one here.
    assert.equal(all.filter((e) => e.action === 'RotateAdminToken').length, 3);

    const since = kingdom(['audit', '--data-dir', dataDir, 'export', '--since', beforeStoppedRotation.toISOString()]);
    assert.equal(since.code, 0, since.stderr);
    assert.deepEqual(auditLines(since.stdout).map((e) => e.action), ['RotateAdminToken']);
    const after = kingdom(['audit', '--data-dir', dataDir, 'export', '--after-seq', String(all.length - 1)]);
    assert.deepEqual(auditLines(after.stdout).map((e) => e.seq), [all[all.length - 1]!.seq]);
    assertUsage(kingdom(['audit', '--data-dir', dataDir, 'export', '--since', '120']), /--since .*ISO 8601/);
  });
});
