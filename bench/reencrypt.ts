/**
 * A DataProvider answering the Kingdom's metadata re-encryption requests
 * after a MeasurementConsumer's encryption key leaked, beside bare ECIES
 * encryption of the same metadata to the same key in the same run.
 *
 * A `halo-keys kingdom serve` process holds N EventGroups
 * of one DataProvider (BatchCreateEventGroups), their metadata encrypted to
 * the MC's key; the MC runs `compromise encryption-key` (rotate, request
 * re-encryption). Timed: the DataProvider's `reencrypt event-groups`,
 * in process through the code the CLI runs (plan, journal, pages, report).
 * Target: at least 0.5x the bare encryption rate. Run on the embedded
 * database, then on PostgreSQL in a throwaway database when one is reachable
 * (HALO_KEYS_TEST_DATABASE_URL, or 127.0.0.1:5432).
 *
 * N: BENCH_REENCRYPT_N (default 2000).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { StringValueSchema } from '@bufbuild/protobuf/wkt';
import { encryptMessage } from '../src/crypto/encrypted-message.js';
import { parseKeyset } from '../src/crypto/keyset.js';
import { EncryptionPublicKeySchema } from '../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema, type EventGroup_Metadata } from '../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { packAny } from '../src/lib/type-url.js';
import { planReencryption } from '../src/rotation/compromise/plans.js';
import { runProcedure } from '../src/rotation/compromise/procedure.js';
import { compromiseSettings } from '../src/rotation/compromise/settings.js';
import { activeEntry } from '../src/rotation/keyring.js';
import { startKingdom } from '../test/cli/kingdom-process.js';
import { configureCompromise, hk, newParty } from '../test/rotation/compromise-fixtures.js';
import { commandCpuSeconds, cpuSecondsBetween, hasProcCpu, printFigures, processCpuSeconds, type Figure } from './harness.js';
import { freshBenchPostgres } from './kingdom.js';

const BATCH = 50;

function metadataOf(dp: string, i: number): EventGroup_Metadata {
  return create(EventGroup_MetadataSchema, {
    eventGroupMetadataDescriptor: `${dp}/eventGroupMetadataDescriptors/AAAAAAAAAHs`,
    metadata: packAny(StringValueSchema, create(StringValueSchema, { value: `campaign ${i}: a brand, a channel, a flight of some weeks` })),
  });
}

/** The Kingdom's database: the server reads its URL from the environment, so it never shows in argv. */
async function startOn(dataDir: string, databaseUrl: string | undefined) {
  const saved = process.env.HALO_KEYS_DATABASE_URL;
  if (databaseUrl === undefined) delete process.env.HALO_KEYS_DATABASE_URL;
  else process.env.HALO_KEYS_DATABASE_URL = databaseUrl;
  try {
    return await startKingdom(dataDir);
  } finally {
    if (saved === undefined) delete process.env.HALO_KEYS_DATABASE_URL;
    else process.env.HALO_KEYS_DATABASE_URL = saved;
  }
}

async function reencryption(n: number, engine: string, databaseUrl?: string): Promise<Figure> {
  const work = mkdtempSync(join(tmpdir(), 'halo-bench-reencrypt-'));
  const kingdom = await startOn(join(work, 'kingdom'), databaseUrl);
  try {
    const mc = await newParty(kingdom, work, 'measurementConsumer', 'mc');
    const dp = await newParty(kingdom, work, 'dataProvider', 'edp');
    configureCompromise(mc, [dp]);
    configureCompromise(dp, [mc]);

    // N EventGroups encrypted to the MC's current key, the plaintext kept by reference id as the DataProvider's tooling does.
    const client = dp.client();
    const shown = (await client.measurementConsumers.getMeasurementConsumer({ name: mc.name })).publicKey!;
    const oldKey = parseKeyset(fromBinary(EncryptionPublicKeySchema, shown.message!.value).data);
    for (let start = 0; start < n; start += BATCH) {
      const requests = [];
      for (let i = start; i < Math.min(n, start + BATCH); i++) {
        const metadata = metadataOf(dp.name, i);
        writeFileSync(join(dp.copies, `eg-${i}.binpb`), toBinary(EventGroup_MetadataSchema, metadata));
        requests.push({
          parent: dp.name,
          eventGroup: {
            measurementConsumer: mc.name,
            eventGroupReferenceId: `eg-${i}`,
            encryptedMetadata: encryptMessage(oldKey, EventGroup_MetadataSchema, metadata),
            measurementConsumerPublicKey: shown.message!,
            signedMeasurementConsumerPublicKey: shown,
          },
        });
      }
      await client.eventGroups.batchCreateEventGroups({ parent: dp.name, requests });
    }

    // The MC's key leaks: it rotates and asks for re-encryption.
    const compromise = hk(['compromise', 'encryption-key', '--dir', mc.dir, '--key-id', String(activeEntry(mc.session().keyring, 'encryption')!.tinkKeyId)]);
    if (compromise.code !== 0) throw new Error(`compromise encryption-key failed: ${compromise.stderr}`);
    const rotated = (await client.measurementConsumers.getMeasurementConsumer({ name: mc.name })).publicKey!;
    const newKey = parseKeyset(fromBinary(EncryptionPublicKeySchema, rotated.message!.value).data);

    // Baseline: bare ECIES of the same metadata to the new key, the best of three passes (the first warms up).
    const metadata = Array.from({ length: n }, (_, i) => metadataOf(dp.name, i));
    let bareS = Infinity;
    for (let pass = 0; pass < 3; pass++) {
      const b0 = performance.now();
      for (const m of metadata) encryptMessage(newKey, EventGroup_MetadataSchema, m);
      bareS = Math.min(bareS, (performance.now() - b0) / 1000);
    }

    const session = dp.session();
    const settings = compromiseSettings(session.config);
    const heapBefore = process.memoryUsage().heapUsed;
    const cpu0 = { dataProvider: process.cpuUsage(), kingdom: processCpuSeconds(kingdom.pid), postgres: databaseUrl === undefined || !hasProcCpu ? undefined : commandCpuSeconds('postgres') };
    const t0 = performance.now();
    const result = await runProcedure(session, 'reencrypt.event-groups', async (env) => planReencryption(session, env.client(), { settings }), {});
    const oursS = (performance.now() - t0) / 1000;
    const dpCpu = process.cpuUsage(cpu0.dataProvider);
    const cpu = {
      DataProvider: (dpCpu.user + dpCpu.system) / 1e6,
      Kingdom: processCpuSeconds(kingdom.pid) - cpu0.kingdom,
      ...(cpu0.postgres === undefined ? {} : { PostgreSQL: cpuSecondsBetween(cpu0.postgres, commandCpuSeconds('postgres')) }),
    };
    const heapAfter = process.memoryUsage().heapUsed;
    // The report's eventGroups are a sample; its counts are the whole.
    const done = result.report?.counts?.reencrypted ?? 0;
    if (done !== n) throw new Error(`${done} of ${n} EventGroups re-encrypted`);
    const left = (await client.metadataReencryption.listMetadataReencryptionRequests({ parent: dp.name })).requests.length;
    if (left !== 0) throw new Error(`${left} requests still open`);

    // Where the time goes: the processes share this machine's cores, which a production DataProvider does not share with the Kingdom.
    if (hasProcCpu) {
      const perGroup = Object.entries(cpu).map(([who, seconds]) => `${who} ${((seconds * 1e6) / n).toFixed(0)} µs`);
      console.log(`${engine}: CPU per EventGroup: ${perGroup.join(', ')}; bare ECIES ${((bareS * 1e6) / n).toFixed(0)} µs; wall ${((oursS * 1e6) / n).toFixed(0)} µs`);
    }
    console.log(`${engine}: heap after the run ${((heapAfter - heapBefore) / 1048576).toFixed(1)} MiB more than before (the report: a sample and the counts)`);
    return { name: `${engine}: DataProvider re-encryption of ${n} EventGroups (listed 1000 at a time, one BatchReencryptEventGroups per 200, audit)`, ours: n / oursS, baseline: n / bareS, unit: 'ops/s', baselineName: 'bare ECIES encryptMessage', target: '>= 0.5' };
  } finally {
    await kingdom.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

export async function run(): Promise<void> {
  const n = Number(process.env.BENCH_REENCRYPT_N ?? 2000);
  const figures = [await reencryption(n, 'embedded')];
  const postgres = await freshBenchPostgres();
  if (postgres === undefined) {
    console.log('(reencrypt: no PostgreSQL reachable; set HALO_KEYS_TEST_DATABASE_URL for the PostgreSQL figure)');
  } else {
    try {
      figures.push(await reencryption(n, 'PostgreSQL', postgres.url));
    } finally {
      await postgres.drop();
    }
  }
  printFigures('reencrypt', figures);
}
