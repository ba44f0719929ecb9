/**
 * `wfa.measurement.api.v2alpha.EventGroups` (cmms-reference §1.7), with
 * upstream's access rules:
 *
 * - Create, Update, Delete and their batches: only the DataProvider that owns
 *   the groups (a batch holds at most 50 and is written all or nothing).
 * - Get `dataProviders/{dp}/eventGroups/{eg}`: that DataProvider, or the
 *   MeasurementConsumer the group is shared with (any other MC is denied as
 *   if the group did not exist).
 * - Get `measurementConsumers/{mc}/eventGroups/{eg}`: that MC only.
 * - List: the parent itself (a DataProvider its groups, an MC the groups
 *   shared with it), narrowed by `filter`.
 *
 * The Kingdom never sees metadata plaintext: it stores the ciphertext and the
 * key it was encrypted to.
 */
import { create, equals, toBinary } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  decodePageTokenFor,
  encodePageToken,
  normalizePageSize,
  parseDataProviderName,
  parseEventGroupName,
  parseEventGroupParentName,
  parseMeasurementConsumerName,
  requireName,
  type EventGroupKey,
} from '../../api/index.js';
import { EventGroupSchema, EventGroup_EntityKeySchema, type EventGroup } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import {
  BatchCreateEventGroupsResponseSchema,
  BatchUpdateEventGroupsResponseSchema,
  EventGroups,
  ListEventGroupsResponseSchema,
  type BatchCreateEventGroupsRequest,
  type BatchUpdateEventGroupsRequest,
  type CreateEventGroupRequest,
  type DeleteEventGroupRequest,
  type GetEventGroupRequest,
  type ListEventGroupsRequest,
  type UpdateEventGroupRequest,
} from '../../gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import {
  ListEventGroupsPageTokenSchema,
  ListEventGroupsPageToken_PreviousPageEndSchema,
} from '../../gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import {
  StoreError,
  type EventGroupCursor,
  type EventGroupRecord,
  type KingdomStore,
  type ListEventGroupsOptions,
} from '../store/index.js';
import type { KingdomServices } from './context.js';
import { failedPrecondition, invalidArgument, permissionDenied } from './errors.js';
import { DEFAULT_RESPONSE_BYTES, itemsWithinLimit, pageTokenBytes } from './page-budget.js';
import { requirePrincipal, samePrincipal } from './principal.js';
import { eventGroupOrder, eventGroupPredicate, startSortMs, type OrderedGroup } from './event-group-filter.js';
import { eventGroupDetails, eventGroupFields, renderEventGroup } from './render-event-group.js';
import { actorOf, requiredField } from './service-support.js';

const SCAN_LIMIT = 1000;

/** A `dataProviders/{dp}/eventGroups/{eg}` name (the only form that can be changed). */
type CanonicalEventGroupKey = EventGroupKey & { parent: { kind: 'dataProvider'; dataProviderId: bigint } };

function requireCanonicalName(name: string, field: string): CanonicalEventGroupKey {
  const key = requireName(parseEventGroupName, name, field);
  if (key.parent.kind !== 'dataProvider') {
    throw invalidArgument('INVALID_RESOURCE_NAME', `${field} must be a dataProviders/*/eventGroups/* name`);
  }
  return key as CanonicalEventGroupKey;
}

/** The referenced MC does not exist: the request's precondition, not the resource, is missing (as upstream). */
function mapMissingConsumer(err: unknown): never {
  if (err instanceof StoreError && err.reason === 'MEASUREMENT_CONSUMER_NOT_FOUND') {
    throw failedPrecondition('MEASUREMENT_CONSUMER_NOT_FOUND', 'MeasurementConsumer not found.', { ...err.metadata });
  }
  throw err;
}

/** Upstream's documented limit on a BatchCreate or BatchUpdate. */
export const MAX_BATCH = 50;

function requireBatchSize(n: number): void {
  if (n === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'requests is empty');
  if (n > MAX_BATCH) throw invalidArgument('INVALID_FIELD_VALUE', `requests holds ${n} requests; at most ${MAX_BATCH} fit in one batch`);
}

type StoreListOptions = Omit<ListEventGroupsOptions, 'after' | 'limit'>;

/** Up to `wanted` matching groups after `after`, in the store's (DataProvider, EventGroup) order. */
async function scanInKeyOrder(
  store: KingdomStore,
  options: StoreListOptions,
  matches: (g: EventGroupRecord) => boolean,
  wanted: number,
  after: EventGroupCursor | undefined,
): Promise<EventGroupRecord[]> {
  const collected: EventGroupRecord[] = [];
  for (;;) {
    const page = await store.listEventGroups({ ...options, limit: Math.min(wanted, SCAN_LIMIT), ...(after !== undefined ? { after } : {}) });
    for (const g of page.items) {
      if (matches(g)) collected.push(g);
      if (collected.length >= wanted) return collected;
    }
    if (page.next === null) return collected;
    after = page.next;
  }
}

/**
 * Up to `wanted` matching groups after `after` in `order`. Another order than
 * the store's needs every match first; a DataProvider's groups number in the
 * thousands at most.
 */
async function scanInOrder(
  store: KingdomStore,
  options: StoreListOptions,
  matches: (g: EventGroupRecord) => boolean,
  order: (a: OrderedGroup, b: OrderedGroup) => number,
  wanted: number,
  after: OrderedGroup | undefined,
): Promise<EventGroupRecord[]> {
  const all: Array<OrderedGroup & { record: EventGroupRecord }> = [];
  let cursor: EventGroupCursor | undefined;
  for (;;) {
    const page = await store.listEventGroups({ ...options, limit: SCAN_LIMIT, ...(cursor !== undefined ? { after: cursor } : {}) });
    for (const g of page.items) {
      if (matches(g)) all.push({ record: g, startMs: startSortMs(eventGroupDetails(g)), dataProviderId: g.dataProviderId, externalEventGroupId: g.externalEventGroupId });
    }
    if (page.next === null) break;
    cursor = page.next;
  }
  all.sort(order);
  const from = after === undefined ? 0 : all.findIndex((g) => order(g, after) > 0);
  return from < 0 ? [] : all.slice(from, from + wanted).map((g) => g.record);
}

export function eventGroupsService(services: KingdomServices) {
  const { store, mode } = services;

  /** A new group's store input under `dataProviderId`; `field` names the EventGroup in errors. */
  function createInput(eg: EventGroup | undefined, dataProviderId: bigint, field: string) {
    if (eg === undefined) requiredField(field);
    if (eg.measurementConsumer === '') requiredField(`${field}.measurement_consumer`);
    const mc = requireName(parseMeasurementConsumerName, eg.measurementConsumer, `${field}.measurement_consumer`);
    return { dataProviderId, measurementConsumerId: mc.measurementConsumerId, ...eventGroupFields(eg, mode) };
  }

  /**
   * A changed group's store input; `authorize` sees its key before anything
   * else is read. `entity_key`, once set, never changes.
   */
  async function updateInput(
    eg: EventGroup | undefined,
    field: string,
    authorize: (key: CanonicalEventGroupKey, name: string) => void,
    known?: ReadonlyMap<bigint, EventGroupRecord>,
  ) {
    if (eg === undefined) requiredField(field);
    const key = requireCanonicalName(eg.name, `${field}.name`);
    authorize(key, eg.name);
    if (eg.measurementConsumer === '') requiredField(`${field}.measurement_consumer`);
    const mc = requireName(parseMeasurementConsumerName, eg.measurementConsumer, `${field}.measurement_consumer`);
    const fields = eventGroupFields(eg, mode);
    const current = eventGroupDetails(known?.get(key.eventGroupId) ?? (await store.getEventGroup(key.parent.dataProviderId, key.eventGroupId)));
    if (current.entityKey !== undefined && !equals(EventGroup_EntityKeySchema, current.entityKey, eg.entityKey ?? create(EventGroup_EntityKeySchema))) {
      throw invalidArgument('INVALID_FIELD_VALUE', `${field}.entity_key is immutable`, { field: `${field}.entity_key` });
    }
    return {
      dataProviderId: key.parent.dataProviderId,
      externalEventGroupId: key.eventGroupId,
      measurementConsumerId: mc.measurementConsumerId,
      ...fields,
    };
  }

  return {
    async createEventGroup(req: CreateEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('CREATE', `${req.parent}/eventGroups`);
      const input = createInput(req.eventGroup, parent.dataProviderId, 'event_group');
      const record = await store.createEventGroup({ actor: actorOf(principal, ctx), requestId: req.requestId, ...input }).catch(mapMissingConsumer);
      return renderEventGroup(record);
    },

    /** All or nothing, at most MAX_BATCH; every request under the batch's parent, request ids distinct. */
    async batchCreateEventGroups(req: BatchCreateEventGroupsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('CREATE', `${req.parent}/eventGroups`);
      requireBatchSize(req.requests.length);
      const requestIds = new Set<string>();
      const inputs = req.requests.map((sub, i) => {
        if (sub.parent !== '' && sub.parent !== req.parent) {
          throw invalidArgument('INVALID_FIELD_VALUE', `requests[${i}].parent is not the batch's parent`);
        }
        if (sub.requestId !== '') {
          if (requestIds.has(sub.requestId)) throw invalidArgument('INVALID_FIELD_VALUE', `request id ${sub.requestId} is duplicate in the batch`);
          requestIds.add(sub.requestId);
        }
        return { requestId: sub.requestId, ...createInput(sub.eventGroup, parent.dataProviderId, `requests[${i}].event_group`) };
      });
      const records = await store.batchCreateEventGroups({ actor: actorOf(principal, ctx), inputs }).catch(mapMissingConsumer);
      return create(BatchCreateEventGroupsResponseSchema, { eventGroups: records.map(renderEventGroup) });
    },

    async getEventGroup(req: GetEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requireName(parseEventGroupName, req.name, 'name');
      if (key.parent.kind === 'measurementConsumer') {
        if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.name);
        return renderEventGroup(await store.getEventGroupByConsumer(key.parent.measurementConsumerId, key.eventGroupId), req.view);
      }
      if (principal.kind === 'dataProvider') {
        if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.name);
        return renderEventGroup(await store.getEventGroup(key.parent.dataProviderId, key.eventGroupId), req.view);
      }
      if (principal.kind !== 'measurementConsumer') throw permissionDenied('GET', req.name);
      // An MC may read a group shared with it; whether others exist is not its business.
      let record: EventGroupRecord;
      try {
        record = await store.getEventGroup(key.parent.dataProviderId, key.eventGroupId);
      } catch (err) {
        if (err instanceof StoreError && err.code === 'NOT_FOUND') throw permissionDenied('GET', req.name);
        throw err;
      }
      if (record.measurementConsumerId !== principal.measurementConsumerId) throw permissionDenied('GET', req.name);
      return renderEventGroup(record, req.view);
    },

    async listEventGroups(req: ListEventGroupsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseEventGroupParentName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('LIST', req.parent);
      const pageSize = normalizePageSize(req.pageSize);
      const mcFilter = (req.filter?.measurementConsumerIn ?? []).map(
        (n) => requireName(parseMeasurementConsumerName, n, 'filter.measurement_consumer_in').measurementConsumerId,
      );
      const dpFilter = (req.filter?.dataProviderIn ?? []).map(
        (n) => requireName(parseDataProviderName, n, 'filter.data_provider_in').dataProviderId,
      );
      const predicate = eventGroupPredicate(req.filter);
      const order = eventGroupOrder(req.orderBy);
      const args = create(ListEventGroupsPageTokenSchema, {
        externalMeasurementConsumerIds: mcFilter,
        externalDataProviderIds: dpFilter,
        showDeleted: req.showDeleted,
        view: req.view,
        ...(req.filter !== undefined ? { filter: req.filter } : {}),
        ...(req.orderBy !== undefined ? { orderBy: req.orderBy } : {}),
      });
      if (parent.kind === 'dataProvider') args.externalDataProviderId = parent.dataProviderId;
      else args.parentMeasurementConsumerId = parent.measurementConsumerId;
      let after: EventGroupCursor | undefined;
      let afterStartMs = 0n;
      if (req.pageToken !== '') {
        const token = decodePageTokenFor(ListEventGroupsPageTokenSchema, req.pageToken, args, ['pageSize', 'lastEventGroup']);
        if (token.lastEventGroup !== undefined) {
          after = {
            dataProviderId: token.lastEventGroup.externalDataProviderId,
            externalEventGroupId: token.lastEventGroup.externalEventGroupId,
          };
          afterStartMs = token.lastEventGroup.dataAvailabilityStartMs;
        }
      }

      // Push a single-valued filter down to the store; narrow the rest here.
      const options: { -readonly [K in keyof ListEventGroupsOptions]: ListEventGroupsOptions[K] } = { showDeleted: req.showDeleted };
      if (parent.kind === 'dataProvider') {
        options.dataProviderId = parent.dataProviderId;
        if (mcFilter.length === 1) options.measurementConsumerId = mcFilter[0]!;
      } else {
        options.measurementConsumerId = parent.measurementConsumerId;
        if (dpFilter.length === 1) options.dataProviderId = dpFilter[0]!;
      }
      const matches = (g: EventGroupRecord) =>
        (mcFilter.length === 0 || mcFilter.includes(g.measurementConsumerId)) &&
        (dpFilter.length === 0 || dpFilter.includes(g.dataProviderId)) &&
        predicate(eventGroupDetails(g));
      const collected =
        order === undefined
          ? await scanInKeyOrder(store, options, matches, pageSize + 1, after)
          : await scanInOrder(store, options, matches, order, pageSize + 1, after && { ...after, startMs: Number(afterStartMs) });
      const rendered = collected.slice(0, pageSize).map((g) => renderEventGroup(g, req.view));
      const kept = itemsWithinLimit(EventGroupSchema, rendered, services.maxResponseBytes ?? DEFAULT_RESPONSE_BYTES, pageTokenBytes(toBinary(ListEventGroupsPageTokenSchema, args).length));
      const response = create(ListEventGroupsResponseSchema, { eventGroups: rendered.slice(0, kept) });
      const last = collected[kept - 1];
      if ((collected.length > pageSize || kept < rendered.length) && last !== undefined) {
        args.pageSize = pageSize;
        args.lastEventGroup = create(ListEventGroupsPageToken_PreviousPageEndSchema, {
          externalDataProviderId: last.dataProviderId,
          externalEventGroupId: last.externalEventGroupId,
          ...(order !== undefined ? { dataAvailabilityStartMs: BigInt(startSortMs(eventGroupDetails(last))) } : {}),
        });
        response.nextPageToken = encodePageToken(ListEventGroupsPageTokenSchema, args);
      }
      return response;
    },

    async updateEventGroup(req: UpdateEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const input = await updateInput(req.eventGroup, 'event_group', (key, name) => {
        if (!samePrincipal(principal, key.parent)) throw permissionDenied('UPDATE', name);
      });
      return renderEventGroup(await store.updateEventGroup({ actor: actorOf(principal, ctx), ...input }));
    },

    /** All or nothing, at most MAX_BATCH; every group must be the batch parent's, and the parent the caller. */
    async batchUpdateEventGroups(req: BatchUpdateEventGroupsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('UPDATE', `${req.parent}/eventGroups`);
      requireBatchSize(req.requests.length);
      // The groups as they are, read once for the batch (names that do not parse are refused below, in order).
      const ids: bigint[] = [];
      for (const sub of req.requests) {
        const key = parseEventGroupName(sub.eventGroup?.name ?? '');
        if (key?.parent.kind === 'dataProvider' && key.parent.dataProviderId === parent.dataProviderId) ids.push(key.eventGroupId);
      }
      const known = new Map((await store.getEventGroups(parent.dataProviderId, ids)).map((r) => [r.externalEventGroupId, r]));
      const inputs = [];
      for (const [i, sub] of req.requests.entries()) {
        inputs.push(
          await updateInput(
            sub.eventGroup,
            `requests[${i}].event_group`,
            (key) => {
              if (key.parent.dataProviderId !== parent.dataProviderId) {
                throw invalidArgument('INVALID_FIELD_VALUE', `requests[${i}].event_group.name is not under the batch's parent`);
              }
            },
            known,
          ),
        );
      }
      const records = await store.batchUpdateEventGroups({ actor: actorOf(principal, ctx), inputs });
      return create(BatchUpdateEventGroupsResponseSchema, { eventGroups: records.map(renderEventGroup) });
    },

    async deleteEventGroup(req: DeleteEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requireCanonicalName(req.name, 'name');
      if (!samePrincipal(principal, key.parent)) throw permissionDenied('DELETE', req.name);
      const record = await store.deleteEventGroup({
        actor: actorOf(principal, ctx),
        dataProviderId: key.parent.dataProviderId,
        externalEventGroupId: key.eventGroupId,
      });
      return renderEventGroup(record);
    },
  };
}

export function registerEventGroupsService(router: ConnectRouter, services: KingdomServices): void {
  router.service(EventGroups, eventGroupsService(services));
}
