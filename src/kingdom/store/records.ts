/**
 * What the store keeps, in CMMS vocabulary. Protobuf payloads (public keys,
 * specs, ciphertexts) are opaque bytes exactly as received: the service layer
 * parses and renders them.
 */

export type PartyKind = 'DATA_PROVIDER' | 'MEASUREMENT_CONSUMER' | 'MODEL_PROVIDER' | 'DUCHY';

/** A certificate owner: three kinds use int64 external ids, Duchies use configured strings. */
export type PartyKey =
  | { readonly kind: 'DATA_PROVIDER'; readonly id: bigint }
  | { readonly kind: 'MEASUREMENT_CONSUMER'; readonly id: bigint }
  | { readonly kind: 'MODEL_PROVIDER'; readonly id: bigint }
  | { readonly kind: 'DUCHY'; readonly id: string };

export const dataProvider = (id: bigint): PartyKey => ({ kind: 'DATA_PROVIDER', id });
export const measurementConsumer = (id: bigint): PartyKey => ({ kind: 'MEASUREMENT_CONSUMER', id });
export const modelProvider = (id: bigint): PartyKey => ({ kind: 'MODEL_PROVIDER', id });
export const duchy = (id: string): PartyKey => ({ kind: 'DUCHY', id });

/** Values of the API's `Certificate.RevocationState`. */
export const RevocationState = { UNSPECIFIED: 0, HOLD: 1, REVOKED: 2 } as const;
export type RevocationState = (typeof RevocationState)[keyof typeof RevocationState];
export const revocationStateName = (s: RevocationState): string =>
  s === 0 ? 'REVOCATION_STATE_UNSPECIFIED' : s === 1 ? 'HOLD' : 'REVOKED';

/** A signed `EncryptionPublicKey` as a DataProvider or MeasurementConsumer published it. */
export interface PublicKeyInput {
  /** Serialized `EncryptionPublicKey`, the exact bytes received. */
  readonly publicKey: Uint8Array;
  readonly signature: Uint8Array;
  readonly signatureAlgorithmOid: string;
  readonly apiVersion: string;
}

export interface PublicKeyRecord extends PublicKeyInput {
  readonly certificateId: bigint;
}

export interface PartyRecord {
  readonly key: PartyKey;
  readonly displayName: string;
  /** Null only for a MeasurementConsumer an Account created (it authenticates with API keys). */
  readonly rootCertificateDer: Uint8Array | null;
  readonly rootSubjectKeyIdentifier: Uint8Array | null;
  /** DataProvider / MeasurementConsumer only. */
  readonly publicKey: PublicKeyRecord | null;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** The facts the service extracted from a certificate's DER. */
export interface CertificateInput {
  readonly x509Der: Uint8Array;
  readonly subjectKeyIdentifier: Uint8Array;
  readonly notValidBefore: Date;
  readonly notValidAfter: Date;
}

export interface CertificateRecord extends CertificateInput {
  readonly owner: PartyKey;
  readonly externalCertificateId: bigint;
  readonly revocationState: RevocationState;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** Upstream's "valid": not on hold or revoked, and `t` within the (inclusive) window. */
export function isCertificateValidAt(c: CertificateRecord, t: Date): boolean {
  const ms = t.getTime();
  return c.revocationState === 0 && c.notValidBefore.getTime() <= ms && ms <= c.notValidAfter.getTime();
}

/** Keyset cursor of ListCertificates: the last row of the previous page. */
export interface CertificateCursor {
  readonly notValidBefore: Date;
  readonly externalCertificateId: bigint;
}

export interface Page<T, C> {
  readonly items: T[];
  /** Cursor to pass as `after` for the next page; null on the last page. */
  readonly next: C | null;
}

// ---------------------------------------------------------------- event groups

export type EventGroupState = 'ACTIVE' | 'DELETED';

export interface EventGroupRecord {
  readonly dataProviderId: bigint;
  readonly externalEventGroupId: bigint;
  readonly measurementConsumerId: bigint;
  readonly eventGroupReferenceId: string;
  /** `EncryptedMessage.ciphertext` of the EventGroup.Metadata, if any. */
  readonly encryptedMetadata: Uint8Array | null;
  /** Serialized `EncryptionPublicKey` the metadata was encrypted to. */
  readonly measurementConsumerPublicKey: Uint8Array | null;
  readonly apiVersion: string;
  /** Other EventGroup fields the service keeps as one serialized message. */
  readonly details: Uint8Array;
  readonly state: EventGroupState;
  /** Bumped on every change; the service renders it as the etag. */
  readonly revision: bigint;
  readonly createTime: Date;
  readonly updateTime: Date;
}

export interface EventGroupCursor {
  readonly dataProviderId: bigint;
  readonly externalEventGroupId: bigint;
}

export type ReencryptionRequestState = 'OPEN' | 'CLOSED';

export interface MetadataReencryptionRequestRecord {
  readonly externalRequestId: bigint;
  readonly dataProviderId: bigint;
  readonly externalEventGroupId: bigint;
  /** The MeasurementConsumer of the EventGroup. */
  readonly measurementConsumerId: bigint;
  readonly measurementConsumerKeyFingerprint: Uint8Array;
  readonly state: ReencryptionRequestState;
  readonly createTime: Date;
  readonly closeTime: Date | null;
  /** The EventGroup's reference id, by which its DataProvider finds its plaintext. */
  readonly eventGroupReferenceId: string;
  /** Whether the EventGroup is live and its metadata still encrypted to the request's key. */
  readonly stillEncryptedToKey: boolean;
}

// ---------------------------------------------------------------- measurements

export type MeasurementState = 'AWAITING_REQUISITION_FULFILLMENT' | 'COMPUTING' | 'SUCCEEDED' | 'FAILED' | 'CANCELLED';
export const PENDING_MEASUREMENT_STATES: readonly MeasurementState[] = ['AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING'];

export type MeasurementFailureReason = 'CERTIFICATE_REVOKED' | 'REQUISITION_REFUSED' | 'COMPUTATION_PARTICIPANT_FAILED';

export type RequisitionState = 'UNFULFILLED' | 'FULFILLED' | 'REFUSED' | 'WITHDRAWN';

/** The per-DataProvider part of a CreateMeasurement request. */
export interface DataProviderEntryInput {
  readonly dataProviderId: bigint;
  /** Serialized `EncryptionPublicKey` the requisition spec was encrypted to. */
  readonly dataProviderPublicKey: Uint8Array;
  /** `EncryptedMessage.ciphertext` of the SignedMessage(RequisitionSpec). */
  readonly encryptedRequisitionSpec: Uint8Array;
  readonly nonceHash: Uint8Array;
}

export interface DataProviderEntryRecord extends DataProviderEntryInput {
  /** The DataProvider's public-key certificate when the measurement was created. */
  readonly dataProviderCertificateId: bigint;
  readonly externalRequisitionId: bigint;
  readonly requisitionState: RequisitionState;
}

export interface MeasurementResultRecord {
  /** Owner of the certificate whose key signed the result. */
  readonly certificateOwner: PartyKey;
  readonly certificateId: bigint;
  readonly encryptedResult: Uint8Array;
}

export interface MeasurementRecord {
  readonly measurementConsumerId: bigint;
  readonly externalMeasurementId: bigint;
  readonly measurementConsumerCertificateId: bigint;
  /** Serialized SignedMessage(MeasurementSpec). */
  readonly measurementSpec: Uint8Array;
  readonly dataProviders: DataProviderEntryRecord[];
  readonly state: MeasurementState;
  readonly results: MeasurementResultRecord[];
  readonly failure: { readonly reason: MeasurementFailureReason; readonly message: string } | null;
  readonly measurementReferenceId: string;
  readonly apiVersion: string;
  readonly details: Uint8Array;
  readonly createTime: Date;
  readonly updateTime: Date;
}

export interface MeasurementKey {
  readonly measurementConsumerId: bigint;
  readonly externalMeasurementId: bigint;
}

export interface RequisitionRecord {
  readonly dataProviderId: bigint;
  readonly externalRequisitionId: bigint;
  readonly measurementConsumerId: bigint;
  readonly externalMeasurementId: bigint;
  readonly measurementConsumerCertificateId: bigint;
  readonly measurementSpec: Uint8Array;
  readonly measurementState: MeasurementState;
  readonly dataProviderCertificateId: bigint;
  readonly dataProviderPublicKey: Uint8Array;
  readonly encryptedRequisitionSpec: Uint8Array;
  readonly nonceHash: Uint8Array;
  readonly state: RequisitionState;
  readonly fulfillment: {
    readonly certificateId: bigint;
    readonly encryptedResult: Uint8Array;
    readonly nonce: bigint | null;
    /** Serialized `Requisition.FulfillmentContext`, if the DataProvider sent one. */
    readonly context: Uint8Array | null;
  } | null;
  readonly refusal: { readonly justification: number; readonly message: string } | null;
  readonly createTime: Date;
  readonly updateTime: Date;
}

/** The etag of a requisition: it changes with every state change (update_time in milliseconds). */
export function requisitionEtag(updateTime: Date): string {
  return String(updateTime.getTime());
}

export interface RequisitionKey {
  readonly dataProviderId: bigint;
  readonly externalRequisitionId: bigint;
}

/** A SUCCEEDED measurement with a result signed by a certificate now on hold or revoked. */
export interface UntrustedResult {
  readonly measurement: MeasurementKey;
  readonly certificateOwner: PartyKey;
  readonly certificateId: bigint;
  readonly revocationState: RevocationState;
}

/** What depends on a certificate: shown before and after revoking it. */
export interface CertificateBlastRadius {
  readonly certificate: CertificateRecord;
  /** Pending measurements a HOLD or REVOKED would fail. */
  readonly pendingMeasurements: MeasurementKey[];
  readonly pendingRequisitions: RequisitionKey[];
  /** SUCCEEDED measurements whose results this certificate signed. */
  readonly signedResults: MeasurementKey[];
  /** True when the owner's current public key names this certificate. */
  readonly publicKeyReferences: boolean;
}

// ---------------------------------------------------------------- authentication

export interface ApiKeyRecord {
  readonly measurementConsumerId: bigint;
  readonly externalApiKeyId: bigint;
  readonly nickname: string;
  readonly description: string;
  readonly createTime: Date;
}

export interface AkidPrincipalRecord {
  readonly authorityKeyIdentifier: Uint8Array;
  readonly principalResourceName: string;
  readonly createTime: Date;
}
