/**
 * The rehearsal's workload creates EventGroups and measurements in batches:
 * at a size that spans several batches of each (and leaves a partial last
 * one), every EventGroup exists at the Kingdom, its metadata decrypts with
 * the MeasurementConsumer's key to exactly the plaintext copy its
 * DataProvider keeps, and every measurement is in the state of its kind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { equals, fromBinary } from '@bufbuild/protobuf';
import { decryptMessage } from '../../src/crypto/index.js';
import { EventGroup_MetadataSchema } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { prepareCluster, type TlsEndpoint } from '../../src/rehearse/cluster.js';
import { CommandRunner } from '../../src/rehearse/commands.js';
import { startKingdom, type RehearsalKingdom } from '../../src/rehearse/kingdom.js';
import { clientOf, privateKeyset } from '../../src/rehearse/observe.js';
import { copiesDir, makeCast, type Cast, type Participant } from '../../src/rehearse/participants.js';
import { MEASUREMENT_KINDS, runWorkload, type WorkloadSummary } from '../../src/rehearse/workload.js';
import { ensureBuilt } from '../cli/kingdom-process.js';

// 123 EventGroups: 62 for edp1, 61 for edp2, each two batches of which the second is partial; 57 measurements: two batches.
const EVENT_GROUPS = 123;
const MEASUREMENTS = 57;

const root = mkdtempSync(join(tmpdir(), 'halo-workload-test-'));
const passphrase = 'workload test passphrase';
const endpoints: TlsEndpoint[] = [];
let kingdom: RehearsalKingdom | undefined;
let cast: Cast;
let summary: WorkloadSummary;
const progress: Array<[number, number]> = [];

before(async () => {
  ensureBuilt(['src/cli/halo-keys.ts', 'src/rehearse/participants.ts']);
  kingdom = await startKingdom(join(root, 'kingdom'));
  prepareCluster(root);
  cast = await makeCast(root, new CommandRunner({ HALO_KEYS_PASSPHRASE: passphrase, HALO_KEYS_LOG_LEVEL: 'warn' }, root), kingdom, endpoints);
  summary = await runWorkload(cast, passphrase, { eventGroups: EVENT_GROUPS, measurements: MEASUREMENTS }, (done, total) => progress.push([done, total]));
});

after(async () => {
  for (const e of endpoints) await e.close();
  await kingdom?.stop();
  rmSync(root, { recursive: true, force: true });
});

/** Every EventGroup of `dp`, page by page. */
async function eventGroupsOf(dp: Participant) {
  const client = clientOf(dp, passphrase);
  const all = [];
  for (let pageToken = ''; ; ) {
    const page = await client.eventGroups.listEventGroups({ parent: dp.name, pageSize: 40, pageToken });
    all.push(...page.eventGroups);
    if (!page.nextPageToken) return all;
    pageToken = page.nextPageToken;
  }
}

describe('the rehearsal workload, batched', () => {
  it('creates every EventGroup, each decrypting to its DataProvider\'s plaintext copy', async () => {
    assert.deepEqual(summary.eventGroups, { edp1: 62, edp2: 61 });
    const mcKeyset = privateKeyset(cast.mc, passphrase);
    for (const [dp, parity, count] of [[cast.edp1, 0, 62], [cast.edp2, 1, 61]] as const) {
      const groups = await eventGroupsOf(dp);
      assert.equal(groups.length, count, `${dp.label}: EventGroups at the Kingdom`);
      const ids = groups.map((g) => g.eventGroupReferenceId).sort();
      const expected = Array.from({ length: EVENT_GROUPS }, (_, i) => i).filter((i) => i % 2 === parity).map((i) => `eg-${i}`).sort();
      assert.deepEqual(ids, expected, `${dp.label}: one EventGroup per reference id`);
      assert.deepEqual(readdirSync(copiesDir(dp)).sort(), expected.map((id) => `${id}.binpb`).sort(), `${dp.label}: one plaintext copy per EventGroup`);
      for (const g of groups) {
        assert.equal(g.measurementConsumer, cast.mc.name);
        const copy = fromBinary(EventGroup_MetadataSchema, readFileSync(join(copiesDir(dp), `${g.eventGroupReferenceId}.binpb`)));
        const decrypted = decryptMessage(mcKeyset, g.encryptedMetadata!, EventGroup_MetadataSchema);
        assert.ok(equals(EventGroup_MetadataSchema, decrypted, copy), `${g.name}: the metadata is its plaintext copy`);
      }
    }
  });

  it('creates every measurement in the state of its kind', async () => {
    const counts = Object.fromEntries(MEASUREMENT_KINDS.map((k) => [k, summary.measurements[k].count]));
    // Kinds cycle with the measurement's index: 57 = 11 * 5 + 2, so the first two kinds have one more.
    assert.deepEqual(counts, { succeeded: 12, 'awaiting-edp1': 12, 'awaiting-edp2': 11, failed: 11, cancelled: 11 });
    assert.deepEqual(summary.requisitions, { fulfilled: 2 * 12 + 12, unfulfilled: 12 + 11, refused: 11 });
    const expected: Record<string, Measurement_State> = {
      succeeded: Measurement_State.SUCCEEDED,
      'awaiting-edp1': Measurement_State.AWAITING_REQUISITION_FULFILLMENT,
      'awaiting-edp2': Measurement_State.AWAITING_REQUISITION_FULFILLMENT,
      failed: Measurement_State.FAILED,
      cancelled: Measurement_State.CANCELLED,
    };
    const mc = clientOf(cast.mc, passphrase);
    const names = new Set<string>();
    for (const kind of MEASUREMENT_KINDS) {
      assert.equal(summary.measurements[kind].sample.length, summary.measurements[kind].count, `${kind}: every name kept below the sample size`);
      for (const name of summary.measurements[kind].sample) {
        const m = await mc.measurements.getMeasurement({ name });
        assert.equal(Measurement_State[m.state], Measurement_State[expected[kind]!], `${name} (${kind})`);
        assert.match(m.measurementReferenceId, new RegExp(`^m-\\d+-${kind}$`));
        names.add(name);
      }
    }
    assert.equal(names.size, MEASUREMENTS);
  });

  it('reports progress up to the total', () => {
    assert.deepEqual(progress[0], [0, EVENT_GROUPS + MEASUREMENTS]);
    assert.deepEqual(progress.at(-1), [EVENT_GROUPS + MEASUREMENTS, EVENT_GROUPS + MEASUREMENTS]);
    assert.ok(progress.every(([done], k) => k === 0 || done > progress[k - 1]![0]), 'progress only grows');
  });
});
