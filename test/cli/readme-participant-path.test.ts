/**
 * The participant path of README.md ("Rotation"), run as a new user would:
 * every block marked `<!-- participant-path -->`, command by command, with
 * the package binaries on PATH, from a directory beside the data dir of a
 * real `halo-keys kingdom serve` process. Only the Kingdom's port (the README
 * says 8443, the test takes a free one) and the name the operator command
 * prints are filled in; the operator command that runs is the one
 * `registration` printed, and it must be the README's.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashTree } from '../rotation/fixtures.js';
import { ensureBuilt, repo, startKingdom, type KingdomProcess } from './kingdom-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'readme-participant-path-'));
const home = join(tmp, 'work');
let kingdom: KingdomProcess | undefined;

/** The commands of every `<!-- participant-path -->` block, continuation lines joined, comments dropped. */
export function participantPath(readme: string): string[][] {
  const blocks = [...readme.matchAll(/<!-- participant-path -->\n```bash\n([\s\S]*?)\n```/g)].map((m) => m[1]!);
  return blocks.map((b) =>
    b
      .replace(/\\\n\s*/g, '')
      .split('\n')
      .map((line) => line.replace(/\s+#.*$/, '').trim())
      .filter((line) => line && !line.startsWith('#')),
  );
}

function shell(command: string, env: Record<string, string>) {
  const r = spawnSync('bash', ['-c', command], { cwd: home, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the README participant path, as written, against a real Kingdom server process', () => {
  before(async () => {
    ensureBuilt(['src/cli/halo-keys.ts', 'src/cli/commands/keyring.ts', 'src/cli/commands/rotate.ts', 'src/rotation/abort.ts', 'src/rotation/rehearsal.ts']);
    mkdirSync(home);
    kingdom = await startKingdom(join(home, 'kingdom-data'));
  });
  after(async () => {
    await kingdom?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('init --no-apply, registration, the printed operator command, sync, status, plan, dry run, rotate, audit, rehearsal, abort', async () => {
    const blocks = participantPath(readFileSync(join(repo, 'README.md'), 'utf8'));
    assert.equal(blocks.length, 5, 'README.md has the five participant-path blocks');
    const [setup, operator, procedure, rehearsal, abort] = blocks as [string[], string[], string[], string[], string[]];

    const bin = join(tmp, 'bin');
    mkdirSync(bin);
    symlinkSync(join(repo, 'bin/halo-keys.js'), join(bin, 'halo-keys'));
    const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH ?? ''}`, HALO_KEYS_PASSPHRASE: '', HALO_KEYS_NOW: '' };
    const target = kingdom!.target;
    const run = (command: string, expected = 0) => {
      const r = shell(command.replaceAll('127.0.0.1:8443', target), env);
      assert.equal(r.code, expected, `${command}\nexit ${r.code}\n${r.stdout}${r.stderr}`);
      return r;
    };

    // export, init, registration
    const exported = /^export (\w+)=(\S+)$/.exec(setup[0]!);
    assert.ok(exported, setup[0]);
    env[exported[1]!] = exported[2]!;
    assert.match(setup[1]!, /^halo-keys init .*--no-apply$/);
    run(setup[1]!);
    assert.match(readFileSync(join(home, 'edp1/halo-keys.yaml'), 'utf8'), /apply: false/);
    assert.match(setup[2]!, /^halo-keys registration /);
    const printed = run(setup[2]!).stdout;
    const command = /^ {2}(halo-keys kingdom admin .*)$/m.exec(printed)?.[1];
    assert.ok(command, printed);
    assert.equal(command, operator[0], 'registration prints the operator command the README shows');
    const sync = /^ {2}(halo-keys sync .*)$/m.exec(printed)?.[1];
    assert.equal(sync, 'halo-keys sync --dir edp1 --participant <NAME>');

    // The operator command, as printed, registers at the running Kingdom (not a new one).
    const name = run(command).stdout.trim();
    assert.match(name, /^dataProviders\/[A-Za-z0-9_-]{11}$/);
    assert.ok(!existsSync(join(home, '.data')), 'no second Kingdom was made');
    assert.match(operator[1]!, /^halo-keys sync --dir edp1 --participant dataProviders\/AAAAAAAAAHs$/);
    assert.match(run(operator[1]!.replace('dataProviders/AAAAAAAAAHs', name)).stdout, new RegExp(`^synced ${name}`));

    // status, plan, dry run, rotate, audit verify
    const [status, plan, dryRun, rotate, verify] = procedure;
    assert.match(run(status!).stdout, /Kingdom: compared[\s\S]*no problems/);
    assert.match(run(plan!).stdout, /tls\.issue[\s\S]*signing\.register[\s\S]*public-key\.publish/);
    const tree = hashTree(join(home, 'edp1'));
    assert.match(run(dryRun!).stdout, /^dry run: nothing was changed/);
    assert.deepEqual(hashTree(join(home, 'edp1')), tree, 'the dry run changed nothing');
    assert.match(run(rotate!).stdout, /completed rotation rot-/);
    assert.ok(!existsSync(join(home, 'edp1/journal.json')));
    assert.ok(!readFileSync(join(home, 'edp1/audit.jsonl'), 'utf8').includes('"action":"secret.apply"'), 'no kubectl apply with --no-apply');
    run(verify!);
    run(status!);

    // The rehearsal at another instant works on a copy; the real keyring stays as it was.
    const real = hashTree(join(home, 'edp1'));
    assert.match(run(rehearsal[0]!).stdout, /due: tls overdue/);
    const rehearsed = run(rehearsal[1]!);
    assert.match(rehearsed.stderr, /rehearsal at 2027-03-20T00:00:00\.000Z on the copy in .*edp1-rehearsal/);
    assert.deepEqual(hashTree(join(home, 'edp1')), real, 'the rehearsal left the real keyring untouched');
    const copy = JSON.parse(readFileSync(join(home, 'edp1-rehearsal/keyring.json'), 'utf8')) as { entries: Array<{ kind: string; state: string; notBefore?: string }> };
    const rehearsedTls = copy.entries.find((e) => e.kind === 'tls' && e.state === 'active')!;
    assert.ok(rehearsedTls.notBefore! >= '2027-03-19', rehearsedTls.notBefore);
    run(status!);
    // The copy's certificate is not valid now: status on the copy says so.
    assert.match(run('halo-keys status --dir edp1-rehearsal --no-kingdom', 3).stdout, /not valid before 2027/);

    // A rotation that cannot finish (the Kingdom is down), then abandoned.
    await kingdom!.stop();
    assert.match(abort[0]!, /--signing$/);
    run(abort[0]!, 1);
    assert.ok(existsSync(join(home, 'edp1/journal.json')), 'the failed rotation left its journal');
    const unfinished = run(abort[1]!, 3).stdout;
    assert.match(unfinished, /rotation rot-\S+ is unfinished \(failed\)/);
    assert.match(unfinished, /signing \S+ is pending/);
    const aborted = run(abort[2]!).stdout;
    assert.match(aborted, /^aborted rot-\S+: 1 step\(s\) walked it back/m);
    assert.match(aborted, /not undone:\n {2}- signing: CreateCertificate \(step 2\) did not finish/);
    assert.ok(!existsSync(join(home, 'edp1/journal.json')));
    const archived = readdirSync(join(home, 'edp1/journals')).map((f) => JSON.parse(readFileSync(join(home, 'edp1/journals', f), 'utf8')) as { status: string; procedure?: string });
    assert.ok(archived.some((j) => j.status === 'aborted'));
    assert.ok(archived.some((j) => j.procedure === 'rotation.abort' && j.status === 'done'));
    const keyring = JSON.parse(readFileSync(join(home, 'edp1/keyring.json'), 'utf8')) as { entries: Array<{ kind: string; state: string }> };
    assert.equal(keyring.entries.filter((e) => e.state === 'pending').length, 0);
    assert.equal(keyring.entries.filter((e) => e.kind === 'signing' && e.state === 'active').length, 1);
    const after = run(abort[1]!).stdout;
    assert.doesNotMatch(after, /ERROR/);
    run(verify!);
  });
});
