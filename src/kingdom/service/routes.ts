/**
 * Every Kingdom service on one ConnectRouter, and the router options they
 * need. The server process (src/kingdom/server) serves these over mTLS;
 * tests run them in memory with `createRouterTransport`.
 */
import type { ConnectRouter, ConnectRouterOptions, Interceptor } from '@connectrpc/connect';
import { KingdomAdmin } from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import { Accounts } from '../../gen/wfa/measurement/api/v2alpha/accounts_service_pb.js';
import { Certificates } from '../../gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { DataProviders } from '../../gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { MeasurementConsumers } from '../../gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { ModelProviders } from '../../gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { PublicKeys } from '../../gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { adminAuthenticationInterceptor, type AdminTokenOptions } from './admin-authentication.js';
import { authenticationInterceptor } from './authentication.js';
import { registerCertificateBlastRadiusService } from './certificate-blast-radius-service.js';
import { certificatesService } from './certificates-service.js';
import type { KingdomServices } from './context.js';
import { dataProvidersService } from './data-providers-service.js';
import { registerEventGroupsService } from './event-groups-service.js';
import { errorMappingInterceptor } from './interceptors.js';
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
    router.service(KingdomAdmin, kingdomAdminService(services));
    // Declared so its calls answer UNIMPLEMENTED naming the method, not as an unknown service.
    router.service(Accounts, {});

    registerEventGroupsService(router, services);
    registerMeasurementsService(router, services);
    registerRequisitionsService(router, services);
    registerMeasurementTrustService(router, services);
    registerMetadataReencryptionService(router, services);
    registerCertificateBlastRadiusService(router, services);
  };
}

export interface KingdomRouterOptions {
  /** Accept the admin bearer token whose SHA-256 this is (see admin-authentication.ts). */
  readonly admin?: AdminTokenOptions;
}

/**
 * Interceptors, outermost first: errors of everything below become
 * ConnectErrors with ErrorInfo; the admin token (when configured) is checked
 * for KingdomAdmin calls; then the public principal is resolved.
 */
export function routerOptions(services: KingdomServices, options: KingdomRouterOptions = {}): ConnectRouterOptions {
  const interceptors: Interceptor[] = [errorMappingInterceptor];
  if (options.admin !== undefined) interceptors.push(adminAuthenticationInterceptor(options.admin));
  interceptors.push(authenticationInterceptor(services.resolver));
  return { interceptors };
}
