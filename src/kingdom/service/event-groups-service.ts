/**
 * `wfa.measurement.api.v2alpha.EventGroups` (cmms-reference §1.7), with
 * upstream's access rules:
 *
 * - Create, Update, Delete: only the DataProvider that owns the group.
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
import { create, toBinary } from '@bufbuild/protobuf';
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
import { EventGroupSchema } from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import {
  EventGroups,
  ListEventGroupsResponseSchema,
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
import { eventGroupFields, renderEventGroup } from './render-event-group.js';
import { actorOf, requiredField, withErrorMapping } from './service-support.js';

const SCAN_LIMIT = 1000;

/**
 * Finds an EventGroup by the MC-form name. EventGroup ids are unique per
 * DataProvider, so this walks the groups shared with the MC.
 */
async function findSharedEventGroup(store: KingdomStore, mc: bigint, eg: bigint): Promise<EventGroupRecord> {
  let after: EventGroupCursor | undefined;
  for (;;) {
    const page = await store.listEventGroups({
      measurementConsumerId: mc,
      showDeleted: true,
      limit: SCAN_LIMIT,
      ...(after !== undefined ? { after } : {}),
    });
    const found = page.items.find((g) => g.externalEventGroupId === eg);
    if (found !== undefined) return found;
    if (page.next === null) break;
    after = page.next;
  }
  throw new StoreError('NOT_FOUND', 'EVENT_GROUP_NOT_FOUND', 'EventGroup not found.');
}

/** A `dataProviders/{dp}/eventGroups/{eg}` name (the only form that can be changed). */
function requireCanonicalName(name: string, field: string): EventGroupKey & { parent: { kind: 'dataProvider'; dataProviderId: bigint } } {
  const key = requireName(parseEventGroupName, name, field);
  if (key.parent.kind !== 'dataProvider') {
    throw invalidArgument('INVALID_RESOURCE_NAME', `${field} must be a dataProviders/*/eventGroups/* name`);
  }
  return key as EventGroupKey & { parent: { kind: 'dataProvider'; dataProviderId: bigint } };
}

/** The referenced MC does not exist: the request's precondition, not the resource, is missing (as upstream). */
function mapMissingConsumer(err: unknown): never {
  if (err instanceof StoreError && err.reason === 'MEASUREMENT_CONSUMER_NOT_FOUND') {
    throw failedPrecondition('MEASUREMENT_CONSUMER_NOT_FOUND', 'MeasurementConsumer not found.', { ...err.metadata });
  }
  throw err;
}

export function eventGroupsService(services: KingdomServices) {
  const { store, mode } = services;
  return {
    async createEventGroup(req: CreateEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('CREATE', `${req.parent}/eventGroups`);
      const eg = req.eventGroup ?? requiredField('event_group');
      if (eg.measurementConsumer === '') requiredField('event_group.measurement_consumer');
      const mc = requireName(parseMeasurementConsumerName, eg.measurementConsumer, 'event_group.measurement_consumer');
      const fields = eventGroupFields(eg, mode);
      const record = await store
        .createEventGroup({
          actor: actorOf(principal, ctx),
          dataProviderId: parent.dataProviderId,
          measurementConsumerId: mc.measurementConsumerId,
          ...fields,
        })
        .catch(mapMissingConsumer);
      return renderEventGroup(record);
    },

    async getEventGroup(req: GetEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requireName(parseEventGroupName, req.name, 'name');
      if (key.parent.kind === 'measurementConsumer') {
        if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.name);
        return renderEventGroup(await findSharedEventGroup(store, key.parent.measurementConsumerId, key.eventGroupId));
      }
      if (principal.kind === 'dataProvider') {
        if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.name);
        return renderEventGroup(await store.getEventGroup(key.parent.dataProviderId, key.eventGroupId));
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
      return renderEventGroup(record);
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
      const args = create(ListEventGroupsPageTokenSchema, {
        externalMeasurementConsumerIds: mcFilter,
        externalDataProviderIds: dpFilter,
        showDeleted: req.showDeleted,
      });
      if (parent.kind === 'dataProvider') args.externalDataProviderId = parent.dataProviderId;
      else args.parentMeasurementConsumerId = parent.measurementConsumerId;
      let after: EventGroupCursor | undefined;
      if (req.pageToken !== '') {
        const token = decodePageTokenFor(ListEventGroupsPageTokenSchema, req.pageToken, args, ['pageSize', 'lastEventGroup']);
        if (token.lastEventGroup !== undefined) {
          after = {
            dataProviderId: token.lastEventGroup.externalDataProviderId,
            externalEventGroupId: token.lastEventGroup.externalEventGroupId,
          };
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
        (dpFilter.length === 0 || dpFilter.includes(g.dataProviderId));
      const collected: EventGroupRecord[] = [];
      for (;;) {
        const page = await store.listEventGroups({
          ...options,
          limit: Math.min(pageSize + 1, SCAN_LIMIT),
          ...(after !== undefined ? { after } : {}),
        });
        for (const g of page.items) {
          if (matches(g)) collected.push(g);
          if (collected.length > pageSize) break;
        }
        if (collected.length > pageSize || page.next === null) break;
        after = page.next;
      }
      const rendered = collected.slice(0, pageSize).map(renderEventGroup);
      const kept = itemsWithinLimit(EventGroupSchema, rendered, services.maxResponseBytes ?? DEFAULT_RESPONSE_BYTES, pageTokenBytes(toBinary(ListEventGroupsPageTokenSchema, args).length));
      const response = create(ListEventGroupsResponseSchema, { eventGroups: rendered.slice(0, kept) });
      const last = collected[kept - 1];
      if ((collected.length > pageSize || kept < rendered.length) && last !== undefined) {
        args.pageSize = pageSize;
        args.lastEventGroup = create(ListEventGroupsPageToken_PreviousPageEndSchema, {
          externalDataProviderId: last.dataProviderId,
          externalEventGroupId: last.externalEventGroupId,
        });
        response.nextPageToken = encodePageToken(ListEventGroupsPageTokenSchema, args);
      }
      return response;
    },

    async updateEventGroup(req: UpdateEventGroupRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const eg = req.eventGroup ?? requiredField('event_group');
      const key = requireCanonicalName(eg.name, 'event_group.name');
      if (!samePrincipal(principal, key.parent)) throw permissionDenied('UPDATE', eg.name);
      if (eg.measurementConsumer === '') requiredField('event_group.measurement_consumer');
      const mc = requireName(parseMeasurementConsumerName, eg.measurementConsumer, 'event_group.measurement_consumer');
      const record = await store.updateEventGroup({
        actor: actorOf(principal, ctx),
        dataProviderId: key.parent.dataProviderId,
        externalEventGroupId: key.eventGroupId,
        measurementConsumerId: mc.measurementConsumerId,
        ...eventGroupFields(eg, mode),
      });
      return renderEventGroup(record);
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
  router.service(EventGroups, withErrorMapping(eventGroupsService(services)));
}
