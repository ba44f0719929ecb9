/**
 * A DataProvider's encryption-key compromise at more requisitions than a
 * page (REFUSAL_PAGE_SIZE): one journal step refuses them all, page by page.
 * Killed mid-page after refusals took effect but before they were recorded
 * (HALO_KEYS_FAULT_AFTER_ITEM), then again after a whole page was refused and
 * not recorded (HALO_KEYS_FAULT_AFTER_PAGE), a third run finishes: every
 * requisition refused, audited and listed once, the report's counts right.
 * A journal of the earlier format (one `compromise.refuse-requisition` step
 * per requisition) still finishes.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Measurement_Failure_Reason, Measurement_State, type Measurement } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { Requisition_State, type Requisition } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { listMeasurements, listRequisitions } from '../../src/rotation/compromise/kingdom-calls.js';
import { REFUSAL_PAGE_SIZE } from '../../src/rotation/compromise/refuse-requisitions.js';
import { ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { createMeasurement, fulfill, hk, newParty, ok, type Party } from './compromise-fixtures.js';
import { scratch } from './fixtures.js';

/** More than two pages of refusals. */
const REQUISITIONS = 2 * REFUSAL_PAGE_SIZE + 10;
/** The first run is killed on its second page, after this many refusals took effect. */
const KILL_AT_ITEM = REFUSAL_PAGE_SIZE + 20;
/** The report's inline sample (ASSESSMENT_SAMPLE). */
const SAMPLE = 20;

const work = scratch('halo-refuse-requisitions-');
let kingdom: KingdomProcess;
let mc: Party;

before(async () => {
  ensureBuilt(['src/cli/commands/compromise.ts', 'src/rotation/compromise/refuse-requisitions.ts', 'src/rotation/compromise/report.ts', 'src/rotation/compromise/plans.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
  mc = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc');
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

/** How many `requisition.refuse` entries each requisition has in the party's audit log. */
function refusalsAudited(party: Party): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of readFileSync(join(party.dir, 'audit.jsonl'), 'utf8').split('\n')) {
    if (line === '') continue;
    const r = JSON.parse(line) as { action: string; resource?: string };
    if (r.action === 'requisition.refuse') counts.set(r.resource ?? '', (counts.get(r.resource ?? '') ?? 0) + 1);
  }
  return counts;
}

async function requisitionsOf(dp: Party, state: Requisition_State): Promise<Requisition[]> {
  return listRequisitions(dp.client(), dp.name, [state]);
}

interface Result {
  journalId: string;
  resumed: boolean;
  steps: Array<{ type: string; status: string; result?: string }>;
  report: {
    failed: { requisitions: string[] };
    rerun: Array<{ resource: string }>;
    refusals?: { count: number; refused: number; sample: Array<{ requisition: string; refused: boolean }>; list: string };
    files: { text: string };
  };
}

describe('compromise encryption-key of a DataProvider: requisitions refused page by page, resumed after kills', () => {
  it(`${REQUISITIONS} requisitions: killed after the ${KILL_AT_ITEM}th refusal, then after a page, each refused once`, async () => {
    const dp = await newParty(kingdom, work.dir, 'dataProvider', 'edp');
    const answered = await createMeasurement(mc, [dp], 'answered');
    await fulfill(dp, answered.name);
    const olds: Measurement[] = [];
    for (let i = 0; i < REQUISITIONS; i++) olds.push(await createMeasurement(mc, [dp], `r-${i}`));
    const open = await requisitionsOf(dp, Requisition_State.UNFULFILLED);
    assert.equal(open.length, REQUISITIONS);
    const names = open.map((r) => r.name).sort();
    const args = ['compromise', 'encryption-key', '--dir', dp.dir];

    const plan = JSON.parse(ok(hk([...args, '--dry-run', '--json']), 'dry run').stdout) as { summary: string; steps: Array<{ type: string; args?: { expected?: number } }> };
    const refuseSteps = plan.steps.filter((s) => s.type.startsWith('compromise.refuse-requisition'));
    assert.deepEqual(refuseSteps.map((s) => [s.type, s.args?.expected]), [['compromise.refuse-requisitions', REQUISITIONS]], 'one step for every requisition');
    assert.match(plan.summary, new RegExp(`${REQUISITIONS} requisition\\(s\\) to refuse`));

    // Killed on the second page, after its refusals started taking effect: only the first page is recorded.
    const first = hk(args, { HALO_KEYS_FAULT_AFTER_ITEM: String(KILL_AT_ITEM) });
    assert.equal(first.signal, 'SIGKILL', first.stderr);
    assert.equal(refusalsAudited(dp).size, REFUSAL_PAGE_SIZE, 'the first page recorded, not the one killed');
    const refusedAfterFirst = (await requisitionsOf(dp, Requisition_State.REFUSED)).length;
    assert.ok(refusedAfterFirst >= KILL_AT_ITEM && refusedAfterFirst < REQUISITIONS, `refused at the Kingdom after the first kill: ${refusedAfterFirst}`);

    // Killed after its first page was refused at the Kingdom, before it was recorded.
    const second = hk(args, { HALO_KEYS_FAULT_AFTER_PAGE: '1' });
    assert.equal(second.signal, 'SIGKILL', second.stderr);
    assert.equal((await requisitionsOf(dp, Requisition_State.UNFULFILLED)).length, 0, 'every requisition refused at the Kingdom');
    const auditedAfterSecond = refusalsAudited(dp).size;
    assert.ok(auditedAfterSecond >= KILL_AT_ITEM && auditedAfterSecond < REQUISITIONS, `recorded after the second kill: ${auditedAfterSecond}`);
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify after the kills');

    const third = ok(hk([...args, '--json']), 'third run');
    const result = JSON.parse(third.stdout) as Result;
    assert.equal(result.resumed, true);
    // Progress on stderr, under the refusals' own label.
    assert.match(third.stderr, new RegExp(`^progress: compromise encryption-key: refuse-requisitions ${REQUISITIONS}/${REQUISITIONS} \\(100 %\\)`, 'm'));
    const step = result.steps.find((s) => s.type === 'compromise.refuse-requisitions')!;
    assert.equal(step.status, 'done');
    assert.match(step.result ?? '', new RegExp(`^0 requisition\\(s\\) refused in this run, ${REQUISITIONS} handled in all \\(${auditedAfterSecond} before a restart\\)$`));

    // Each refused once: at the Kingdom, in the audit log, in the report's list.
    const audited = refusalsAudited(dp);
    assert.deepEqual([...audited.keys()].sort(), names, 'every requisition audited');
    assert.ok([...audited.values()].every((c) => c === 1), `each audited once: ${JSON.stringify([...audited].filter(([, c]) => c > 1))}`);
    assert.deepEqual((await requisitionsOf(dp, Requisition_State.REFUSED)).map((r) => r.name).sort(), names);
    assert.equal((await requisitionsOf(dp, Requisition_State.FULFILLED)).length, 1, 'the answered requisition untouched');
    const measurements = await listMeasurements(mc.client(), mc.name);
    for (const m of olds) {
      const now = measurements.find((x) => x.name === m.name)!;
      assert.equal(now.state, Measurement_State.FAILED, m.name);
      assert.equal(now.failure?.reason, Measurement_Failure_Reason.REQUISITION_REFUSED);
    }
    assert.equal(measurements.find((x) => x.name === answered.name)!.state, Measurement_State.SUCCEEDED);

    // The report: counts, a sample, and every one in its list.
    const refusals = result.report.refusals!;
    assert.equal(refusals.count, REQUISITIONS);
    assert.equal(refusals.refused, REQUISITIONS);
    assert.equal(refusals.sample.length, SAMPLE);
    assert.equal(result.report.failed.requisitions.length, SAMPLE);
    assert.equal(result.report.rerun.length, SAMPLE);
    const listed = readFileSync(refusals.list, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { requisition: string; measurement: string; refused: boolean });
    assert.deepEqual(listed.map((r) => r.requisition).sort(), names, 'the list holds each requisition once');
    assert.ok(listed.every((r) => r.refused && olds.some((m) => m.name === r.measurement)));
    const text = readFileSync(result.report.files.text, 'utf8');
    assert.match(text, new RegExp(`failed or refused requisitions \\(${REQUISITIONS} in all, the first ${SAMPLE} below; every one in ${refusals.list.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\)`));
    const journal = readFileSync(join(dp.dir, 'journals', `${result.journalId}.json`), 'utf8');
    assert.ok(journal.length < 20_000, `the journal does not grow with the requisitions: ${journal.length} bytes`);
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify');
  });

  it('a journal of the earlier format (one compromise.refuse-requisition step each) resumes with the step it names', async () => {
    const dp = await newParty(kingdom, work.dir, 'dataProvider', 'legacy-edp');
    const olds = [await createMeasurement(mc, [dp], 'la'), await createMeasurement(mc, [dp], 'lb')];
    const open = await requisitionsOf(dp, Requisition_State.UNFULFILLED);
    const args = ['compromise', 'encryption-key', '--dir', dp.dir];
    const plan = JSON.parse(ok(hk([...args, '--dry-run', '--json']), 'plan').stdout) as { steps: Array<{ n: number; type: string }> };
    const removed = plan.steps.find((s) => s.type === 'compromise.remove-encryption-key')!.n;
    assert.equal(hk(args, { HALO_KEYS_FAULT_AFTER_STEP: String(removed) }).signal, 'SIGKILL');

    // What an earlier version left: a step per requisition, the assessment listing them all.
    const journalFile = join(dp.dir, 'journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { id: string; steps: Array<{ n: number; type: string; args?: Record<string, unknown>; summary: string; status: string; attempts: number }> };
    const paged = journal.steps.find((s) => s.type === 'compromise.refuse-requisitions')!;
    const perRequisition = open.map((r) => ({ n: 0, type: 'compromise.refuse-requisition', summary: `refuse ${r.name} (its spec was encrypted to the key)`, args: { requisition: r.name, fingerprint: paged.args!.fingerprint }, status: 'pending', attempts: 0 }));
    journal.steps.splice(journal.steps.indexOf(paged), 1, ...perRequisition);
    journal.steps.forEach((s, i) => (s.n = i + 1));
    writeFileSync(journalFile, JSON.stringify(journal, null, 2));
    const workspace = join(dp.dir, 'compromise', journal.id);
    const assessment = JSON.parse(readFileSync(join(workspace, 'assessment.json'), 'utf8'));
    delete assessment.requisitionCount;
    writeFileSync(join(workspace, 'assessment.json'), JSON.stringify(assessment));
    rmSync(join(workspace, 'requisitions.jsonl'));

    const resumed = JSON.parse(ok(hk([...args, '--json']), 'resumed').stdout) as Result;
    assert.equal(resumed.resumed, true);
    assert.deepEqual(resumed.steps.filter((s) => s.type.startsWith('compromise.refuse-requisition')).map((s) => [s.type, s.status]), [
      ['compromise.refuse-requisition', 'done'],
      ['compromise.refuse-requisition', 'done'],
    ]);
    assert.deepEqual((await requisitionsOf(dp, Requisition_State.REFUSED)).map((r) => r.name).sort(), open.map((r) => r.name).sort());
    assert.deepEqual([...resumed.report.failed.requisitions].sort(), open.map((r) => r.name).sort());
    assert.deepEqual(resumed.report.rerun.map((r) => r.resource).sort(), olds.map((m) => m.name).sort());
    assert.deepEqual(resumed.report.refusals && [resumed.report.refusals.count, resumed.report.refusals.refused], [2, 2]);
    assert.ok([...refusalsAudited(dp).values()].every((c) => c === 1));
  });
});
