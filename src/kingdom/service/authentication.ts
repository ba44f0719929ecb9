/**
 * Authentication as upstream does it (cmms-reference §3): the client
 * certificate's AKID names the party whose root issued it, through the
 * operator's AKID-to-principal map, then the Duchy root SKIDs; an `x-api-key`
 * header replaces that with a MeasurementConsumer principal.
 *
 * Unlike upstream, a client that sends its whole chain is still identified:
 * the leaf is the first certificate of the peer chain, whatever follows it.
 */
import { createHash } from 'node:crypto';
import { createContextKey, type Interceptor } from '@connectrpc/connect';
import { measurementConsumerKey, parseApiId } from '../../api/index.js';
import { parseCertificate } from '../../pki/certificate.js';
import type { Clock } from '../../lib/clock.js';
import { systemClock } from '../../lib/clock.js';
import type { KingdomStore } from '../store/index.js';
import { ApiKeyCache } from './api-key-cache.js';
import { unauthenticated } from './errors.js';
import { parsePrincipalName, principalKey, type Principal } from './principal.js';

/** What the transport learned about the caller before any handler runs. */
export interface PeerIdentity {
  /** DER of the client's leaf certificate, when it sent one that chains to a trusted root. */
  readonly clientCertificate?: Uint8Array;
  /** The `x-api-key` header, if any. */
  readonly apiKey?: string;
}

export const peerKey = createContextKey<PeerIdentity>({}, { description: 'peer identity' });

interface CacheEntry<T> {
  value: T;
  expires: number;
}

/**
 * Resolves principals with a short-lived cache, so authentication costs no
 * database round trip on the hot path. `invalidate()` after an admin change
 * makes it visible at once on this replica; other replicas see it within
 * `ttlMs`.
 */
export class PrincipalResolver {
  readonly #store: KingdomStore;
  readonly #clock: Clock;
  readonly #ttlMs: number;
  #akidMap: CacheEntry<Map<string, string>> | undefined;
  /** The map being read, shared by the calls that find the cache expired together. */
  #akidMapLoading: Promise<Map<string, string>> | undefined;
  readonly #duchies = new Map<string, CacheEntry<Principal | undefined>>();
  readonly #apiKeys: ApiKeyCache;
  readonly #leafAkids = new Map<string, Uint8Array | undefined>();

  constructor(store: KingdomStore, options: { ttlMs?: number; clock?: Clock } = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#apiKeys = new ApiKeyCache({ ttlMs: this.#ttlMs, now: () => this.#now() });
  }

  invalidate(): void {
    this.#akidMap = undefined;
    this.#akidMapLoading = undefined;
    this.#duchies.clear();
    this.#apiKeys.clear();
  }

  async resolve(peer: PeerIdentity): Promise<Principal | undefined> {
    if (peer.apiKey !== undefined) return this.fromApiKey(peer.apiKey);
    if (!peer.clientCertificate) return undefined;
    const akid = this.#akidOf(peer.clientCertificate);
    return akid ? this.fromAkid(akid) : undefined;
  }

  async fromAkid(akid: Uint8Array): Promise<Principal | undefined> {
    const hex = Buffer.from(akid).toString('hex');
    const name = (await this.#akidMapNow()).get(hex);
    if (name !== undefined) return parsePrincipalName(name);
    const cached = this.#fresh(this.#duchies.get(hex));
    if (cached) return cached.value;
    const party = await this.#store.findDuchyByRootSkid(akid);
    const principal: Principal | undefined = party?.key.kind === 'DUCHY' ? { kind: 'duchy', duchyId: party.key.id } : undefined;
    this.#duchies.set(hex, { value: principal, expires: this.#now() + this.#ttlMs });
    return principal;
  }

  /** An API key is an API id; the Kingdom keeps the SHA-256 of its 8 bytes. */
  async fromApiKey(apiKey: string): Promise<Principal> {
    // Anything else is refused without a lookup and leaves nothing behind.
    const key = parseApiId(apiKey);
    if (key === undefined) throw unauthenticated('API key is unauthenticated');
    let principal = this.#apiKeys.get(key);
    if (principal === undefined) {
      const record = await this.#store.authenticateApiKey(key);
      principal = record ? measurementConsumerKey(record.measurementConsumerId) : null;
      this.#apiKeys.set(key, principal ?? undefined);
    }
    if (!principal) throw unauthenticated('API key is unauthenticated');
    return principal;
  }

  #akidOf(der: Uint8Array): Uint8Array | undefined {
    const digest = createHash('sha256').update(der).digest('hex');
    if (this.#leafAkids.has(digest)) return this.#leafAkids.get(digest);
    let akid: Uint8Array | undefined;
    try {
      akid = parseCertificate(der).authorityKeyIdentifier;
    } catch {
      akid = undefined;
    }
    if (this.#leafAkids.size > 10_000) this.#leafAkids.clear();
    this.#leafAkids.set(digest, akid);
    return akid;
  }

  async #akidMapNow(): Promise<Map<string, string>> {
    const cached = this.#fresh(this.#akidMap);
    if (cached) return cached.value;
    if (this.#akidMapLoading) return this.#akidMapLoading;
    const loading = this.#store
      .listAkidPrincipals()
      .then((entries) => new Map(entries.map((e) => [Buffer.from(e.authorityKeyIdentifier).toString('hex'), e.principalResourceName])));
    this.#akidMapLoading = loading;
    try {
      const map = await loading;
      // An invalidate() during the read makes this map too old to cache.
      if (this.#akidMapLoading === loading) this.#akidMap = { value: map, expires: this.#now() + this.#ttlMs };
      return map;
    } finally {
      if (this.#akidMapLoading === loading) this.#akidMapLoading = undefined;
    }
  }

  #fresh<T>(entry: CacheEntry<T> | undefined): CacheEntry<T> | undefined {
    return entry && entry.expires > this.#now() ? entry : undefined;
  }

  #now(): number {
    return this.#clock.now().getTime();
  }
}

/** Resolves the caller's principal into the call's context before the handler runs. */
export function authenticationInterceptor(resolver: PrincipalResolver): Interceptor {
  return (next) => async (req) => {
    const principal = await resolver.resolve(req.contextValues.get(peerKey));
    req.contextValues.set(principalKey, principal);
    return next(req);
  };
}
