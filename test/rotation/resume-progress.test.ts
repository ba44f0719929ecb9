/**
 * Long procedures killed part-way: `compromise encryption-key` (measurement
 * replacement: more measurements than a page of ListMeasurements, all in one
 * journal step) SIGKILLed after an item took effect but before it was
 * recorded, and `reencrypt event-groups` (one step, page by page)
 * SIGKILLed after the Kingdom took its 2nd page (groups re-encrypted,
 * requests closed) but before the page was recorded, then run again. The
 * second run resumes: no measurement is replaced twice or missed, no
 * EventGroup re-encrypted twice, and none of what the killed run did goes
 * unrecorded (counted in the audit logs and at the Kingdom). Both runs report
 * progress on stderr as periodic `progress:` lines (stderr is not a terminal
 * here) while stdout holds only the --json document.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { ASSESSMENT_SAMPLE } from '../../src/rotation/compromise/assessment.js';
import { listMeasurements } from '../../src/rotation/compromise/kingdom-calls.js';
import type { CompromiseReport } from '../../src/rotation/compromise/report.js';
import { activeEntry } from '../../src/rotation/keyring.js';
import { ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { configureCompromise, createEventGroup, createMeasurement, hk, newParty, ok, publishedKeyBytes, type Party, type Run } from './compromise-fixtures.js';
import { hex } from '../../src/lib/bytes.js';
import { readJsonLines } from '../../src/lib/files.js';
import { scratch } from './fixtures.js';

// More re-encryption requests than the pages sent by the time the 2nd is answered (50 a page with --page-size 50, 3 in flight).
const EVENT_GROUPS = 220;
/** More than one page (100) of ListMeasurements. */
const MEASUREMENTS = 130;
/** The replacement killed: on the second page. */
const KILL_AT_ITEM = 105;

const work = scratch('halo-resume-progress-');
let kingdom: KingdomProcess;
let mc: Party;
let dp: Party;

before(async () => {
  ensureBuilt(['src/cli/commands/compromise.ts', 'src/cli/commands/reencrypt.ts', 'src/cli/progress.ts', 'src/rotation/journal/steps.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
  mc = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc');
  dp = await newParty(kingdom, work.dir, 'dataProvider', 'edp');
  configureCompromise(mc, [dp]);
  configureCompromise(dp, [mc]);
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});


/** How many times each resource appears in the party's audit log under `action`. */
function auditCounts(party: Party, action: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(join(party.dir, 'audit.jsonl'), 'utf8').split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line) as { action: string; resource?: string; after?: { replaces?: string } };
    if (r.action !== action) continue;
    const key = r.after?.replaces ?? r.resource ?? '';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Every stderr line is a progress line of one of `labels`; returns those of each label, and there is at least one of each. */
function progressLines(r: Run, ...labels: string[]): string[][] {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  const pattern = new RegExp(`^progress: (${labels.join('|')}) \\d+/\\d+ \\(\\d+ %\\)(, [\\d.]+/s(, ETA \\w+)?)?$`);
  for (const l of lines) assert.match(l, pattern);
  return labels.map((label) => {
    const mine = lines.filter((l) => l.startsWith(`progress: ${label} `));
    assert.ok(mine.length > 0, `progress of ${label} on stderr:\n${r.stderr}`);
    return mine;
  });
}

/** The n of the k-th planned step of `type` (1-based k). */
function stepOf(args: string[], type: string, k: number): number {
  const plan = JSON.parse(ok(hk([...args, '--dry-run', '--json']), 'dry run').stdout) as { steps: Array<{ n: number; type: string }> };
  const n = plan.steps.filter((s) => s.type === type)[k - 1]?.n;
  assert.ok(n !== undefined, `a ${k}th ${type} step in ${plan.steps.map((s) => s.type).join(', ')}`);
  return n;
}

describe('an interrupted long procedure resumes without redoing finished items, with progress on stderr only', () => {
  it(`MC key compromise killed at the ${KILL_AT_ITEM}th of ${MEASUREMENTS} replacements, then re-encryption of ${EVENT_GROUPS} event groups killed after its 2nd page`, async () => {
    for (let i = 0; i < EVENT_GROUPS; i++) await createEventGroup(dp, mc, `eg-${i}`);
    const olds = [];
    for (let i = 0; i < MEASUREMENTS; i++) olds.push(await createMeasurement(mc, [dp], `m-${i}`));
    const compromise = ['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(activeEntry(mc.session().keyring, 'encryption')!.tinkKeyId)];

    // One journal step for every measurement, however many.
    const mcPlan = JSON.parse(ok(hk([...compromise, '--dry-run', '--json']), 'dry run').stdout) as { steps: Array<{ type: string }> };
    assert.equal(mcPlan.steps.filter((s) => s.type === 'compromise.replace-measurements').length, 1);
    assert.ok(!mcPlan.steps.some((s) => s.type === 'compromise.replace-measurement'));

    // Killed after the replacement of the 105th was created, before it was recorded and the old one cancelled.
    const killed = hk(compromise, { HALO_KEYS_FAULT_AFTER_ITEM: String(KILL_AT_ITEM) });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    assert.equal(auditCounts(mc, 'measurement.create').size, KILL_AT_ITEM - 1, 'the items before the kill were recorded');
    const resumed = ok(hk([...compromise.slice(0, 4), '--json']), 'compromise resumed');
    const result = JSON.parse(resumed.stdout) as { resumed: boolean; steps: Array<{ type: string; result?: string }>; report: { counts: { replacements: number; replaced: number } } };
    assert.equal(result.resumed, true);
    assert.match(result.steps.find((s) => s.type === 'compromise.replace-measurements')!.result ?? '', new RegExp(`, ${MEASUREMENTS} in all \\(${KILL_AT_ITEM - 1} before a restart\\)$`));
    assert.deepEqual(result.report.counts, { replacements: MEASUREMENTS, replaced: MEASUREMENTS, eventGroups: EVENT_GROUPS, reencryptionRequests: { created: EVENT_GROUPS, open: EVENT_GROUPS } });
    progressLines(resumed, 'compromise encryption-key: steps', 'compromise encryption-key: replace-measurements');
    const created = auditCounts(mc, 'measurement.create');
    assert.deepEqual([...created.keys()].sort(), olds.map((m) => m.name).sort(), 'every measurement replaced');
    assert.ok([...created.values()].every((c) => c === 1), `each replaced once: ${JSON.stringify([...created])}`);
    const all = await listMeasurements(mc.client(), mc.name);
    assert.equal(all.length, 2 * MEASUREMENTS, 'one replacement each at the Kingdom');
    const cancelled = new Set(all.filter((m) => m.state === Measurement_State.CANCELLED).map((m) => m.name));
    assert.deepEqual([...cancelled].sort(), olds.map((m) => m.name).sort(), 'every old one cancelled, no replacement cancelled');
    const journal = readFileSync(join(mc.dir, 'journals', `${(JSON.parse(resumed.stdout) as { journalId: string }).journalId}.json`), 'utf8');
    assert.ok(journal.length < 20_000, `the journal does not grow with the measurements: ${journal.length} bytes`);

    // The DataProvider answers the re-encryption requests; killed once the Kingdom took the 2nd page, before it was recorded.
    const reencrypt = ['reencrypt', 'event-groups', '--dir', dp.dir, '--page-size', '50'];
    const plan = JSON.parse(ok(hk([...reencrypt, '--dry-run', '--json']), 'dry run').stdout) as { summary: string; steps: Array<{ type: string }> };
    assert.deepEqual(plan.steps.map((x) => x.type), ['reencrypt.open-requests', 'compromise.report'], 'one step for all requests, whatever their number');
    assert.match(plan.summary, new RegExp(`^${EVENT_GROUPS} open metadata re-encryption request`));
    const first = hk(reencrypt, { HALO_KEYS_FAULT_AFTER_PAGE: '2' });
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    const before = auditCounts(dp, 'event-group.reencrypt');
    const stillOpen = (await dp.client().metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name, pageSize: 1000 })).requests;
    const taken = EVENT_GROUPS - stillOpen.length;
    assert.ok(taken >= 100, `the Kingdom took the first two pages at least: ${taken}`);
    assert.ok(before.size <= taken - 50, `the 2nd page is not recorded in the keyring: ${before.size} recorded, ${taken} taken`);
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify after the kill');

    const second = ok(hk([...reencrypt, '--json']), 'reencrypt resumed');
    const answered = JSON.parse(second.stdout) as { resumed: boolean; journalId: string; report: Pick<CompromiseReport, 'eventGroups' | 'counts' | 'files'> };
    assert.equal(answered.resumed, true, 'stdout is the JSON document alone');
    const [steps, items] = progressLines(second, 'reencrypt event-groups: steps', 'reencrypt event-groups: event groups');
    assert.match(steps!.at(-1)!, /steps (\d+)\/\1 \(100 %\)/, 'the last line: every step done');
    assert.match(items!.at(-1)!, new RegExp(`event groups ${stillOpen.length}/${stillOpen.length} \\(100 %\\)`), 'the resumed run counts what was still open');
    const counts = auditCounts(dp, 'event-group.reencrypt');
    assert.ok([...counts.values()].every((c) => c === 1), `none recorded twice: ${JSON.stringify([...counts].filter(([, c]) => c > 1))}`);
    // Each group has its one entry, those the killed run answered included.
    const groups = await dp.client().eventGroups.listEventGroups({ parent: dp.name, pageSize: 1000 });
    assert.equal(groups.eventGroups.length, EVENT_GROUPS);
    const newKey = publishedKeyBytes(mc);
    for (const eg of groups.eventGroups) {
      assert.equal(hex(eg.measurementConsumerPublicKey!.value), hex(newKey), `${eg.name} is encrypted to the MC's new key`);
      assert.ok(counts.has(eg.name), `${eg.name} has its audit entry`);
    }
    assert.equal(auditCounts(dp, 'reencryption-request.close').size, 0, 'no request only closed');
    // Each request answered is recorded once, those the killed run answered included; the report counts and lists each once.
    const outcomes = readJsonLines<{ request?: string }>(join(dp.dir, 'compromise', answered.journalId, 'event-groups.jsonl')).filter((l) => l.request !== undefined);
    assert.equal(outcomes.length, EVENT_GROUPS, 'one outcome per request');
    assert.deepEqual(answered.report.counts, { eventGroups: EVENT_GROUPS, reencrypted: EVENT_GROUPS, onlyClosed: 0 });
    assert.equal(answered.report.eventGroups.length, ASSESSMENT_SAMPLE, 'the report holds a sample');
    const listed = readJsonLines<CompromiseReport['eventGroups'][number]>(answered.report.files.lists!.eventGroups!);
    assert.equal(listed.length, EVENT_GROUPS, 'the list holds each group once');
    assert.equal(new Set(listed.map((e) => e.eventGroup)).size, EVENT_GROUPS);
    assert.ok(listed.every((e) => e.reencrypted), JSON.stringify(listed.filter((e) => !e.reencrypted)));
    assert.deepEqual((await dp.client().metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name })).requests, []);
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify');
  });
});
