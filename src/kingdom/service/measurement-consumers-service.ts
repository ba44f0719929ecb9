/**
 * `wfa.measurement.api.v2alpha.MeasurementConsumers.GetMeasurementConsumer`
 * (§2.9): any DataProvider, or the MeasurementConsumer itself, may read it.
 * Creation, and owners, through upstream's Account flow answer UNIMPLEMENTED
 * for now; operators create MeasurementConsumers with the admin service.
 */
import type { ServiceImpl } from '@connectrpc/connect';
import { parseMeasurementConsumerName } from '../../api/index.js';
import { MeasurementConsumers } from '../../gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { canGetMeasurementConsumer, requireAllowed } from './authorization.js';
import type { KingdomServices } from './context.js';
import { notImplemented } from './errors.js';
import { publicKeyCertificateOf } from './party-lookup.js';
import { requirePrincipal, toPartyKey } from './principal.js';
import { renderMeasurementConsumer } from './render.js';
import { parseRequestName } from './request-names.js';

export function measurementConsumersService(services: KingdomServices): ServiceImpl<typeof MeasurementConsumers> {
  return {
    async getMeasurementConsumer(req, ctx) {
      const key = parseRequestName(parseMeasurementConsumerName, req.name, 'Resource name unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetMeasurementConsumer(principal, key), 'GET', req.name);
      const party = await services.store.getParty(toPartyKey(key));
      return renderMeasurementConsumer(party, await publicKeyCertificateOf(services.store, party));
    },
    createMeasurementConsumer: notImplemented(MeasurementConsumers.method.createMeasurementConsumer),
    addMeasurementConsumerOwner: notImplemented(MeasurementConsumers.method.addMeasurementConsumerOwner),
    removeMeasurementConsumerOwner: notImplemented(MeasurementConsumers.method.removeMeasurementConsumerOwner),
  };
}
