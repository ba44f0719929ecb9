/** The Kingdom store's public surface. */
export { openKingdomStore, SqlKingdomStore } from './store.js';
export type { KingdomStore, OpenKingdomStoreOptions } from './store.js';
export type { WriteBatchingOptions, WriteBatchStats } from './write-batcher.js';
export { StoreError, isStoreError } from './errors.js';
export type { StoreErrorCode, StoreErrorReason } from './errors.js';
export { openDatabase } from './database.js';
export type { Database, DatabaseOptions, Queryable } from './database.js';
export { migrate, migrations } from './migrations.js';
export type { Migration } from './migrations.js';
export { canonicalJson, entryHash, GENESIS_HASH } from './audit.js';
export type { AuditActor, AuditAuthentication, AuditChainVerification, AuditEntry, AuditEvent, JsonValue } from './audit.js';
export { apiKeyHash } from './auth.js';
export type { CreateApiKeyInput, SetAkidPrincipalInput } from './auth.js';
export type { ListCertificatesOptions, RevokeCertificateResult } from './certificates.js';
export type {
  CreateEventGroupInput,
  CreateReencryptionRequestsInput,
  CreatedReencryptionRequests,
  CloseReencryptionRequestKey,
  EventGroupFields,
  ListEventGroupsOptions,
  ListOpenReencryptionRequestsOptions,
  ReencryptionAnswer,
  ReencryptionOutcome,
  UpdateEventGroupInput,
} from './event-groups.js';
export type { CreateMeasurementInput, ListMeasurementsOptions } from './measurements.js';
export type { FulfillDirectRequisitionInput, ListRequisitionsOptions, RefuseRequisitionInput } from './requisitions.js';
export type { CreatePartyInput, UpdatePublicKeyInput } from './parties.js';
export type {
  AccountActivationState,
  AccountRecord,
  ActivateAccountInput,
  ChangeOwnerInput,
  CreateAccountInput,
  CreateMeasurementConsumerForAccountInput,
  OpenIdConnectIdentity,
} from './accounts.js';
export type { DataAvailabilityEntry, DataProviderSettings } from './data-provider-settings.js';
export { generateExternalId } from './ids.js';
export {
  RevocationState,
  PENDING_MEASUREMENT_STATES,
  dataProvider,
  duchy,
  isCertificateValidAt,
  measurementConsumer,
  modelProvider,
  requisitionEtag,
  revocationStateName,
} from './records.js';
export type * from './records.js';
