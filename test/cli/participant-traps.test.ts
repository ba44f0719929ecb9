/**
 * Regression tests for the traps a new participant hit (issue 12), through
 * the compiled binary: the operator command `registration` prints, writes at
 * another instant (`--at`, HALO_KEYS_NOW), leaving a journal that cannot
 * finish (`rotate --abort`), rotating without a cluster (`--no-apply`,
 * `apply: false` on resume), and the smaller frictions (a failed init, a
 * wrong passphrase, `--report` on the run that finishes a procedure). The
 * Kingdom, where one is needed, is a real `halo-keys kingdom serve` process.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { readSecretFiles } from '../../src/k8s/secret-files.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { hk, newParty, ok } from '../rotation/compromise-fixtures.js';
import { assertUsage } from './run-cli.js';
import { PASSPHRASE, hashTree, scratch } from '../rotation/fixtures.js';
import { ensureBuilt, repo, startKingdom, type KingdomProcess } from './kingdom-process.js';

const work = scratch('halo-participant-traps-');
let kingdom: KingdomProcess;

/** A keyring with a Kustomization and no Kingdom, made through the binary. */
function initKeyring(name: string, extra: string[] = ['--no-apply'], env: Record<string, string> = {}) {
  const dir = join(work.dir, name);
  const r = hk(['init', '--dir', dir, '--participant', 'dataProviders', '--subject', `/O=Halo Test/CN=${name}`, '--dns', 'localhost', '--create-ca', '--kustomization-dir', join(work.dir, `${name}-k8s`), '--secret-name', 'edp-tls', ...extra], env);
  return { dir, k8s: join(work.dir, `${name}-k8s`), r };
}

function editConfig(dir: string, edit: (doc: Record<string, Record<string, unknown>>) => void): void {
  const file = join(dir, 'halo-keys.yaml');
  const doc = parseYaml(readFileSync(file, 'utf8')) as Record<string, Record<string, unknown>>;
  edit(doc);
  writeFileSync(file, stringifyYaml(doc));
}

before(() => {
  ensureBuilt(['src/cli/commands/keyring.ts', 'src/cli/commands/rotate.ts', 'src/rotation/abort.ts', 'src/rotation/rehearsal.ts', 'src/rotation/keyring-init.ts', 'src/rotation/steps/tls-steps.ts']);
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

describe('registration prints commands that run as printed', () => {
  it('without --kingdom-data-dir the operator command holds a placeholder the shell refuses: no new Kingdom anywhere', () => {
    const { dir } = initKeyring('placeholder');
    const out = ok(hk(['registration', '--dir', dir, '--out-dir', join(dir, 'registration')]), 'registration').stdout;
    const command = /^ {2}(halo-keys kingdom admin .*)$/m.exec(out)![1]!;
    assert.match(command, /^halo-keys kingdom admin --data-dir <KINGDOM_DATA_DIR> create-data-provider /);
    assert.match(out, new RegExp(`^ {2}halo-keys sync --dir ${dir} --participant <NAME>$`, 'm'));
    const r = spawnSync('bash', ['-c', command.replace(/^halo-keys/, `${process.execPath} ${join(repo, 'bin/halo-keys.js')}`)], { cwd: work.dir, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.ok(!existsSync(join(work.dir, '.data')) && !existsSync(join(work.dir, 'KINGDOM_DATA_DIR')), 'nothing was created');
  });

  it('a data dir with a space is quoted so the printed command is one argument per value', () => {
    const { dir } = initKeyring('quoted');
    const r = JSON.parse(ok(hk(['registration', '--dir', dir, '--out-dir', join(dir, 'reg'), '--kingdom-data-dir', '/srv/my kingdom', '--json']), 'registration').stdout);
    assert.match(r.command, /^halo-keys kingdom admin --data-dir '\/srv\/my kingdom' create-data-provider /);
    assert.equal(r.sync, `halo-keys sync --dir ${dir} --participant <NAME>`);
  });
});

describe('--at never leaves the real keyring with keys unusable now', () => {
  it('agent --once --at 2027-03-20T00:00:00Z (and HALO_KEYS_NOW) is refused without --rehearsal; the keyring is untouched', () => {
    const { dir } = initKeyring('agent-at');
    const before = hashTree(dir);
    const r = hk(['agent', '--dir', dir, '--once', '--at', '2027-03-20T00:00:00Z']);
    assertUsage(r, /agent at 2027-03-20T00:00:00\.000Z would write .* add --rehearsal DIR/);
    assert.equal(hk(['rotate', '--dir', dir, '--tls'], { HALO_KEYS_NOW: '2027-03-20T00:00:00Z' }).code, 2);
    assert.equal(hk(['sync', '--dir', dir, '--at', '2027-03-20T00:00:00Z']).code, 2);
    assert.deepEqual(hashTree(dir), before);
    // Read-only commands keep --at.
    assert.equal(hk(['status', '--dir', dir, '--at', '2027-03-20T00:00:00Z', '--json']).code, 3, 'overdue then');
    ok(hk(['rotate', '--dir', dir, '--tls', '--dry-run', '--at', '2027-03-20T00:00:00Z']), 'dry run at another instant');
    assert.deepEqual(hashTree(dir), before);
  });

  it('agent --once --at 2027-03-20T00:00:00Z --rehearsal DIR rotates a copy; the real keyring and Kustomization are untouched and status stays 0', () => {
    const { dir, k8s } = initKeyring('agent-rehearsal');
    ok(hk(['rotate', '--dir', dir, '--tls', '--json']), 'a first rotation writes the Secret');
    const before = hashTree(dir);
    const k8sBefore = hashTree(k8s);
    const copy = join(work.dir, 'agent-rehearsal-copy');
    const r = ok(hk(['agent', '--dir', dir, '--once', '--at', '2027-03-20T00:00:00Z', '--rehearsal', copy]), 'rehearsal');
    assert.match(r.stderr, new RegExp(`rehearsal at 2027-03-20T00:00:00\\.000Z on the copy in ${copy}`));
    assert.match(r.stdout, /rotated/);
    assert.deepEqual(hashTree(dir), before, 'the real keyring is untouched');
    assert.deepEqual(hashTree(k8s), k8sBefore, 'the real Kustomization is untouched');
    const rehearsed = activeEntry(readKeyring(copy), 'tls')!;
    assert.equal(rehearsed.notBefore!.slice(0, 10), '2027-03-20');
    assert.equal(readSecretFiles(join(copy, 'rehearsal-kustomization'), { name: 'edp-tls' }).certificate?.fingerprintSha256, rehearsed.fingerprint);
    ok(hk(['status', '--dir', dir]), 'status of the real keyring');
    const status = hk(['status', '--dir', copy, '--json']);
    assert.equal(status.code, 3, 'the copy holds an active certificate not valid now');
    assert.ok(JSON.parse(status.stdout).problems.some((p: { code: string }) => p.code === 'not-yet-valid'));
    // The copy can be rehearsed further; the copy of another keyring cannot be reused.
    ok(hk(['rotate', '--dir', dir, '--tls', '--at', '2027-09-01T00:00:00Z', '--rehearsal', copy]), 'a second rehearsal on the same copy');
    const other = initKeyring('agent-rehearsal-other');
    assert.equal(hk(['rotate', '--dir', other.dir, '--tls', '--at', '2027-03-20T00:00:00Z', '--rehearsal', copy]).code, 1);
    assert.deepEqual(hashTree(dir), before);
  });

  it('init refuses a later instant and backdates with an earlier one', () => {
    assert.equal(initKeyring('init-future', ['--no-apply', '--at', '2030-01-01T00:00:00Z']).r.code, 2);
    assert.ok(!existsSync(join(work.dir, 'init-future')));
    ok(initKeyring('init-past', ['--no-apply', '--at', '2026-01-01T00:00:00Z']).r, 'backdated init');
  });
});

describe('rotate --abort against a real Kingdom', () => {
  // Only these need the Kingdom; the other traps need none.
  before(async () => {
    kingdom = await startKingdom(join(work.dir, 'kingdom'));
  });

  it('killed after UpdatePublicKey: the Kingdom already publishes the new pair, so abort makes it active and says so', async () => {
    const dp = await newParty(kingdom, work.dir, 'dataProvider', 'abort-published');
    const plan = JSON.parse(ok(hk(['plan', '--dir', dp.dir, '--signing', '--encryption', '--json']), 'plan').stdout);
    const publish = (plan.steps as Array<{ n: number; type: string }>).find((s) => s.type === 'public-key.publish')!.n;
    const killed = hk(['rotate', '--dir', dp.dir, '--signing', '--encryption'], { HALO_KEYS_FAULT_AFTER_STEP: String(publish) });
    assert.equal(killed.signal, 'SIGKILL');
    assert.equal(hk(['status', '--dir', dp.dir]).code, 3, 'unfinished journal, pending keys');
    const preview = ok(hk(['rotate', '--dir', dp.dir, '--abort', '--dry-run']), 'abort dry run').stdout;
    assert.match(preview, /^dry run: nothing was changed/);
    const r = JSON.parse(ok(hk(['rotate', '--dir', dp.dir, '--abort', '--json']), 'abort').stdout);
    assert.deepEqual(r.steps.map((s: { type: string }) => s.type), ['signing.activate', 'encryption.activate']);
    assert.match(r.notes.join('\n'), /already publishes the new public key/);
    const keyring = readKeyring(dp.dir);
    const signing = activeEntry(keyring, 'signing')!;
    const shown = await dp.client().dataProviders.getDataProvider({ name: dp.name });
    assert.equal(shown.certificate, signing.kingdomCertificate, 'the keyring agrees with what the Kingdom publishes');
    ok(hk(['status', '--dir', dp.dir]), 'status after the abort');
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify');
    const audit = readFileSync(join(dp.dir, 'audit.jsonl'), 'utf8');
    assert.match(audit, /"action":"rotation\.abort\.start"/);
    assert.match(audit, /"action":"rotation\.abort\.done"/);
  });

  it('a compromise procedure is abandoned before its irreversible steps, refused after; --report given to the finishing run writes there', async () => {
    const dp = await newParty(kingdom, work.dir, 'dataProvider', 'abort-compromise');
    const skid = activeEntry(dp.session().keyring, 'tls')!.skid!;
    const plan = JSON.parse(ok(hk(['compromise', 'certificate', '--skid', skid, '--dir', dp.dir, '--dry-run', '--json']), 'plan').stdout);
    const at = (type: string) => (plan.steps as Array<{ n: number; type: string }>).find((s) => s.type === type)!.n;

    // After the rotation's first step only: abandoned, the new TLS certificate retired.
    assert.equal(hk(['compromise', 'certificate', '--skid', skid, '--dir', dp.dir], { HALO_KEYS_FAULT_AFTER_STEP: String(at('tls.issue')) }).signal, 'SIGKILL');
    const aborted = ok(hk(['rotate', '--dir', dp.dir, '--abort']), 'abort').stdout;
    assert.match(aborted, /compromise\.certificate was not completed/);
    assert.equal(activeEntry(readKeyring(dp.dir), 'tls')!.skid, skid, 'the leaked certificate is still the active one');
    assert.equal(readKeyring(dp.dir).entries.filter((e) => e.state === 'pending').length, 0);

    // After marking it compromised: refused, and the finishing run writes the report where it is told.
    assert.equal(hk(['compromise', 'certificate', '--skid', skid, '--dir', dp.dir], { HALO_KEYS_FAULT_AFTER_STEP: String(at('compromise.mark-certificate')) }).signal, 'SIGKILL');
    const refused = hk(['rotate', '--dir', dp.dir, '--abort']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /has run step \d+ \(compromise\.mark-certificate\), which cannot be undone: finish it/);
    const report = join(work.dir, 'incident');
    ok(hk(['compromise', 'certificate', '--resume', '--dir', dp.dir, '--report', report]), 'finish with --report');
    assert.ok(existsSync(`${report}.json`) && existsSync(`${report}.txt`), 'the report is where the finishing run said');
  });
});

describe('rotation without a cluster', () => {
  it('a journal planned with kubectl apply on finishes once apply: false is set; init --no-apply plans no apply at all', () => {
    const { dir, k8s } = initKeyring('apply-resume', []);
    const failed = hk(['rotate', '--dir', dir, '--tls']);
    assert.equal(failed.code, 1, 'kubectl apply -k reaches no cluster');
    assert.match(failed.stdout, /tls\.apply\s+FAILED/);
    editConfig(dir, (doc) => {
      doc.kustomization!.apply = false;
    });
    const resumed = ok(hk(['rotate', '--dir', dir]), 'resume with apply: false').stdout;
    assert.match(resumed, /tls\.apply\s+not applied \(kustomization\.apply is false\)/);
    assert.match(resumed, /finished rotation/);
    assert.equal(readSecretFiles(k8s, { name: 'edp-tls' }).certificate?.fingerprintSha256, activeEntry(readKeyring(dir), 'tls')!.fingerprint);
    ok(hk(['status', '--dir', dir]), 'status');

    const noApply = initKeyring('no-apply');
    const r = JSON.parse(ok(hk(['rotate', '--dir', noApply.dir, '--tls', '--json']), 'rotate').stdout);
    assert.deepEqual(r.steps.map((s: { type: string }) => s.type), ['tls.issue', 'tls.write-secret', 'tls.activate']);
  });
});

describe('smaller frictions', () => {
  it('a failed init leaves nothing, so the next init works', () => {
    const failed = initKeyring('half-made', ['--no-apply'], { HALO_KEYS_PASSPHRASE: 'short' });
    assert.equal(failed.r.code, 1, failed.r.stderr);
    assert.ok(!existsSync(failed.dir), 'no half-made directory');
    assert.deepEqual(readdirSync(work.dir).filter((n) => n.startsWith('.half-made')), [], 'no staging directory left');
    ok(initKeyring('half-made').r, 'the next init');
    assert.ok(existsSync(join(failed.dir, 'keyring.json')));
  });

  it('a wrong passphrase is found before a journal is started', () => {
    const { dir } = initKeyring('wrong-passphrase');
    const before = hashTree(dir);
    const r = hk(['rotate', '--dir', dir, '--tls'], { HALO_KEYS_PASSPHRASE: `${PASSPHRASE} but wrong` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong passphrase/);
    assert.ok(!existsSync(join(dir, 'journal.json')), 'no journal');
    assert.deepEqual(hashTree(dir), before, 'nothing written');
  });
});
