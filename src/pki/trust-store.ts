/**
 * A set of trust anchors, indexed the two ways a path builder looks for an
 * issuer: by subject key identifier (a child's AKID) and by subject name (a
 * child's issuer). CMMS selects the anchor by AKID (cmms-reference §4.3);
 * name lookup covers anchors and children without key identifiers.
 */
import { type Certificate, parseCertificates } from './certificate.js';
import { hex } from '../lib/bytes.js';

export class TrustStore {
  readonly #byFingerprint = new Map<string, Certificate>();
  readonly #bySkid = new Map<string, Certificate[]>();
  readonly #bySubject = new Map<string, Certificate[]>();

  constructor(anchors: Iterable<Certificate> = []) {
    for (const a of anchors) this.add(a);
  }

  /** Parses a PEM bundle (or one DER certificate) into a store. */
  static fromBytes(bytes: Uint8Array): TrustStore {
    return new TrustStore(parseCertificates(bytes));
  }

  /** Adds an anchor; adding the same certificate twice is a no-op. */
  add(anchor: Certificate): void {
    if (this.#byFingerprint.has(anchor.fingerprintSha256)) return;
    this.#byFingerprint.set(anchor.fingerprintSha256, anchor);
    if (anchor.subjectKeyIdentifier) push(this.#bySkid, hex(anchor.subjectKeyIdentifier), anchor);
    push(this.#bySubject, anchor.subject.key, anchor);
  }

  get size(): number {
    return this.#byFingerprint.size;
  }

  get certificates(): Certificate[] {
    return [...this.#byFingerprint.values()];
  }

  /** True when this exact certificate is an anchor. */
  has(cert: Certificate): boolean {
    return this.#byFingerprint.has(cert.fingerprintSha256);
  }

  bySkid(skid: Uint8Array | string): readonly Certificate[] {
    return this.#bySkid.get(typeof skid === 'string' ? skid.toLowerCase() : hex(skid)) ?? [];
  }

  /** Anchors whose subject matches `nameKey` (a `Name.key`). */
  bySubject(nameKey: string): readonly Certificate[] {
    return this.#bySubject.get(nameKey) ?? [];
  }

  /** Anchors that could have issued `child`: by name, AKID-matching ones first. */
  issuersOf(child: Certificate): Certificate[] {
    return orderByAkid(child, this.bySubject(child.issuer.key));
  }
}

function push(map: Map<string, Certificate[]>, key: string, cert: Certificate): void {
  const list = map.get(key);
  if (list) list.push(cert);
  else map.set(key, [cert]);
}

/**
 * Drops candidates whose SKID contradicts the child's AKID and puts exact
 * AKID matches first (RFC 5280 §4.2.1.1: the AKID exists to pick the key).
 */
export function orderByAkid(child: Certificate, candidates: readonly Certificate[]): Certificate[] {
  const akid = child.authorityKeyIdentifier;
  if (!akid) return [...candidates];
  const exact: Certificate[] = [];
  const unknown: Certificate[] = [];
  for (const c of candidates) {
    if (!c.subjectKeyIdentifier) unknown.push(c);
    else if (Buffer.from(c.subjectKeyIdentifier).equals(akid)) exact.push(c);
  }
  return exact.concat(unknown);
}
