/**
 * Small pieces the EventGroups, Measurements, Requisitions and trust services
 * share: error mapping around a whole implementation, the audit actor,
 * checked unpacking of request fields, and key fingerprints.
 */
import { createHash } from 'node:crypto';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import type { HandlerContext } from '@connectrpc/connect';
import type { Any } from '@bufbuild/protobuf/wkt';
import { ApiError, formatResourceName, parseAs, typeUrlMatches, unpackAny } from '../../api/index.js';
import { CryptoError, assertPublicKeyset, parseKeyset } from '../../crypto/index.js';
import { EncryptionPublicKey_Format, type EncryptionPublicKey } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import type { AuditActor } from '../store/index.js';
import { callerAuthenticationKey } from './authentication.js';
import type { KingdomMode } from './context.js';
import { toConnectError, invalidArgument } from './errors.js';
import type { Principal } from './principal.js';

/**
 * Wraps every method of a service implementation so whatever it throws
 * leaves as a ConnectError with ErrorInfo, whichever interceptors the router
 * that serves it was given.
 */
export function withErrorMapping<T extends object>(impl: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(impl)) {
    if (typeof fn !== 'function') continue;
    wrapped[name] = async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>).apply(impl, args);
      } catch (err) {
        throw toConnectError(err);
      }
    };
  }
  return wrapped as T;
}

/** Who the store's audit entry names: the principal's resource name, and how it authenticated on this call. */
export function actorOf(principal: Principal, ctx: HandlerContext): AuditActor {
  const name = formatResourceName(principal);
  const authentication = ctx.values.get(callerAuthenticationKey);
  return authentication ? { name, authentication } : name;
}

/** INVALID_ARGUMENT `REQUIRED_FIELD_NOT_SET` naming the field. */
export function requiredField(field: string): never {
  throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field} is not specified`, { field });
}

/**
 * Unpacks a request's Any as `schema`; the ApiError's reason
 * (TYPE_URL_MISMATCH, MESSAGE_MALFORMED) becomes INVALID_ARGUMENT naming the
 * field.
 */
export function unpackField<Desc extends DescMessage>(schema: Desc, any: Any | undefined, field: string): MessageShape<Desc> {
  if (any === undefined) requiredField(field);
  try {
    return unpackAny(schema, any);
  } catch (err) {
    if (err instanceof ApiError) throw invalidArgument(err.code, `${field}: ${err.message}`, { field });
    throw err;
  }
}

/** Parses request bytes as `schema`, INVALID_ARGUMENT naming the field otherwise. */
export function parseField<Desc extends DescMessage>(schema: Desc, bytes: Uint8Array, field: string): MessageShape<Desc> {
  try {
    return parseAs(schema, bytes);
  } catch (err) {
    if (err instanceof ApiError) throw invalidArgument(err.code, `${field}: ${err.message}`, { field });
    throw err;
  }
}

/** INVALID_ARGUMENT `TYPE_URL_MISMATCH` unless `typeUrl` names `schema`. */
export function requireTypeUrl(typeUrl: string, schema: DescMessage, field: string): void {
  if (!typeUrlMatches(typeUrl, schema)) {
    const shown = typeUrl === '' ? 'nothing' : JSON.stringify(typeUrl.length > 200 ? `${typeUrl.slice(0, 200)}...` : typeUrl);
    throw invalidArgument('TYPE_URL_MISMATCH', `${field} must hold ${schema.typeName}, declares ${shown}`, { field });
  }
}

/** SHA-256 of a serialized EncryptionPublicKey: how re-encryption requests name a key. */
export function keyFingerprint(serializedEncryptionPublicKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(serializedEncryptionPublicKey).digest());
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * Upstream only checks that a key unpacks as EncryptionPublicKey. In strict
 * mode it must also be what CMMS encrypts to: a public-only Tink keyset, so a
 * participant never encrypts to a key nobody can use (or to leaked secrets).
 */
export function checkEncryptionPublicKey(key: EncryptionPublicKey, field: string, mode: KingdomMode): void {
  if (mode !== 'strict') return;
  if (key.format !== EncryptionPublicKey_Format.TINK_KEYSET) {
    throw invalidArgument('ENCRYPTION_PUBLIC_KEY_INVALID', `${field} must be in TINK_KEYSET format`, { field });
  }
  try {
    assertPublicKeyset(parseKeyset(key.data, { format: 'binary' }));
  } catch (err) {
    if (err instanceof CryptoError) {
      throw invalidArgument('ENCRYPTION_PUBLIC_KEY_INVALID', `${field} is not a public Tink keyset: ${err.message}`, { field });
    }
    throw err;
  }
}
