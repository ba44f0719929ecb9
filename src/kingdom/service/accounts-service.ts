/**
 * `wfa.measurement.api.v2alpha.Accounts`, upstream's account flow:
 * `Authenticate` issues a self-issued OpenID request (state, nonce);
 * `ActivateAccount` binds the ID token's identity to an account once, with
 * the activation token its creator was given; `CreateAccount` lets an
 * activated account create another, which may be made an owner of a
 * MeasurementConsumer the creator owns; `ReplaceAccountIdentity` moves an
 * account to a new identity, proven by a second ID token. The operator creates the first
 * accounts (KingdomAdmin.CreateAccount).
 */
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import { externalIdToApiId, parseApiId, parseMeasurementConsumerName } from '../../api/index.js';
import {
  Account_ActivationParamsSchema,
  Account_ActivationState,
  Account_OpenIdConnectIdentitySchema,
  AccountSchema,
  type Account,
} from '../../gen/wfa/measurement/api/v2alpha/account_pb.js';
import {
  Accounts,
  AuthenticateResponseSchema,
  type ActivateAccountRequest,
  type AuthenticateRequest,
  type CreateAccountRequest,
  type ReplaceAccountIdentityRequest,
} from '../../gen/wfa/measurement/api/v2alpha/accounts_service_pb.js';
import type { AccountRecord } from '../store/index.js';
import { accountActor, accountResourceName, identityOf, parseAccountName, requireAccount, requireIdentity } from './account-authentication.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { SELF_ISSUED_ISSUER, selfIssuedRequestUri } from './open-id.js';
import { parseRequestName } from './request-names.js';
import { requiredField } from './service-support.js';

/** How long an issued state and nonce stay usable. */
export const OPEN_ID_REQUEST_VALIDITY_MS = 60 * 60 * 1000;

/** The activation token and owned MeasurementConsumer are shown only when `activationToken` is given: to the creator, once. */
export function renderAccount(record: AccountRecord, activationToken?: bigint): Account {
  const owned = record.externalOwnedMeasurementConsumerId;
  return create(AccountSchema, {
    name: accountResourceName(record.externalAccountId),
    creator: record.externalCreatorAccountId === null ? '' : accountResourceName(record.externalCreatorAccountId),
    activationState: record.activationState === 'ACTIVATED' ? Account_ActivationState.ACTIVATED : Account_ActivationState.UNACTIVATED,
    ...(activationToken === undefined
      ? {}
      : {
          activationParams: create(Account_ActivationParamsSchema, {
            activationToken: externalIdToApiId(activationToken),
            ownedMeasurementConsumer: owned === null ? '' : `measurementConsumers/${externalIdToApiId(owned)}`,
          }),
        }),
    ...(record.identity === null
      ? {}
      : { identity: { case: 'openId' as const, value: create(Account_OpenIdConnectIdentitySchema, record.identity) } }),
  });
}

export function accountsService(services: KingdomServices) {
  const { store } = services;
  return {
    async createAccount(req: CreateAccountRequest, ctx: HandlerContext) {
      const creator = await requireAccount(ctx, services);
      const ownedName = req.account?.activationParams?.ownedMeasurementConsumer ?? '';
      const owned =
        ownedName === ''
          ? undefined
          : parseRequestName(parseMeasurementConsumerName, ownedName, 'Owned Measurement Consumer Resource name invalid').measurementConsumerId;
      const { account, activationToken } = await store.createAccount({
        actor: accountActor(creator),
        externalCreatorAccountId: creator.externalAccountId,
        ...(owned === undefined ? {} : { externalOwnedMeasurementConsumerId: owned }),
      });
      return renderAccount(account, activationToken);
    },

    async activateAccount(req: ActivateAccountRequest, ctx: HandlerContext) {
      const id = parseRequestName(parseAccountName, req.name, 'Resource name unspecified or invalid');
      if (req.activationToken === '') requiredField('activation_token');
      const token = parseApiId(req.activationToken);
      if (token === undefined) throw invalidArgument('INVALID_FIELD_VALUE', 'activation_token is not a valid token');
      const identity = await requireIdentity(ctx, services);
      const account = await store.activateAccount({
        actor: { name: accountResourceName(id), authentication: { method: 'openIdConnect', ...identity } },
        externalAccountId: id,
        activationToken: token,
        identity,
      });
      return renderAccount(account);
    },

    async authenticate(req: AuthenticateRequest) {
      if (req.issuer === '') throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'Issuer unspecified');
      // Only the self-issued provider is known; upstream answers other issuers with an empty URI.
      if (req.issuer !== SELF_ISSUED_ISSUER || services.openIdRedirectUri === undefined) return create(AuthenticateResponseSchema);
      const { state, nonce } = await store.createOpenIdRequestParams({ actor: 'anonymous', validForMs: OPEN_ID_REQUEST_VALIDITY_MS });
      return create(AuthenticateResponseSchema, { authenticationRequestUri: selfIssuedRequestUri(state, nonce, services.openIdRedirectUri) });
    },

    /** Only the Account itself, proving both the current identity (header) and the new one (request). */
    async replaceAccountIdentity(req: ReplaceAccountIdentityRequest, ctx: HandlerContext) {
      const account = await requireAccount(ctx, services);
      const id = parseRequestName(parseAccountName, req.name, 'Resource name unspecified or invalid');
      if (id !== account.externalAccountId) throw permissionDenied('UPDATE', req.name);
      const token = req.replacementCredentials.case === 'openId' ? req.replacementCredentials.value.identityBearerToken : '';
      if (token === '') requiredField('open_id.identity_bearer_token');
      const identity = await identityOf(token, services);
      return renderAccount(await store.replaceAccountIdentity({ actor: accountActor(account), externalAccountId: id, identity }));
    },
  };
}

export function registerAccountsService(router: ConnectRouter, services: KingdomServices): void {
  router.service(Accounts, accountsService(services));
}
