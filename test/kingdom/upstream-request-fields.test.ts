// Request fields upstream added that change what the Kingdom does, over the
// in-memory router and a real PGlite store: the requisition etag of
// RefuseRequisition and FulfillDirectRequisition, the FulfillmentContext a
// DataProvider sends, ListMeasurements' time bounds, and CreateEventGroup's
// request_id.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { timestampFromMs, timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, type Client } from '@connectrpc/connect';
import { Requisition_Refusal_Justification, Requisition_State, type Requisition } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { Measurements } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { Requisitions } from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import {
  freshDataProvider,
  freshMeasurementConsumer,
  openTestKingdom,
  planMeasurement,
  prepareFulfillment,
  rejectsWith,
  type MeasurementConsumerParticipant,
  type Participant,
  type TestKingdom,
} from './measurement-fixtures.js';

describe('upstream request fields the Kingdom applies', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let dp: Participant;
  let measurements: Client<typeof Measurements>;
  let requisitions: Client<typeof Requisitions>;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await freshMeasurementConsumer(kingdom);
    dp = await freshDataProvider(kingdom);
    measurements = kingdom.client(Measurements);
    requisitions = kingdom.client(Requisitions);
  });
  after(async () => {
    await kingdom.close();
  });

  async function newRequisition(): Promise<{ measurementName: string; requisition: Requisition }> {
    const plan = planMeasurement(mc, [dp]);
    const m = await measurements.createMeasurement(plan.request, mc.apiKey);
    const all = await requisitions.listRequisitions({ parent: dp.name, pageSize: 1000 }, dp.mtls);
    const requisition = all.requisitions.find((r) => r.measurement === m.name);
    assert.ok(requisition);
    return { measurementName: m.name, requisition };
  }

  it('RefuseRequisition with a stale etag is ABORTED and changes nothing; with the current one it refuses', async () => {
    const { requisition } = await newRequisition();
    const refusal = { justification: Requisition_Refusal_Justification.DECLINED, message: 'no' };
    await rejectsWith(
      requisitions.refuseRequisition({ name: requisition.name, refusal, etag: `${requisition.etag}0` }, dp.mtls),
      Code.Aborted,
      'REQUISITION_ETAG_MISMATCH',
    );
    const unchanged = (await requisitions.listRequisitions({ parent: dp.name, pageSize: 1000 }, dp.mtls)).requisitions.find((r) => r.name === requisition.name);
    assert.equal(unchanged?.state, Requisition_State.UNFULFILLED);
    kingdom.clock.advance(1000);
    const refused = await requisitions.refuseRequisition({ name: requisition.name, refusal, etag: requisition.etag }, dp.mtls);
    assert.equal(refused.state, Requisition_State.REFUSED);
    assert.notEqual(refused.etag, requisition.etag);
  });

  it('FulfillDirectRequisition checks the etag and stores the FulfillmentContext, which the requisition then shows', async () => {
    const { requisition } = await newRequisition();
    const request = prepareFulfillment(dp, requisition, mc.certificate.der, 42n);
    request.fulfillmentContext = { $typeName: 'wfa.measurement.api.v2alpha.Requisition.FulfillmentContext', buildLabel: 'edp-1.2.3', warnings: ['sampled', 'late data'] };
    await rejectsWith(requisitions.fulfillDirectRequisition({ ...request, etag: 'stale' }, dp.mtls), Code.Aborted, 'REQUISITION_ETAG_MISMATCH');
    kingdom.clock.advance(1000);
    const done = await requisitions.fulfillDirectRequisition({ ...request, etag: requisition.etag }, dp.mtls);
    assert.equal(done.state, Requisition_State.FULFILLED);
    const after = (await requisitions.listRequisitions({ parent: dp.name, pageSize: 1000 }, dp.mtls)).requisitions.find((r) => r.name === requisition.name);
    assert.equal(after?.fulfillmentContext?.buildLabel, 'edp-1.2.3');
    assert.deepEqual(after?.fulfillmentContext?.warnings, ['sampled', 'late data']);
  });

  it('ListMeasurements applies created_after/before and updated_after/before (exclusive), page after page', async () => {
    const t0 = kingdom.clock.now().getTime();
    kingdom.clock.advance(60_000);
    const a = (await newRequisition()).measurementName;
    kingdom.clock.advance(60_000);
    const b = (await newRequisition()).measurementName;
    kingdom.clock.advance(60_000);
    const c = (await newRequisition()).measurementName;
    const created = async (m: string) => timestampMs((await measurements.getMeasurement({ name: m }, mc.apiKey)).createTime!);
    const [ta, tb, tc] = [await created(a), await created(b), await created(c)];
    assert.ok(t0 < ta && ta < tb && tb < tc);
    // Cancelling b moves its update time past c's.
    kingdom.clock.advance(60_000);
    await measurements.cancelMeasurement({ name: b }, mc.apiKey);
    const names = async (filter: Parameters<Client<typeof Measurements>['listMeasurements']>[0]['filter']) => {
      const out: string[] = [];
      let pageToken = '';
      do {
        const page = await measurements.listMeasurements({ parent: mc.name, pageSize: 1, filter, pageToken }, mc.apiKey);
        out.push(...page.measurements.map((m) => m.name));
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      return out.filter((n) => [a, b, c].includes(n)).sort();
    };
    assert.deepEqual(await names({ createdAfter: timestampFromMs(ta) }), [b, c].sort());
    assert.deepEqual(await names({ createdBefore: timestampFromMs(tc) }), [a, b].sort());
    assert.deepEqual(await names({ createdAfter: timestampFromMs(ta), createdBefore: timestampFromMs(tc) }), [b]);
    assert.deepEqual(await names({ updatedAfter: timestampFromMs(tc) }), [b]);
    assert.deepEqual(await names({ updatedBefore: timestampFromMs(tc) }), [a]);
    // A next page asked with other bounds is refused.
    const first = await measurements.listMeasurements({ parent: mc.name, pageSize: 1, filter: { createdAfter: timestampFromMs(t0) } }, mc.apiKey);
    assert.notEqual(first.nextPageToken, '');
    await rejectsWith(
      measurements.listMeasurements({ parent: mc.name, pageSize: 1, filter: { createdAfter: timestampFromMs(ta) }, pageToken: first.nextPageToken }, mc.apiKey),
      Code.InvalidArgument,
      'PAGE_TOKEN_MISMATCH',
    );
  });

  it('CreateEventGroup with a request_id it has seen returns the first group; another request_id makes another', async () => {
    const eventGroups = kingdom.client(EventGroups);
    const create = (requestId: string, ref: string) =>
      eventGroups.createEventGroup({ parent: dp.name, requestId, eventGroup: { measurementConsumer: mc.name, eventGroupReferenceId: ref } }, dp.mtls);
    const first = await create('req-1', 'first');
    const again = await create('req-1', 'second');
    assert.equal(again.name, first.name);
    assert.equal(again.eventGroupReferenceId, 'first');
    const other = await create('req-2', 'second');
    assert.notEqual(other.name, first.name);
    const unnamed = [await create('', 'x'), await create('', 'x')];
    assert.notEqual(unnamed[0]!.name, unnamed[1]!.name);
  });
});
