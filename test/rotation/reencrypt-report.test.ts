/**
 * The DataProvider's re-encryption report, built from the outcomes
 * `reencrypt.open-requests` appends: a sample of ASSESSMENT_SAMPLE, the
 * counts, and every request answered once in `report-event-groups.jsonl`,
 * the repeats of a resumed run merged (the later outcome wins, except that
 * one finding nothing re-encrypted does not undo a re-encryption).
 */
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../../src/lib/clock.js';
import { ASSESSMENT_SAMPLE } from '../../src/rotation/compromise/assessment.js';
import { REENCRYPTION_OUTCOMES, type ReencryptionLine } from '../../src/rotation/compromise/reencrypt-steps.js';
import { buildReport, renderReportText } from '../../src/rotation/compromise/report.js';
import { appendToList, listPath, readList, writeRecord } from '../../src/rotation/compromise/workspace.js';
import type { KeyringSession } from '../../src/rotation/session.js';
import { newKeyring, scratch } from './fixtures.js';

const work = scratch('halo-reencrypt-report-');
let session: KeyringSession;
let journals = 0;

before(() => {
  session = newKeyring(join(work.dir, 'state'), new ManualClock(new Date('2026-01-01T00:00:00Z')));
});

after(() => work.remove());

const group = (i: number) => `dataProviders/dp/eventGroups/g${i}`;
const request = (i: number) => `${group(i)}/metadataReencryptionRequests/r${i}`;
const reencrypted = (i: number, page: string): ReencryptionLine => ({ key: group(i), page, request: request(i), reencrypted: true, detail: 're-encrypted to key 00… of mc' });
const foundDone = (i: number, page: string): ReencryptionLine => ({ key: group(i), page, request: request(i), reencrypted: true, detail: 'found re-encrypted to key 00… of mc' });
const deleted = (i: number, page: string): ReencryptionLine => ({ key: group(i), page, request: request(i), reencrypted: false, detail: 'deleted: nothing to re-encrypt' });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, k) => from + k);

function report(lines: ReencryptionLine[][]) {
  const journalId = `j${++journals}`;
  for (const page of lines) appendToList(session, journalId, REENCRYPTION_OUTCOMES, page);
  const r = buildReport(session, journalId, { procedure: 'reencrypt.event-groups' });
  const listed = [...readList<{ eventGroup: string; request: string; reencrypted: boolean; detail: string }>(session, journalId, 'report-event-groups')];
  return { journalId, r, listed };
}

describe('reencrypt event-groups report', () => {
  it('keeps a sample and the counts; every request answered is in the list file', () => {
    // Three pages closed in the order they finished (b before a), one group deleted.
    const { r, listed, journalId } = report([
      range(0, 50).map((i) => reencrypted(i, 'a')),
      range(50, 99).map((i) => reencrypted(i, 'b')).concat([deleted(99, 'b')]),
      [{ closed: 'b' }],
      [{ closed: 'a' }],
      range(100, 110).map((i) => reencrypted(i, 'c')),
      [{ closed: 'c' }],
    ]);
    assert.equal(r.eventGroups.length, ASSESSMENT_SAMPLE);
    assert.deepEqual(r.counts, { eventGroups: 110, reencrypted: 109, onlyClosed: 1 });
    assert.equal(r.files.lists?.eventGroups, listPath(session, journalId, 'report-event-groups'));
    assert.equal(listed.length, 110);
    assert.deepEqual(new Set(listed.map((e) => e.request)), new Set(range(0, 110).map(request)));
    assert.deepEqual(listed.filter((e) => !e.reencrypted).map((e) => e.eventGroup), [group(99)]);
    assert.deepEqual(r.eventGroups, listed.slice(0, ASSESSMENT_SAMPLE), 'the sample is the head of the list');
    assert.deepEqual(listed.slice(0, 2).map((e) => e.eventGroup), [group(50), group(51)], 'rows come out as their page is closed');
    const text = renderReportText(r);
    assert.match(text, /^re-encryption: 109 EventGroup\(s\) re-encrypted, 1 request\(s\) only closed$/m);
    assert.ok(text.includes(`event groups (110 in all, the first ${ASSESSMENT_SAMPLE} below; every one in ${r.files.lists!.eventGroups})`), text);
  });

  it('a resumed run: requests of pages never closed are answered again, counted once', () => {
    // Run 1: page a closed; pages b and c recorded, killed before their close. Run 2 answers b and c again (only closed), then d.
    const { r, listed } = report([
      range(0, 50).map((i) => reencrypted(i, 'a')),
      range(50, 100).map((i) => reencrypted(i, 'b')),
      [{ closed: 'a' }],
      range(100, 120).map((i) => (i === 100 ? deleted(i, 'c') : reencrypted(i, 'c'))),
      range(50, 100).map((i) => foundDone(i, 'b2')),
      [{ closed: 'b2' }],
      range(100, 120).map((i) => (i === 100 ? deleted(i, 'c2') : foundDone(i, 'c2'))),
      range(120, 130).map((i) => reencrypted(i, 'd')),
      [{ closed: 'd' }],
      [{ closed: 'c2' }],
    ]);
    assert.deepEqual(r.counts, { eventGroups: 130, reencrypted: 129, onlyClosed: 1 });
    assert.equal(listed.length, 130);
    assert.equal(new Set(listed.map((e) => e.request)).size, 130, 'each request once');
    const row = (i: number) => listed.find((e) => e.request === request(i))!;
    assert.equal(row(60).detail, 'found re-encrypted to key 00… of mc', 'the later outcome');
    assert.equal(row(10).detail, 're-encrypted to key 00… of mc');
    assert.equal(row(100).detail, 'deleted: nothing to re-encrypt');
  });

  it('a re-run that only closed does not undo a re-encryption; a later re-encryption replaces an earlier only-closed', () => {
    const { r, listed } = report([
      [reencrypted(1, 'a'), deleted(2, 'a')],
      [{ ...deleted(1, 'a2'), detail: 'no longer encrypted to the compromised key', reencrypted: false }, foundDone(2, 'a2')],
      [{ closed: 'a2' }],
    ]);
    assert.deepEqual(r.counts, { eventGroups: 2, reencrypted: 2, onlyClosed: 0 });
    assert.deepEqual(listed.map((e) => [e.eventGroup, e.detail]), [
      [group(1), 're-encrypted to key 00… of mc'],
      [group(2), 'found re-encrypted to key 00… of mc'],
    ]);
  });

  it('reads outcomes of earlier versions: unmarked lines, a keyed record, a torn last line', () => {
    const journalId = `j${++journals}`;
    writeRecord(session, journalId, REENCRYPTION_OUTCOMES, { [group(0)]: { request: request(0), reencrypted: true, detail: 're-encrypted' } });
    const unmarked = (i: number) => ({ key: group(i), request: request(i), reencrypted: true, detail: 're-encrypted' });
    appendToList(session, journalId, REENCRYPTION_OUTCOMES, range(1, 30).map(unmarked));
    appendToList(session, journalId, REENCRYPTION_OUTCOMES, [{ ...unmarked(5), reencrypted: false, detail: 'no longer encrypted to the compromised key' }]);
    appendFileSync(listPath(session, journalId, REENCRYPTION_OUTCOMES), '{"key":"torn');
    const r = buildReport(session, journalId, { procedure: 'reencrypt.event-groups' });
    assert.deepEqual(r.counts, { eventGroups: 30, reencrypted: 30, onlyClosed: 0 });
    assert.equal(readFileSync(r.files.lists!.eventGroups!, 'utf8').trimEnd().split('\n').length, 30);
  });
});

describe('JSON-lines lists', () => {
  it('read back a chunk at a time: lines across chunk boundaries, multi-byte characters, a torn last line skipped', () => {
    const journalId = `j${++journals}`;
    // Lines of about 1 KiB, with multi-byte characters, so many straddle the 64 KiB chunks.
    const items = range(0, 400).map((i) => ({ i, detail: `${'é…'.repeat(i % 7)}${'x'.repeat(1000 + (i % 13))}` }));
    appendToList(session, journalId, 'chunks', items);
    assert.deepEqual([...readList(session, journalId, 'chunks')], items);
    appendFileSync(listPath(session, journalId, 'chunks'), '{"i":');
    assert.deepEqual([...readList(session, journalId, 'chunks')], items);
    appendFileSync(listPath(session, journalId, 'chunks'), '\n{"i":400}\n');
    assert.throws(() => [...readList(session, journalId, 'chunks')], (err: Error & { code?: string }) => err.code === 'JOURNAL_CORRUPT' && /chunks\.jsonl:401 is not JSON/.test(err.message));
  });
});
