/**
 * `halo.keys.v1.MeasurementTrust`: whether a Measurement's results may still
 * be trusted. Upstream fails pending measurements when a certificate is
 * revoked but says nothing about SUCCEEDED ones whose results were signed
 * with it; this answers that, with the same access rule as GetMeasurement
 * (only the MeasurementConsumer that owns it).
 */
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { parseMeasurementName, requireName } from '../../api/index.js';
import {
  MeasurementTrust,
  MeasurementTrustInfoSchema,
  type GetMeasurementTrustRequest,
} from '../../gen/halo/keys/v1/measurement_trust_pb.js';
import { RevocationState } from '../store/index.js';
import type { KingdomServices } from './context.js';
import { permissionDenied } from './errors.js';
import { requirePrincipal, samePrincipal } from './principal.js';
import { certificateNameOf, measurementName } from './render-measurement.js';

export function measurementTrustService(services: KingdomServices) {
  const { store } = services;
  return {
    async getMeasurementTrust(req: GetMeasurementTrustRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requireName(parseMeasurementName, req.measurement, 'measurement');
      if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.measurement);
      const measurement = await store.getMeasurement(key.parent.measurementConsumerId, key.measurementId);
      const untrusted = new Set<string>();
      // Results exist only once SUCCEEDED; each names the certificate whose key signed it.
      for (const result of measurement.results) {
        const name = certificateNameOf(result.certificateOwner, result.certificateId);
        if (untrusted.has(name)) continue;
        const certificate = await store.getCertificate(result.certificateOwner, result.certificateId);
        if (certificate.revocationState !== RevocationState.UNSPECIFIED) untrusted.add(name);
      }
      return create(MeasurementTrustInfoSchema, {
        measurement: measurementName(measurement.measurementConsumerId, measurement.externalMeasurementId),
        trusted: untrusted.size === 0,
        untrustedResultCertificates: [...untrusted],
      });
    },
  };
}

export function registerMeasurementTrustService(router: ConnectRouter, services: KingdomServices): void {
  router.service(MeasurementTrust, measurementTrustService(services));
}
