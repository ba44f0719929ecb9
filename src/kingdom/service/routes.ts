/**
 * Every Kingdom service on one ConnectRouter: a new service is one line here.
 * assembly.ts puts them behind their interceptors.
 */
import type { ConnectRouter } from '@connectrpc/connect';
import { KingdomAdmin } from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import { ApiKeys } from '../../gen/wfa/measurement/api/v2alpha/api_keys_service_pb.js';
import { Certificates } from '../../gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { DataProviders } from '../../gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { MeasurementConsumers } from '../../gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { ModelProviders } from '../../gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { PublicKeys } from '../../gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { registerAccountsService } from './accounts-service.js';
import { apiKeysService } from './api-keys-service.js';
import { registerCertificateBlastRadiusService } from './certificate-blast-radius-service.js';
import { certificatesService } from './certificates-service.js';
import type { KingdomServices } from './context.js';
import { dataProvidersService } from './data-providers-service.js';
import { registerEventGroupsService } from './event-groups-service.js';
import { kingdomAdminService } from './kingdom-admin-service.js';
import { measurementConsumersService } from './measurement-consumers-service.js';
import { registerMeasurementTrustService } from './measurement-trust-service.js';
import { registerMeasurementsService } from './measurements-service.js';
import { registerMetadataReencryptionService } from './metadata-reencryption-service.js';
import { modelProvidersService } from './model-providers-service.js';
import { publicKeysService } from './public-keys-service.js';
import { registerRequisitionsService } from './requisitions-service.js';

export function kingdomRoutes(services: KingdomServices): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Certificates, certificatesService(services));
    router.service(PublicKeys, publicKeysService(services));
    router.service(DataProviders, dataProvidersService(services));
    router.service(MeasurementConsumers, measurementConsumersService(services));
    router.service(ModelProviders, modelProvidersService(services));
    router.service(ApiKeys, apiKeysService(services));
    router.service(KingdomAdmin, kingdomAdminService(services));

    registerAccountsService(router, services);
    registerEventGroupsService(router, services);
    registerMeasurementsService(router, services);
    registerRequisitionsService(router, services);
    registerMeasurementTrustService(router, services);
    registerMetadataReencryptionService(router, services);
    registerCertificateBlastRadiusService(router, services);
  };
}
