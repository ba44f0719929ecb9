/**
 * Who is calling. A principal is one of the four CMMS party kinds; it comes
 * from the client certificate's AKID (mTLS) or from an MC's `x-api-key`.
 */
import { createContextKey, type HandlerContext } from '@connectrpc/connect';
import {
  formatResourceName,
  parseResourceName,
  type CertificateParentKey,
} from '../../api/index.js';
import type { PartyKey } from '../store/index.js';
import { unauthenticated } from './errors.js';

/** A principal is the resource key of the party that calls. */
export type Principal = CertificateParentKey;

/** Set by the authentication interceptor; undefined when nobody was recognised. */
export const principalKey = createContextKey<Principal | undefined>(undefined, { description: 'principal' });

/** The caller, or UNAUTHENTICATED. */
export function requirePrincipal(ctx: HandlerContext): Principal {
  const principal = ctx.values.get(principalKey);
  if (!principal) throw unauthenticated();
  return principal;
}

/** A principal resource name (`dataProviders/…`, `duchies/…`, …) as a key, or undefined. */
export function parsePrincipalName(name: string): Principal | undefined {
  const key = parseResourceName(name);
  switch (key?.kind) {
    case 'dataProvider':
    case 'measurementConsumer':
    case 'modelProvider':
    case 'duchy':
      return key;
    default:
      return undefined;
  }
}

export function samePrincipal(a: Principal, b: CertificateParentKey): boolean {
  return formatResourceName(a) === formatResourceName(b);
}

/** The store's owner key for an API parent key. */
export function toPartyKey(key: CertificateParentKey): PartyKey {
  switch (key.kind) {
    case 'dataProvider':
      return { kind: 'DATA_PROVIDER', id: key.dataProviderId };
    case 'measurementConsumer':
      return { kind: 'MEASUREMENT_CONSUMER', id: key.measurementConsumerId };
    case 'modelProvider':
      return { kind: 'MODEL_PROVIDER', id: key.modelProviderId };
    case 'duchy':
      return { kind: 'DUCHY', id: key.duchyId };
  }
}

/** The API parent key for a store owner key. */
export function fromPartyKey(key: PartyKey): CertificateParentKey {
  switch (key.kind) {
    case 'DATA_PROVIDER':
      return { kind: 'dataProvider', dataProviderId: key.id };
    case 'MEASUREMENT_CONSUMER':
      return { kind: 'measurementConsumer', measurementConsumerId: key.id };
    case 'MODEL_PROVIDER':
      return { kind: 'modelProvider', modelProviderId: key.id };
    case 'DUCHY':
      return { kind: 'duchy', duchyId: key.id };
  }
}
