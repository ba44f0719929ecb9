/**
 * ListEventGroupsRequest's filter fields beyond the parents (2-5, 7-11) and
 * its order_by, applied to the stored groups the way upstream's Kingdom
 * applies them: fields ANDed, repeated values ORed, times inclusive.
 */
import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import type { EventGroup } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import {
  ListEventGroupsRequest_OrderBy_Field,
  type ListEventGroupsRequest_Filter,
  type ListEventGroupsRequest_OrderBy,
} from '../../gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MediaType } from '../../gen/wfa/measurement/api/v2alpha/media_type_pb.js';
import { invalidArgument } from './errors.js';
import { compareDates } from './render-event-group.js';
import { requiredField } from './service-support.js';

/** Entity types matched when the filter names none (upstream's default). */
const DEFAULT_ENTITY_TYPES = ['campaign'];

type Predicate = (details: EventGroup) => boolean;

const ms = (t: Timestamp | undefined): number | undefined => (t === undefined ? undefined : timestampMs(t));

/**
 * A predicate over an EventGroup's stored fields; INVALID_ARGUMENT naming
 * the field for a value that cannot be right.
 */
export function eventGroupPredicate(filter: ListEventGroupsRequest_Filter | undefined): Predicate {
  if (filter === undefined) return (g) => entityTypeMatches(g, DEFAULT_ENTITY_TYPES);
  const checks: Predicate[] = [];
  for (const t of filter.mediaTypesIntersect) {
    if (t === MediaType.MEDIA_TYPE_UNSPECIFIED || MediaType[t] === undefined) {
      throw invalidArgument('INVALID_FIELD_VALUE', `filter.media_types_intersect holds unknown value ${t}`, { field: 'filter.media_types_intersect' });
    }
  }
  if (filter.mediaTypesIntersect.length > 0) {
    const wanted = new Set(filter.mediaTypesIntersect);
    checks.push((g) => g.mediaTypes.some((t) => wanted.has(t)));
  }
  // A group without a start time has none to compare; one without an end time is open-ended.
  const start = (g: EventGroup) => ms(g.dataAvailabilityInterval?.startTime);
  const end = (g: EventGroup) => ms(g.dataAvailabilityInterval?.endTime);
  const startOnOrAfter = ms(filter.dataAvailabilityStartTimeOnOrAfter);
  if (startOnOrAfter !== undefined) checks.push((g) => (start(g) ?? -Infinity) >= startOnOrAfter);
  const startOnOrBefore = ms(filter.dataAvailabilityStartTimeOnOrBefore);
  if (startOnOrBefore !== undefined) checks.push((g) => start(g) !== undefined && start(g)! <= startOnOrBefore);
  const endOnOrBefore = ms(filter.dataAvailabilityEndTimeOnOrBefore);
  if (endOnOrBefore !== undefined) checks.push((g) => (end(g) ?? Infinity) <= endOnOrBefore);
  const endOnOrAfter = ms(filter.dataAvailabilityEndTimeOnOrAfter);
  if (endOnOrAfter !== undefined) checks.push((g) => start(g) !== undefined && (end(g) ?? Infinity) >= endOnOrAfter);
  const intersects = filter.dataAvailabilityIntersects;
  if (intersects !== undefined) {
    const from = ms(intersects.startTime) ?? -Infinity;
    const to = ms(intersects.endTime) ?? Infinity;
    if (from >= to) {
      throw invalidArgument('INVALID_FIELD_VALUE', 'filter.data_availability_intersects is empty', { field: 'filter.data_availability_intersects' });
    }
    checks.push((g) => start(g) !== undefined && start(g)! < to && (end(g) ?? Infinity) > from);
  }
  const terms = filter.metadataSearchQuery.toLowerCase().split(/\s+/).filter((t) => t !== '');
  if (terms.length > 0) checks.push((g) => terms.every((t) => metadataText(g).includes(t)));
  const activity = filter.activityContains;
  if (activity !== undefined) {
    if (activity.startDate === undefined) requiredField('filter.activity_contains.start_date');
    if (activity.endDate === undefined) requiredField('filter.activity_contains.end_date');
    checks.push((g) =>
      g.aggregatedActivities.some(
        (a) =>
          a.interval?.startDate !== undefined &&
          a.interval.endDate !== undefined &&
          compareDates(a.interval.startDate, activity.startDate!) <= 0 &&
          compareDates(a.interval.endDate, activity.endDate!) >= 0,
      ),
    );
  }
  const entityTypes = filter.entityTypeIn.length > 0 ? filter.entityTypeIn : DEFAULT_ENTITY_TYPES;
  checks.push((g) => entityTypeMatches(g, entityTypes));
  return (g) => checks.every((check) => check(g));
}

/** Groups created without an entity_key predate it and match any entity type. */
function entityTypeMatches(g: EventGroup, types: readonly string[]): boolean {
  return g.entityKey === undefined || types.includes(g.entityKey.entityType);
}

/** The string fields of event_group_metadata, lowercased, for the text search. */
function metadataText(g: EventGroup): string {
  const m = g.eventGroupMetadata;
  const parts: string[] = [];
  if (m?.selector.case === 'adMetadata') {
    const c = m.selector.value.campaignMetadata;
    if (c !== undefined) parts.push(c.brandName, c.campaignName);
  }
  const walk = (v: unknown): void => {
    if (typeof v === 'string') parts.push(v);
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v !== null && typeof v === 'object') Object.values(v).forEach(walk);
  };
  if (m?.entityMetadata !== undefined) walk(m.entityMetadata);
  return parts.join('\n').toLowerCase();
}

/**
 * The order of a listing: by data availability start time (missing first
 * ascending, last descending) when asked, then always by the
 * (DataProvider, EventGroup) key, which keeps pages stable.
 */
export function eventGroupOrder(
  orderBy: ListEventGroupsRequest_OrderBy | undefined,
): ((a: OrderedGroup, b: OrderedGroup) => number) | undefined {
  if (orderBy === undefined || orderBy.field === ListEventGroupsRequest_OrderBy_Field.FIELD_UNSPECIFIED) return undefined;
  if (orderBy.field !== ListEventGroupsRequest_OrderBy_Field.DATA_AVAILABILITY_START_TIME) {
    throw invalidArgument('INVALID_FIELD_VALUE', `order_by.field holds unknown value ${orderBy.field}`, { field: 'order_by.field' });
  }
  const sign = orderBy.descending ? -1 : 1;
  return (a, b) => sign * (a.startMs - b.startMs) || keyOrder(a, b);
}

export interface OrderedGroup {
  readonly startMs: number;
  readonly dataProviderId: bigint;
  readonly externalEventGroupId: bigint;
}

export function keyOrder(a: OrderedGroup, b: OrderedGroup): number {
  if (a.dataProviderId !== b.dataProviderId) return a.dataProviderId < b.dataProviderId ? -1 : 1;
  if (a.externalEventGroupId !== b.externalEventGroupId) return a.externalEventGroupId < b.externalEventGroupId ? -1 : 1;
  return 0;
}

/** The sort value of a group's start time: missing sorts before every time. */
export function startSortMs(g: EventGroup): number {
  return ms(g.dataAvailabilityInterval?.startTime) ?? Number.MIN_SAFE_INTEGER;
}
