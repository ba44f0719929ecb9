/**
 * The DataProvider's Replace* methods, ListModelProviders and the EventGroup
 * batches, over the in-memory transport with the real services and a real
 * store, on PGlite and on PostgreSQL. Each attack comes first and must be
 * refused without changing anything: another participant acting for a
 * DataProvider, a caller with no certificate, a batch over the limit or
 * reaching into another DataProvider, a batch with one bad entry (which
 * writes none of the others).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Code } from '@connectrpc/connect';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { ModelProviders } from '../../src/gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { MAX_BATCH } from '../../src/kingdom/service/event-groups-service.js';
import { as, createParty, openTestKingdom, rejectsWith, type Caller, type TestKingdom, type TestParty } from './fixtures.js';
import { freshPostgresDatabase, type TestDatabase } from './store-fixtures.js';

const interval = (start: bigint, end: bigint) => ({ startTime: { seconds: start }, endTime: { seconds: end } });

for (const backend of ['PGlite', 'PostgreSQL'] as const) {
  describe(`DataProvider settings, ListModelProviders, EventGroup batches (${backend})`, () => {
    let k: TestKingdom;
    let db: TestDatabase | undefined;
    let dp: TestParty;
    let dp2: TestParty;
    let mc: TestParty;
    let mp: TestParty;
    let duchy: TestParty;

    before(async () => {
      db = backend === 'PostgreSQL' ? await freshPostgresDatabase() : undefined;
      k = await openTestKingdom(db ? { databaseUrl: db.url } : {});
      dp = await createParty(k, 'DATA_PROVIDER');
      dp2 = await createParty(k, 'DATA_PROVIDER');
      mc = await createParty(k, 'MEASUREMENT_CONSUMER');
      mp = await createParty(k, 'MODEL_PROVIDER');
      duchy = await createParty(k, 'DUCHY', { duchyId: 'worker1' });
    });
    after(async () => {
      await k?.close();
      await db?.drop();
    });

    const dps = (caller: Caller) => k.client(DataProviders, caller);

    it('replaces required Duchies, availability and capabilities for the DataProvider itself only', async () => {
      const modelLine = `${mp.name}/modelSuites/AAAAAAAAAAE/modelLines/AAAAAAAAAAI`;
      const calls = {
        duchies: (c: Caller) => dps(c).replaceDataProviderRequiredDuchies({ name: dp.name, requiredDuchies: [duchy.name] }),
        intervals: (c: Caller) =>
          dps(c).replaceDataAvailabilityIntervals({ name: dp.name, dataAvailabilityIntervals: [{ key: modelLine, value: interval(100n, 200n) }] }),
        interval: (c: Caller) => dps(c).replaceDataAvailabilityInterval({ name: dp.name, dataAvailabilityInterval: interval(100n, 300n) }),
        capabilities: (c: Caller) => dps(c).replaceDataProviderCapabilities({ name: dp.name, capabilities: { honestMajorityShareShuffleSupported: true } }),
      };
      const audit = await k.auditLength();
      for (const [what, call] of Object.entries(calls)) {
        for (const caller of [as(dp2), as(mc), as(mp), as(duchy)]) {
          await rejectsWith(call(caller), Code.PermissionDenied, 'PERMISSION_DENIED').catch((err: unknown) => {
            throw new Error(`${what}: ${String(err)}`);
          });
        }
        await rejectsWith(call('anonymous'), Code.Unauthenticated);
      }
      // Bad values, from the DataProvider itself.
      await rejectsWith(dps(as(dp)).replaceDataProviderRequiredDuchies({ name: dp.name, requiredDuchies: ['duchies/nowhere'] }), Code.NotFound, 'DUCHY_NOT_FOUND');
      await rejectsWith(dps(as(dp)).replaceDataProviderRequiredDuchies({ name: dp.name, requiredDuchies: [dp2.name] }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
      await rejectsWith(dps(as(dp)).replaceDataAvailabilityInterval({ name: dp.name, dataAvailabilityInterval: interval(300n, 100n) }), Code.InvalidArgument);
      await rejectsWith(dps(as(dp)).replaceDataAvailabilityInterval({ name: dp.name, dataAvailabilityInterval: { startTime: { seconds: 5n } } }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      await rejectsWith(
        dps(as(dp)).replaceDataAvailabilityIntervals({ name: dp.name, dataAvailabilityIntervals: [{ key: mp.name, value: interval(1n, 2n) }] }),
        Code.InvalidArgument,
        'INVALID_RESOURCE_NAME',
      );
      await rejectsWith(
        dps(as(dp)).replaceDataAvailabilityIntervals({
          name: dp.name,
          dataAvailabilityIntervals: [{ key: modelLine.replace(mp.name, 'modelProviders/AAAAAAAAAAE'), value: interval(1n, 2n) }],
        }),
        Code.NotFound,
        'MODEL_PROVIDER_NOT_FOUND',
      );
      assert.equal(await k.auditLength(), audit, 'no refused call changed anything');

      for (const call of Object.values(calls)) await call(as(dp));
      // Every reader sees the settings; another DataProvider's are untouched.
      const got = await dps(as(mc)).getDataProvider({ name: dp.name });
      assert.deepEqual(got.requiredDuchies, [duchy.name]);
      assert.equal(got.dataAvailabilityInterval?.endTime?.seconds, 300n);
      assert.deepEqual(got.dataAvailabilityIntervals.map((e) => [e.key, e.value?.endTime?.seconds]), [[modelLine, 200n]]);
      assert.equal(got.capabilities?.honestMajorityShareShuffleSupported, true);
      const other = await dps(as(mc)).getDataProvider({ name: dp2.name });
      assert.deepEqual(other.requiredDuchies, []);
      assert.equal(other.capabilities, undefined);
      // Replacing is whole: an empty list clears.
      const cleared = await dps(as(dp)).replaceDataProviderRequiredDuchies({ name: dp.name, requiredDuchies: [] });
      assert.deepEqual(cleared.requiredDuchies, []);
    });

    it('lists ModelProviders in pages to any participant, and to nobody else', async () => {
      await createParty(k, 'MODEL_PROVIDER');
      await createParty(k, 'MODEL_PROVIDER');
      const mps = (c: Caller) => k.client(ModelProviders, c);
      await rejectsWith(mps('anonymous').listModelProviders({}), Code.Unauthenticated);
      await rejectsWith(mps(as(dp)).listModelProviders({ pageToken: 'not a token' }), Code.InvalidArgument, 'INVALID_PAGE_TOKEN');
      const names: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await mps(as(duchy)).listModelProviders({ pageSize: 2, pageToken });
        assert.ok(page.modelProviders.length <= 2);
        names.push(...page.modelProviders.map((m) => m.name));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== '');
      assert.equal(names.length, 3);
      assert.equal(new Set(names).size, 3);
      assert.ok(names.includes(mp.name));
      assert.equal(pages, 2);
    });

    it('creates and updates EventGroups in batches of at most 50, all or nothing, under the caller only', async () => {
      const egs = (c: Caller) => k.client(EventGroups, c);
      const group = (reference: string, consumer = mc.name) => ({ eventGroup: { measurementConsumer: consumer, eventGroupReferenceId: reference } });
      const audit = await k.auditLength();
      await rejectsWith(egs(as(dp2)).batchCreateEventGroups({ parent: dp.name, requests: [group('a')] }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(egs(as(mc)).batchCreateEventGroups({ parent: dp.name, requests: [group('a')] }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(egs('anonymous').batchCreateEventGroups({ parent: dp.name, requests: [group('a')] }), Code.Unauthenticated);
      const tooMany = Array.from({ length: MAX_BATCH + 1 }, (_, i) => group(`g${i}`));
      await rejectsWith(egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: tooMany }), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
      await rejectsWith(egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: [] }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      await rejectsWith(
        egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: [group('a'), { ...group('b'), parent: dp2.name }] }),
        Code.InvalidArgument,
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(
        egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: [{ ...group('a'), requestId: 'x' }, { ...group('b'), requestId: 'x' }] }),
        Code.InvalidArgument,
        'INVALID_FIELD_VALUE',
      );
      // One entry names a MeasurementConsumer that does not exist: nothing is created.
      await rejectsWith(
        egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: [group('a'), group('b', 'measurementConsumers/AAAAAAAAAAE')] }),
        Code.FailedPrecondition,
        'MEASUREMENT_CONSUMER_NOT_FOUND',
      );
      assert.equal(await k.auditLength(), audit, 'no refused batch changed anything');
      assert.equal((await egs(as(dp)).listEventGroups({ parent: dp.name })).eventGroups.length, 0);

      const full = Array.from({ length: MAX_BATCH }, (_, i) => group(`g${i}`));
      const created = await egs(as(dp)).batchCreateEventGroups({ parent: dp.name, requests: full });
      assert.equal(created.eventGroups.length, MAX_BATCH);
      assert.deepEqual(created.eventGroups.map((g) => g.eventGroupReferenceId), full.map((r) => r.eventGroup.eventGroupReferenceId));
      const other = await egs(as(dp2)).createEventGroup({ parent: dp2.name, eventGroup: group('theirs').eventGroup });

      const [first, second] = created.eventGroups;
      const update = (name: string, reference: string) => ({ eventGroup: { name, measurementConsumer: mc.name, eventGroupReferenceId: reference } });
      const before = await k.auditLength();
      await rejectsWith(
        egs(as(dp)).batchUpdateEventGroups({ parent: dp.name, requests: [update(first!.name, 'x'), update(other.name, 'stolen')] }),
        Code.InvalidArgument,
        'INVALID_FIELD_VALUE',
      );
      await rejectsWith(egs(as(dp2)).batchUpdateEventGroups({ parent: dp.name, requests: [update(first!.name, 'x')] }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(
        egs(as(dp)).batchUpdateEventGroups({ parent: dp.name, requests: Array.from({ length: MAX_BATCH + 1 }, () => update(first!.name, 'x')) }),
        Code.InvalidArgument,
        'INVALID_FIELD_VALUE',
      );
      // One entry is wrong (a MeasurementConsumer cannot change): the other is not updated either.
      await rejectsWith(
        egs(as(dp)).batchUpdateEventGroups({
          parent: dp.name,
          requests: [update(first!.name, 'x'), { eventGroup: { ...update(second!.name, 'y').eventGroup, measurementConsumer: `measurementConsumers/AAAAAAAAAAE` } }],
        }),
        Code.InvalidArgument,
      );
      assert.equal(await k.auditLength(), before);
      assert.equal((await egs(as(dp2)).getEventGroup({ name: other.name })).eventGroupReferenceId, 'theirs');
      assert.equal((await egs(as(dp)).getEventGroup({ name: first!.name })).eventGroupReferenceId, 'g0');

      const updated = await egs(as(dp)).batchUpdateEventGroups({ parent: dp.name, requests: [update(first!.name, 'x'), update(second!.name, 'y')] });
      assert.deepEqual(updated.eventGroups.map((g) => g.eventGroupReferenceId), ['x', 'y']);
    });
  });
}
