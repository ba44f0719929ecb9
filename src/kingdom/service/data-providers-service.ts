/**
 * `wfa.measurement.api.v2alpha.DataProviders` (§2.9).
 *
 * Get: the DataProvider itself, any MeasurementConsumer or any
 * ModelProvider; `certificate`, `certificate_der` and `public_key` come from
 * the current public key and its certificate.
 * Replace*: only the DataProvider itself, as upstream; each replaces the
 * whole setting and answers with the DataProvider. Required Duchies must
 * exist; each availability entry names a ModelLine of an existing
 * ModelProvider (the Kingdom keeps no ModelLines); intervals need both ends,
 * start before end.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { HandlerContext, ServiceImpl } from '@connectrpc/connect';
import { parseApiId, parseDataProviderName, parseResourceName } from '../../api/index.js';
import { DataProvider_CapabilitiesSchema } from '../../gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { DataProviders } from '../../gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { IntervalSchema, type Interval } from '../../gen/google/type/interval_pb.js';
import type { DataAvailabilityEntry } from '../store/index.js';
import { canGetDataProvider, requireAllowed } from './authorization.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { publicKeyCertificateOf } from './party-lookup.js';
import { actorOf } from './service-support.js';
import { requirePrincipal } from './principal.js';
import { renderDataProvider } from './render.js';
import { parseRequestName } from './request-names.js';

/** `modelProviders/{mp}/modelSuites/{ms}/modelLines/{ml}`: the ModelProvider id, or undefined. */
function parseModelLineModelProvider(name: string): bigint | undefined {
  const s = name.split('/');
  if (s.length !== 6 || s[0] !== 'modelProviders' || s[2] !== 'modelSuites' || s[4] !== 'modelLines') return undefined;
  const ids = [s[1], s[3], s[5]].map((id) => parseApiId(id ?? ''));
  return ids.every((id) => id !== undefined) ? ids[0] : undefined;
}

/** Both ends set (seconds > 0, as upstream) and start before end; `field` names it in the error. */
function checkedInterval(interval: Interval | undefined, field: string): Uint8Array {
  const start = interval?.startTime;
  const end = interval?.endTime;
  if (start === undefined || start.seconds <= 0n) throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field}.start_time is not set`);
  if (end === undefined || end.seconds <= 0n) throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field}.end_time is not set`);
  if (start.seconds > end.seconds || (start.seconds === end.seconds && start.nanos >= end.nanos)) {
    throw invalidArgument('INVALID_FIELD_VALUE', `${field}.start_time must be before end_time`);
  }
  return toBinary(IntervalSchema, interval!);
}

export function dataProvidersService(services: KingdomServices): ServiceImpl<typeof DataProviders> {
  const { store } = services;

  async function render(dataProviderId: bigint) {
    const party = await store.getParty({ kind: 'DATA_PROVIDER', id: dataProviderId });
    return renderDataProvider(party, await publicKeyCertificateOf(store, party), await store.getDataProviderSettings(dataProviderId));
  }

  /** Only the DataProvider itself replaces its settings. */
  function requireSelf(name: string, ctx: HandlerContext, method: string) {
    const key = parseRequestName(parseDataProviderName, name, 'Resource name unspecified or invalid');
    const principal = requirePrincipal(ctx);
    if (principal.kind !== 'dataProvider' || principal.dataProviderId !== key.dataProviderId) throw permissionDenied(method, name);
    return { id: key.dataProviderId, actor: actorOf(principal, ctx) };
  }

  return {
    async getDataProvider(req, ctx) {
      const key = parseRequestName(parseDataProviderName, req.name, 'Resource name unspecified or invalid');
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetDataProvider(principal, key), 'GET', req.name);
      return render(key.dataProviderId);
    },

    async replaceDataProviderRequiredDuchies(req, ctx) {
      const self = requireSelf(req.name, ctx, 'replaceDataProviderRequiredDuchies');
      const duchyIds = req.requiredDuchies.map((name) => {
        const key = parseResourceName(name);
        if (key?.kind !== 'duchy') throw invalidArgument('INVALID_RESOURCE_NAME', 'required_duchies entry invalid');
        return key.duchyId;
      });
      await store.replaceRequiredDuchies({ actor: self.actor, dataProviderId: self.id, duchyIds });
      return render(self.id);
    },

    async replaceDataAvailabilityIntervals(req, ctx) {
      const self = requireSelf(req.name, ctx, 'replaceDataAvailabilityIntervals');
      const seen = new Set<string>();
      const entries: DataAvailabilityEntry[] = req.dataAvailabilityIntervals.map((e, i) => {
        const modelProviderId = parseModelLineModelProvider(e.key);
        if (modelProviderId === undefined) throw invalidArgument('INVALID_RESOURCE_NAME', 'Invalid ModelLine resource name');
        if (seen.has(e.key)) throw invalidArgument('INVALID_FIELD_VALUE', `data_availability_intervals names ${e.key} twice`);
        seen.add(e.key);
        return { modelLine: e.key, modelProviderId, interval: checkedInterval(e.value, `data_availability_intervals[${i}].value`) };
      });
      await store.replaceDataAvailabilityIntervals({ actor: self.actor, dataProviderId: self.id, entries });
      return render(self.id);
    },

    async replaceDataAvailabilityInterval(req, ctx) {
      const self = requireSelf(req.name, ctx, 'replaceDataAvailabilityInterval');
      const value = checkedInterval(req.dataAvailabilityInterval, 'data_availability_interval');
      await store.replaceDataProviderSetting({ actor: self.actor, dataProviderId: self.id, setting: 'dataAvailabilityInterval', value });
      return render(self.id);
    },

    async replaceDataProviderCapabilities(req, ctx) {
      const self = requireSelf(req.name, ctx, 'replaceDataProviderCapabilities');
      const value = toBinary(DataProvider_CapabilitiesSchema, req.capabilities ?? create(DataProvider_CapabilitiesSchema));
      await store.replaceDataProviderSetting({ actor: self.actor, dataProviderId: self.id, setting: 'capabilities', value });
      return render(self.id);
    },
  };
}
