/**
 * Authentication of the Kingdom operator for `halo.keys.v1.KingdomAdmin`,
 * separate from the public API's principals: no participant, whatever its
 * certificate or API key, can call the admin service.
 *
 * Two credentials count, and either sets the `adminKey` context value:
 * - a client certificate issued by the Kingdom's own CA: the transport
 *   (src/kingdom/server) checks that and sets `adminKey` to true itself;
 * - a bearer token (`authorization: Bearer <token>`): the interceptor of
 *   `adminAuthenticationInterceptor({tokenSha256})` hashes the token with
 *   SHA-256 and compares it in constant time with the configured hash, so
 *   the Kingdom never holds the token itself.
 * A wrong token is UNAUTHENTICATED at once, even beside a valid certificate:
 * a presented credential that fails is a signal, not something to ignore.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createContextKey, type HandlerContext, type Interceptor } from '@connectrpc/connect';
import { KingdomAdmin } from '../../gen/halo/keys/v1/kingdom_admin_pb.js';
import { HaloError } from '../../lib/index.js';
import type { AuditActor } from '../store/index.js';
import { unauthenticated } from './errors.js';

/** True when the caller presented the operator's admin credential. */
export const adminKey = createContextKey<boolean>(false, { description: 'kingdom admin credential' });

/** Audit actor of admin changes. */
export const ADMIN_ACTOR = 'kingdom-admin';

/** The operator as the audit log names it: the admin surface, authenticated by the admin token. */
export const ADMIN_AUDIT_ACTOR: AuditActor = { name: ADMIN_ACTOR, authentication: { method: 'adminToken' } };

/** UNAUTHENTICATED unless the call carries the admin credential. */
export function requireAdmin(ctx: HandlerContext): void {
  if (ctx.values.get(adminKey) !== true) throw unauthenticated('The Kingdom admin credential is required');
}

export interface AdminTokenOptions {
  /**
   * SHA-256 of the admin bearer token: 32 bytes, or 64 hex characters; or a
   * function asked on every admin call, so a rotated token takes effect
   * without a restart.
   */
  readonly tokenSha256: Uint8Array | string | (() => Promise<Uint8Array>);
}

/** SHA-256 of a token, hex: what to put in the server's configuration. */
export function adminTokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

const BEARER = /^Bearer ([\x21-\x7e]+)$/;

/**
 * Sets `adminKey` for KingdomAdmin calls whose bearer token hashes to
 * `tokenSha256`; calls to every other service pass through untouched (their
 * `authorization` header means nothing to this interceptor).
 */
export function adminAuthenticationInterceptor(options: AdminTokenOptions): Interceptor {
  const configured = options.tokenSha256;
  let expectedNow: () => Promise<Uint8Array>;
  if (typeof configured === 'function') {
    expectedNow = configured;
  } else {
    const fixed = typeof configured === 'string' ? Buffer.from(configured, 'hex') : Buffer.from(configured);
    if (fixed.length !== 32 || (typeof configured === 'string' && configured.length !== 64)) {
      throw new HaloError('ADMIN_TOKEN_HASH_INVALID', 'tokenSha256 must be a SHA-256 digest (32 bytes or 64 hex characters)');
    }
    const known = Promise.resolve(fixed);
    expectedNow = () => known;
  }
  return (next) => async (req) => {
    if (req.service.typeName !== KingdomAdmin.typeName) return next(req);
    const header = req.header.get('authorization');
    if (header !== null) {
      const token = BEARER.exec(header)?.[1];
      const digest = createHash('sha256').update(token ?? '', 'utf8').digest();
      const expected = await expectedNow();
      if (token === undefined || expected.length !== digest.length || !timingSafeEqual(digest, expected)) {
        throw unauthenticated('The admin bearer token is not valid');
      }
      req.contextValues.set(adminKey, true);
    }
    return next(req);
  };
}
