/**
 * `halo.keys.v1.CertificateBlastRadius`: what depends on one certificate,
 * asked by its owner before revoking it (or putting it on hold). It wraps
 * the store's `certificateBlastRadius`, which reads in one transaction; the
 * answer names resources the owner may not be able to read itself (a
 * DataProvider learns the names of the Measurements its requisitions belong
 * to, as it already does from ListRequisitions).
 */
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { parseCertificateName, requireName } from '../../api/index.js';
import {
  CertificateBlastRadius,
  CertificateBlastRadiusInfoSchema,
  type GetCertificateBlastRadiusRequest,
} from '../../gen/halo/keys/v1/certificate_blast_radius_pb.js';
import type { Certificate_RevocationState } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import type { KingdomServices } from './context.js';
import { permissionDenied } from './errors.js';
import { requirePrincipal, samePrincipal, toPartyKey } from './principal.js';
import { certificateNameOf, measurementName, requisitionName } from './render-measurement.js';

export function certificateBlastRadiusService(services: KingdomServices) {
  const { store } = services;
  return {
    async getCertificateBlastRadius(req: GetCertificateBlastRadiusRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const key = requireName(parseCertificateName, req.certificate, 'certificate');
      // Owner only, checked before any read, so strangers learn nothing (not even existence).
      if (!samePrincipal(principal, key.parent)) throw permissionDenied('GET', req.certificate);
      const owner = toPartyKey(key.parent);
      const radius = await store.certificateBlastRadius(owner, key.certificateId);
      return create(CertificateBlastRadiusInfoSchema, {
        certificate: certificateNameOf(owner, key.certificateId),
        revocationState: radius.certificate.revocationState as Certificate_RevocationState,
        pendingMeasurements: radius.pendingMeasurements.map((m) => measurementName(m.measurementConsumerId, m.externalMeasurementId)),
        pendingRequisitions: radius.pendingRequisitions.map((r) => requisitionName(r.dataProviderId, r.externalRequisitionId)),
        signedResultMeasurements: radius.signedResults.map((m) => measurementName(m.measurementConsumerId, m.externalMeasurementId)),
        publicKeyReferences: radius.publicKeyReferences,
      });
    },
  };
}

export function registerCertificateBlastRadiusService(router: ConnectRouter, services: KingdomServices): void {
  router.service(CertificateBlastRadius, certificateBlastRadiusService(services));
}
