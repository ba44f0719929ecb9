/** The in-memory cache of certificates that GetCertificate reads, and how it stays fresh. */
import type { CertificateRecord } from './records.js';

/**
 * Certificates by resource name, for GetCertificate: every participant
 * fetches the same few certificates over and over to verify signatures, and
 * a certificate changes only when it is revoked or its hold released.
 *
 * Staleness is bounded three ways:
 * - this process's own writes drop the entries they change after their
 *   commit and before they are acknowledged (the store does this from the
 *   audit events, which name every certificate a write changes);
 * - other replicas' writes arrive as PostgreSQL notifications a moment after
 *   their commit; while the notification channel is down nothing is cached;
 * - an entry lives at most `ttlMs` either way.
 *
 * A read that misses fills the cache only if no change was seen while it
 * ran, so a reader that raced a writer cannot put back the old state.
 * Decisions that depend on a certificate's state (CreateMeasurement,
 * UpdatePublicKey, fulfilment) read it in their own transaction, not here.
 */
export class CertificateCache {
  readonly #entries = new Map<string, { record: CertificateRecord; expires: number }>();
  readonly #capacity: number;
  readonly #ttlMs: number;
  readonly #now: () => number;
  #generation = 0;
  #enabled: boolean;
  hits = 0;
  misses = 0;

  constructor(options: { capacity?: number; ttlMs?: number; now?: () => number; enabled?: boolean } = {}) {
    this.#capacity = options.capacity ?? 10_000;
    this.#ttlMs = options.ttlMs ?? 30_000;
    this.#now = options.now ?? Date.now;
    this.#enabled = options.enabled ?? true;
  }

  get(name: string): CertificateRecord | undefined {
    const entry = this.#enabled ? this.#entries.get(name) : undefined;
    if (entry && entry.expires > this.#now()) {
      this.hits++;
      return entry.record;
    }
    if (entry) this.#entries.delete(name);
    this.misses++;
    return undefined;
  }

  /** False while changes could go unheard (the notification channel is down). */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** A token to pass to `fill` for a read that starts now. */
  get generation(): number {
    return this.#generation;
  }

  /** Caches what a read that began at `generation` found, unless something changed since. */
  fill(name: string, generation: number, record: CertificateRecord): void {
    if (!this.#enabled || generation !== this.#generation) return;
    if (this.#entries.size >= this.#capacity) {
      // Map order is insertion order: drop the oldest entry.
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(name, { record, expires: this.#now() + this.#ttlMs });
  }

  /** These certificates changed. */
  invalidate(names: Iterable<string>): void {
    this.#generation++;
    for (const name of names) this.#entries.delete(name);
  }

  /** Changes may have been missed (the notification channel dropped): forget everything and stop or resume caching. */
  reset(enabled: boolean): void {
    this.#generation++;
    this.#entries.clear();
    this.#enabled = enabled;
  }
}

/** Certificate resource names end in `/certificates/{id}`. */
const CERTIFICATE_NAME = /\/certificates\/[A-Za-z0-9_-]+$/;

export function isCertificateName(resource: string): boolean {
  return CERTIFICATE_NAME.test(resource);
}
