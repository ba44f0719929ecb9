/**
 * `halo-keys compromise encryption-key` and `halo-keys reencrypt
 * event-groups` end to end: the compiled binary against a real `halo-keys
 * kingdom serve` process over mTLS, one MeasurementConsumer (and a second one
 * that must stay untouched) and two DataProviders. The MC's key leaks: every
 * EventGroup encrypted to it is re-encrypted by its DataProvider (decrypts
 * with the new key, not the old), every ongoing measurement encrypted to it
 * is replaced and cancelled, nothing else changes. A DataProvider's key
 * leaks: its pending requisitions are refused. Both are finished by a second
 * run after a SIGKILL.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { decryptMessage } from '../../src/crypto/encrypted-message.js';
import { keysetBytes, publicKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { verifyAndUnpack } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKey_Format, EncryptionPublicKeySchema, SignedMessageSchema, type EncryptedMessage } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema, EventGroupSchema } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { Measurement_Failure_Reason, Measurement_ResultSchema, Measurement_State, type Measurement } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { Requisition_State } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { listMeasurements } from '../../src/rotation/compromise/kingdom-calls.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { configureCompromise, createEventGroup, createMeasurement, fulfill, hk, newParty, ok, publishedKeyBytes, type Party } from './compromise-fixtures.js';
import { scratch } from './fixtures.js';
import { hex } from '../../src/lib/bytes.js';

const work = scratch('halo-compromise-key-');
let kingdom: KingdomProcess;
let mc: Party;
let mc2: Party;
let dp1: Party;
let dp2: Party;

function keysetOf(party: Party): Keyset {
  const s = party.session();
  return s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
}

function decrypts(keyset: Keyset, eg: { encryptedMetadata?: EncryptedMessage | undefined }): string | undefined {
  try {
    return hex(toBinary(EventGroup_MetadataSchema, decryptMessage(keyset, eg.encryptedMetadata!, EventGroup_MetadataSchema)));
  } catch {
    return undefined;
  }
}

function specOf(m: Measurement) {
  return fromBinary(MeasurementSpecSchema, m.measurementSpec!.message!.value);
}

const replacing = (ms: Measurement[]) => ms.filter((m) => /replaces:/.test(m.measurementReferenceId));

before(async () => {
  ensureBuilt(['src/cli/commands/compromise.ts', 'src/cli/commands/reencrypt.ts', 'src/rotation/compromise/procedure.ts', 'src/rotation/compromise/replace-measurement.ts', 'src/rotation/compromise/reencrypt-steps.ts', 'src/kingdom/service/routes.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
  mc = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc');
  mc2 = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc2');
  dp1 = await newParty(kingdom, work.dir, 'dataProvider', 'edp1');
  dp2 = await newParty(kingdom, work.dir, 'dataProvider', 'edp2');
  configureCompromise(mc, [dp1, dp2]);
  configureCompromise(dp1, [mc, mc2]);
  configureCompromise(dp2, [mc]);
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

describe('halo-keys compromise encryption-key and reencrypt event-groups against a real Kingdom server process', () => {
  it('MC key: EventGroups re-encrypted (new key decrypts, old does not), ongoing measurements replaced and cancelled, nothing unaffected changed; twice changes nothing', async () => {
    const affected = [await createEventGroup(dp1, mc, 'eg1a'), await createEventGroup(dp1, mc, 'eg1b'), await createEventGroup(dp2, mc, 'eg2')];
    const untouched = [
      { dp: dp2, eg: (await createEventGroup(dp2, mc, 'eg2plain', false)).eventGroup },
      { dp: dp1, eg: (await createEventGroup(dp1, mc2, 'eg1other')).eventGroup },
    ];
    const oldKeyset = keysetOf(mc);
    for (const a of affected) assert.equal(decrypts(oldKeyset, a.eventGroup), hex(toBinary(EventGroup_MetadataSchema, a.metadata)));

    const m1 = await createMeasurement(mc, [dp1, dp2], 'm1');
    const m2 = await createMeasurement(mc, [dp1], 'm2');
    await fulfill(dp1, m2.name); // its only DataProvider answered: SUCCEEDED before the leak
    const m3 = await createMeasurement(mc, [dp1, dp2], 'm3');
    await fulfill(dp1, m3.name);
    await fulfill(dp2, m3.name);
    const ownKey = generateKeyset();
    const separateKey = toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(publicKeyset(ownKey)) }));
    const m4 = await createMeasurement(mc, [dp2], 'm4', separateKey);
    const m5 = await createMeasurement(mc, [dp2], 'm5');
    const client = mc.client();
    const states = async (...ms: Measurement[]) => Promise.all(ms.map(async (m) => (await client.measurements.getMeasurement({ name: m.name })).state));
    assert.deepEqual(await states(m1, m2, m3, m4, m5), [Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.SUCCEEDED, Measurement_State.SUCCEEDED, Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.AWAITING_REQUISITION_FULFILLMENT]);
    const before = await listMeasurements(client, mc.name);
    const compromised = activeEntry(mc.session().keyring, 'encryption')!;
    const publishedBefore = publishedKeyBytes(mc);

    const reportBase = join(work.dir, 'mc-key');
    const r = ok(hk(['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(compromised.tinkKeyId), '--report', reportBase, '--json']), 'compromise encryption-key');
    const result = JSON.parse(r.stdout);
    assert.deepEqual(
      result.steps.map((s: { type: string }) => s.type),
      ['compromise.assess-encryption-key', 'encryption.add', 'encryption.promote', 'public-key.publish', 'encryption.activate', 'compromise.remove-encryption-key', 'compromise.request-reencryption', 'compromise.replace-measurements', 'compromise.report'],
    );

    // The key: replaced at the Kingdom, gone from the private keyset.
    const newKeyset = keysetOf(mc);
    const shown = await client.measurementConsumers.getMeasurementConsumer({ name: mc.name });
    assert.notEqual(hex(shown.publicKey!.message!.value), hex(publishedBefore));
    assert.equal(hex(shown.publicKey!.message!.value), hex(publishedKeyBytes(mc)));
    const entry = readKeyring(mc.dir).entries.find((e) => e.id === compromised.id)!;
    assert.equal(entry.state, 'compromised');
    assert.equal(decrypts(newKeyset, affected[0]!.eventGroup), undefined, 'the old key no longer decrypts anything here');

    // Ongoing measurements replaced and cancelled; the rest untouched.
    const report = JSON.parse(readFileSync(`${reportBase}.json`, 'utf8'));
    const mapping = new Map<string, string>(report.replacements.map((x: { old: string; replacement: string }) => [x.old, x.replacement]));
    assert.deepEqual(report.counts, { replacements: 2, replaced: 2, eventGroups: 3, reencryptionRequests: { created: 3, open: 3 } });
    assert.deepEqual([...mapping.keys()].sort(), [m1.name, m5.name].sort());
    assert.deepEqual(await states(m1, m2, m3, m4, m5), [Measurement_State.CANCELLED, Measurement_State.SUCCEEDED, Measurement_State.SUCCEEDED, Measurement_State.AWAITING_REQUISITION_FULFILLMENT, Measurement_State.CANCELLED]);
    const afterList = await listMeasurements(client, mc.name);
    assert.equal(afterList.length, before.length + 2, 'exactly one replacement per affected measurement');
    const signing = activeEntry(mc.session().keyring, 'signing')!;
    const mcDer = (await client.certificates.getCertificate({ name: signing.kingdomCertificate! })).x509Der;
    for (const old of [m1, m5]) {
      const replacement = await client.measurements.getMeasurement({ name: mapping.get(old.name)! });
      assert.equal(replacement.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
      assert.match(replacement.measurementReferenceId, new RegExp(`replaces:${old.name.split('/').pop()}$`));
      const spec = verifyAndUnpack(MeasurementSpecSchema, replacement.measurementSpec!, mcDer);
      assert.equal(hex(spec.measurementPublicKey!.value), hex(publishedKeyBytes(mc)));
      const oldHashes = specOf(old).nonceHashes.map(hex);
      assert.ok(spec.nonceHashes.every((h) => !oldHashes.includes(hex(h))), 'fresh nonces');
      assert.deepEqual(replacement.dataProviders.map((d) => d.key), old.dataProviders.map((d) => d.key));
    }
    const untouchedList = afterList.filter((m) => ![m1.name, m5.name].includes(m.name) && !mapping.has(m.name) && ![...mapping.values()].includes(m.name));
    for (const m of untouchedList) {
      const was = before.find((b) => b.name === m.name)!;
      assert.equal(hex(toBinary(SignedMessageSchema, m.measurementSpec!)), hex(toBinary(SignedMessageSchema, was.measurementSpec!)));
      assert.equal(m.state, was.state, `${m.name} unchanged`);
    }

    // The replacement does its job: the DataProviders read the MC's same RequisitionSpec and answer; the new key decrypts.
    const r1 = mapping.get(m1.name)!;
    const read = await fulfill(dp1, r1, 777n);
    assert.match(read.requisitionType.case === 'events' ? read.requisitionType.value.eventGroups[0]!.value!.filter!.expression : '', /person.age_group == 2/);
    await fulfill(dp2, r1);
    const done = await client.measurements.getMeasurement({ name: r1 });
    assert.equal(done.state, Measurement_State.SUCCEEDED);
    const dp1Signing = activeEntry(dp1.session().keyring, 'signing')!;
    const dp1Result = done.results.find((x) => x.certificate === dp1Signing.kingdomCertificate)!;
    const dp1Der = (await client.certificates.getCertificate({ name: dp1Signing.kingdomCertificate! })).x509Der;
    assert.equal(verifyAndUnpack(Measurement_ResultSchema, decryptMessage(newKeyset, dp1Result.encryptedResult!, SignedMessageSchema), dp1Der).reach?.value, 777n);

    // The DataProviders re-encrypt; dp1 is killed after its first request and finishes on the second run.
    assert.equal(report.eventGroups.length, 3);
    const untouchedBefore = await Promise.all(untouched.map(async (u) => hex(toBinary(EventGroupSchema, await u.dp.client().eventGroups.getEventGroup({ name: u.eg.name })))));
    const killed = hk(['reencrypt', 'event-groups', '--dir', dp1.dir], { HALO_KEYS_FAULT_AFTER_STEP: '1' });
    assert.equal(killed.signal, 'SIGKILL', killed.stderr);
    const resumed = JSON.parse(ok(hk(['reencrypt', 'event-groups', '--dir', dp1.dir, '--json']), 'reencrypt dp1').stdout);
    assert.equal(resumed.resumed, true);
    ok(hk(['reencrypt', 'event-groups', '--dir', dp2.dir]), 'reencrypt dp2');
    for (const a of affected) {
      const now = await client.eventGroups.getEventGroup({ name: a.eventGroup.name });
      assert.equal(hex(now.measurementConsumerPublicKey!.value), hex(publishedKeyBytes(mc)));
      assert.equal(decrypts(newKeyset, now), hex(toBinary(EventGroup_MetadataSchema, a.metadata)), `${a.eventGroup.name} decrypts with the new key`);
      assert.equal(decrypts(oldKeyset, now), undefined, `${a.eventGroup.name} no longer decrypts with the leaked key`);
    }
    const untouchedAfter = await Promise.all(untouched.map(async (u) => hex(toBinary(EventGroupSchema, await u.dp.client().eventGroups.getEventGroup({ name: u.eg.name })))));
    assert.deepEqual(untouchedAfter, untouchedBefore, 'EventGroups not encrypted to the key are unchanged');
    for (const dp of [dp1, dp2]) assert.deepEqual((await dp.client().metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name })).requests, []);

    for (const p of [mc, dp1, dp2]) ok(hk(['audit', 'verify', '--dir', p.dir]), `audit verify ${p.label}`);
    const audit = readFileSync(join(mc.dir, 'audit.jsonl'), 'utf8');
    for (const action of ['compromise.blast-radius', 'key.compromise', 'event-group.request-reencryption', 'measurement.create', 'measurement.cancel', 'compromise.report']) assert.ok(audit.includes(`"action":"${action}"`), action);
    assert.ok(readFileSync(join(dp1.dir, 'audit.jsonl'), 'utf8').includes('"action":"event-group.reencrypt"'));

    // Twice: nothing new.
    const entries = readKeyring(mc.dir).entries.length;
    const again = JSON.parse(ok(hk(['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(compromised.tinkKeyId), '--json']), 'second run').stdout);
    assert.ok(!again.steps.some((s: { type: string }) => s.type.startsWith('encryption.') || s.type.startsWith('compromise.replace-measurement')));
    assert.equal(readKeyring(mc.dir).entries.length, entries);
    assert.equal((await listMeasurements(client, mc.name)).length, afterList.length);
    assert.match(ok(hk(['reencrypt', 'event-groups', '--dir', dp2.dir]), 'reencrypt again').stdout, /0 open metadata re-encryption request\(s\): nothing to do/);
    ok(hk(['audit', 'verify', '--dir', mc.dir]), 'audit verify after the second run');
  });

  it('DataProvider key: rotated at once, pending requisitions encrypted to it refused and reported, new work flows', async () => {
    const pending = await createMeasurement(mc, [dp2], 'dp-key');
    const compromised = activeEntry(dp2.session().keyring, 'encryption')!;
    // Every requisition dp2 has open was encrypted to its one key (the earlier test left two besides this one).
    const open = (await dp2.client().requisitions.listRequisitions({ parent: dp2.name, pageSize: 100, filter: { states: [Requisition_State.UNFULFILLED] } })).requisitions;
    assert.ok(open.length >= 2 && open.some((q) => q.measurement === pending.name));
    const r = JSON.parse(ok(hk(['compromise', 'encryption-key', '--dir', dp2.dir, '--json']), 'dp compromise').stdout);
    assert.deepEqual(r.steps.filter((s: { type: string }) => s.type.startsWith('compromise.refuse-requisition')).map((s: { type: string }) => s.type), ['compromise.refuse-requisitions']);
    assert.deepEqual([r.report.refusals.count, r.report.refusals.refused], [open.length, open.length]);
    const failed = await mc.client().measurements.getMeasurement({ name: pending.name });
    assert.equal(failed.state, Measurement_State.FAILED);
    assert.equal(failed.failure?.reason, Measurement_Failure_Reason.REQUISITION_REFUSED);
    assert.deepEqual([...r.report.failed.requisitions].sort(), open.map((q) => q.name).sort());
    assert.deepEqual(r.report.rerun.map((x: { resource: string }) => x.resource).sort(), open.map((q) => q.measurement).sort());
    for (const q of open) assert.equal((await mc.client().measurements.getMeasurement({ name: q.measurement })).failure?.reason, Measurement_Failure_Reason.REQUISITION_REFUSED);
    assert.equal(readKeyring(dp2.dir).entries.find((e) => e.id === compromised.id)!.state, 'compromised');
    const fresh = await createMeasurement(mc, [dp2], 'dp-key-after');
    await fulfill(dp2, fresh.name);
    assert.equal((await mc.client().measurements.getMeasurement({ name: fresh.name })).state, Measurement_State.SUCCEEDED);
    ok(hk(['audit', 'verify', '--dir', dp2.dir]), 'audit verify');
  });

  it('MC key, a journal of the earlier format (one compromise.replace-measurement step each) resumes with the step it names', async () => {
    const legacy = await newParty(kingdom, work.dir, 'measurementConsumer', 'legacy-journal');
    configureCompromise(legacy, [dp1, dp2]);
    const { eventGroup } = await createEventGroup(dp1, legacy, 'legacy-eg');
    const olds = [await createMeasurement(legacy, [dp1, dp2], 'la'), await createMeasurement(legacy, [dp2], 'lb')];
    const args = ['compromise', 'encryption-key', '--dir', legacy.dir];
    const plan = JSON.parse(ok(hk([...args, '--dry-run', '--json']), 'plan').stdout) as { steps: Array<{ n: number; type: string }> };
    const requested = plan.steps.find((s) => s.type === 'compromise.request-reencryption')!.n;
    assert.equal(hk(args, { HALO_KEYS_FAULT_AFTER_STEP: String(requested) }).signal, 'SIGKILL');

    // What an earlier version left: a step per measurement, the assessment listing them all, the requests by name.
    const journalFile = join(legacy.dir, 'journal.json');
    const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { id: string; steps: Array<{ n: number; type: string; args?: Record<string, unknown>; summary: string; status: string; attempts: number }> };
    const paged = journal.steps.find((s) => s.type === 'compromise.replace-measurements')!;
    const { requisitionSpecs, trustedRoots, compromisedKeyId } = paged.args!;
    const perMeasurement = olds.map((m) => ({ n: 0, type: 'compromise.replace-measurement', summary: `replace ${m.name} with one using the new key, then cancel it`, args: { measurement: m.name, requisitionSpecs, trustedRoots, compromisedKeyId }, status: 'pending', attempts: 0 }));
    journal.steps.splice(journal.steps.indexOf(paged), 1, ...perMeasurement);
    journal.steps.forEach((s, i) => (s.n = i + 1));
    writeFileSync(journalFile, JSON.stringify(journal, null, 2));
    const workspace = join(legacy.dir, 'compromise', journal.id);
    const assessment = JSON.parse(readFileSync(join(workspace, 'assessment.json'), 'utf8'));
    delete assessment.measurementCount;
    delete assessment.eventGroupCount;
    writeFileSync(join(workspace, 'assessment.json'), JSON.stringify(assessment));
    for (const f of ['measurements.jsonl', 'event-groups.jsonl', 'reencryption-requested.json']) rmSync(join(workspace, f));
    const [request] = (await dp1.client().metadataReencryption.listMetadataReencryptionRequests({ parent: dp1.name })).requests.filter((q) => q.measurementConsumer === legacy.name);
    writeFileSync(join(workspace, 'reencryption-requests.json'), JSON.stringify({ [request!.name]: { eventGroup: eventGroup.name } }));

    const resumed = JSON.parse(ok(hk([...args, '--json']), 'resumed').stdout);
    assert.equal(resumed.resumed, true);
    assert.deepEqual(resumed.steps.filter((s: { type: string }) => s.type.startsWith('compromise.replace-measurement')).map((s: { type: string; status: string }) => [s.type, s.status]), [
      ['compromise.replace-measurement', 'done'],
      ['compromise.replace-measurement', 'done'],
    ]);
    const all = await listMeasurements(legacy.client(), legacy.name);
    assert.equal(replacing(all).length, 2, 'one replacement each');
    for (const old of olds) assert.equal(all.find((m) => m.name === old.name)!.state, Measurement_State.CANCELLED);
    assert.deepEqual(resumed.report.replacements.map((r: { old: string; replacement: string | null }) => [r.old, r.replacement !== null]).sort(), olds.map((m) => [m.name, true]).sort());
    assert.deepEqual(resumed.report.eventGroups.map((e: { eventGroup: string; request: string }) => [e.eventGroup, e.request]), [[eventGroup.name, request!.name]]);
  });

  for (const hook of ['HALO_KEYS_FAULT_AFTER_STEP', 'HALO_KEYS_FAULT_BEFORE_RECORD'] as const) {
    it(`MC key, SIGKILL at every step (${hook}): running it again finishes, one replacement each, one new key, valid audit chain`, async (t) => {
      const effectful = new Set(['encryption.add', 'public-key.publish', 'compromise.remove-encryption-key', 'compromise.request-reencryption', 'compromise.replace-measurements']);
      let points: number[] | undefined;
      let total = 0;
      let finished = 0;
      for (let i = 0; points === undefined || i < points.length; i++) {
        const consumer = await newParty(kingdom, work.dir, 'measurementConsumer', `kill-${hook === 'HALO_KEYS_FAULT_AFTER_STEP' ? 'after' : 'before'}-${i}`);
        configureCompromise(consumer, [dp1, dp2]);
        await createEventGroup(dp1, consumer, `kill-${hook === 'HALO_KEYS_FAULT_AFTER_STEP' ? 'after' : 'before'}-${i}`);
        const olds = [await createMeasurement(consumer, [dp1, dp2], 'a'), await createMeasurement(consumer, [dp2], 'b')];
        if (points === undefined) {
          const plan = JSON.parse(ok(hk(['compromise', 'encryption-key', '--dir', consumer.dir, '--dry-run', '--json']), 'plan').stdout);
          total = plan.steps.length;
          points = (plan.steps as Array<{ n: number; type: string }>).filter((s) => hook === 'HALO_KEYS_FAULT_AFTER_STEP' || effectful.has(s.type)).map((s) => s.n);
        }
        const n = points[i]!;
        const killed = hk(['compromise', 'encryption-key', '--dir', consumer.dir], { [hook]: String(n) });
        assert.equal(killed.signal, 'SIGKILL', `step ${n}: ${killed.stderr}`);
        const second = JSON.parse(ok(hk(['compromise', 'encryption-key', '--dir', consumer.dir, '--json']), `step ${n}: second run`).stdout);
        assert.equal(second.resumed, true, `step ${n}: resumed, not a second compromise of the new key`);
        const keyring = readKeyring(consumer.dir);
        assert.equal(keyring.entries.filter((e) => e.kind === 'encryption').length, 2, `step ${n}: one new key`);
        assert.equal(keyring.entries.filter((e) => e.kind === 'encryption' && e.state === 'compromised').length, 1);
        const all = await listMeasurements(consumer.client(), consumer.name);
        assert.equal(replacing(all).length, 2, `step ${n}: one replacement each`);
        for (const old of olds) assert.equal(all.find((m) => m.name === old.name)!.state, Measurement_State.CANCELLED);
        const open = (await dp1.client().metadataReencryption.listMetadataReencryptionRequests({ parent: dp1.name })).requests.filter((q) => q.measurementConsumer === consumer.name);
        assert.equal(open.length, 1, `step ${n}: one re-encryption request`);
        ok(hk(['audit', 'verify', '--dir', consumer.dir]), `step ${n}: audit verify`);
        finished++;
      }
      t.diagnostic(`${hook}: ${finished}/${points!.length} crashed procedures finished by a second run (steps ${points!.join(', ')} of ${total})`);
      assert.equal(finished, points!.length);
      assert.ok(points!.length >= 5);
    });
  }
});
