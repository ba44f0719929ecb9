/**
 * Store records → API messages. Public keys are rebuilt as upstream does
 * (cmms-reference §2.9): the stored `EncryptionPublicKey` bytes become both
 * `message.value` and the deprecated `data`, and the type URL comes from the
 * stored API version, not from whatever the client once sent.
 */
import { create, fromBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { certificateKey, externalIdToApiId, formatResourceName, TYPE_URL_PREFIX } from '../../api/index.js';
import { CertificateSchema, type Certificate } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { SignedMessageSchema, type SignedMessage } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  DataProvider_CapabilitiesSchema,
  DataProvider_DataAvailabilityMapEntrySchema,
  DataProviderSchema,
  type DataProvider,
} from '../../gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { IntervalSchema } from '../../gen/google/type/interval_pb.js';
import { DuchySchema, type Duchy } from '../../gen/wfa/measurement/api/v2alpha/duchy_pb.js';
import {
  MeasurementConsumerSchema,
  type MeasurementConsumer,
} from '../../gen/wfa/measurement/api/v2alpha/measurement_consumer_pb.js';
import { ModelProviderSchema, type ModelProvider } from '../../gen/wfa/measurement/api/v2alpha/model_provider_pb.js';
import type { CertificateRecord, DataProviderSettings, PartyKey, PartyRecord, PublicKeyRecord } from '../store/index.js';
import { fromPartyKey } from './principal.js';

/** `dataProviders/…`, `duchies/…`, … of a store owner key. */
export function partyResourceName(key: PartyKey): string {
  return formatResourceName(fromPartyKey(key));
}

/** `{parent}/certificates/{id}` of a certificate owned by `owner`. */
export function certificateResourceName(owner: PartyKey, externalCertificateId: bigint): string {
  return formatResourceName(certificateKey(fromPartyKey(owner), externalCertificateId));
}

export function renderCertificate(record: CertificateRecord): Certificate {
  return create(CertificateSchema, {
    name: certificateResourceName(record.owner, record.externalCertificateId),
    x509Der: record.x509Der,
    revocationState: record.revocationState,
    subjectKeyIdentifier: record.subjectKeyIdentifier,
  });
}

/** The type URL of `EncryptionPublicKey` in the API version a key was stored under. */
export function encryptionPublicKeyTypeUrl(apiVersion: string): string {
  return `${TYPE_URL_PREFIX}wfa.measurement.api.${apiVersion}.EncryptionPublicKey`;
}

export function renderSignedPublicKey(key: PublicKeyRecord): SignedMessage {
  return create(SignedMessageSchema, {
    message: create(AnySchema, { typeUrl: encryptionPublicKeyTypeUrl(key.apiVersion), value: key.publicKey }),
    data: key.publicKey,
    signature: key.signature,
    signatureAlgorithmOid: key.signatureAlgorithmOid,
  });
}

/**
 * The fields DataProvider and MeasurementConsumer share: `certificate` and
 * `certificate_der` name the current public-key certificate (§1.6).
 */
function keyFields(party: PartyRecord, publicKeyCertificate: CertificateRecord | null) {
  if (party.publicKey === null || publicKeyCertificate === null) return {};
  return {
    certificate: certificateResourceName(party.key, publicKeyCertificate.externalCertificateId),
    certificateDer: publicKeyCertificate.x509Der,
    publicKey: renderSignedPublicKey(party.publicKey),
  };
}

/** `settings` are what the DataProvider replaced itself; a new one has none. */
export function renderDataProvider(
  party: PartyRecord,
  publicKeyCertificate: CertificateRecord | null,
  settings?: DataProviderSettings,
): DataProvider {
  return create(DataProviderSchema, {
    name: partyResourceName(party.key),
    displayName: party.displayName,
    ...keyFields(party, publicKeyCertificate),
    ...(settings === undefined ? {} : settingsFields(settings)),
  });
}

function settingsFields(s: DataProviderSettings) {
  return {
    requiredDuchies: s.requiredDuchies.map((id) => `duchies/${id}`),
    ...(s.dataAvailabilityInterval === null ? {} : { dataAvailabilityInterval: fromBinary(IntervalSchema, s.dataAvailabilityInterval) }),
    dataAvailabilityIntervals: s.dataAvailabilityIntervals.map((e) =>
      create(DataProvider_DataAvailabilityMapEntrySchema, { key: e.modelLine, value: fromBinary(IntervalSchema, e.interval) }),
    ),
    ...(s.capabilities === null ? {} : { capabilities: fromBinary(DataProvider_CapabilitiesSchema, s.capabilities) }),
  };
}

/** `owners` are the external ids of the owning Accounts (none for one the operator made and gave to no Account). */
export function renderMeasurementConsumer(
  party: PartyRecord,
  publicKeyCertificate: CertificateRecord | null,
  owners: readonly bigint[] = [],
): MeasurementConsumer {
  return create(MeasurementConsumerSchema, {
    name: partyResourceName(party.key),
    displayName: party.displayName,
    ...keyFields(party, publicKeyCertificate),
    owners: owners.map((id) => `accounts/${externalIdToApiId(id)}`),
  });
}

export function renderModelProvider(party: PartyRecord): ModelProvider {
  return create(ModelProviderSchema, { name: partyResourceName(party.key), displayName: party.displayName });
}

/** A Duchy with the certificate it registered (admin CreateDuchy's response). */
export function renderDuchy(party: PartyRecord, certificate: CertificateRecord | null): Duchy {
  return create(DuchySchema, {
    name: partyResourceName(party.key),
    ...(certificate === null
      ? {}
      : {
          preferredCertificate: certificateResourceName(party.key, certificate.externalCertificateId),
          preferredCertificateDer: certificate.x509Der,
        }),
  });
}
