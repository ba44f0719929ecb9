/**
 * Wire compatibility with the CMMS public API.
 *
 * 1. Field and enum numbers from cmms-reference.md (taken from the upstream
 *    protos) are written below as constants and checked against both our
 *    generated code (protobuf-es) and an independent parse of our .proto
 *    files (protobufjs through @grpc/proto-loader, which grpc-js clients use).
 * 2. Messages encoded by protobuf-es are decoded by the proto-loader
 *    deserializers of the real RPC methods, and the bytes are walked by hand
 *    to see the expected tag numbers on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { create, createRegistry, toBinary, type DescFile, type DescMessage } from '@bufbuild/protobuf';
import protoLoader from '@grpc/proto-loader';
import { packAny } from '../../src/api/type-url.js';
import { file_google_rpc_error_details } from '../../src/gen/google/rpc/error_details_pb.js';
import { file_wfa_measurement_api_v2alpha_certificates_service } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { CertificateSchema, Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import {
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  SignedMessageSchema,
  file_wfa_measurement_api_v2alpha_crypto,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { file_wfa_measurement_api_v2alpha_data_providers_service } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { file_wfa_measurement_api_v2alpha_duchy } from '../../src/gen/wfa/measurement/api/v2alpha/duchy_pb.js';
import { EventGroupSchema, EventGroup_State, file_wfa_measurement_api_v2alpha_event_group } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { file_wfa_measurement_api_v2alpha_event_groups_service } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { file_wfa_measurement_api_v2alpha_measurement_consumers_service } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import {
  MeasurementSchema,
  Measurement_DataProviderEntry_ValueSchema,
  Measurement_Failure_Reason,
  Measurement_ResultOutputSchema,
  Measurement_State,
  file_wfa_measurement_api_v2alpha_measurement,
} from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { file_wfa_measurement_api_v2alpha_measurement_spec } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { file_wfa_measurement_api_v2alpha_measurements_service } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import { file_wfa_measurement_api_v2alpha_model_providers_service } from '../../src/gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { file_wfa_measurement_api_v2alpha_page_token } from '../../src/gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import { PublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/public_key_pb.js';
import { file_wfa_measurement_api_v2alpha_public_keys_service } from '../../src/gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { Requisition_Refusal_Justification, file_wfa_measurement_api_v2alpha_requisition } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import { file_wfa_measurement_api_v2alpha_requisition_spec } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { file_wfa_measurement_api_v2alpha_requisitions_service } from '../../src/gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import { file_wfa_measurement_config_authority_key_to_principal_map } from '../../src/gen/wfa/measurement/config/authority_key_to_principal_map_pb.js';
import { file_wfa_measurement_config_duchy_cert_config } from '../../src/gen/wfa/measurement/config/duchy_cert_config_pb.js';

const V = 'wfa.measurement.api.v2alpha';
const C = 'wfa.measurement.config';

/** [message, field, number] from cmms-reference.md §0-§3 and §1.1-§1.8. */
const FIELDS: Array<[string, string, number]> = [
  // §1.2 Certificate
  [`${V}.Certificate`, 'name', 1],
  [`${V}.Certificate`, 'x509_der', 2],
  [`${V}.Certificate`, 'revocation_state', 3],
  [`${V}.Certificate`, 'subject_key_identifier', 4],
  // §1.3 Certificates service
  [`${V}.GetCertificateRequest`, 'name', 1],
  [`${V}.CreateCertificateRequest`, 'parent', 1],
  [`${V}.CreateCertificateRequest`, 'certificate', 2],
  [`${V}.ListCertificatesRequest`, 'parent', 1],
  [`${V}.ListCertificatesRequest`, 'page_size', 2],
  [`${V}.ListCertificatesRequest`, 'page_token', 3],
  [`${V}.ListCertificatesRequest`, 'filter', 4],
  [`${V}.ListCertificatesRequest.Filter`, 'subject_key_identifiers', 1],
  [`${V}.ListCertificatesResponse`, 'certificates', 1],
  [`${V}.ListCertificatesResponse`, 'next_page_token', 2],
  [`${V}.RevokeCertificateRequest`, 'name', 1],
  [`${V}.RevokeCertificateRequest`, 'revocation_state', 2],
  [`${V}.ReleaseCertificateHoldRequest`, 'name', 1],
  // §1.4 PublicKey
  [`${V}.PublicKey`, 'name', 1],
  [`${V}.PublicKey`, 'public_key', 2],
  [`${V}.PublicKey`, 'certificate', 3],
  [`${V}.UpdatePublicKeyRequest`, 'public_key', 1],
  // §1.5 crypto
  [`${V}.SignedMessage`, 'data', 1],
  [`${V}.SignedMessage`, 'signature', 2],
  [`${V}.SignedMessage`, 'signature_algorithm_oid', 3],
  [`${V}.SignedMessage`, 'message', 4],
  [`${V}.EncryptedMessage`, 'ciphertext', 1],
  [`${V}.EncryptedMessage`, 'type_url', 2],
  [`${V}.EncryptionPublicKey`, 'format', 1],
  [`${V}.EncryptionPublicKey`, 'data', 2],
  // §1.6 parents
  [`${V}.DataProvider`, 'name', 1],
  [`${V}.DataProvider`, 'certificate_der', 2],
  [`${V}.DataProvider`, 'certificate', 3],
  [`${V}.DataProvider`, 'public_key', 4],
  [`${V}.DataProvider`, 'display_name', 5],
  [`${V}.DataProvider`, 'required_duchies', 6],
  [`${V}.DataProvider`, 'data_availability_interval', 7],
  [`${V}.MeasurementConsumer`, 'certificate_der', 2],
  [`${V}.MeasurementConsumer`, 'certificate', 3],
  [`${V}.MeasurementConsumer`, 'public_key', 4],
  [`${V}.MeasurementConsumer`, 'display_name', 5],
  [`${V}.MeasurementConsumer`, 'owners', 6],
  [`${V}.MeasurementConsumer`, 'measurement_consumer_creation_token', 7],
  [`${V}.Duchy`, 'preferred_certificate_der', 2],
  [`${V}.Duchy`, 'preferred_certificate', 3],
  [`${V}.ModelProvider`, 'name', 1],
  [`${V}.ModelProvider`, 'display_name', 2],
  // §1.7 EventGroup
  [`${V}.EventGroup`, 'encrypted_metadata', 10],
  [`${V}.EventGroup`, 'serialized_encrypted_metadata', 8],
  [`${V}.EventGroup`, 'measurement_consumer_public_key', 12],
  [`${V}.EventGroup`, 'signed_measurement_consumer_public_key', 4],
  [`${V}.EventGroup.Metadata`, 'event_group_metadata_descriptor', 1],
  [`${V}.EventGroup.Metadata`, 'metadata', 2],
  // §1.8 Measurement, specs, Requisition
  [`${V}.Measurement`, 'measurement_consumer_certificate', 2],
  [`${V}.Measurement`, 'measurement_spec', 3],
  [`${V}.Measurement`, 'data_providers', 4],
  [`${V}.Measurement`, 'state', 6],
  [`${V}.Measurement`, 'results', 8],
  [`${V}.Measurement`, 'failure', 10],
  [`${V}.Measurement.DataProviderEntry`, 'key', 1],
  [`${V}.Measurement.DataProviderEntry`, 'value', 2],
  [`${V}.Measurement.DataProviderEntry.Value`, 'data_provider_certificate', 1],
  [`${V}.Measurement.DataProviderEntry.Value`, 'data_provider_public_key', 6],
  [`${V}.Measurement.DataProviderEntry.Value`, 'encrypted_requisition_spec', 5],
  [`${V}.Measurement.DataProviderEntry.Value`, 'nonce_hash', 4],
  [`${V}.Measurement.ResultOutput`, 'encrypted_result', 3],
  [`${V}.Measurement.ResultOutput`, 'certificate', 2],
  [`${V}.Measurement.Failure`, 'reason', 1],
  [`${V}.Measurement.Failure`, 'message', 2],
  [`${V}.MeasurementSpec`, 'measurement_public_key', 10],
  [`${V}.MeasurementSpec`, 'serialized_measurement_public_key', 1],
  [`${V}.MeasurementSpec`, 'nonce_hashes', 2],
  [`${V}.RequisitionSpec`, 'measurement_public_key', 6],
  [`${V}.RequisitionSpec`, 'serialized_measurement_public_key', 2],
  [`${V}.RequisitionSpec`, 'nonce', 3],
  [`${V}.Requisition`, 'measurement_consumer_certificate', 3],
  [`${V}.Requisition`, 'measurement_spec', 4],
  [`${V}.Requisition`, 'data_provider_certificate', 6],
  [`${V}.Requisition`, 'data_provider_public_key', 15],
  [`${V}.Requisition`, 'signed_data_provider_public_key', 7],
  [`${V}.Requisition`, 'encrypted_requisition_spec', 14],
  [`${V}.Requisition`, 'encrypted_requisition_spec_ciphertext', 8],
  [`${V}.Requisition`, 'duchies', 9],
  [`${V}.Requisition.DuchyEntry`, 'key', 1],
  [`${V}.Requisition.DuchyEntry`, 'value', 2],
  [`${V}.Requisition.DuchyEntry.Value`, 'duchy_certificate', 1],
  [`${V}.Requisition.DuchyEntry.Value`, 'liquid_legions_v2', 2],
  [`${V}.Requisition.DuchyEntry.Value`, 'reach_only_liquid_legions_v2', 3],
  [`${V}.Requisition.DuchyEntry.Value`, 'honest_majority_share_shuffle', 4],
  [`${V}.Requisition.DuchyEntry.Value`, 'trus_tee', 5],
  [`${V}.Requisition.DuchyEntry.LiquidLegionsV2`, 'el_gamal_public_key', 1],
  [`${V}.Requisition.DuchyEntry.HonestMajorityShareShuffle`, 'public_key', 1],
  [`${V}.FulfillDirectRequisitionRequest`, 'encrypted_result', 4],
  [`${V}.FulfillDirectRequisitionRequest`, 'encrypted_result_ciphertext', 2],
  [`${V}.FulfillDirectRequisitionRequest`, 'nonce', 3],
  [`${V}.FulfillDirectRequisitionRequest`, 'certificate', 5],
  // §2.4 ListCertificatesPageToken
  [`${V}.ListCertificatesPageToken`, 'parent_key', 1],
  [`${V}.ListCertificatesPageToken`, 'subject_key_identifiers', 2],
  [`${V}.ListCertificatesPageToken`, 'last_certificate', 3],
  [`${V}.ListCertificatesPageToken.ParentKey`, 'external_data_provider_id', 1],
  [`${V}.ListCertificatesPageToken.ParentKey`, 'external_measurement_consumer_id', 2],
  [`${V}.ListCertificatesPageToken.ParentKey`, 'external_duchy_id', 3],
  [`${V}.ListCertificatesPageToken.ParentKey`, 'external_model_provider_id', 4],
  [`${V}.ListCertificatesPageToken.PreviousPageEnd`, 'not_valid_before', 1],
  [`${V}.ListCertificatesPageToken.PreviousPageEnd`, 'external_certificate_id', 2],
  [`${V}.ListCertificatesPageToken.PreviousPageEnd`, 'parent_key', 3],
  // §3 auth configs
  [`${C}.AuthorityKeyToPrincipalMap`, 'entries', 1],
  [`${C}.AuthorityKeyToPrincipalMap.Entry`, 'authority_key_identifier', 1],
  [`${C}.AuthorityKeyToPrincipalMap.Entry`, 'principal_resource_name', 2],
  [`${C}.DuchyCertConfig`, 'duchies', 1],
  [`${C}.DuchyCertConfig.Duchy`, 'duchy_id', 1],
  [`${C}.DuchyCertConfig.Duchy`, 'computation_control_service_cert_host', 2],
  [`${C}.DuchyCertConfig.Duchy`, 'root_certificate_skid', 3],
  // §0 error details
  ['google.rpc.ErrorInfo', 'reason', 1],
  ['google.rpc.ErrorInfo', 'domain', 2],
  ['google.rpc.ErrorInfo', 'metadata', 3],
];

/** [enum, value name, number]. */
const ENUM_VALUES: Array<[string, string, number]> = [
  [`${V}.Certificate.RevocationState`, 'REVOCATION_STATE_UNSPECIFIED', 0],
  [`${V}.Certificate.RevocationState`, 'HOLD', 1],
  [`${V}.Certificate.RevocationState`, 'REVOKED', 2],
  [`${V}.EncryptionPublicKey.Format`, 'TINK_KEYSET', 1],
  [`${V}.EventGroup.State`, 'ACTIVE', 1],
  [`${V}.EventGroup.State`, 'DELETED', 2],
  [`${V}.Measurement.State`, 'AWAITING_REQUISITION_FULFILLMENT', 1],
  [`${V}.Measurement.State`, 'COMPUTING', 2],
  [`${V}.Measurement.State`, 'SUCCEEDED', 3],
  [`${V}.Measurement.State`, 'FAILED', 4],
  [`${V}.Measurement.State`, 'CANCELLED', 5],
  [`${V}.Measurement.Failure.Reason`, 'CERTIFICATE_REVOKED', 1],
  [`${V}.Measurement.Failure.Reason`, 'REQUISITION_REFUSED', 2],
  [`${V}.Measurement.Failure.Reason`, 'COMPUTATION_PARTICIPANT_FAILED', 3],
  [`${V}.Requisition.Refusal.Justification`, 'CONSENT_SIGNAL_INVALID', 1],
  [`${V}.Requisition.Refusal.Justification`, 'SPEC_INVALID', 2],
  [`${V}.Requisition.Refusal.Justification`, 'INSUFFICIENT_PRIVACY_BUDGET', 3],
  [`${V}.Requisition.Refusal.Justification`, 'UNFULFILLABLE', 4],
  [`${V}.Requisition.Refusal.Justification`, 'DECLINED', 5],
];

/** §0: gRPC method paths CMMS clients call. */
const METHODS: Array<[string, string]> = [
  ['Certificates', 'GetCertificate'],
  ['Certificates', 'CreateCertificate'],
  ['Certificates', 'ListCertificates'],
  ['Certificates', 'RevokeCertificate'],
  ['Certificates', 'ReleaseCertificateHold'],
  ['PublicKeys', 'UpdatePublicKey'],
  ['DataProviders', 'GetDataProvider'],
  ['MeasurementConsumers', 'GetMeasurementConsumer'],
  ['ModelProviders', 'GetModelProvider'],
  ['EventGroups', 'CreateEventGroup'],
  ['EventGroups', 'GetEventGroup'],
  ['EventGroups', 'ListEventGroups'],
  ['EventGroups', 'UpdateEventGroup'],
  ['EventGroups', 'DeleteEventGroup'],
  ['Measurements', 'CreateMeasurement'],
  ['Measurements', 'GetMeasurement'],
  ['Measurements', 'ListMeasurements'],
  ['Measurements', 'CancelMeasurement'],
  ['Requisitions', 'ListRequisitions'],
  ['Requisitions', 'FulfillDirectRequisition'],
  ['Requisitions', 'RefuseRequisition'],
];

const registry = createRegistry(
  ...withDependencies(
  file_wfa_measurement_api_v2alpha_crypto,
  file_wfa_measurement_api_v2alpha_certificates_service,
  file_wfa_measurement_api_v2alpha_public_keys_service,
  file_wfa_measurement_api_v2alpha_data_providers_service,
  file_wfa_measurement_api_v2alpha_measurement_consumers_service,
  file_wfa_measurement_api_v2alpha_model_providers_service,
  file_wfa_measurement_api_v2alpha_duchy,
  file_wfa_measurement_api_v2alpha_event_group,
  file_wfa_measurement_api_v2alpha_event_groups_service,
  file_wfa_measurement_api_v2alpha_measurement,
  file_wfa_measurement_api_v2alpha_measurements_service,
  file_wfa_measurement_api_v2alpha_measurement_spec,
  file_wfa_measurement_api_v2alpha_requisition_spec,
  file_wfa_measurement_api_v2alpha_requisition,
  file_wfa_measurement_api_v2alpha_requisitions_service,
  file_wfa_measurement_api_v2alpha_page_token,
  file_wfa_measurement_config_authority_key_to_principal_map,
  file_wfa_measurement_config_duchy_cert_config,
  file_google_rpc_error_details,
  ),
);

/** The files and, transitively, the files they import. */
function withDependencies(...files: DescFile[]): DescFile[] {
  const all = new Set<DescFile>();
  const visit = (f: DescFile) => {
    if (all.has(f)) return;
    all.add(f);
    f.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return [...all];
}

const protoDir = fileURLToPath(new URL('../../proto', import.meta.url));
const loaded = protoLoader.loadSync(
  [
    'wfa/measurement/api/v2alpha/certificates_service.proto',
    'wfa/measurement/api/v2alpha/public_keys_service.proto',
    'wfa/measurement/api/v2alpha/data_providers_service.proto',
    'wfa/measurement/api/v2alpha/measurement_consumers_service.proto',
    'wfa/measurement/api/v2alpha/model_providers_service.proto',
    'wfa/measurement/api/v2alpha/duchy.proto',
    'wfa/measurement/api/v2alpha/event_groups_service.proto',
    'wfa/measurement/api/v2alpha/measurements_service.proto',
    'wfa/measurement/api/v2alpha/measurement_spec.proto',
    'wfa/measurement/api/v2alpha/requisition_spec.proto',
    'wfa/measurement/api/v2alpha/requisitions_service.proto',
    'wfa/measurement/api/v2alpha/page_token.proto',
    'wfa/measurement/config/authority_key_to_principal_map.proto',
    'wfa/measurement/config/duchy_cert_config.proto',
    'google/rpc/error_details.proto',
  ],
  { includeDirs: [protoDir], keepCase: true, longs: String, enums: String, bytes: Array, defaults: false, oneofs: true },
);

interface LoaderDescriptor {
  name: string;
  field?: Array<{ name: string; number: number }>;
  nestedType?: LoaderDescriptor[];
  enumType?: Array<{ name: string; value: Array<{ name: string; number: number }> }>;
}

/** Walks proto-loader's DescriptorProto tree to a (possibly nested) message. */
function loaderMessage(fullName: string): LoaderDescriptor {
  const parts = fullName.split('.');
  for (let i = parts.length; i > 0; i--) {
    const top = loaded[parts.slice(0, i).join('.')] as { type?: LoaderDescriptor } | undefined;
    if (top?.type === undefined) continue;
    let d: LoaderDescriptor = top.type;
    for (const nested of parts.slice(i)) {
      const next = d.nestedType?.find((n) => n.name === nested);
      assert.ok(next, `proto-loader: no nested ${nested} in ${fullName}`);
      d = next;
    }
    return d;
  }
  assert.fail(`proto-loader: no message ${fullName}`);
}

function esMessage(fullName: string): DescMessage {
  const desc = registry.getMessage(fullName);
  assert.ok(desc, `protobuf-es: no message ${fullName}`);
  return desc;
}

test('field numbers match cmms-reference in the generated code and in an independent .proto parse', () => {
  for (const [message, field, number] of FIELDS) {
    const es = esMessage(message).fields.find((f) => f.name === field);
    assert.equal(es?.number, number, `protobuf-es ${message}.${field}`);
    const pl = loaderMessage(message).field?.find((f) => f.name === field);
    assert.equal(pl?.number, number, `proto-loader ${message}.${field}`);
  }
  console.log(`wire compat: ${FIELDS.length} field numbers checked twice`);
});

test('enum values match cmms-reference', () => {
  for (const [enumName, value, number] of ENUM_VALUES) {
    const es = registry.getEnum(enumName)?.values.find((v) => v.name === value);
    assert.equal(es?.number, number, `protobuf-es ${enumName}.${value}`);
    const parent = enumName.slice(0, enumName.lastIndexOf('.'));
    const local = enumName.slice(enumName.lastIndexOf('.') + 1);
    const pl = loaderMessage(parent).enumType?.find((e) => e.name === local)?.value.find((v) => v.name === value);
    assert.equal(pl?.number, number, `proto-loader ${enumName}.${value}`);
  }
  console.log(`wire compat: ${ENUM_VALUES.length} enum values checked`);
});

test('service and method paths are /wfa.measurement.api.v2alpha.<Service>/<Method>', () => {
  for (const [service, method] of METHODS) {
    const es = registry.getService(`${V}.${service}`)?.methods.find((m) => m.name === method);
    assert.ok(es, `protobuf-es ${service}.${method}`);
    const pl = (loaded[`${V}.${service}`] as Record<string, { path: string }> | undefined)?.[method];
    assert.equal(pl?.path, `/${V}.${service}/${method}`);
  }
});

// --- bytes on the wire ------------------------------------------------------

/** Top-level (field number, wire type) pairs of a serialized message, read by hand. */
function wireTags(bytes: Uint8Array): Array<[number, number]> {
  const tags: Array<[number, number]> = [];
  let i = 0;
  const varint = (): bigint => {
    let shift = 0n;
    let v = 0n;
    for (;;) {
      const b = bytes[i++];
      assert.ok(b !== undefined, 'truncated varint');
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (i < bytes.length) {
    const tag = Number(varint());
    const wireType = tag & 7;
    tags.push([tag >>> 3, wireType]);
    if (wireType === 0) varint();
    else if (wireType === 1) i += 8;
    else if (wireType === 2) {
      const length = Number(varint());
      i += length;
    }
    else if (wireType === 5) i += 4;
    else assert.fail(`unexpected wire type ${wireType}`);
  }
  assert.equal(i, bytes.length);
  return tags;
}

const der = Uint8Array.of(0x30, 0x03, 0x02, 0x01, 0x05);
const skid = Uint8Array.of(0xaa, 0xbb, 0xcc);
const keyAny = packAny(
  EncryptionPublicKeySchema,
  create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: Uint8Array.of(1, 2, 3) }),
);

function method(service: string, name: string) {
  const m = (loaded[`${V}.${service}`] as Record<string, { responseDeserialize: (b: Buffer) => any }>)[name];
  assert.ok(m);
  return m;
}

test('Certificate encodes to upstream tags and decodes with proto-loader', () => {
  const cert = create(CertificateSchema, {
    name: 'dataProviders/OljiQHRz-E4/certificates/AAAAAAAAAAE',
    x509Der: der,
    revocationState: Certificate_RevocationState.HOLD,
    subjectKeyIdentifier: skid,
  });
  const bytes = toBinary(CertificateSchema, cert);
  assert.deepEqual(wireTags(bytes), [[1, 2], [2, 2], [3, 0], [4, 2]]);
  const decoded = method('Certificates', 'GetCertificate').responseDeserialize(Buffer.from(bytes));
  assert.equal(decoded.name, cert.name);
  assert.deepEqual(decoded.x509_der, [...der]);
  assert.equal(decoded.revocation_state, 'HOLD');
  assert.deepEqual(decoded.subject_key_identifier, [...skid]);
});

test('PublicKey with its SignedMessage decodes with proto-loader', () => {
  const publicKey = create(PublicKeySchema, {
    name: 'dataProviders/OljiQHRz-E4/publicKey',
    publicKey: { message: keyAny, signature: Uint8Array.of(9, 8), signatureAlgorithmOid: '1.2.840.10045.4.3.2' },
    certificate: 'dataProviders/OljiQHRz-E4/certificates/AAAAAAAAAAE',
  });
  const bytes = toBinary(PublicKeySchema, publicKey);
  assert.deepEqual(wireTags(bytes), [[1, 2], [2, 2], [3, 2]]);
  assert.deepEqual(wireTags(toBinary(SignedMessageSchema, publicKey.publicKey!)), [[2, 2], [3, 2], [4, 2]]);
  const decoded = method('PublicKeys', 'UpdatePublicKey').responseDeserialize(Buffer.from(bytes));
  assert.equal(decoded.certificate, publicKey.certificate);
  assert.deepEqual(decoded.public_key.signature, [9, 8]);
  assert.equal(decoded.public_key.signature_algorithm_oid, '1.2.840.10045.4.3.2');
  assert.equal(decoded.public_key.message.type_url, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
  assert.deepEqual(decoded.public_key.message.value, [...keyAny.value]);
});

test('EventGroup encryption fields land on 4, 8, 10 and 12', () => {
  const eventGroup = create(EventGroupSchema, {
    name: 'dataProviders/OljiQHRz-E4/eventGroups/AAAAAAAAAAE',
    measurementConsumer: 'measurementConsumers/AAAAAAAAAAE',
    signedMeasurementConsumerPublicKey: { message: keyAny, signature: Uint8Array.of(1) },
    eventGroupReferenceId: 'campaign-1',
    serializedEncryptedMetadata: Uint8Array.of(5, 5),
    state: EventGroup_State.DELETED,
    encryptedMetadata: { ciphertext: Uint8Array.of(5, 5), typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.EventGroup.Metadata' },
    measurementConsumerPublicKey: keyAny,
  });
  const bytes = toBinary(EventGroupSchema, eventGroup);
  assert.deepEqual(wireTags(bytes), [[1, 2], [2, 2], [4, 2], [5, 2], [8, 2], [9, 0], [10, 2], [12, 2]]);
  const decoded = method('EventGroups', 'GetEventGroup').responseDeserialize(Buffer.from(bytes));
  assert.equal(decoded.state, 'DELETED');
  assert.deepEqual(decoded.encrypted_metadata.ciphertext, [5, 5]);
  assert.equal(decoded.encrypted_metadata.type_url, eventGroup.encryptedMetadata!.typeUrl);
  assert.deepEqual(decoded.serialized_encrypted_metadata, [5, 5]);
  assert.equal(decoded.measurement_consumer_public_key.type_url, keyAny.typeUrl);
  assert.deepEqual(decoded.signed_measurement_consumer_public_key.signature, [1]);
});

test('Measurement entries, results and failure decode with proto-loader', () => {
  const measurement = create(MeasurementSchema, {
    name: 'measurementConsumers/AAAAAAAAAAE/measurements/OljiQHRz-E4',
    measurementConsumerCertificate: 'measurementConsumers/AAAAAAAAAAE/certificates/AAAAAAAAAAI',
    measurementSpec: { message: keyAny, signature: Uint8Array.of(3) },
    dataProviders: [
      {
        key: 'dataProviders/OljiQHRz-E4',
        value: {
          dataProviderCertificate: 'dataProviders/OljiQHRz-E4/certificates/AAAAAAAAAAE',
          nonceHash: Uint8Array.of(0xee),
          encryptedRequisitionSpec: { ciphertext: Uint8Array.of(4), typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage' },
          dataProviderPublicKey: keyAny,
        },
      },
    ],
    state: Measurement_State.FAILED,
    results: [
      {
        certificate: 'dataProviders/OljiQHRz-E4/certificates/AAAAAAAAAAE',
        encryptedResult: { ciphertext: Uint8Array.of(7), typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage' },
      },
    ],
    measurementReferenceId: 'ref-1',
    failure: { reason: Measurement_Failure_Reason.CERTIFICATE_REVOKED, message: 'revoked' },
  });
  const bytes = toBinary(MeasurementSchema, measurement);
  assert.deepEqual(wireTags(bytes), [[1, 2], [2, 2], [3, 2], [4, 2], [6, 0], [8, 2], [9, 2], [10, 2]]);
  const entryValue = measurement.dataProviders[0]!.value!;
  assert.deepEqual(
    wireTags(toBinary(Measurement_DataProviderEntry_ValueSchema, entryValue)),
    [[1, 2], [4, 2], [5, 2], [6, 2]],
  );
  assert.deepEqual(
    wireTags(toBinary(Measurement_ResultOutputSchema, measurement.results[0]!)),
    [[2, 2], [3, 2]],
  );
  const decoded = method('Measurements', 'GetMeasurement').responseDeserialize(Buffer.from(bytes));
  assert.equal(decoded.state, 'FAILED');
  assert.equal(decoded.failure.reason, 'CERTIFICATE_REVOKED');
  assert.equal(decoded.data_providers[0].key, 'dataProviders/OljiQHRz-E4');
  assert.deepEqual(decoded.data_providers[0].value.nonce_hash, [0xee]);
  assert.equal(decoded.data_providers[0].value.data_provider_public_key.type_url, keyAny.typeUrl);
  assert.equal(decoded.results[0].certificate, measurement.results[0]!.certificate);
  assert.deepEqual(decoded.results[0].encrypted_result.ciphertext, [7]);
  assert.equal(decoded.measurement_reference_id, 'ref-1');
});
