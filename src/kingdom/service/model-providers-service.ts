/**
 * `wfa.measurement.api.v2alpha.ModelProviders.GetModelProvider`: as upstream's
 * ModelProvidersService, the ModelProvider itself, any DataProvider or any
 * MeasurementConsumer may read it; Duchies may not.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { parseModelProviderName } from '../../api/index.js';
import { ModelProviders } from '../../gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { canGetModelProvider, requireAllowed } from './authorization.js';
import type { KingdomServices } from './context.js';
import { notImplemented } from './errors.js';
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
    listModelProviders: notImplemented(ModelProviders.method.listModelProviders),
  };
}
