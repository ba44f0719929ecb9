/** StoreError: the store's typed failure, with the upstream reason name. */
import { HaloError } from '../../lib/errors.js';

/** The status of a failed store operation; the service layer maps these to gRPC codes. */
export type StoreErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'INVALID_ARGUMENT'
  | 'PERMISSION_DENIED'
  | 'ABORTED' // a transaction kept conflicting and ran out of retries
  | 'UNAVAILABLE' // the database cannot be reached
  | 'INTERNAL';

/**
 * Why it failed, named like upstream's internal Kingdom `ErrorCode` so the
 * public layer can put it in `google.rpc.ErrorInfo.reason` unchanged.
 */
export type StoreErrorReason =
  | 'DATA_PROVIDER_NOT_FOUND'
  | 'MEASUREMENT_CONSUMER_NOT_FOUND'
  | 'MODEL_PROVIDER_NOT_FOUND'
  | 'DUCHY_NOT_FOUND'
  | 'DUCHY_ALREADY_EXISTS'
  | 'CERTIFICATE_NOT_FOUND'
  | 'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS'
  | 'CERTIFICATE_REVOCATION_STATE_ILLEGAL'
  | 'CERTIFICATE_IS_INVALID'
  | 'MEASUREMENT_NOT_FOUND'
  | 'MEASUREMENT_STATE_ILLEGAL'
  | 'REQUISITION_NOT_FOUND'
  | 'REQUISITION_STATE_ILLEGAL'
  | 'EVENT_GROUP_NOT_FOUND'
  | 'EVENT_GROUP_STATE_ILLEGAL'
  | 'EVENT_GROUP_INVALID_ARGS'
  | 'EVENT_GROUP_ETAG_MISMATCH'
  | 'REQUISITION_ETAG_MISMATCH'
  | 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND'
  | 'EVENT_GROUP_METADATA_NOT_REENCRYPTED'
  | 'API_KEY_NOT_FOUND'
  | 'AKID_PRINCIPAL_NOT_FOUND'
  | 'ROOT_CERTIFICATE_ALREADY_REGISTERED'
  | 'ACCOUNT_NOT_FOUND'
  | 'ACCOUNT_ACTIVATION_STATE_ILLEGAL'
  | 'DUPLICATE_ACCOUNT_IDENTITY'
  | 'PERMISSION_DENIED'
  | 'REQUIRED_FIELD_NOT_SET'
  | 'INVALID_FIELD_VALUE'
  | 'SCHEMA_VERSION_UNKNOWN'
  | 'TRANSACTION_ABORTED'
  | 'DATABASE_UNAVAILABLE'
  | 'DATABASE_ERROR';

export class StoreError extends HaloError<StoreErrorCode> {
  readonly reason: StoreErrorReason;
  /** camelCase keys, string values: copied into ErrorInfo.metadata. */
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    code: StoreErrorCode,
    reason: StoreErrorReason,
    message: string,
    options?: { metadata?: Record<string, string>; cause?: unknown },
  ) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.metadata = Object.freeze({ ...(options?.metadata ?? {}) });
  }
}

export function isStoreError(err: unknown): err is StoreError {
  return err instanceof StoreError;
}
