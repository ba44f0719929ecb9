import { HaloError } from '../lib/index.js';

/**
 * Every failure of the API layer (names, IDs, page tokens, Any unpacking).
 * All of them are the caller's fault, so each maps to gRPC INVALID_ARGUMENT;
 * `grpcCodeOf` says so in one place for the server's error mapping.
 */
export type ApiErrorCode =
  | 'INVALID_API_ID' // not 11 base64url characters of a positive int64
  | 'INVALID_RESOURCE_NAME' // does not match the expected name pattern
  | 'INVALID_PAGE_SIZE' // negative page_size
  | 'INVALID_PAGE_TOKEN' // not a token this server issued
  | 'PAGE_TOKEN_MISMATCH' // a request argument other than page_size changed between pages
  | 'TYPE_URL_MISMATCH' // an Any (or EncryptedMessage type_url) of another message type
  | 'MESSAGE_MALFORMED' // an Any value that does not parse as its declared type
  | 'TEXT_FORMAT_INVALID'; // a protobuf text-format file that does not parse as the expected message

export class ApiError extends HaloError<ApiErrorCode> {}

/** gRPC status code number (google.rpc.Code) for an ApiError code. */
export function grpcCodeOf(_code: ApiErrorCode): 3 {
  return 3; // INVALID_ARGUMENT
}

/** `google.rpc.ErrorInfo.domain` of every error the Kingdom returns (as upstream). */
export const ERROR_INFO_DOMAIN = 'halo.wfanet.org';
