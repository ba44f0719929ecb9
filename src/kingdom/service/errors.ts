/**
 * The RPC boundary's error mapping: every typed error of the library becomes
 * a ConnectError with the right gRPC code and a `google.rpc.ErrorInfo`
 * (domain `halo.wfanet.org`, reason), as upstream's public layer does.
 * Unlike upstream, NOT_FOUND stays NOT_FOUND (never UNKNOWN).
 */
import { create, type DescMethod } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { ApiError, ERROR_INFO_DOMAIN } from '../../api/index.js';
import { CryptoError } from '../../crypto/index.js';
import { HaloError } from '../../lib/index.js';
import { PkiError } from '../../pki/index.js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { StoreError, type StoreErrorCode } from '../store/index.js';

/** A ConnectError carrying ErrorInfo{domain: halo.wfanet.org, reason, metadata}. */
export function rpcError(code: Code, reason: string, message: string, metadata: Record<string, string> = {}): ConnectError {
  return new ConnectError(message, code, undefined, [
    { desc: ErrorInfoSchema, value: create(ErrorInfoSchema, { domain: ERROR_INFO_DOMAIN, reason, metadata }) },
  ]);
}

export function unauthenticated(message = 'No MeasurementPrincipal found'): ConnectError {
  return rpcError(Code.Unauthenticated, 'UNAUTHENTICATED', message);
}

/** Upstream's wording, which does not reveal whether the resource exists. */
export function permissionDenied(permission: string, resource: string): ConnectError {
  return rpcError(
    Code.PermissionDenied,
    'PERMISSION_DENIED',
    `Permission ${permission} denied on resource ${resource} (or it might not exist)`,
  );
}

export function invalidArgument(reason: string, message: string, metadata?: Record<string, string>): ConnectError {
  return rpcError(Code.InvalidArgument, reason, message, metadata);
}

export function failedPrecondition(reason: string, message: string, metadata?: Record<string, string>): ConnectError {
  return rpcError(Code.FailedPrecondition, reason, message, metadata);
}

/**
 * The handler of a declared method the Kingdom does not serve yet:
 * UNIMPLEMENTED naming the method, so a client can tell it from a bad call.
 */
export function notImplemented(method: DescMethod): () => never {
  return () => {
    throw rpcError(Code.Unimplemented, 'UNIMPLEMENTED', `${method.parent.typeName}.${method.name} is not implemented`);
  };
}

const STORE_CODES: Record<StoreErrorCode, Code> = {
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  INVALID_ARGUMENT: Code.InvalidArgument,
  ABORTED: Code.Aborted,
  UNAVAILABLE: Code.Unavailable,
  INTERNAL: Code.Internal,
};

/**
 * Maps anything a handler throws to a ConnectError. Input errors of the
 * parsers (API names, DER, keys) are the caller's fault: INVALID_ARGUMENT.
 * Unknown errors become INTERNAL without their message, which may hold
 * details the caller must not see.
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof StoreError) return rpcError(STORE_CODES[err.code], err.reason, err.message, { ...err.metadata });
  if (err instanceof ApiError) return invalidArgument(err.code, err.message);
  if (err instanceof PkiError || err instanceof CryptoError) return invalidArgument(err.code, err.message);
  if (err instanceof HaloError) return invalidArgument(err.code, err.message);
  return rpcError(Code.Internal, 'INTERNAL', 'internal error');
}
