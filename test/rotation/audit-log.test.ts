import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, beforeEach, describe, it } from 'node:test';
import { AUDIT_FILES, AuditLog, entriesToCsv, selectEntries, verifyAuditLog } from '../../src/rotation/audit-log.js';
import { ManualClock, scratch } from './fixtures.js';

const dirs: Array<{ remove(): void }> = [];
after(() => dirs.forEach((d) => d.remove()));

describe('audit log', () => {
  let dir: string;
  let log: AuditLog;
  const clock = new ManualClock('2026-05-01T00:00:00Z');
  const lines = () => readFileSync(join(dir, AUDIT_FILES.log), 'utf8').split('\n').filter(Boolean);
  const write = (ls: string[]) => writeFileSync(join(dir, AUDIT_FILES.log), ls.map((l) => `${l}\n`).join(''));
  const verify = () => verifyAuditLog(join(dir, AUDIT_FILES.log), join(dir, AUDIT_FILES.anchor));

  beforeEach(() => {
    const s = scratch();
    dirs.push(s);
    dir = s.dir;
    log = new AuditLog(dir, { clock, participant: () => 'dataProviders/AAAAAAAAAHs', actor: 'tester@host' });
    for (let i = 0; i < 5; i++) {
      clock.advance(60_000);
      log.append({ action: `step.${i}`, resource: `r${i}`, skids: ['ab'], fingerprints: ['cd'], before: { state: 'active' }, after: { state: 'retiring' }, outcome: 'ok' });
    }
  });

  it('an untouched chain verifies, and later appends extend it', () => {
    assert.deepEqual(verify(), { ok: true, entries: 5, head: log.entries()[4]!.hash, problems: [], unanchored: 0 });
    const reopened = new AuditLog(dir, { clock, participant: () => 'x', actor: 'other' });
    reopened.append({ action: 'more', outcome: 'ok' });
    assert.equal(verify().ok, true);
    assert.equal(verify().entries, 6);
  });

  it('detects an edited field', () => {
    const ls = lines();
    write(ls.map((l, i) => (i === 2 ? l.replace('"outcome":"ok"', '"outcome":"failed"') : l)));
    const v = verify();
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /line 3: content does not match its hash/.test(p)), v.problems.join('; '));
  });

  it('detects an edit that recomputes the entry hash (the next entry no longer follows)', async () => {
    const { entryHash } = await import('../../src/rotation/audit-log.js');
    const ls = lines();
    const e = JSON.parse(ls[1]!);
    e.actor = 'mallory';
    e.hash = entryHash(e);
    ls[1] = JSON.stringify(e);
    write(ls);
    const v = verify();
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /line 3: does not follow/.test(p)), v.problems.join('; '));
  });

  it('detects a reformatted line with the same content', () => {
    write(lines().map((l, i) => (i === 0 ? l.replace('{"seq":1,', '{"seq": 1,') : l)));
    assert.equal(verify().ok, false);
  });

  it('detects a deleted entry', () => {
    write(lines().filter((_, i) => i !== 2));
    const v = verify();
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /sequence 4 where 3/.test(p)));
  });

  it('detects reordered entries', () => {
    const ls = lines();
    [ls[1], ls[2]] = [ls[2]!, ls[1]!];
    write(ls);
    assert.equal(verify().ok, false);
  });

  it('detects a cut-off tail through the anchor, and a removed anchor', () => {
    write(lines().slice(0, 3));
    const v = verify();
    assert.equal(v.ok, false);
    assert.ok(v.problems.some((p) => /ends at entry 3 but the anchor names entry 5/.test(p)), v.problems.join('; '));
    rmSync(join(dir, AUDIT_FILES.anchor));
    assert.equal(verify().ok, false);
  });

  it('accepts one entry past the anchor (a crash between append and anchor), not more', () => {
    const anchor = readFileSync(join(dir, AUDIT_FILES.anchor), 'utf8');
    log.append({ action: 'late', outcome: 'ok' });
    writeFileSync(join(dir, AUDIT_FILES.anchor), anchor);
    assert.equal(verify().ok, true);
    assert.equal(verify().unanchored, 1);
    log.append({ action: 'later', outcome: 'ok' });
    writeFileSync(join(dir, AUDIT_FILES.anchor), anchor);
    assert.equal(verify().ok, false);
  });

  it('appends a batch with one write that chains like single appends, and tolerates a crash before the anchor moved', () => {
    const single = lines();
    const batch = log.appendAll([
      { action: 'page.0', resource: 'g0', outcome: 'ok' },
      { action: 'page.1', resource: 'g1', outcome: 'ok' },
      { action: 'page.2', resource: 'g2', outcome: 'ok' },
    ]);
    assert.deepEqual(batch.map((e) => e.seq), [6, 7, 8]);
    assert.deepEqual(lines().slice(0, 5), single, 'earlier entries untouched');
    assert.deepEqual(verify(), { ok: true, entries: 8, head: batch[2]!.hash, problems: [], unanchored: 0 });
    // A crash after the batch was written but before the anchor moved: the anchor announced it.
    const announced = JSON.stringify({ seq: 5, hash: single.map((l) => JSON.parse(l).hash as string)[4], pending: 3 });
    writeFileSync(join(dir, AUDIT_FILES.anchor), `${announced}\n`);
    assert.equal(verify().ok, true);
    assert.equal(verify().unanchored, 3);
    // Without the announcement three unanchored entries are entries appended outside halo-keys.
    writeFileSync(join(dir, AUDIT_FILES.anchor), `${JSON.stringify({ seq: 5, hash: JSON.parse(single[4]!).hash })}\n`);
    assert.equal(verify().ok, false);
    // The next append (a new process) continues the chain and anchors it again.
    new AuditLog(dir, { clock, participant: () => 'x', actor: 'other' }).append({ action: 'after', outcome: 'ok' });
    assert.equal(verify().ok, true);
    assert.equal(verify().entries, 9);
  });

  it('exports JSON entries since a time and RFC 4180 CSV', () => {
    const all = log.entries();
    const since = selectEntries(all, { since: new Date(all[3]!.time) });
    assert.deepEqual(since.map((e) => e.seq), [4, 5]);
    const csv = entriesToCsv(since);
    const rows = csv.trimEnd().split('\r\n');
    assert.equal(rows.length, 3);
    assert.match(rows[0]!, /^seq,time,actor,participant,action,resource,skids,fingerprints,before,after,outcome,detail,prev,hash$/);
    assert.match(rows[1]!, /^4,2026-05-01T\d\d:\d\d:00\.000Z,tester@host,dataProviders\/AAAAAAAAAHs,step\.3,r3,ab,cd,"\{""state"":""active""\}","\{""state"":""retiring""\}",ok,,/);
  });
});
