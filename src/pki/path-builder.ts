/**
 * Certification path building (RFC 4158 in brief): a depth-first search from
 * the leaf towards the trust anchors, through caller-supplied intermediates,
 * that yields every candidate path in preference order (anchors before
 * intermediates, AKID matches first) so the validator can backtrack past a
 * path that fails (an expired cross-sign, a revoked intermediate).
 *
 * Termination is guaranteed three ways: a certificate, or a (subject, key)
 * pair, appears at most once per path; the number of logical intermediates is
 * capped; and a work budget (candidates examined, signatures checked) ends
 * the search with `PATH_TOO_DEEP`.
 */
import { sha256Hex } from '../lib/index.js';
import { verifyCertificateSignature } from './algorithms.js';
import { type Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import { type TrustStore, orderByAkid } from './trust-store.js';

const spkiHashes = new WeakMap<Certificate, string>();

/** SHA-256 of the certificate's SubjectPublicKeyInfo, hex (memoized per certificate). */
export function spkiHash(cert: Certificate): string {
  let h = spkiHashes.get(cert);
  if (h === undefined) {
    h = sha256Hex(cert.spki);
    spkiHashes.set(cert, h);
  }
  return h;
}

/**
 * Outcomes of signature checks on links (child certificate, issuer key), so
 * that validating a known chain again costs no public-key operation. Bounded:
 * the oldest entries go first.
 */
export class LinkCache {
  readonly #entries = new Map<string, true | PkiError>();

  constructor(readonly capacity = 10_000) {}

  get size(): number {
    return this.#entries.size;
  }

  get(child: Certificate, issuer: Certificate): true | PkiError | undefined {
    return this.#entries.get(child.fingerprintSha256 + spkiHash(issuer));
  }

  set(child: Certificate, issuer: Certificate, outcome: true | PkiError): void {
    const key = child.fingerprintSha256 + spkiHash(issuer);
    if (this.#entries.size >= this.capacity && !this.#entries.has(key)) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, outcome);
  }

  clear(): void {
    this.#entries.clear();
  }
}

/** The cache shared by validations that do not bring their own. */
export const defaultLinkCache = new LinkCache();

export interface BuildLimits {
  /** Most logical (not self-issued) intermediates in a path. */
  readonly maxDepth: number;
  /** Most certificates in a path, self-issued ones included. */
  readonly maxLength: number;
  /** Candidate issuers examined before giving up. */
  readonly maxSteps: number;
  /** Signature verifications (cache misses) before giving up. */
  readonly maxSignatures: number;
}

export class PathBuilder {
  /** Link failures met while searching, for the error report. */
  readonly linkErrors: PkiError[] = [];
  /** Whether a candidate was passed over for the depth limit. */
  depthExceeded = false;
  #steps = 0;
  #signatures = 0;
  readonly #bySubject = new Map<string, Certificate[]>();

  constructor(
    readonly trustStore: TrustStore,
    intermediates: readonly Certificate[],
    readonly limits: BuildLimits,
    readonly cache: LinkCache,
  ) {
    const seen = new Set<string>();
    for (const c of intermediates) {
      if (seen.has(c.fingerprintSha256) || trustStore.has(c)) continue;
      seen.add(c.fingerprintSha256);
      const list = this.#bySubject.get(c.subject.key);
      if (list) list.push(c);
      else this.#bySubject.set(c.subject.key, [c]);
    }
  }

  /** Every candidate path from `leaf` to an anchor, leaf first, anchor last. */
  *paths(leaf: Certificate): Generator<Certificate[]> {
    yield* this.#extend([leaf], new Set([leaf.fingerprintSha256]), new Set([logicalKey(leaf)]), 0);
  }

  *#extend(path: Certificate[], certs: Set<string>, logical: Set<string>, depth: number): Generator<Certificate[]> {
    const top = path[path.length - 1]!;
    const anchors = this.trustStore.issuersOf(top);
    const intermediates = orderByAkid(top, this.#bySubject.get(top.issuer.key) ?? []);
    const candidates = anchors.length ? anchors.concat(intermediates) : intermediates;
    for (let k = 0; k < candidates.length; k++) {
      const cand = candidates[k]!;
      const isAnchor = k < anchors.length;
      if (++this.#steps > this.limits.maxSteps) throw tooMuchWork(leafOf(path), 'the path-building budget ran out');
      if (certs.has(cand.fingerprintSha256) || logical.has(logicalKey(cand))) continue;
      const nextDepth = isAnchor || cand.isSelfIssued ? depth : depth + 1;
      if (nextDepth > this.limits.maxDepth || path.length + 1 > this.limits.maxLength) {
        this.depthExceeded = true;
        continue;
      }
      if (!this.#linkOk(top, cand)) continue;
      path.push(cand);
      if (isAnchor) {
        yield path.slice();
      } else {
        certs.add(cand.fingerprintSha256);
        logical.add(logicalKey(cand));
        yield* this.#extend(path, certs, logical, nextDepth);
        certs.delete(cand.fingerprintSha256);
        logical.delete(logicalKey(cand));
      }
      path.pop();
    }
  }

  #linkOk(child: Certificate, issuer: Certificate): boolean {
    let outcome = this.cache.get(child, issuer);
    if (outcome === undefined) {
      if (++this.#signatures > this.limits.maxSignatures) throw tooMuchWork(child, 'the signature-check budget ran out');
      outcome = checkLink(child, issuer);
      this.cache.set(child, issuer, outcome);
    }
    if (outcome === true) return true;
    this.linkErrors.push(outcome);
    return false;
  }
}

function checkLink(child: Certificate, issuer: Certificate): true | PkiError {
  const certificate = { subject: child.subject.text };
  try {
    if (verifyCertificateSignature(child, issuer)) return true;
    return new PkiError('SIGNATURE_INVALID', `signature of ${child.subject.text} does not verify with the key of ${issuer.subject.text}`, { certificate });
  } catch (err) {
    if (err instanceof PkiError) {
      return new PkiError(err.code, `${err.message} (issuer ${issuer.subject.text} of ${child.subject.text})`, { cause: err, certificate: { subject: issuer.subject.text } });
    }
    throw err;
  }
}

/** A CA is the same "logical" CA when both its subject and its key are the same. */
function logicalKey(cert: Certificate): string {
  return cert.subject.key + '\u0001' + spkiHash(cert);
}

function leafOf(path: readonly Certificate[]): Certificate {
  return path[0]!;
}

function tooMuchWork(cert: Certificate, why: string): PkiError {
  return new PkiError('PATH_TOO_DEEP', `${why} while building a path for ${cert.subject.text}`, { certificate: { subject: cert.subject.text } });
}
