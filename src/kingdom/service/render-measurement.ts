/**
 * Measurement and Requisition records as the public API shows them. The
 * store keeps the client's bytes (SignedMessage of the MeasurementSpec,
 * EncryptionPublicKey, ciphertexts); type URLs are rebuilt here, and both
 * the current and the deprecated fields are filled as upstream does, so old
 * and new clients read the same resource.
 */
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { AnySchema, timestampFromDate, type Any } from '@bufbuild/protobuf/wkt';
import { certificateKey, formatResourceName, typeUrlOf, typeUrlMatches } from '../../api/index.js';
import {
  EncryptedMessageSchema,
  EncryptionPublicKeySchema,
  SignedMessageSchema,
  type SignedMessage,
} from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSpecSchema } from '../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import {
  MeasurementSchema,
  Measurement_DataProviderEntrySchema,
  Measurement_DataProviderEntry_ValueSchema,
  Measurement_FailureSchema,
  Measurement_Failure_Reason,
  Measurement_ResultOutputSchema,
  Measurement_State,
  type Measurement,
} from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import {
  ProtocolConfigSchema,
  ProtocolConfig_DirectSchema,
  ProtocolConfig_MeasurementType,
  ProtocolConfig_NoiseMechanism,
  type ProtocolConfig,
} from '../../gen/wfa/measurement/api/v2alpha/protocol_config_pb.js';
import {
  RequisitionSchema,
  Requisition_FulfillmentContextSchema,
  Requisition_RefusalSchema,
  Requisition_State,
  type Requisition,
} from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import {
  requisitionEtag,
  type MeasurementFailureReason,
  type MeasurementRecord,
  type MeasurementState,
  type PartyKey,
  type RequisitionRecord,
  type RequisitionState,
} from '../store/index.js';
import { fromPartyKey } from './principal.js';

export const MEASUREMENT_STATE_TO_API: Record<MeasurementState, Measurement_State> = {
  AWAITING_REQUISITION_FULFILLMENT: Measurement_State.AWAITING_REQUISITION_FULFILLMENT,
  COMPUTING: Measurement_State.COMPUTING,
  SUCCEEDED: Measurement_State.SUCCEEDED,
  FAILED: Measurement_State.FAILED,
  CANCELLED: Measurement_State.CANCELLED,
};

export const REQUISITION_STATE_TO_API: Record<RequisitionState, Requisition_State> = {
  UNFULFILLED: Requisition_State.UNFULFILLED,
  FULFILLED: Requisition_State.FULFILLED,
  REFUSED: Requisition_State.REFUSED,
  WITHDRAWN: Requisition_State.WITHDRAWN,
};

const FAILURE_REASON_TO_API: Record<MeasurementFailureReason, Measurement_Failure_Reason> = {
  CERTIFICATE_REVOKED: Measurement_Failure_Reason.CERTIFICATE_REVOKED,
  REQUISITION_REFUSED: Measurement_Failure_Reason.REQUISITION_REFUSED,
  COMPUTATION_PARTICIPANT_FAILED: Measurement_Failure_Reason.COMPUTATION_PARTICIPANT_FAILED,
};

/** The store state for an API state, or undefined for STATE_UNSPECIFIED and unknown values. */
export function measurementStateFromApi(state: Measurement_State): MeasurementState | undefined {
  return (Object.keys(MEASUREMENT_STATE_TO_API) as MeasurementState[]).find((s) => MEASUREMENT_STATE_TO_API[s] === state);
}

export function requisitionStateFromApi(state: Requisition_State): RequisitionState | undefined {
  return (Object.keys(REQUISITION_STATE_TO_API) as RequisitionState[]).find((s) => REQUISITION_STATE_TO_API[s] === state);
}

export const measurementName = (mc: bigint, m: bigint): string =>
  formatResourceName({ kind: 'measurement', parent: { kind: 'measurementConsumer', measurementConsumerId: mc }, measurementId: m });

export const requisitionName = (dp: bigint, r: bigint): string =>
  formatResourceName({ kind: 'requisition', parent: { kind: 'dataProvider', dataProviderId: dp }, requisitionId: r });

export const certificateNameOf = (owner: PartyKey, id: bigint): string =>
  formatResourceName(certificateKey(fromPartyKey(owner), id));

export const dataProviderCertificateName = (dp: bigint, id: bigint): string =>
  certificateNameOf({ kind: 'DATA_PROVIDER', id: dp }, id);

export const measurementConsumerCertificateName = (mc: bigint, id: bigint): string =>
  certificateNameOf({ kind: 'MEASUREMENT_CONSUMER', id: mc }, id);

/** Any{EncryptionPublicKey} around stored key bytes. */
export function encryptionPublicKeyAny(bytes: Uint8Array): Any {
  return create(AnySchema, { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: bytes });
}

/**
 * A stored SignedMessage with both `message` and the deprecated `data` set
 * (upstream fills both, TODO #1301). Stored bytes were parsed when accepted;
 * should they not parse now, an empty message is shown rather than failing
 * the whole read.
 */
export function renderSignedMessage(stored: Uint8Array, schema: Parameters<typeof typeUrlOf>[0]): SignedMessage {
  let sm: SignedMessage;
  try {
    sm = fromBinary(SignedMessageSchema, stored);
  } catch {
    return create(SignedMessageSchema);
  }
  if (sm.message !== undefined && sm.data.length === 0) sm.data = sm.message.value;
  if (sm.message === undefined && sm.data.length > 0) sm.message = create(AnySchema, { typeUrl: typeUrlOf(schema), value: sm.data });
  return sm;
}

/**
 * Noise mechanisms a DataProvider may use for a direct result: those
 * upstream's Kingdom deployments configure (`--direct-noise-mechanism`).
 */
const DIRECT_NOISE_MECHANISMS = [
  ProtocolConfig_NoiseMechanism.NONE,
  ProtocolConfig_NoiseMechanism.CONTINUOUS_LAPLACE,
  ProtocolConfig_NoiseMechanism.CONTINUOUS_GAUSSIAN,
];

/** The direct methodologies upstream's Kingdom offers for each measurement type. */
function directProtocol(type: ProtocolConfig_MeasurementType): MessageInitShape<typeof ProtocolConfig_DirectSchema> {
  const noiseMechanisms = DIRECT_NOISE_MECHANISMS;
  switch (type) {
    case ProtocolConfig_MeasurementType.REACH:
      return { noiseMechanisms, customDirectMethodology: {}, deterministicCountDistinct: {}, liquidLegionsCountDistinct: {} };
    case ProtocolConfig_MeasurementType.REACH_AND_FREQUENCY:
      return {
        noiseMechanisms,
        customDirectMethodology: {},
        deterministicCountDistinct: {},
        liquidLegionsCountDistinct: {},
        deterministicDistribution: {},
        liquidLegionsDistribution: {},
      };
    case ProtocolConfig_MeasurementType.IMPRESSION:
      return { noiseMechanisms, customDirectMethodology: {}, deterministicCount: {} };
    case ProtocolConfig_MeasurementType.DURATION:
      return { noiseMechanisms, customDirectMethodology: {}, deterministicSum: {} };
    case ProtocolConfig_MeasurementType.POPULATION:
      return { noiseMechanisms, deterministicCount: {} };
    default:
      return { noiseMechanisms };
  }
}

/** The direct protocol and the measurement type the spec asks for; undefined when the spec has none. */
function protocolConfigOf(signedSpec: SignedMessage): ProtocolConfig | undefined {
  const any = signedSpec.message;
  if (any === undefined || !typeUrlMatches(any.typeUrl, MeasurementSpecSchema)) return undefined;
  let measurementType: ProtocolConfig_MeasurementType;
  try {
    switch (fromBinary(MeasurementSpecSchema, any.value).measurementType.case) {
      case 'reachAndFrequency':
        measurementType = ProtocolConfig_MeasurementType.REACH_AND_FREQUENCY;
        break;
      case 'impression':
        measurementType = ProtocolConfig_MeasurementType.IMPRESSION;
        break;
      case 'duration':
        measurementType = ProtocolConfig_MeasurementType.DURATION;
        break;
      case 'reach':
        measurementType = ProtocolConfig_MeasurementType.REACH;
        break;
      case 'population':
        measurementType = ProtocolConfig_MeasurementType.POPULATION;
        break;
      default:
        measurementType = ProtocolConfig_MeasurementType.MEASUREMENT_TYPE_UNSPECIFIED;
    }
  } catch {
    return undefined;
  }
  return create(ProtocolConfigSchema, {
    measurementType,
    protocols: [{ protocol: { case: 'direct', value: create(ProtocolConfig_DirectSchema, directProtocol(measurementType)) } }],
  });
}

export function renderMeasurement(m: MeasurementRecord): Measurement {
  const spec = renderSignedMessage(m.measurementSpec, MeasurementSpecSchema);
  const out = create(MeasurementSchema, {
    name: measurementName(m.measurementConsumerId, m.externalMeasurementId),
    measurementConsumerCertificate: measurementConsumerCertificateName(m.measurementConsumerId, m.measurementConsumerCertificateId),
    measurementSpec: spec,
    dataProviders: m.dataProviders.map((e) =>
      create(Measurement_DataProviderEntrySchema, {
        key: formatResourceName({ kind: 'dataProvider', dataProviderId: e.dataProviderId }),
        value: create(Measurement_DataProviderEntry_ValueSchema, {
          dataProviderCertificate: dataProviderCertificateName(e.dataProviderId, e.dataProviderCertificateId),
          dataProviderPublicKey: encryptionPublicKeyAny(e.dataProviderPublicKey),
          encryptedRequisitionSpec: create(EncryptedMessageSchema, {
            ciphertext: e.encryptedRequisitionSpec,
            typeUrl: typeUrlOf(SignedMessageSchema),
          }),
          nonceHash: e.nonceHash,
        }),
      }),
    ),
    state: MEASUREMENT_STATE_TO_API[m.state],
    results: m.results.map((r) =>
      create(Measurement_ResultOutputSchema, {
        certificate: certificateNameOf(r.certificateOwner, r.certificateId),
        encryptedResult: create(EncryptedMessageSchema, { ciphertext: r.encryptedResult, typeUrl: typeUrlOf(SignedMessageSchema) }),
      }),
    ),
    measurementReferenceId: m.measurementReferenceId,
    createTime: timestampFromDate(m.createTime),
    updateTime: timestampFromDate(m.updateTime),
  });
  const protocolConfig = protocolConfigOf(spec);
  if (protocolConfig !== undefined) out.protocolConfig = protocolConfig;
  if (m.failure !== null) {
    out.failure = create(Measurement_FailureSchema, { reason: FAILURE_REASON_TO_API[m.failure.reason], message: m.failure.message });
  }
  return out;
}

/**
 * A direct requisition: no Duchy entries. `data_provider_certificate` is the
 * DataProvider's public-key certificate when the measurement was created,
 * whatever the MC named (upstream does the same).
 */
export function renderRequisition(r: RequisitionRecord): Requisition {
  const spec = renderSignedMessage(r.measurementSpec, MeasurementSpecSchema);
  const out = create(RequisitionSchema, {
    name: requisitionName(r.dataProviderId, r.externalRequisitionId),
    measurement: measurementName(r.measurementConsumerId, r.externalMeasurementId),
    measurementConsumerCertificate: measurementConsumerCertificateName(r.measurementConsumerId, r.measurementConsumerCertificateId),
    measurementSpec: spec,
    dataProviderCertificate: dataProviderCertificateName(r.dataProviderId, r.dataProviderCertificateId),
    dataProviderPublicKey: encryptionPublicKeyAny(r.dataProviderPublicKey),
    encryptedRequisitionSpec: create(EncryptedMessageSchema, {
      ciphertext: r.encryptedRequisitionSpec,
      typeUrl: typeUrlOf(SignedMessageSchema),
    }),
    encryptedRequisitionSpecCiphertext: r.encryptedRequisitionSpec,
    duchies: [],
    state: REQUISITION_STATE_TO_API[r.state],
    measurementState: MEASUREMENT_STATE_TO_API[r.measurementState],
    updateTime: timestampFromDate(r.updateTime),
    etag: requisitionEtag(r.updateTime),
  });
  const protocolConfig = protocolConfigOf(spec);
  if (protocolConfig !== undefined) out.protocolConfig = protocolConfig;
  if (r.fulfillment?.context) {
    try {
      out.fulfillmentContext = fromBinary(Requisition_FulfillmentContextSchema, r.fulfillment.context);
    } catch {
      // Written by this service from a parsed message; unreadable bytes are left out rather than failing the read.
    }
  }
  if (r.fulfillment?.nonce !== undefined && r.fulfillment.nonce !== null) {
    // Stored as a signed int64; the API's fixed64 is its unsigned view.
    out.nonce = BigInt.asUintN(64, r.fulfillment.nonce);
  }
  if (r.refusal !== null) {
    out.refusal = create(Requisition_RefusalSchema, { justification: r.refusal.justification, message: r.refusal.message });
  }
  return out;
}

/** Serialized form of a request's SignedMessage, as the store keeps it. */
export function serializeSignedMessage(sm: SignedMessage): Uint8Array {
  return toBinary(SignedMessageSchema, sm);
}
