/**
 * `wfa.measurement.api.v2alpha.ApiKeys`: an activated Account (OpenID ID
 * token) creates and deletes the API keys of a MeasurementConsumer it owns,
 * as upstream; anyone else is PERMISSION_DENIED, a caller without an ID
 * token UNAUTHENTICATED. The store checks the ownership again in its
 * transaction, so an owner removed meanwhile makes no key. The
 * authentication key is returned by Create only: the store keeps its hash.
 */
import { create } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { externalIdToApiId, formatResourceName, measurementConsumerKey, parseApiKeyName, parseMeasurementConsumerName } from '../../api/index.js';
import { ApiKeySchema, type ApiKey } from '../../gen/wfa/measurement/api/v2alpha/api_key_pb.js';
import { ApiKeys } from '../../gen/wfa/measurement/api/v2alpha/api_keys_service_pb.js';
import type { AccountRecord, ApiKeyRecord } from '../store/index.js';
import { accountActor, requireAccount } from './account-authentication.js';
import type { KingdomServices } from './context.js';
import { permissionDenied } from './errors.js';
import { parseRequestName } from './request-names.js';
import { requiredField } from './service-support.js';

function renderApiKey(key: ApiKeyRecord, authenticationKey?: bigint): ApiKey {
  return create(ApiKeySchema, {
    name: formatResourceName({ kind: 'apiKey', parent: measurementConsumerKey(key.measurementConsumerId), apiKeyId: key.externalApiKeyId }),
    nickname: key.nickname,
    description: key.description,
    authenticationKey: authenticationKey === undefined ? '' : externalIdToApiId(authenticationKey),
  });
}

export function apiKeysService(services: KingdomServices): ServiceImpl<typeof ApiKeys> {
  const { store } = services;

  /** The caller's Account, which must own the MeasurementConsumer (upstream checks this before anything else). */
  async function owner(ctx: HandlerContext, measurementConsumerId: bigint, permission: string, resource: string): Promise<AccountRecord> {
    const account = await requireAccount(ctx, services);
    if (!account.ownedMeasurementConsumerIds.includes(measurementConsumerId)) throw permissionDenied(permission, resource);
    return account;
  }

  return {
    async createApiKey(req, ctx) {
      const mc = parseRequestName(parseMeasurementConsumerName, req.parent, 'Measurement Consumer resource name unspecified or invalid');
      const account = await owner(ctx, mc.measurementConsumerId, 'CREATE_API_KEY', req.parent);
      const apiKey = req.apiKey ?? requiredField('api_key');
      if (apiKey.nickname.trim() === '') requiredField('api_key.nickname');
      const { apiKey: created, authenticationKey } = await store.createApiKey({
        actor: accountActor(account),
        measurementConsumerId: mc.measurementConsumerId,
        nickname: apiKey.nickname,
        description: apiKey.description,
        externalOwnerAccountId: account.externalAccountId,
      });
      return renderApiKey(created, authenticationKey);
    },

    async deleteApiKey(req, ctx) {
      const key = parseRequestName(parseApiKeyName, req.name, 'Resource name unspecified or invalid');
      const account = await owner(ctx, key.parent.measurementConsumerId, 'DELETE', req.name);
      const deleted = await store.deleteApiKey({
        actor: accountActor(account),
        measurementConsumerId: key.parent.measurementConsumerId,
        externalApiKeyId: key.apiKeyId,
        externalOwnerAccountId: account.externalAccountId,
      });
      // A deleted key must stop authenticating now, not when the cache entry ages out.
      services.resolver.invalidate();
      return renderApiKey(deleted);
    },
  };
}
