/**
 * The API keys authentication has looked up, bounded in size and age so
 * that no stream of `x-api-key` values can grow memory: entries are keyed
 * by the key's 8-byte external id, never by the header text; a header that
 * is not an API id is refused without a lookup and never cached; keys that
 * exist and well-formed keys that do not live in two separate structures,
 * so a flood of unknown ids cannot push out the registered ones. Each holds
 * at most its capacity and evicts the oldest entry first.
 */
import type { Principal } from './principal.js';

/** Who a registered API key authenticates, and the key's resource name for the audit log. */
export interface ApiKeyIdentity {
  readonly principal: Principal;
  readonly apiKeyName: string;
}

export const API_KEY_CACHE_LIMITS = {
  /** Registered keys remembered: far above the API keys a Kingdom issues. */
  known: 10_000,
  /** Well-formed ids found to match no key, kept so repeating one costs no query. */
  unknown: 1_000,
} as const;

/** Insertion-ordered map that drops its oldest entry when full and ignores expired ones. */
class AgedMap<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number }>();

  constructor(
    readonly capacity: number,
    readonly ttlMs: number,
    readonly now: () => number,
  ) {}

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expires > this.now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    if (this.#entries.size >= this.capacity) {
      const oldest = this.#entries.keys().next().value as K;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, expires: this.now() + this.ttlMs });
  }

  clear(): void {
    this.#entries.clear();
  }

  get size(): number {
    return this.#entries.size;
  }
}

export class ApiKeyCache {
  readonly #known: AgedMap<bigint, ApiKeyIdentity>;
  readonly #unknown: AgedMap<bigint, true>;

  constructor(options: { ttlMs: number; now: () => number; known?: number; unknown?: number }) {
    this.#known = new AgedMap(options.known ?? API_KEY_CACHE_LIMITS.known, options.ttlMs, options.now);
    this.#unknown = new AgedMap(options.unknown ?? API_KEY_CACHE_LIMITS.unknown, options.ttlMs, options.now);
  }

  /** The identity of a known key, null for a key recently found missing, undefined when not cached. */
  get(externalId: bigint): ApiKeyIdentity | null | undefined {
    const identity = this.#known.get(externalId);
    if (identity !== undefined) return identity;
    return this.#unknown.get(externalId) ? null : undefined;
  }

  set(externalId: bigint, identity: ApiKeyIdentity | undefined): void {
    if (identity === undefined) this.#unknown.set(externalId, true);
    else this.#known.set(externalId, identity);
  }

  clear(): void {
    this.#known.clear();
    this.#unknown.clear();
  }

  get size(): { known: number; unknown: number } {
    return { known: this.#known.size, unknown: this.#unknown.size };
  }
}
