/**
 * What can go wrong talking to the Kingdom, each with a one-line message
 * that names what to fix. RPC-level failures keep the gRPC code and the
 * ErrorInfo reason the Kingdom sent, so callers can `switch` on either.
 */
import { Code, ConnectError } from '@connectrpc/connect';
import { ErrorInfoSchema } from '../gen/google/rpc/error_details_pb.js';
import { HaloError } from '../lib/index.js';

export type KingdomClientErrorCode =
  /** Nothing answers at the target (refused, unresolvable, timed out). */
  | 'UNREACHABLE'
  /** The server certificate does not name the host we asked for. */
  | 'TLS_HOSTNAME_MISMATCH'
  /** The server certificate does not chain to the trusted Kingdom root. */
  | 'SERVER_UNTRUSTED'
  /** The TLS handshake failed otherwise (e.g. no TLS 1.3). */
  | 'TLS_HANDSHAKE_FAILED'
  /** The Kingdom refused our credentials (client certificate, API key, admin token). */
  | 'UNAUTHENTICATED'
  /** Any other RPC error: see `grpcCode` and `reason`. */
  | 'RPC_FAILED'
  /** Bad client options (unreadable files, bad target). */
  | 'CLIENT_CONFIG_INVALID';

export class KingdomClientError extends HaloError<KingdomClientErrorCode> {
  /** The gRPC status code (Unavailable for connection failures). */
  readonly grpcCode: Code;
  /** `google.rpc.ErrorInfo.reason` sent by the Kingdom, if any. */
  readonly reason: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;

  constructor(
    code: KingdomClientErrorCode,
    message: string,
    details: { grpcCode: Code; reason?: string; metadata?: Record<string, string>; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.grpcCode = details.grpcCode;
    this.reason = details.reason;
    this.metadata = details.metadata ?? {};
  }
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET']);
const UNTRUSTED = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
]);

function nodeCodes(err: unknown): string[] {
  const out: string[] = [];
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e instanceof Error && !seen.has(e)) {
    seen.add(e);
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string') out.push(code);
    e = e.cause;
  }
  return out;
}

const CODE_NAMES: Partial<Record<Code, string>> = {
  [Code.InvalidArgument]: 'INVALID_ARGUMENT',
  [Code.NotFound]: 'NOT_FOUND',
  [Code.AlreadyExists]: 'ALREADY_EXISTS',
  [Code.PermissionDenied]: 'PERMISSION_DENIED',
  [Code.FailedPrecondition]: 'FAILED_PRECONDITION',
  [Code.ResourceExhausted]: 'RESOURCE_EXHAUSTED',
  [Code.Unavailable]: 'UNAVAILABLE',
  [Code.Internal]: 'INTERNAL',
  [Code.Aborted]: 'ABORTED',
  [Code.Unimplemented]: 'UNIMPLEMENTED',
  [Code.DeadlineExceeded]: 'DEADLINE_EXCEEDED',
  [Code.Canceled]: 'CANCELLED',
  [Code.Unknown]: 'UNKNOWN',
};

/** Turns whatever a call threw into a KingdomClientError. */
export function toKingdomClientError(err: unknown, target: string, serverName: string): KingdomClientError {
  if (err instanceof KingdomClientError) return err;
  const ce = ConnectError.from(err);
  const codes = nodeCodes(err);
  const has = (set: ReadonlySet<string> | readonly string[]) => codes.find((c) => (set instanceof Set ? set.has(c) : (set as string[]).includes(c)));
  if (has(['ERR_TLS_CERT_ALTNAME_INVALID'])) {
    return new KingdomClientError(
      'TLS_HOSTNAME_MISMATCH',
      `the Kingdom's certificate at ${target} is not valid for "${serverName}": pass the name it was issued for as the server name (--kingdom-public-api-cert-host)`,
      { grpcCode: Code.Unavailable, cause: err },
    );
  }
  const untrusted = has(UNTRUSTED);
  if (untrusted) {
    return new KingdomClientError(
      'SERVER_UNTRUSTED',
      `the Kingdom's certificate at ${target} is not trusted (${untrusted}): pass the Kingdom root (e.g. kingdom_root.pem) as the trusted roots (--cert-collection-file)`,
      { grpcCode: Code.Unavailable, cause: err },
    );
  }
  const tls = codes.find((c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_'));
  if (tls) {
    return new KingdomClientError('TLS_HANDSHAKE_FAILED', `TLS handshake with ${target} failed (${tls}): the Kingdom accepts TLS 1.3 only`, {
      grpcCode: Code.Unavailable,
      cause: err,
    });
  }
  const unreachable = has(UNREACHABLE);
  if (unreachable) {
    return new KingdomClientError('UNREACHABLE', `cannot reach the Kingdom at ${target} (${unreachable}): check the target address and that the server runs`, {
      grpcCode: Code.Unavailable,
      cause: err,
    });
  }
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const details = {
    grpcCode: ce.code,
    ...(info?.reason ? { reason: info.reason } : {}),
    metadata: info ? { ...info.metadata } : {},
    cause: err,
  };
  if (ce.code === Code.Unauthenticated) {
    return new KingdomClientError('UNAUTHENTICATED', `the Kingdom refused the caller's credentials: ${ce.rawMessage}`, details);
  }
  const name = CODE_NAMES[ce.code] ?? `code ${ce.code}`;
  return new KingdomClientError('RPC_FAILED', `${name}${info?.reason && info.reason !== name ? ` (${info.reason})` : ''}: ${ce.rawMessage}`, details);
}
