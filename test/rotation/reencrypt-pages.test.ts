/**
 * `reencrypt event-groups --page-size 50` over more requests than one page
 * when a plaintext copy is missing: the page holding that group fails before
 * any of its groups is updated (all still encrypted to the leaked key, all its
 * requests open), the run exits with one error naming the file, and once the
 * file is back a re-run finishes from there without redoing the pages done.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hex } from '../../src/lib/bytes.js';
import { readJsonLines } from '../../src/lib/files.js';
import { ASSESSMENT_SAMPLE } from '../../src/rotation/compromise/assessment.js';
import type { CompromiseReport } from '../../src/rotation/compromise/report.js';
import { activeEntry } from '../../src/rotation/keyring.js';
import { ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { configureCompromise, createEventGroup, hk, newParty, ok, publishedKeyBytes, type Party } from './compromise-fixtures.js';
import { scratch } from './fixtures.js';

const EVENT_GROUPS = 110;

const work = scratch('halo-reencrypt-pages-');
let kingdom: KingdomProcess;
let mc: Party;
let dp: Party;

before(async () => {
  ensureBuilt(['src/cli/commands/reencrypt.ts', 'src/rotation/compromise/reencrypt-steps.ts', 'src/kingdom/service/metadata-reencryption-service.ts']);
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


function auditActions(party: Party, action: string): string[] {
  return readFileSync(join(party.dir, 'audit.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { action: string; resource?: string })
    .filter((e) => e.action === action)
    .map((e) => e.resource ?? '');
}

describe('reencrypt event-groups, page by page', () => {
  it('a missing plaintext copy fails its page before any update; the re-run finishes without redoing the other pages', async () => {
    const refs = new Map<string, string>();
    for (let i = 0; i < EVENT_GROUPS; i++) {
      const { eventGroup } = await createEventGroup(dp, mc, `eg-${i}`);
      refs.set(eventGroup.name, eventGroup.eventGroupReferenceId);
    }
    const leaked = hex(publishedKeyBytes(mc));
    ok(hk(['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(activeEntry(mc.session().keyring, 'encryption')!.tinkKeyId)]), 'MC compromise');

    // The requests as the DataProvider pages through them; the second page's first group loses its plaintext copy.
    const client = dp.client();
    const pages = [];
    let pageToken = '';
    do {
      const page = await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name, pageSize: 50, pageToken });
      if (pages.length === 0) assert.equal(page.totalSize, EVENT_GROUPS);
      pages.push(page.requests);
      pageToken = page.nextPageToken;
    } while (pageToken !== '');
    assert.deepEqual(pages.map((p) => p.length), [50, 50, 10]);
    const broken = pages[1]![0]!.eventGroup;
    const file = join(dp.copies, `${refs.get(broken)}.binpb`);
    renameSync(file, `${file}.away`);

    const failed = hk(['reencrypt', 'event-groups', '--dir', dp.dir, '--page-size', '50']);
    assert.equal(failed.code, 1, failed.stderr);
    const lines = failed.stderr.trimEnd().split('\n');
    for (const l of lines.slice(0, -1)) assert.match(l, /^progress: /);
    assert.match(lines.at(-1)!, new RegExp(`^halo-keys: .*no metadata copy ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: put the plaintext`));

    const stillOpen = new Set((await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name, pageSize: 1000 })).requests.map((r) => r.name));
    for (const r of pages[1]!) {
      assert.ok(stillOpen.has(r.name), `${r.name} of the failed page is still open`);
      const eg = await client.eventGroups.getEventGroup({ name: r.eventGroup });
      assert.equal(hex(eg.measurementConsumerPublicKey!.value), leaked, `${r.eventGroup} of the failed page was not updated`);
    }
    for (const r of pages[0]!) assert.ok(!stillOpen.has(r.name), `${r.name} of the first page is closed`);
    const doneBefore = new Set(auditActions(dp, 'event-group.reencrypt'));
    for (const r of pages[1]!) assert.ok(!doneBefore.has(r.eventGroup), `${r.eventGroup}: no audit entry for a group not updated`);

    renameSync(`${file}.away`, file);
    const resumed = JSON.parse(ok(hk(['reencrypt', 'event-groups', '--dir', dp.dir, '--page-size', '50', '--json']), 'reencrypt again').stdout) as { resumed: boolean; report: Pick<CompromiseReport, 'eventGroups' | 'counts' | 'files'> };
    assert.equal(resumed.resumed, true);
    // The report: a sample, the counts, and every group once in its list.
    assert.equal(resumed.report.eventGroups.length, ASSESSMENT_SAMPLE);
    assert.deepEqual(resumed.report.counts, { eventGroups: EVENT_GROUPS, reencrypted: EVENT_GROUPS, onlyClosed: 0 });
    const listed = readJsonLines<CompromiseReport['eventGroups'][number]>(resumed.report.files.lists!.eventGroups!);
    assert.deepEqual(listed.map((e) => e.eventGroup).sort(), [...refs.keys()].sort());
    assert.ok(listed.every((e) => e.reencrypted));
    assert.deepEqual(resumed.report.eventGroups, listed.slice(0, ASSESSMENT_SAMPLE));
    const reencrypted = auditActions(dp, 'event-group.reencrypt');
    assert.equal(reencrypted.length, EVENT_GROUPS, 'each group re-encrypted once');
    assert.equal(new Set(reencrypted).size, EVENT_GROUPS);
    assert.deepEqual((await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name })).requests, []);
    const newKey = hex(publishedKeyBytes(mc));
    for (const name of refs.keys()) assert.equal(hex((await client.eventGroups.getEventGroup({ name })).measurementConsumerPublicKey!.value), newKey);
    ok(hk(['audit', 'verify', '--dir', dp.dir]), 'audit verify');
  });

  it('a journal of the earlier format (one reencrypt.event-group step each) finishes with BatchReencryptEventGroups', async () => {
    const dp2 = await newParty(kingdom, work.dir, 'dataProvider', 'legacy-edp');
    configureCompromise(dp2, [mc]);
    for (const ref of ['l-0', 'l-1', 'l-2']) await createEventGroup(dp2, mc, ref);
    ok(hk(['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(activeEntry(mc.session().keyring, 'encryption')!.tinkKeyId)]), 'the MC key leaks again');
    const client = dp2.client();
    const open = (await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp2.name, pageSize: 1000 })).requests;
    assert.equal(open.length, 3);

    // Stopped once the Kingdom took the first request; the journal is then rewritten as an earlier version wrote it.
    const args = ['reencrypt', 'event-groups', '--dir', dp2.dir];
    assert.equal(hk([...args, '--page-size', '1'], { HALO_KEYS_FAULT_AFTER_PAGE: '1' }).signal, 'SIGKILL');
    const stillOpen = new Set((await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp2.name, pageSize: 1000 })).requests.map((r) => r.name));
    assert.ok(!stillOpen.has(open[0]!.name), 'the first request was answered');
    const journalFile = join(dp2.dir, 'journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { id: string; steps: Array<{ n: number; type: string; args?: Record<string, unknown>; summary: string; status: string; attempts: number }> };
    const paged = journal.steps.find((s) => s.type === 'reencrypt.open-requests')!;
    const perRequest = open.map((r) => ({
      n: 0,
      type: 'reencrypt.event-group',
      summary: `re-encrypt ${r.eventGroup}`,
      args: { request: r.name, eventGroup: r.eventGroup, measurementConsumer: r.measurementConsumer, fingerprint: hex(r.measurementConsumerKeyFingerprint), metadataDir: paged.args!.metadataDir, trustedRoots: paged.args!.trustedRoots },
      status: 'pending',
      attempts: 0,
    }));
    journal.steps.splice(journal.steps.indexOf(paged), 1, ...perRequest);
    journal.steps.forEach((s, i) => (s.n = i + 1));
    writeFileSync(journalFile, JSON.stringify(journal, null, 2));
    // Earlier versions left no notes of the pages in flight.
    const workspace = join(dp2.dir, 'compromise', journal.id);
    for (const f of readdirSync(workspace).filter((f) => f.startsWith('in-flight-'))) rmSync(join(workspace, f));

    const resumed = JSON.parse(ok(hk([...args, '--json']), 'resumed').stdout) as { resumed: boolean; steps: Array<{ type: string; status: string; result?: string }> };
    assert.equal(resumed.resumed, true);
    const steps = resumed.steps.filter((s) => s.type === 'reencrypt.event-group');
    assert.deepEqual(steps.map((s) => s.status), ['done', 'done', 'done']);
    for (const [i, r] of open.entries()) {
      // A request the killed run answered is found closed and left as it is; the others are re-encrypted and closed by the step.
      assert.match(steps[i]!.result ?? '', stillOpen.has(r.name) ? /: re-encrypted; request closed$/ : /: no longer encrypted to the compromised key; request closed$/, r.name);
    }
    assert.deepEqual((await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp2.name })).requests, []);
    const newKey = hex(publishedKeyBytes(mc));
    for (const r of open) assert.equal(hex((await client.eventGroups.getEventGroup({ name: r.eventGroup })).measurementConsumerPublicKey!.value), newKey);
    assert.equal(auditActions(dp2, 'event-group.reencrypt').length, stillOpen.size, 'each group the steps re-encrypted recorded once');
    ok(hk(['audit', 'verify', '--dir', dp2.dir]), 'audit verify');
  });
});
