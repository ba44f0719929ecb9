/**
 * `halo.keys.v1.EventGroupMetadataReencryption`: after a MeasurementConsumer
 * encryption key leaks, the MC asks for its EventGroups' metadata to be
 * re-encrypted; each DataProvider lists its open requests, re-encrypts from
 * its own plaintext (UpdateEventGroup), and closes them. Every step goes
 * through the store and so into the audit log; creating twice (or again after
 * a crash midway) counts the open requests instead of duplicating them. The
 * MC gets counts only: the requests are listed by their DataProviders.
 */
import { create } from '@bufbuild/protobuf';
import { timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  formatResourceName,
  parseApiId,
  parseDataProviderName,
  parseEventGroupName,
  parseMeasurementConsumerName,
  requireName,
  externalIdToApiId,
} from '../../api/index.js';
import {
  CreateMetadataReencryptionRequestsResponseSchema,
  EventGroupMetadataReencryption,
  ListMetadataReencryptionRequestsResponseSchema,
  MetadataReencryptionRequestSchema,
  MetadataReencryptionRequest_State,
  type CloseMetadataReencryptionRequestRequest,
  type CreateMetadataReencryptionRequestsRequest,
  type ListMetadataReencryptionRequestsRequest,
  type MetadataReencryptionRequest,
} from '../../gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { EncryptionPublicKeySchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  StoreError,
  type EventGroupRecord,
  type MetadataReencryptionRequestRecord,
} from '../store/index.js';
import type { KingdomServices } from './context.js';
import { failedPrecondition, invalidArgument, permissionDenied } from './errors.js';
import { requirePrincipal, samePrincipal } from './principal.js';
import { eventGroupName } from './render-event-group.js';
import { actorOf, keyFingerprint, requiredField, unpackField } from './service-support.js';
import { bytesEqual } from '../../lib/bytes.js';

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

function render(r: MetadataReencryptionRequestRecord, measurementConsumerId: bigint | undefined): MetadataReencryptionRequest {
  const out = create(MetadataReencryptionRequestSchema, {
    name: reencryptionRequestName(r.dataProviderId, r.externalEventGroupId, r.externalRequestId),
    eventGroup: eventGroupName(r.dataProviderId, r.externalEventGroupId),
    measurementConsumerKeyFingerprint: r.measurementConsumerKeyFingerprint,
    state: r.state === 'OPEN' ? MetadataReencryptionRequest_State.OPEN : MetadataReencryptionRequest_State.CLOSED,
    createTime: timestampFromDate(r.createTime),
  });
  if (measurementConsumerId !== undefined) {
    out.measurementConsumer = formatResourceName({ kind: 'measurementConsumer', measurementConsumerId });
  }
  if (r.closeTime !== null) out.closeTime = timestampFromDate(r.closeTime);
  return out;
}

/** True while the group's metadata is still encrypted to the key with this fingerprint. */
function stillEncryptedTo(eg: EventGroupRecord, fingerprint: Uint8Array): boolean {
  return (
    eg.state === 'ACTIVE' &&
    eg.encryptedMetadata !== null &&
    eg.measurementConsumerPublicKey !== null &&
    bytesEqual(keyFingerprint(eg.measurementConsumerPublicKey), fingerprint)
  );
}

function notFound(name: string): StoreError {
  return new StoreError('NOT_FOUND', 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND', 'Re-encryption request not found.', {
    metadata: { metadataReencryptionRequest: name },
  });
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
      const open = await store.listOpenMetadataReencryptionRequests(parent.dataProviderId);
      const consumers = new Map<bigint, bigint>();
      const requests: MetadataReencryptionRequest[] = [];
      for (const r of open) {
        let mc = consumers.get(r.externalEventGroupId);
        if (mc === undefined) {
          mc = (await store.getEventGroup(r.dataProviderId, r.externalEventGroupId)).measurementConsumerId;
          consumers.set(r.externalEventGroupId, mc);
        }
        requests.push(render(r, mc));
      }
      return create(ListMetadataReencryptionRequestsResponseSchema, { requests });
    },

    async closeMetadataReencryptionRequest(req: CloseMetadataReencryptionRequestRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = parseReencryptionRequestName(req.name);
      if (key === undefined) {
        throw invalidArgument('INVALID_RESOURCE_NAME', `invalid name: ${JSON.stringify(req.name.slice(0, 120))}`);
      }
      const dp = { kind: 'dataProvider' as const, dataProviderId: key.dataProviderId };
      if (!samePrincipal(principal, dp)) throw permissionDenied('CLOSE', req.name);
      const open = (await store.listOpenMetadataReencryptionRequests(key.dataProviderId)).find(
        (r) => r.externalRequestId === key.requestId,
      );
      if (open !== undefined) {
        if (open.externalEventGroupId !== key.eventGroupId) throw notFound(req.name);
        const eg = await store.getEventGroup(key.dataProviderId, key.eventGroupId);
        if (stillEncryptedTo(eg, open.measurementConsumerKeyFingerprint)) {
          throw failedPrecondition(
            'EVENT_GROUP_METADATA_NOT_REENCRYPTED',
            'EventGroup metadata is still encrypted to the key the request names; update it first.',
            { eventGroup: eventGroupName(key.dataProviderId, key.eventGroupId) },
          );
        }
      }
      const closed = await store.closeMetadataReencryptionRequest({
        actor: actorOf(principal, ctx),
        dataProviderId: key.dataProviderId,
        externalRequestId: key.requestId,
      });
      // Closing a closed request changes nothing, so a mismatched name is only reported.
      if (closed.externalEventGroupId !== key.eventGroupId) throw notFound(req.name);
      const eg = await store.getEventGroup(key.dataProviderId, key.eventGroupId);
      return render(closed, eg.measurementConsumerId);
    },
  };
}

export function registerMetadataReencryptionService(router: ConnectRouter, services: KingdomServices): void {
  router.service(EventGroupMetadataReencryption, metadataReencryptionService(services));
}
