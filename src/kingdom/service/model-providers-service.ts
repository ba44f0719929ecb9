/**
 * `wfa.measurement.api.v2alpha.ModelProviders`. Get, as upstream's
 * ModelProvidersService: the ModelProvider itself, any DataProvider or any
 * MeasurementConsumer; Duchies may not. List: upstream checks no principal;
 * here any authenticated participant may list (a caller with no principal
 * is UNAUTHENTICATED). The page token is the last ModelProvider's API id.
 */
import { create } from '@bufbuild/protobuf';
import type { ServiceImpl } from '@connectrpc/connect';
import { externalIdToApiId, normalizePageSize, parseApiId, parseModelProviderName } from '../../api/index.js';
import { ListModelProvidersResponseSchema, ModelProviders } from '../../gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { canGetModelProvider, requireAllowed } from './authorization.js';
import type { KingdomServices } from './context.js';
import { invalidArgument } from './errors.js';
import { requirePrincipal, toPartyKey } from './principal.js';
import { renderModelProvider } from './render.js';
import { parseRequestName } from './request-names.js';

export function modelProvidersService(services: KingdomServices): ServiceImpl<typeof ModelProviders> {
  return {
    async getModelProvider(req, ctx) {
      const key = parseRequestName(parseModelProviderName, req.name, 'Resource name is either unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetModelProvider(principal, key), 'GET', req.name);
      return renderModelProvider(await services.store.getParty(toPartyKey(key)));
    },

    async listModelProviders(req, ctx) {
      requirePrincipal(ctx);
      const pageSize = normalizePageSize(req.pageSize);
      let after: bigint | undefined;
      if (req.pageToken !== '') {
        after = parseApiId(req.pageToken);
        if (after === undefined) throw invalidArgument('INVALID_PAGE_TOKEN', 'invalid page token for ListModelProviders');
      }
      const page = await services.store.listParties({ kind: 'MODEL_PROVIDER', limit: pageSize, ...(after === undefined ? {} : { after }) });
      return create(ListModelProvidersResponseSchema, {
        modelProviders: page.items.map(renderModelProvider),
        nextPageToken: page.next === null ? '' : externalIdToApiId(page.next),
      });
    },
  };
}
