/**
 * Who calls the Account methods: the holder of a self-issued OpenID ID token
 * (upstream's `id_token` header) whose state and nonce this Kingdom issued
 * and has not expired. Only the Accounts and ApiKeys services and
 * MeasurementConsumer creation and ownership read it; everywhere else an ID token authenticates
 * nobody, as upstream.
 */
import { Code, type HandlerContext } from '@connectrpc/connect';
import { externalIdToApiId, parseApiId } from '../../api/index.js';
import type { AccountRecord, AuditActor } from '../store/index.js';
import type { KingdomServices } from './context.js';
import { rpcError, unauthenticated } from './errors.js';
import { ID_TOKEN_HEADER, invalidIdToken, verifySelfIssuedIdToken, type OpenIdIdentity } from './open-id.js';

/** The identity of a valid ID token the caller sent; UNAUTHENTICATED without one. */
export async function requireIdentity(ctx: HandlerContext, services: KingdomServices): Promise<OpenIdIdentity> {
  const token = ctx.requestHeader.get(ID_TOKEN_HEADER);
  if (token === null || token === '') throw unauthenticated('ID token is missing');
  return identityOf(token, services);
}

/** The identity of an ID token of a live request of this Kingdom; UNAUTHENTICATED otherwise. */
export async function identityOf(token: string, services: KingdomServices): Promise<OpenIdIdentity> {
  if (services.openIdRedirectUri === undefined) {
    throw rpcError(Code.FailedPrecondition, 'OPEN_ID_NOT_CONFIGURED', 'This Kingdom has no OpenID redirect URI configured: Accounts are disabled');
  }
  const { identity, state, nonce } = verifySelfIssuedIdToken(token, services.openIdRedirectUri, services.clock.now());
  const issued = await services.store.findOpenIdNonce(state);
  if (issued === null || issued !== nonce) throw invalidIdToken('state and nonce are not a live request of this Kingdom');
  return identity;
}

/** The activated Account the caller's ID token authenticates; UNAUTHENTICATED otherwise (upstream: "Account not found"). */
export async function requireAccount(ctx: HandlerContext, services: KingdomServices): Promise<AccountRecord> {
  const account = await services.store.authenticateAccount(await requireIdentity(ctx, services));
  if (account === null) throw unauthenticated('Account not found');
  return account;
}

/** The audit log names the account and the identity it proved. */
export function accountActor(account: AccountRecord): AuditActor {
  const name = accountResourceName(account.externalAccountId);
  const identity = account.identity;
  return identity === null ? name : { name, authentication: { method: 'openIdConnect', issuer: identity.issuer, subject: identity.subject } };
}

export const accountResourceName = (externalAccountId: bigint): string => `accounts/${externalIdToApiId(externalAccountId)}`;

/** `accounts/{id}`, or undefined. */
export function parseAccountName(name: string): bigint | undefined {
  const m = /^accounts\/([A-Za-z0-9_-]+)$/.exec(name);
  return m === null ? undefined : parseApiId(m[1]!);
}
