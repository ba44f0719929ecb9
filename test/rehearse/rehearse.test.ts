/**
 * `halo-keys rehearse` end to end: the built binary in a fresh scratch
 * directory with the default workload, on the embedded database and on
 * PostgreSQL (a fresh database on HALO_KEYS_TEST_DATABASE_URL); every drill
 * must pass, the JSON and HTML reports say so. Then a rehearsal whose
 * crashed rotation is finished from a lying journal (the test hook marks its
 * unfinished steps done) must exit 1 and name the checks that caught it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, repo } from '../cli/kingdom-process.js';
import { assertUsage } from '../cli/run-cli.js';
import { freshPostgresDatabase } from '../kingdom/store-fixtures.js';

const work = mkdtempSync(join(tmpdir(), 'halo-rehearse-test-'));
const DRILLS = ['scheduled-rotation', 'tls-rotation', 'edp-signing-compromise', 'mc-encryption-compromise', 'edp-encryption-compromise', 'crashed-rotation', 'crashed-compromise', 'audit'];

function rehearse(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [join(repo, 'bin/halo-keys.js'), 'rehearse', ...args], {
    cwd: work,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: '', HALO_KEYS_DATABASE_URL: '', ...env },
    encoding: 'utf8',
    timeout: 600_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

interface Report {
  ok: boolean;
  engine: string;
  kept: boolean;
  drills: Array<{ id: string; ok: boolean; checks: Array<{ name: string; ok: boolean }>; blastRadius?: Record<string, string[]> }>;
  failedChecks: string[];
  workload: { measurements: Record<string, { count: number }>; eventGroups: { edp1: number; edp2: number } };
}

function assertPassed(r: ReturnType<typeof rehearse>, dir: string): Report {
  assert.equal(r.code, 0, `exit ${r.code ?? r.signal}\n${r.stderr}\n${r.stdout.slice(0, 4000)}`);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.ok, true);
  assert.deepEqual(report.drills.map((d) => d.id), DRILLS);
  assert.deepEqual(report.failedChecks, []);
  const checks = report.drills.flatMap((d) => d.checks);
  assert.ok(checks.length > 60 && checks.every((c) => c.ok));
  console.log(`rehearse on ${report.engine}: ${checks.length}/${checks.length} checks passed in ${report.drills.length} drills`);
  // Every measurement state and both kinds of requisition occurred, and the blast radii were not empty.
  for (const kind of ['succeeded', 'awaiting-edp1', 'awaiting-edp2', 'failed', 'cancelled']) assert.ok(report.workload.measurements[kind]!.count > 0, kind);
  const radius = (id: string) => report.drills.find((d) => d.id === id)!.blastRadius!;
  assert.ok(radius('edp-signing-compromise').failed!.length > 0 && radius('edp-signing-compromise').untrusted!.length > 0);
  assert.equal(radius('mc-encryption-compromise').eventGroups!.length, report.workload.eventGroups.edp1 + report.workload.eventGroups.edp2);
  assert.ok(radius('edp-encryption-compromise').refused!.length > 0);
  assert.equal(report.kept, false);
  assert.equal(existsSync(dir), false, 'the scratch directory is removed when everything passed');
  return report;
}

before(() => ensureBuilt(['src/cli/halo-keys.ts', 'src/cli/commands/rehearse.ts', 'src/rehearse/rehearse.ts', 'src/rehearse/drills-rotation.ts', 'src/rehearse/drills-compromise.ts', 'src/rehearse/workload.ts']));
after(() => rmSync(work, { recursive: true, force: true }));

describe('halo-keys rehearse', () => {
  it('usage errors: too small a workload, a directory that is not empty', () => {
    assertUsage(rehearse(['--measurements', '3']), /--measurements.*at least 5/);
    const full = join(work, 'full');
    mkdirSync(full);
    writeFileSync(join(full, 'something'), 'x');
    assertUsage(rehearse(['--dir', full]), /is not empty/);
  });

  it('passes on the embedded database with the default workload; the HTML report is self-contained', () => {
    const dir = join(work, 'embedded');
    const html = join(work, 'rehearsal.html');
    assertPassed(rehearse(['--dir', dir, '--json', '--report', html]), dir);
    const page = readFileSync(html, 'utf8');
    assert.match(page, /^<!doctype html>/);
    assert.match(page, /<svg [^>]*>.*<rect class="ok"/s);
    assert.match(page, /rehearsal passed/);
    assert.doesNotMatch(page, /<script|<link|\ssrc=|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no scripts, no external resources');
  });

  it('passes on PostgreSQL (--database-url)', async () => {
    const db = await freshPostgresDatabase();
    try {
      const dir = join(work, 'postgres');
      const report = assertPassed(rehearse(['--dir', dir, '--database-url', db.url, '--json']), dir);
      assert.equal(report.engine, 'postgresql');
    } finally {
      await db.drop();
    }
  });

  it('fails loudly when a drill goes wrong: a journal whose unfinished steps are marked done', () => {
    const dir = join(work, 'broken');
    const r = rehearse(['--dir', dir], { HALO_KEYS_REHEARSE_CORRUPT_JOURNAL: '1' });
    assert.equal(r.code, 1, `${r.stderr}\n${r.stdout}`);
    assert.match(r.stdout, /^rehearsal FAILED: \d+\/\d+ checks/);
    const failed = r.stdout.slice(r.stdout.indexOf('\nfailed checks:\n'));
    for (const check of ['a new active signing entry', 'the Kingdom holds the new signing certificate', 'the rendered Secret holds the new TLS certificate', 'openssl s_client is served the new TLS certificate']) {
      assert.match(failed, new RegExp(`crashed-rotation: mp: ${check}`));
    }
    assert.doesNotMatch(failed, /edp-signing-compromise|mc-encryption-compromise|scheduled-rotation/, 'the other drills passed');
    assert.match(r.stdout, new RegExp(`kept: ${dir}`));
    assert.ok(existsSync(join(dir, 'mp', 'keyring.json')), 'a failed rehearsal keeps its directory');
  });
});
