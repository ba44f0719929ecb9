/**
 * The one place the Kingdom is put together: the store, the services on it,
 * their interceptors and routes. The server process serves the result over
 * mTLS (server/serve.ts); the admin CLI without a running server, the bench
 * and the service suites run it in process through `transport()`.
 */
import { createRouterTransport, type ConnectRouter, type Interceptor, type Transport } from '@connectrpc/connect';
import { type Clock, systemClock } from '../../lib/clock.js';
import { openKingdomStore, type OpenKingdomStoreOptions, type SqlKingdomStore } from '../store/index.js';
import { adminAuthenticationInterceptor, type AdminTokenOptions } from './admin-authentication.js';
import { authenticationInterceptor, PrincipalResolver } from './authentication.js';
import type { KingdomMode, KingdomServices } from './context.js';
import { errorMappingInterceptor } from './interceptors.js';
import { kingdomRoutes } from './routes.js';

export interface KingdomAssemblyOptions {
  /** Where the store lives; its clock is the Kingdom's. */
  readonly store: Omit<OpenKingdomStoreOptions, 'clock'>;
  readonly clock?: Clock;
  readonly mode?: KingdomMode;
  /** Accept the admin bearer token whose SHA-256 this is (see admin-authentication.ts). */
  readonly admin?: AdminTokenOptions;
  /** Client roots the operator trusts beyond the registered participants' (`--trusted-roots`). */
  readonly operatorRoots?: readonly Uint8Array[];
  /** How long a resolved principal is cached (PrincipalResolver's default otherwise). */
  readonly principalTtlMs?: number;
  readonly maxResponseBytes?: number;
  /** The audience of self-issued OpenID ID tokens (see context.ts); without it the Account methods are refused. */
  readonly openIdRedirectUri?: string;
  /** Called after an admin change that alters who is trusted (the server reloads its roots). */
  readonly onTrustChanged?: () => void | Promise<void>;
}

export interface InProcessTransportOptions {
  /** Router interceptors that run before the Kingdom's own: what the TLS layer would have set. */
  readonly peer?: readonly Interceptor[];
  /** Client-side interceptors (an admin bearer token, say). */
  readonly client?: readonly Interceptor[];
}

export interface KingdomAssembly {
  readonly store: SqlKingdomStore;
  readonly services: KingdomServices;
  readonly routes: (router: ConnectRouter) => void;
  /**
   * Outermost first: errors of everything below become ConnectErrors with
   * ErrorInfo (the one error mapping); the admin token, when configured, is
   * checked for KingdomAdmin calls; then the public principal is resolved.
   */
  readonly interceptors: readonly Interceptor[];
  /** The Kingdom in memory, as a Connect transport. */
  transport(options?: InProcessTransportOptions): Transport;
  close(): Promise<void>;
}

export async function openKingdom(options: KingdomAssemblyOptions): Promise<KingdomAssembly> {
  const clock = options.clock ?? systemClock;
  const store = await openKingdomStore({ ...options.store, clock });
  const resolver = new PrincipalResolver(store, {
    clock,
    ...(options.operatorRoots ? { operatorRoots: options.operatorRoots } : {}),
    ...(options.principalTtlMs !== undefined ? { ttlMs: options.principalTtlMs } : {}),
  });
  const services: KingdomServices = {
    store,
    clock,
    mode: options.mode ?? 'strict',
    resolver,
    ...(options.maxResponseBytes !== undefined ? { maxResponseBytes: options.maxResponseBytes } : {}),
    ...(options.openIdRedirectUri !== undefined ? { openIdRedirectUri: options.openIdRedirectUri } : {}),
    ...(options.onTrustChanged ? { onTrustChanged: options.onTrustChanged } : {}),
  };
  const interceptors: Interceptor[] = [errorMappingInterceptor];
  if (options.admin !== undefined) interceptors.push(adminAuthenticationInterceptor(options.admin));
  interceptors.push(authenticationInterceptor(resolver));
  const routes = kingdomRoutes(services);
  return {
    store,
    services,
    routes,
    interceptors,
    transport: (t = {}) =>
      createRouterTransport(routes, {
        router: { interceptors: [...(t.peer ?? []), ...interceptors] },
        transport: { interceptors: [...(t.client ?? [])] },
      }),
    close: () => store.close(),
  };
}
