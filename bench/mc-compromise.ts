/**
 * A MeasurementConsumer's encryption-key compromise at volume, as an operator
 * runs it: a `halo-keys kingdom serve` process (embedded store), two
 * DataProviders with EVENT_GROUPS EventGroups between them encrypted to the
 * MC's key, MEASUREMENTS ongoing measurements, then `halo-keys compromise
 * encryption-key` timed end to end, with the peak RSS of the CLI process
 * (from /usr/bin/time) and of the Kingdom (VmHWM, setup included).
 *
 *   npm run build && node --import tsx bench/mc-compromise.ts [EVENT_GROUPS] [MEASUREMENTS]
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, fromBinary } from '@bufbuild/protobuf';
import { StringValueSchema } from '@bufbuild/protobuf/wkt';
import { encryptMessage } from '../src/crypto/encrypted-message.js';
import { parseKeyset } from '../src/crypto/keyset.js';
import { EncryptionPublicKeySchema } from '../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema } from '../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { packAny } from '../src/lib/type-url.js';
import { activeEntry } from '../src/rotation/keyring.js';
import { repo, startKingdom } from '../test/cli/kingdom-process.js';
import { configureCompromise, createMeasurement, newParty, type Party } from '../test/rotation/compromise-fixtures.js';
import { PASSPHRASE, scratch } from '../test/rotation/fixtures.js';

const EVENT_GROUPS = Number(process.argv[2] ?? 10_000);
const MEASUREMENTS = Number(process.argv[3] ?? 1_000);
const BATCH = 50;

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

async function eventGroups(dp: Party, mc: Party, count: number): Promise<void> {
  const client = dp.client();
  const consumer = await client.measurementConsumers.getMeasurementConsumer({ name: mc.name });
  const keyset = parseKeyset(fromBinary(EncryptionPublicKeySchema, consumer.publicKey!.message!.value).data);
  for (let done = 0; done < count; done += BATCH) {
    const n = Math.min(BATCH, count - done);
    await client.eventGroups.batchCreateEventGroups({
      parent: dp.name,
      requests: Array.from({ length: n }, (_, i) => {
        const metadata = create(EventGroup_MetadataSchema, { metadata: packAny(StringValueSchema, create(StringValueSchema, { value: `campaign ${done + i}` })) });
        return {
          parent: dp.name,
          eventGroup: {
            measurementConsumer: mc.name,
            eventGroupReferenceId: `eg-${done + i}`,
            encryptedMetadata: encryptMessage(keyset, EventGroup_MetadataSchema, metadata),
            measurementConsumerPublicKey: consumer.publicKey!.message!,
            signedMeasurementConsumerPublicKey: consumer.publicKey!,
          },
        };
      }),
    });
  }
}

function vmHwm(pid: number): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
  return line?.replace(/^VmHWM:\s*/, '') ?? '?';
}

const work = scratch('halo-bench-mc-compromise-');
const kingdom = await startKingdom(join(work.dir, 'kingdom'));
try {
  const mc = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc');
  const dp1 = await newParty(kingdom, work.dir, 'dataProvider', 'edp1');
  const dp2 = await newParty(kingdom, work.dir, 'dataProvider', 'edp2');
  configureCompromise(mc, [dp1, dp2]);
  let t = Date.now();
  await eventGroups(dp1, mc, Math.ceil(EVENT_GROUPS / 2));
  await eventGroups(dp2, mc, Math.floor(EVENT_GROUPS / 2));
  console.log(`setup: ${EVENT_GROUPS} EventGroups in ${seconds(Date.now() - t)}`);
  t = Date.now();
  for (let i = 0; i < MEASUREMENTS; i += 8) {
    await Promise.all(Array.from({ length: Math.min(8, MEASUREMENTS - i) }, (_, k) => createMeasurement(mc, (i + k) % 2 ? [dp1, dp2] : [dp2], `m-${i + k}`)));
  }
  console.log(`setup: ${MEASUREMENTS} ongoing measurements in ${seconds(Date.now() - t)}`);

  const keyId = String(activeEntry(mc.session().keyring, 'encryption')!.tinkKeyId);
  t = Date.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'cli peak RSS %M KiB', process.execPath, join(repo, 'bin/halo-keys.js'), 'compromise', 'encryption-key', '--dir', mc.dir, '--key-id', keyId, '--json'], {
    cwd: repo,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: PASSPHRASE, HALO_KEYS_NOW: '' },
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const elapsed = Date.now() - t;
  if (r.status !== 0) throw new Error(`compromise encryption-key exited ${r.status}:\n${r.stderr.slice(-4000)}`);
  const result = JSON.parse(r.stdout) as { steps: Array<{ type: string; startedAt?: string; doneAt?: string; result?: string }> };
  console.log(`compromise encryption-key: ${seconds(elapsed)} wall, ${result.steps.length} journal steps, stdout ${(r.stdout.length / 1024).toFixed(0)} KiB`);
  const byType = new Map<string, number>();
  for (const s of result.steps) {
    if (s.startedAt && s.doneAt) byType.set(s.type, (byType.get(s.type) ?? 0) + Date.parse(s.doneAt) - Date.parse(s.startedAt));
  }
  for (const [type, ms] of byType) console.log(`  ${type.padEnd(34)} ${seconds(ms)}`);
  // The replacement's own progress lines (every 10 %): a rate that holds steady is linear work.
  for (const l of r.stderr.split('\n')) if (l.includes(': replace-measurements ') || l.startsWith('cli peak RSS')) console.log(`  ${l}`);
  console.log(`kingdom peak RSS (VmHWM, setup included): ${vmHwm(kingdom.pid)}`);
} finally {
  await kingdom.stop();
  work.remove();
}
