/**
 * Authentication. As upstream (cmms-reference §3), the client certificate's
 * AKID finds the candidate principal, through the operator's
 * AKID-to-principal map, then the Duchy root SKIDs; an `x-api-key` header
 * replaces that with a MeasurementConsumer principal.
 *
 * Unlike upstream, the AKID only finds the candidate: the caller is that
 * principal only when its chain verifies up to that principal's registered
 * root (or, for an AKID the operator mapped explicitly, an operator root of
 * `--trusted-roots` with that SKID), whatever intermediates it sent, and its
 * leaf is an end-entity certificate that allows clientAuth. A client that
 * sends its whole chain is identified by its leaf, the first certificate.
 */
import { createHash } from 'node:crypto';
import { createContextKey, type Interceptor } from '@connectrpc/connect';
import { formatResourceName, measurementConsumerKey, parseApiId } from '../../api/index.js';
import { parseCertificate, type Certificate, TrustStore } from '../../pki/index.js';
import { type Clock, systemClock } from '../../lib/index.js';
import { StoreError, type AuditAuthentication, type KingdomStore } from '../store/index.js';
import { ApiKeyCache, type ApiKeyIdentity } from './api-key-cache.js';
import { certificateAuthentication, clientChainProblem, parseClientChain, type ClientChain } from './client-certificate.js';
import { unauthenticated } from './errors.js';
import { parsePrincipalName, principalKey, principalName, toPartyKey, type Principal } from './principal.js';

/** What the transport learned about the caller before any handler runs. */
export interface PeerIdentity {
  /** DER of the client's leaf certificate, when it sent one that chains to a trusted root. */
  readonly clientCertificate?: Uint8Array;
  /** The certificates the client sent after its leaf: untrusted candidates for its path. */
  readonly clientChain?: readonly Uint8Array[];
  /** The `x-api-key` header, if any. */
  readonly apiKey?: string;
}

export const peerKey = createContextKey<PeerIdentity>({}, { description: 'peer identity' });

/** How the caller authenticated, for the audit log; undefined when nobody was recognised. */
export const callerAuthenticationKey = createContextKey<AuditAuthentication | undefined>(undefined, { description: 'caller authentication' });

/** Why a presented client certificate authenticated nobody, for the UNAUTHENTICATED message. */
export const authenticationProblemKey = createContextKey<string | undefined>(undefined, { description: 'authentication problem' });

/** The outcome of authenticating one call. */
export interface Authentication {
  readonly principal?: Principal;
  readonly authentication?: AuditAuthentication;
  /** Set when a client certificate was presented and refused. */
  readonly problem?: string;
}

interface Candidate {
  readonly principal: Principal;
  /** Found through the AKID map (operator roots may anchor it), not the Duchy root SKIDs. */
  readonly mapped: boolean;
}

const NOT_ANCHORED =
  "client certificate chain is not anchored at the registered root of the principal its authority key identifier names: connect with a certificate issued under your own registered root";
/** Bound of each per-chain cache: an outside party can fill them. */
const MAX_CHAINS = 10_000;

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
  readonly #operatorRoots: readonly Certificate[];
  #akidMap: CacheEntry<Map<string, string>> | undefined;
  /** The map being read, shared by the calls that find the cache expired together. */
  #akidMapLoading: Promise<Map<string, string>> | undefined;
  readonly #duchies = new Map<string, CacheEntry<Principal | undefined>>();
  readonly #apiKeys: ApiKeyCache;
  /** Parsed chains by the SHA-256 of their DER. */
  readonly #chains = new Map<string, ClientChain | undefined>();
  /** Anchors per (principal, AKID): party roots are never rewritten and operator roots are fixed, so no expiry. */
  readonly #anchors = new Map<string, TrustStore>();
  /** Verdicts per (chain, principal), for `ttlMs`. */
  readonly #verdicts = new Map<string, CacheEntry<string | undefined>>();

  /**
   * `operatorRoots` are the `--trusted-roots` certificates: they anchor a
   * principal only for an AKID the operator mapped to it explicitly.
   */
  constructor(store: KingdomStore, options: { ttlMs?: number; clock?: Clock; operatorRoots?: readonly Uint8Array[] } = {}) {
    this.#store = store;
    this.#clock = options.clock ?? systemClock;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#operatorRoots = (options.operatorRoots ?? []).map((der) => parseCertificate(der));
    this.#apiKeys = new ApiKeyCache({ ttlMs: this.#ttlMs, now: () => this.#now() });
  }

  invalidate(): void {
    this.#akidMap = undefined;
    this.#akidMapLoading = undefined;
    this.#duchies.clear();
    this.#apiKeys.clear();
    this.#verdicts.clear();
  }

  async resolve(peer: PeerIdentity): Promise<Principal | undefined> {
    return (await this.authenticate(peer)).principal;
  }

  /** Who calls and how it proved it; UNAUTHENTICATED (thrown) only for an unknown API key. */
  async authenticate(peer: PeerIdentity): Promise<Authentication> {
    if (peer.apiKey !== undefined) {
      const identity = await this.#apiKeyIdentity(peer.apiKey);
      return { principal: identity.principal, authentication: { method: 'apiKey', apiKey: identity.apiKeyName } };
    }
    if (!peer.clientCertificate) return {};
    return this.#fromCertificate([peer.clientCertificate, ...(peer.clientChain ?? [])]);
  }

  async fromAkid(akid: Uint8Array): Promise<Principal | undefined> {
    return (await this.#candidate(akid))?.principal;
  }

  /** An API key is an API id; the Kingdom keeps the SHA-256 of its 8 bytes. */
  async fromApiKey(apiKey: string): Promise<Principal> {
    return (await this.#apiKeyIdentity(apiKey)).principal;
  }

  async #apiKeyIdentity(apiKey: string): Promise<ApiKeyIdentity> {
    // Anything but an API id is refused without a lookup and leaves nothing behind.
    const key = parseApiId(apiKey);
    if (key === undefined) throw unauthenticated('API key is unauthenticated');
    let identity = this.#apiKeys.get(key);
    if (identity === undefined) {
      const record = await this.#store.authenticateApiKey(key);
      if (record) {
        const parent = measurementConsumerKey(record.measurementConsumerId);
        identity = { principal: parent, apiKeyName: formatResourceName({ kind: 'apiKey', parent, apiKeyId: record.externalApiKeyId }) };
      } else identity = null;
      this.#apiKeys.set(key, identity ?? undefined);
    }
    if (!identity) throw unauthenticated('API key is unauthenticated');
    return identity;
  }

  async #candidate(akid: Uint8Array): Promise<Candidate | undefined> {
    const hex = Buffer.from(akid).toString('hex');
    const name = (await this.#akidMapNow()).get(hex);
    if (name !== undefined) {
      const principal = parsePrincipalName(name);
      return principal ? { principal, mapped: true } : undefined;
    }
    const cached = this.#fresh(this.#duchies.get(hex));
    let principal = cached?.value;
    if (!cached) {
      const party = await this.#store.findDuchyByRootSkid(akid);
      principal = party?.key.kind === 'DUCHY' ? { kind: 'duchy', duchyId: party.key.id } : undefined;
      this.#duchies.set(hex, { value: principal, expires: this.#now() + this.#ttlMs });
    }
    return principal ? { principal, mapped: false } : undefined;
  }

  /**
   * The AKID finds the candidate; the chain must then verify up to the
   * candidate's own anchors. Any other trusted root (another participant's,
   * an unmapped operator root) authenticates nobody.
   */
  async #fromCertificate(ders: readonly Uint8Array[]): Promise<Authentication> {
    const digest = chainDigest(ders);
    const chain = this.#chainOf(digest, ders);
    if (!chain) return { problem: 'client certificate does not parse as an X.509 certificate' };
    const akid = chain.leaf.authorityKeyIdentifier;
    const candidate = akid ? await this.#candidate(akid) : undefined;
    if (!akid || !candidate) return {};
    const verdictKey = `${digest}|${principalName(candidate.principal)}|${candidate.mapped}`;
    const cached = this.#fresh(this.#verdicts.get(verdictKey));
    let problem = cached?.value;
    if (!cached) {
      const anchors = await this.#anchorsOf(candidate, akid);
      const found = anchors ? await clientChainProblem(chain, anchors, this.#clock.now()) : undefined;
      problem = !anchors || found?.code === 'CHAIN_UNTRUSTED' ? NOT_ANCHORED : found?.message;
      if (this.#verdicts.size >= MAX_CHAINS) this.#verdicts.clear();
      this.#verdicts.set(verdictKey, { value: problem, expires: this.#now() + this.#ttlMs });
    }
    if (problem !== undefined) return { problem };
    return { principal: candidate.principal, authentication: certificateAuthentication(chain.leaf) };
  }

  #chainOf(digest: string, ders: readonly Uint8Array[]): ClientChain | undefined {
    if (this.#chains.has(digest)) return this.#chains.get(digest);
    const chain = parseClientChain(ders);
    if (this.#chains.size >= MAX_CHAINS) this.#chains.clear();
    this.#chains.set(digest, chain);
    return chain;
  }

  /** The candidate's registered root, plus the operator roots with this SKID when the operator mapped the AKID; undefined if it has no party. */
  async #anchorsOf(candidate: Candidate, akid: Uint8Array): Promise<TrustStore | undefined> {
    const key = `${principalName(candidate.principal)}|${Buffer.from(akid).toString('hex')}|${candidate.mapped}`;
    const known = this.#anchors.get(key);
    if (known) return known;
    let root: Certificate;
    try {
      root = parseCertificate((await this.#store.getParty(toPartyKey(candidate.principal))).rootCertificateDer);
    } catch (err) {
      if (err instanceof StoreError && err.code === 'NOT_FOUND') return undefined;
      throw err;
    }
    const operator = candidate.mapped
      ? this.#operatorRoots.filter((r) => r.subjectKeyIdentifier !== undefined && Buffer.from(r.subjectKeyIdentifier).equals(akid))
      : [];
    const anchors = new TrustStore([root, ...operator]);
    if (this.#anchors.size >= MAX_CHAINS) this.#anchors.clear();
    this.#anchors.set(key, anchors);
    return anchors;
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

function chainDigest(ders: readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const der of ders) hash.update(createHash('sha256').update(der).digest());
  return hash.digest('hex');
}

/** Resolves the caller's principal (and how it authenticated) into the call's context before the handler runs. */
export function authenticationInterceptor(resolver: PrincipalResolver): Interceptor {
  return (next) => async (req) => {
    const outcome = await resolver.authenticate(req.contextValues.get(peerKey));
    req.contextValues.set(principalKey, outcome.principal);
    req.contextValues.set(callerAuthenticationKey, outcome.authentication);
    if (outcome.problem !== undefined) req.contextValues.set(authenticationProblemKey, outcome.problem);
    return next(req);
  };
}
