/**
 * Typed clients for every Kingdom service over one connection. Use
 * `createKingdomClient` for the network, or `kingdomClientOver` with any
 * Transport (e.g. `createRouterTransport` in tests and in-process tools).
 */
import type { DescService } from '@bufbuild/protobuf';
import { type Client, type Transport, createClient } from '@connectrpc/connect';
import { CertificateBlastRadius } from '../gen/halo/keys/v1/certificate_blast_radius_pb.js';
import { EventGroupMetadataReencryption } from '../gen/halo/keys/v1/event_group_metadata_reencryption_pb.js';
import { KingdomAdmin } from '../gen/halo/keys/v1/kingdom_admin_pb.js';
import { MeasurementTrust } from '../gen/halo/keys/v1/measurement_trust_pb.js';
import { Accounts } from '../gen/wfa/measurement/api/v2alpha/accounts_service_pb.js';
import { ApiKeys } from '../gen/wfa/measurement/api/v2alpha/api_keys_service_pb.js';
import { Certificates } from '../gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { DataProviders } from '../gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { EventGroups } from '../gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MeasurementConsumers } from '../gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { Measurements } from '../gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { ModelProviders } from '../gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { PublicKeys } from '../gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { Requisitions } from '../gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { type KingdomTransportOptions, createKingdomTransport, resolveTarget } from './transport.js';
import { KingdomClientError, toKingdomClientError } from './errors.js';

export interface KingdomClient {
  readonly accounts: Client<typeof Accounts>;
  readonly apiKeys: Client<typeof ApiKeys>;
  readonly certificates: Client<typeof Certificates>;
  readonly publicKeys: Client<typeof PublicKeys>;
  readonly dataProviders: Client<typeof DataProviders>;
  readonly measurementConsumers: Client<typeof MeasurementConsumers>;
  readonly modelProviders: Client<typeof ModelProviders>;
  readonly eventGroups: Client<typeof EventGroups>;
  readonly measurements: Client<typeof Measurements>;
  readonly requisitions: Client<typeof Requisitions>;
  readonly measurementTrust: Client<typeof MeasurementTrust>;
  readonly certificateBlastRadius: Client<typeof CertificateBlastRadius>;
  readonly metadataReencryption: Client<typeof EventGroupMetadataReencryption>;
  readonly admin: Client<typeof KingdomAdmin>;
  readonly transport: Transport;
}

/**
 * Connect wraps anything an interceptor throws in a ConnectError; unwrap
 * ours again, and convert the rest, so every method rejects with a
 * KingdomClientError.
 */
function typedErrors<S extends DescService>(client: Client<S>, describe: { target: string; serverName: string }): Client<S> {
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(client as Record<string, (...args: unknown[]) => Promise<unknown>>)) {
    out[name] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        const inner = err instanceof Error && err.cause instanceof KingdomClientError ? err.cause : err;
        throw toKingdomClientError(inner, describe.target, describe.serverName);
      }
    };
  }
  return out as Client<S>;
}

/** Clients over any Transport; `describe` names the target in error messages. */
export function kingdomClientOver(transport: Transport, describe = { target: 'the Kingdom', serverName: 'the Kingdom' }): KingdomClient {
  const make = <S extends DescService>(service: S) => typedErrors(createClient(service, transport), describe);
  return {
    accounts: make(Accounts),
    apiKeys: make(ApiKeys),
    certificates: make(Certificates),
    publicKeys: make(PublicKeys),
    dataProviders: make(DataProviders),
    measurementConsumers: make(MeasurementConsumers),
    modelProviders: make(ModelProviders),
    eventGroups: make(EventGroups),
    measurements: make(Measurements),
    requisitions: make(Requisitions),
    measurementTrust: make(MeasurementTrust),
    certificateBlastRadius: make(CertificateBlastRadius),
    metadataReencryption: make(EventGroupMetadataReencryption),
    admin: make(KingdomAdmin),
    transport,
  };
}

export type KingdomClientOptions = KingdomTransportOptions;

/** A client over mTLS (TLS 1.3); every failure is a KingdomClientError. */
export function createKingdomClient(options: KingdomClientOptions): KingdomClient {
  const target = resolveTarget(options.target);
  return kingdomClientOver(createKingdomTransport(options), { target: target.display, serverName: options.serverName ?? target.host });
}
