// Public surface of the API layer: ids, resource names, type URLs, page
// tokens, text format and errors. Generated messages are imported from
// `src/gen/...` directly.
export { ApiError, ERROR_INFO_DOMAIN, grpcCodeOf } from './errors.js';
export type { ApiErrorCode } from './errors.js';
export {
  apiIdToExternalId,
  externalIdToApiId,
  generateExternalId,
  isExternalId,
  parseApiId,
} from './api-id.js';
export type { ExternalIdSource } from './api-id.js';
export {
  certificateKey,
  dataProviderKey,
  duchyKey,
  formatResourceName,
  isDuchyId,
  measurementConsumerKey,
  measurementKey,
  modelProviderKey,
  parseApiKeyName,
  parseCertificateName,
  parseCertificateParentName,
  parseDataProviderName,
  parseDuchyName,
  parseEventGroupName,
  parseEventGroupParentName,
  parseMeasurementConsumerName,
  parseMeasurementName,
  parseModelProviderName,
  parsePublicKeyName,
  parseRequisitionName,
  parseRequisitionParentName,
  parseResourceName,
  requireName,
} from './resource-names.js';
export type {
  ApiKeyKey,
  CertificateKey,
  CertificateParentKey,
  DataProviderKey,
  DuchyKey,
  EventGroupKey,
  MeasurementConsumerKey,
  MeasurementKey,
  ModelProviderKey,
  PublicKeyKey,
  PublicKeyParentKey,
  RequisitionKey,
  ResourceKey,
  ResourceKind,
} from './resource-names.js';
export {
  packAny,
  parseAs,
  requireEncryptedType,
  TYPE_URL_PREFIX,
  typeNameOfUrl,
  typeUrlMatches,
  typeUrlOf,
  unpackAny,
} from './type-url.js';
export {
  certificateParentTokenKey,
  decodePageToken,
  decodePageTokenFor,
  DEFAULT_PAGE_SIZE,
  encodePageToken,
  MAX_PAGE_SIZE,
  normalizePageSize,
} from './page-token.js';
export { fromTextFormat } from './text-format.js';
export { javaFloatingPoint, toTextFormat } from './text-format-writer.js';
export { PACKED_MESSAGE_TYPES, packedMessageRegistry } from './any-types.js';
export { nonceHash, randomNonce } from './nonce.js';
