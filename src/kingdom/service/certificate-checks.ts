/**
 * What the Kingdom checks in a certificate someone registers.
 *
 * Always (upstream, §2.2): the DER parses and carries a subject key
 * identifier, whose raw octets become the certificate's SKID.
 *
 * Strict mode adds the checks upstream lacks. All three refusals are
 * INVALID_ARGUMENT, not FAILED_PRECONDITION: the certificate in the request
 * is what is wrong, and the same request cannot succeed by changing any
 * server state (a not-yet-valid certificate has to be re-sent later anyway):
 * - `CERTIFICATE_IS_CA`: a CA certificate (basicConstraints CA) is refused;
 *   certificates served by the API are leaves, roots travel out of band.
 * - `CERTIFICATE_NOT_VALID_NOW`: outside its validity window at `clock.now()`.
 * - `CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT`: no valid RFC 5280 path to the
 *   root the parent registered (PartyRecord.rootCertificateDer).
 * - `CERTIFICATE_INVALID`: on that path, but breaking another RFC 5280 rule
 *   (e.g. a leaf asserting keyCertSign, like CMMS's edp1_result_cs_cert).
 */
import { X509Certificate } from 'node:crypto';
import {
  parseCertificate,
  type Certificate,
  PkiError,
  type PkiErrorCode,
  TrustStore,
  validatePath,
} from '../../pki/index.js';
import type { CertificateInput, KingdomStore, PartyKey } from '../store/index.js';
import { invalidArgument } from './errors.js';

export interface ParsedCertificate {
  readonly certificate: Certificate;
  /** What the store keeps: the DER exactly as received, SKID and validity. */
  readonly input: CertificateInput;
}

/** Parses a DER certificate and requires an SKID, with upstream's messages. */
export function parseRegisteredCertificate(der: Uint8Array, field = 'certificate_der'): ParsedCertificate {
  if (der.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field} is not specified`);
  let certificate: Certificate;
  try {
    certificate = parseCertificate(der);
  } catch (err) {
    if (!(err instanceof PkiError)) throw err;
    throw invalidArgument('CERTIFICATE_MALFORMED', `Cannot parse ${field}`);
  }
  const skid = certificate.subjectKeyIdentifier;
  if (skid === undefined || skid.length === 0) {
    throw invalidArgument('CERTIFICATE_SUBJECT_KEY_ID_MISSING', `Cannot find Subject Key Identifier of ${field}`);
  }
  return {
    certificate,
    input: { x509Der: der, subjectKeyIdentifier: skid, notValidBefore: certificate.notBefore, notValidAfter: certificate.notAfter },
  };
}

/** Parsed roots by DER: a party's root is read on every strict CreateCertificate. */
const rootStores = new Map<string, TrustStore>();
const MAX_CACHED_ROOTS = 512;

function trustStoreOf(rootDer: Uint8Array): TrustStore {
  const key = Buffer.from(rootDer).toString('base64');
  let store = rootStores.get(key);
  if (store === undefined) {
    store = new TrustStore([parseCertificate(rootDer)]);
    if (rootStores.size >= MAX_CACHED_ROOTS) rootStores.delete(rootStores.keys().next().value!);
    rootStores.set(key, store);
  }
  return store;
}

/**
 * The trust store of each parent's registered root, by party, so a strict
 * CreateCertificate neither reads the party nor parses its root again. Safe
 * without expiry: a party's root is written once, when the party is created,
 * and no store operation rewrites it (nor deletes a party).
 */
export class ParentRoots {
  readonly #stores = new Map<string, TrustStore>();

  constructor(
    private readonly store: KingdomStore,
    private readonly capacity = 4096,
  ) {}

  /** The parent's root as a trust store; the store's NOT_FOUND for a missing parent. */
  async trustStoreOf(owner: PartyKey): Promise<TrustStore> {
    const key = `${owner.kind}/${owner.id}`;
    const cached = this.#stores.get(key);
    if (cached !== undefined) return cached;
    const party = await this.store.getParty(owner);
    const trustStore = trustStoreOf(party.rootCertificateDer);
    if (this.#stores.size >= this.capacity) this.#stores.delete(this.#stores.keys().next().value!);
    this.#stores.set(key, trustStore);
    return trustStore;
  }
}

/**
 * Why a path to the parent's root failed, as an ErrorInfo reason. Other
 * failures (a leaf asserting keyCertSign, an unknown critical extension, ...)
 * are `CERTIFICATE_INVALID`, with the PKI code in the metadata.
 */
const PATH_FAILURE_REASON: Partial<Record<PkiErrorCode, string>> = {
  CERT_EXPIRED: 'CERTIFICATE_NOT_VALID_NOW',
  CERT_NOT_YET_VALID: 'CERTIFICATE_NOT_VALID_NOW',
  CHAIN_UNTRUSTED: 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT',
  SIGNATURE_INVALID: 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT',
  PATH_TOO_DEEP: 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT',
  UNSUPPORTED_ALGORITHM: 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT',
};

/** Strict mode: a leaf, valid at `now`, on a valid path to `root` (DER, or a trust store of it). */
export async function requireIssuedByRoot(
  certificate: Certificate,
  root: Uint8Array | TrustStore,
  now: Date,
  field = 'certificate_der',
): Promise<void> {
  if (certificate.basicConstraints?.ca === true) {
    throw invalidArgument('CERTIFICATE_IS_CA', `${field} is a CA certificate; register a leaf certificate`);
  }
  const t = now.getTime();
  if (t < certificate.notBefore.getTime() || t > certificate.notAfter.getTime()) {
    throw invalidArgument(
      'CERTIFICATE_NOT_VALID_NOW',
      `${field} is valid from ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}, not now`,
    );
  }
  try {
    const trustStore = root instanceof TrustStore ? root : trustStoreOf(root);
    await validatePath(certificate, { trustStore, at: now, profile: 'cmms' });
  } catch (err) {
    if (!(err instanceof PkiError)) throw err;
    throw invalidArgument(PATH_FAILURE_REASON[err.code] ?? 'CERTIFICATE_INVALID', `${field} is not a valid leaf under the parent's registered root: ${err.message}`, {
      pkiError: err.code,
    });
  }
}

/**
 * A participant root for the admin service: parsable, with an SKID (it is the
 * AKID of every certificate the party presents); in strict mode also a
 * self-signed CA.
 */
export function parseParticipantRoot(der: Uint8Array, strict: boolean): ParsedCertificate {
  const parsed = parseRegisteredCertificate(der, 'root_certificate_der');
  if (!strict) return parsed;
  const root = parsed.certificate;
  if (root.basicConstraints?.ca !== true) {
    throw invalidArgument('ROOT_CERTIFICATE_NOT_CA', 'root_certificate_der is not a CA certificate (basicConstraints CA is not set)');
  }
  if (!root.isSelfIssued || !selfSignatureVerifies(root.der)) {
    throw invalidArgument('ROOT_CERTIFICATE_NOT_SELF_SIGNED', 'root_certificate_der is not a self-signed root');
  }
  return parsed;
}

function selfSignatureVerifies(der: Uint8Array): boolean {
  try {
    const x = new X509Certificate(Buffer.from(der));
    return x.verify(x.publicKey);
  } catch {
    return false;
  }
}
