/**
 * `wfa.measurement.api.v2alpha.DataProviders.GetDataProvider` (§2.9): the
 * DataProvider itself, any MeasurementConsumer or any ModelProvider may read
 * it; `certificate`, `certificate_der` and `public_key` come from the
 * current public key and its certificate.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { parseDataProviderName } from '../../api/index.js';
import { DataProviders } from '../../gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { canGetDataProvider, requireAllowed } from './authorization.js';
import type { KingdomServices } from './context.js';
import { notImplemented } from './errors.js';
import { publicKeyCertificateOf } from './party-lookup.js';
import { requirePrincipal, toPartyKey } from './principal.js';
import { renderDataProvider } from './render.js';
import { parseRequestName } from './request-names.js';

export function dataProvidersService(services: KingdomServices): ServiceImpl<typeof DataProviders> {
  return {
    async getDataProvider(req, ctx) {
      const key = parseRequestName(parseDataProviderName, req.name, 'Resource name unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetDataProvider(principal, key), 'GET', req.name);
      const party = await services.store.getParty(toPartyKey(key));
      return renderDataProvider(party, await publicKeyCertificateOf(services.store, party));
    },
    replaceDataProviderRequiredDuchies: notImplemented(DataProviders.method.replaceDataProviderRequiredDuchies),
    replaceDataAvailabilityIntervals: notImplemented(DataProviders.method.replaceDataAvailabilityIntervals),
    replaceDataAvailabilityInterval: notImplemented(DataProviders.method.replaceDataAvailabilityInterval),
    replaceDataProviderCapabilities: notImplemented(DataProviders.method.replaceDataProviderCapabilities),
  };
}
