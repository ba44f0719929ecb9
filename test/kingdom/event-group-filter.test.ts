// ListEventGroups' filter and order on stored EventGroup fields, the edge
// cases the end-to-end test does not reach: open-ended and missing
// availability, the entity type default, refused values, and the order of
// groups without a start time.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { create, type MessageInitShape } from '@bufbuild/protobuf';
import { timestampFromMs } from '@bufbuild/protobuf/wkt';
import { ConnectError, Code } from '@connectrpc/connect';
import { EventGroupSchema } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import {
  ListEventGroupsRequest_FilterSchema,
  ListEventGroupsRequest_OrderBySchema,
  ListEventGroupsRequest_OrderBy_Field,
} from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MediaType } from '../../src/gen/wfa/measurement/api/v2alpha/media_type_pb.js';
import { eventGroupOrder, eventGroupPredicate, startSortMs } from '../../src/kingdom/service/event-group-filter.js';

const DAY = 86_400_000;
const group = (init: MessageInitShape<typeof EventGroupSchema>) => create(EventGroupSchema, init);
const interval = (start?: number, end?: number) => ({
  ...(start !== undefined ? { startTime: timestampFromMs(start * DAY) } : {}),
  ...(end !== undefined ? { endTime: timestampFromMs(end * DAY) } : {}),
});
const matches = (filter: MessageInitShape<typeof ListEventGroupsRequest_FilterSchema>, ...groups: ReturnType<typeof group>[]) =>
  groups.map(eventGroupPredicate(create(ListEventGroupsRequest_FilterSchema, filter)));

const closed = group({ dataAvailabilityInterval: interval(10, 20) });
const openEnded = group({ dataAvailabilityInterval: interval(10) });
const noInterval = group({});

test('availability bounds: a missing end is open-ended, a missing start matches no time bound', () => {
  assert.deepEqual(matches({ dataAvailabilityStartTimeOnOrAfter: timestampFromMs(10 * DAY) }, closed, openEnded, noInterval), [true, true, false]);
  assert.deepEqual(matches({ dataAvailabilityStartTimeOnOrBefore: timestampFromMs(9 * DAY) }, closed, openEnded, noInterval), [false, false, false]);
  assert.deepEqual(matches({ dataAvailabilityEndTimeOnOrBefore: timestampFromMs(20 * DAY) }, closed, openEnded, noInterval), [true, false, false]);
  assert.deepEqual(matches({ dataAvailabilityEndTimeOnOrAfter: timestampFromMs(25 * DAY) }, closed, openEnded, noInterval), [false, true, false]);
  assert.deepEqual(matches({ dataAvailabilityIntersects: interval(20, 30) }, closed, openEnded, noInterval), [false, true, false]);
  assert.deepEqual(matches({ dataAvailabilityIntersects: interval(19, 30) }, closed, openEnded, noInterval), [true, true, false]);
});

test('media types intersect; entity types default to campaign, and groups without an entity key match any', () => {
  const video = group({ mediaTypes: [MediaType.VIDEO], entityKey: { entityType: 'campaign', entityId: 'c' } });
  const display = group({ mediaTypes: [MediaType.DISPLAY, MediaType.OTHER], entityKey: { entityType: 'creative', entityId: 'x' } });
  const legacy = group({});
  assert.deepEqual(matches({ mediaTypesIntersect: [MediaType.OTHER, MediaType.VIDEO] }, video, display, legacy), [true, false, false]);
  assert.deepEqual(matches({}, video, display, legacy), [true, false, true]);
  assert.deepEqual(matches({ entityTypeIn: ['creative'] }, video, display, legacy), [false, true, true]);
  assert.deepEqual(eventGroupPredicate(undefined)(display), false);
});

test('the text search needs every word, in any string of the metadata, any case', () => {
  const g = group({
    eventGroupMetadata: {
      selector: { case: 'adMetadata', value: { campaignMetadata: { brandName: 'Acme', campaignName: 'Spring Launch' } } },
      entityMetadata: { region: { name: 'Nordics' } },
    },
  });
  assert.deepEqual(matches({ metadataSearchQuery: 'acme LAUNCH' }, g, noInterval), [true, false]);
  assert.deepEqual(matches({ metadataSearchQuery: 'nordics spring' }, g), [true]);
  assert.deepEqual(matches({ metadataSearchQuery: 'acme autumn' }, g), [false]);
});

test('values that cannot be right are INVALID_ARGUMENT naming the field', () => {
  const refused = (filter: MessageInitShape<typeof ListEventGroupsRequest_FilterSchema>, field: string) =>
    assert.throws(
      () => eventGroupPredicate(create(ListEventGroupsRequest_FilterSchema, filter)),
      (err: unknown) => err instanceof ConnectError && err.code === Code.InvalidArgument && err.message.includes(field),
    );
  refused({ mediaTypesIntersect: [MediaType.MEDIA_TYPE_UNSPECIFIED] }, 'filter.media_types_intersect');
  refused({ mediaTypesIntersect: [99 as MediaType] }, 'filter.media_types_intersect');
  refused({ dataAvailabilityIntersects: interval(5, 5) }, 'filter.data_availability_intersects');
  refused({ activityContains: { startDate: { year: 2026, month: 1, day: 1 } } }, 'filter.activity_contains.end_date');
  assert.throws(() => eventGroupOrder(create(ListEventGroupsRequest_OrderBySchema, { field: 7 as ListEventGroupsRequest_OrderBy_Field })), /order_by\.field/);
});

test('order by start time: groups without one come first ascending and last descending, ties by key', () => {
  const at = (dp: bigint, eg: bigint, g: ReturnType<typeof group>) => ({ dataProviderId: dp, externalEventGroupId: eg, startMs: startSortMs(g) });
  const items = [at(2n, 1n, closed), at(1n, 5n, noInterval), at(1n, 2n, openEnded), at(1n, 1n, group({ dataAvailabilityInterval: interval(3) }))];
  const asc = eventGroupOrder(create(ListEventGroupsRequest_OrderBySchema, { field: ListEventGroupsRequest_OrderBy_Field.DATA_AVAILABILITY_START_TIME }))!;
  const desc = eventGroupOrder(create(ListEventGroupsRequest_OrderBySchema, { field: ListEventGroupsRequest_OrderBy_Field.DATA_AVAILABILITY_START_TIME, descending: true }))!;
  const keys = (order: typeof asc) => [...items].sort(order).map((i) => `${i.dataProviderId}/${i.externalEventGroupId}`);
  assert.deepEqual(keys(asc), ['1/5', '1/1', '1/2', '2/1']);
  assert.deepEqual(keys(desc), ['1/2', '2/1', '1/1', '1/5']);
  assert.equal(eventGroupOrder(undefined), undefined);
});
