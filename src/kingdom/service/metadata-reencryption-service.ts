/**
 * `halo.keys.v1.EventGroupMetadataReencryption`: after a MeasurementConsumer
 * encryption key leaks, the MC asks for its EventGroups' metadata to be
 * re-encrypted; each DataProvider lists its open requests, re-encrypts from
 * its own plaintext (UpdateEventGroup), and closes them. Every step goes
 * through the store and so into the audit log; creating twice (or again after
 * a crash midway) counts the open requests instead of duplicating them. The
 * MC gets counts only: the requests are listed by their DataProviders.
 * Listing pages by key, so a DataProvider working through many requests
 * closes a page's worth (BatchClose, one transaction) and asks for the next.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  decodePageTokenFor,
  encodePageToken,
  formatResourceName,
  normalizePageSize,
  parseApiId,
  parseDataProviderName,
  parseEventGroupName,
  parseMeasurementConsumerName,
  requireName,
  externalIdToApiId,
} from '../../api/index.js';
import {
  BatchCloseMetadataReencryptionRequestsResponseSchema,
  BatchReencryptEventGroupsResponseSchema,
  BatchReencryptEventGroupsResponse_Result_Outcome as Outcome,
  CreateMetadataReencryptionRequestsResponseSchema,
  EventGroupMetadataReencryption,
  ListMetadataReencryptionRequestsPageTokenSchema,
  ListMetadataReencryptionRequestsResponseSchema,
  MetadataReencryptionRequestSchema,
  MetadataReencryptionRequest_State,
  type BatchCloseMetadataReencryptionRequestsRequest,
  type BatchReencryptEventGroupsRequest,
  type CloseMetadataReencryptionRequestRequest,
  type CreateMetadataReencryptionRequestsRequest,
  type ListMetadataReencryptionRequestsRequest,
  type MetadataReencryptionRequest,
} from '../../gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { EncryptionPublicKeySchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  StoreError,
  type CloseReencryptionRequestKey,
  type ReencryptionAnswer,
  type MetadataReencryptionRequestRecord,
} from '../store/index.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { requirePrincipal, samePrincipal } from './principal.js';
import { CheckedKeys, eventGroupName, reencryptionFields, renderEventGroup } from './render-event-group.js';
import { actorOf, keyFingerprint, requiredField, unpackField } from './service-support.js';

const COLLECTION = 'metadataReencryptionRequests';

export function reencryptionRequestName(dp: bigint, eg: bigint, id: bigint): string {
  return `${eventGroupName(dp, eg)}/${COLLECTION}/${externalIdToApiId(id)}`;
}

/** `dataProviders/{dp}/eventGroups/{eg}/metadataReencryptionRequests/{id}` as keys, or undefined. */
export function parseReencryptionRequestName(name: string): { dataProviderId: bigint; eventGroupId: bigint; requestId: bigint } | undefined {
  if (typeof name !== 'string') return undefined;
  const s = name.split('/');
  if (s.length !== 6 || s[4] !== COLLECTION) return undefined;
  const eg = parseEventGroupName(s.slice(0, 4).join('/'));
  const requestId = parseApiId(s[5] ?? '');
  if (eg === undefined || eg.parent.kind !== 'dataProvider' || requestId === undefined) return undefined;
  return { dataProviderId: eg.parent.dataProviderId, eventGroupId: eg.eventGroupId, requestId };
}

/** At most this many names in one BatchCloseMetadataReencryptionRequests or BatchReencryptEventGroups. */
export const MAX_REENCRYPTION_BATCH = 1000;

function render(r: MetadataReencryptionRequestRecord): MetadataReencryptionRequest {
  const out = create(MetadataReencryptionRequestSchema, {
    name: reencryptionRequestName(r.dataProviderId, r.externalEventGroupId, r.externalRequestId),
    eventGroup: eventGroupName(r.dataProviderId, r.externalEventGroupId),
    measurementConsumerKeyFingerprint: r.measurementConsumerKeyFingerprint,
    state: r.state === 'OPEN' ? MetadataReencryptionRequest_State.OPEN : MetadataReencryptionRequest_State.CLOSED,
    createTime: timestampFromDate(r.createTime),
    measurementConsumer: formatResourceName({ kind: 'measurementConsumer', measurementConsumerId: r.measurementConsumerId }),
    eventGroupReferenceId: r.eventGroupReferenceId,
    stillEncryptedToKey: r.stillEncryptedToKey,
  });
  if (r.closeTime !== null) out.closeTime = timestampFromDate(r.closeTime);
  return out;
}

export function metadataReencryptionService(services: KingdomServices) {
  const { store } = services;
  return {
    async createMetadataReencryptionRequests(req: CreateMetadataReencryptionRequestsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseMeasurementConsumerName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('CREATE', `${req.parent}/${COLLECTION}`);
      let fingerprint: Uint8Array;
      switch (req.key.case) {
        case 'measurementConsumerPublicKey':
          unpackField(EncryptionPublicKeySchema, req.key.value, 'measurement_consumer_public_key');
          fingerprint = keyFingerprint(req.key.value.value);
          break;
        case 'measurementConsumerKeyFingerprint':
          if (req.key.value.length !== 32) {
            throw invalidArgument('INVALID_FIELD_VALUE', 'measurement_consumer_key_fingerprint must be a 32-byte SHA-256');
          }
          fingerprint = req.key.value;
          break;
        default:
          return requiredField('measurement_consumer_public_key');
      }
      const { created, open } = await store.createMetadataReencryptionRequests({
        actor: actorOf(principal, ctx),
        measurementConsumerId: parent.measurementConsumerId,
        measurementConsumerKeyFingerprint: fingerprint,
      });
      return create(CreateMetadataReencryptionRequestsResponseSchema, { createdCount: created, openCount: open });
    },

    async listMetadataReencryptionRequests(req: ListMetadataReencryptionRequestsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('LIST', `${req.parent}/${COLLECTION}`);
      const pageSize = normalizePageSize(req.pageSize);
      const args = create(ListMetadataReencryptionRequestsPageTokenSchema, { parent: req.parent, includeEventGroups: req.includeEventGroups });
      let after: bigint | undefined;
      if (req.pageToken !== '') {
        const token = decodePageTokenFor(ListMetadataReencryptionRequestsPageTokenSchema, req.pageToken, args, ['afterRequest']);
        after = parseApiId(token.afterRequest);
        if (after === undefined) throw invalidArgument('INVALID_PAGE_TOKEN', 'page_token is not a token from this server');
      }
      // One more than the page tells whether there is a next page without a second query.
      const open = await store.listOpenMetadataReencryptionRequests(parent.dataProviderId, { limit: pageSize + 1, ...(after !== undefined ? { after } : {}) });
      const page = open.slice(0, pageSize);
      const response = create(ListMetadataReencryptionRequestsResponseSchema, { requests: page.map(render) });
      if (req.includeEventGroups && page.length > 0) {
        // One read for the page's groups; a request's group always exists (groups are never removed, only DELETED).
        const groups = new Map((await store.getEventGroups(parent.dataProviderId, page.map((r) => r.externalEventGroupId))).map((g) => [g.externalEventGroupId, g]));
        response.eventGroups = page.map((r) => renderEventGroup(groups.get(r.externalEventGroupId)!));
      }
      const last = page[page.length - 1];
      if (open.length > pageSize && last !== undefined) {
        response.nextPageToken = encodePageToken(ListMetadataReencryptionRequestsPageTokenSchema, { ...args, afterRequest: externalIdToApiId(last.externalRequestId) });
      }
      if (req.pageToken === '') {
        response.totalSize = open.length <= pageSize ? open.length : await store.countOpenMetadataReencryptionRequests(parent.dataProviderId);
      }
      return response;
    },

    async closeMetadataReencryptionRequest(req: CloseMetadataReencryptionRequestRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requestKey(req.name, 'name');
      if (!samePrincipal(principal, { kind: 'dataProvider', dataProviderId: key.dataProviderId })) throw permissionDenied('CLOSE', req.name);
      const [closed] = await store.closeMetadataReencryptionRequests({ actor: actorOf(principal, ctx), dataProviderId: key.dataProviderId, requests: [key] });
      return render(closed!);
    },

    /** All or nothing: every name under the batch's parent, the parent the caller, each checked as the single close checks it. */
    async batchCloseMetadataReencryptionRequests(req: BatchCloseMetadataReencryptionRequestsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('CLOSE', `${req.parent}/${COLLECTION}`);
      if (req.names.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'names is empty');
      if (req.names.length > MAX_REENCRYPTION_BATCH) throw invalidArgument('INVALID_FIELD_VALUE', `names holds ${req.names.length} names; at most ${MAX_REENCRYPTION_BATCH} fit in one batch`);
      const seen = new Set<string>();
      const requests: CloseReencryptionRequestKey[] = req.names.map((name, i) => {
        const key = requestKey(name, `names[${i}]`);
        if (key.dataProviderId !== parent.dataProviderId) throw invalidArgument('INVALID_FIELD_VALUE', `names[${i}] is not under the batch's parent`);
        if (seen.has(name)) throw invalidArgument('INVALID_FIELD_VALUE', `names[${i}] is duplicate in the batch`);
        seen.add(name);
        return key;
      });
      const closed = await store.closeMetadataReencryptionRequests({ actor: actorOf(principal, ctx), dataProviderId: parent.dataProviderId, requests });
      return create(BatchCloseMetadataReencryptionRequestsResponseSchema, { requests: closed.map(render) });
    },

    /** All or nothing: as the batch close, each request answered with its group's new ciphertext and key or only closed. */
    async batchReencryptEventGroups(req: BatchReencryptEventGroupsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseDataProviderName, req.parent, 'parent');
      if (!samePrincipal(principal, parent)) throw permissionDenied('UPDATE', `${req.parent}/eventGroups`);
      if (req.reencryptions.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'reencryptions is empty');
      if (req.reencryptions.length > MAX_REENCRYPTION_BATCH) {
        throw invalidArgument('INVALID_FIELD_VALUE', `reencryptions holds ${req.reencryptions.length} answers; at most ${MAX_REENCRYPTION_BATCH} fit in one batch`);
      }
      const seen = new Set<string>();
      const checked = new CheckedKeys();
      const answers: ReencryptionAnswer[] = req.reencryptions.map((answer, i) => {
        const field = `reencryptions[${i}]`;
        const key = requestKey(answer.request, `${field}.request`);
        if (key.dataProviderId !== parent.dataProviderId) throw invalidArgument('INVALID_FIELD_VALUE', `${field}.request is not under the batch's parent`);
        if (seen.has(answer.request)) throw invalidArgument('INVALID_FIELD_VALUE', `${field}.request is duplicate in the batch`);
        seen.add(answer.request);
        const update = reencryptionFields(answer, services.mode, field, checked);
        return update === null ? { key } : { key, update };
      });
      const results = await store.answerMetadataReencryptionRequests({ actor: actorOf(principal, ctx), dataProviderId: parent.dataProviderId, answers });
      return create(BatchReencryptEventGroupsResponseSchema, {
        results: results.map((r) => ({ request: render(r.request), outcome: Outcome[r.outcome] })),
      });
    },
  };
}

/** A request name's keys, or INVALID_ARGUMENT INVALID_RESOURCE_NAME. */
function requestKey(name: string, field: string): CloseReencryptionRequestKey & { dataProviderId: bigint } {
  const key = parseReencryptionRequestName(name);
  if (key === undefined) throw invalidArgument('INVALID_RESOURCE_NAME', `invalid ${field}: ${JSON.stringify(String(name).slice(0, 120))}`);
  return { dataProviderId: key.dataProviderId, externalRequestId: key.requestId, externalEventGroupId: key.eventGroupId };
}

export function registerMetadataReencryptionService(router: ConnectRouter, services: KingdomServices): void {
  router.service(EventGroupMetadataReencryption, metadataReencryptionService(services));
}
