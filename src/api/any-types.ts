/**
 * The messages the public API carries packed: in a `google.protobuf.Any`
 * (SignedMessage.message, the `*_public_key` fields) or named by an
 * EncryptedMessage's type_url. The JSON codec needs each of them in its type
 * registry, or a response holding one cannot be written as JSON.
 */
import { createRegistry, type DescMessage, type Registry } from '@bufbuild/protobuf';
import { ElGamalPublicKeySchema, EncryptionPublicKeySchema } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { EventGroup_MetadataSchema } from '../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { Measurement_ResultSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { RequisitionSpecSchema } from '../gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';

export const PACKED_MESSAGE_TYPES: readonly DescMessage[] = [
  // DataProvider, MeasurementConsumer and PublicKey `public_key`, EventGroup
  // `measurement_consumer_public_key`, the `data_provider_public_key` and
  // `measurement_public_key` fields.
  EncryptionPublicKeySchema,
  // Measurement.measurement_spec and Requisition.measurement_spec.
  MeasurementSpecSchema,
  // Inside Measurement.DataProviderEntry.Value.encrypted_requisition_spec.
  RequisitionSpecSchema,
  // Inside Measurement.ResultOutput.encrypted_result.
  Measurement_ResultSchema,
  // Requisition.DuchyEntry.LiquidLegionsV2.el_gamal_public_key.
  ElGamalPublicKeySchema,
  // Inside EventGroup.encrypted_metadata.
  EventGroup_MetadataSchema,
];

/** The type registry the JSON codec resolves Any type URLs with. */
export const packedMessageRegistry: Registry = createRegistry(...PACKED_MESSAGE_TYPES);
