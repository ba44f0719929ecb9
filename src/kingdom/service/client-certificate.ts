/**
 * The certificate chain a caller presents over mTLS, and what makes it a
 * credential: an end-entity leaf that allows clientAuth, on a verified
 * RFC 5280 path to given trust anchors. The TLS layer (src/kingdom/server)
 * checks it against every trusted root; authentication (authentication.ts)
 * against the registered root of the one principal its AKID names, which is
 * what decides who the caller is.
 *
 * OpenSSL is never asked to verify client chains: a failed signature check
 * there leaves an error on OpenSSL's queue that later surfaces on the socket
 * as ERR_SSL_EVP_LIB and kills the HTTP/2 session (GOAWAY INTERNAL_ERROR),
 * racing the first request's answer. Verifying here is deterministic.
 */
import type { AuditAuthentication } from '../store/index.js';
import { parseCertificate, type Certificate, PkiError, type TrustStore, validatePath } from '../../pki/index.js';

export interface ClientChain {
  readonly leaf: Certificate;
  /** Whatever else the client sent, as untrusted path candidates. */
  readonly intermediates: readonly Certificate[];
}

/** Why a presented chain is not a credential: a stable code and a message naming what to fix. */
export interface ClientCertificateProblem {
  readonly code: string;
  readonly message: string;
}

/** The chain as sent (leaf first); undefined when the leaf does not parse. Unparsable extras are dropped. */
export function parseClientChain(ders: readonly Uint8Array[]): ClientChain | undefined {
  const [leafDer, ...rest] = ders;
  if (leafDer === undefined) return undefined;
  let leaf: Certificate;
  try {
    leaf = parseCertificate(leafDer);
  } catch {
    return undefined;
  }
  const intermediates: Certificate[] = [];
  for (const der of rest) {
    try {
      intermediates.push(parseCertificate(der));
    } catch {
      // an extra the path cannot use anyway
    }
  }
  return { leaf, intermediates };
}

const RENEW = 'the client certificate must be renewed';

/** The message an UNAUTHENTICATED caller gets for a PKI failure of its chain. */
function problemOf(err: PkiError): ClientCertificateProblem {
  switch (err.code) {
    case 'CERT_EXPIRED':
    case 'CERT_NOT_YET_VALID':
      return { code: err.code, message: `client certificate chain is outside its validity period (${err.code}: ${err.message}): ${RENEW}` };
    case 'CHAIN_UNTRUSTED':
    case 'PATH_TOO_DEEP':
      return {
        code: err.code,
        message: `client certificate not trusted by the Kingdom (${err.code}): its root must be registered with the Kingdom or listed in --trusted-roots`,
      };
    case 'SIGNATURE_INVALID':
      return { code: err.code, message: `client certificate chain does not verify (${err.code}: ${err.message})` };
    case 'EKU_MISMATCH':
      return { code: err.code, message: `client certificate does not allow client authentication (${err.code}: ${err.message})` };
    default:
      return { code: err.code, message: `client certificate refused (${err.code}: ${err.message})` };
  }
}

/** A client certificate is an end-entity certificate: no cA, no keyCertSign. */
function endEntityProblem(leaf: Certificate): ClientCertificateProblem | undefined {
  if (leaf.basicConstraints?.ca === true) {
    return { code: 'CLIENT_CERTIFICATE_IS_CA', message: 'client certificate must be an end-entity certificate: it is a CA (basicConstraints cA)' };
  }
  if (leaf.keyUsage?.has('keyCertSign')) {
    return { code: 'CLIENT_CERTIFICATE_IS_CA', message: 'client certificate must be an end-entity certificate: its key usage asserts keyCertSign' };
  }
  return undefined;
}

/**
 * Checks `chain` as a client credential under `anchors` at `at`: the leaf is
 * an end entity, its EKU (when present) lists clientAuth, and a path through
 * the sent intermediates verifies up to one of the anchors. Resolves to the
 * problem, or undefined when it holds.
 */
export async function clientChainProblem(chain: ClientChain, anchors: TrustStore, at: Date): Promise<ClientCertificateProblem | undefined> {
  const notLeaf = endEntityProblem(chain.leaf);
  if (notLeaf) return notLeaf;
  try {
    await validatePath(chain.leaf, { trustStore: anchors, intermediates: chain.intermediates, at, purpose: 'client' });
    return undefined;
  } catch (err) {
    if (err instanceof PkiError) return problemOf(err);
    throw err;
  }
}

/** How a certificate caller authenticated, for the audit log. */
export function certificateAuthentication(leaf: Certificate): AuditAuthentication {
  return {
    method: 'clientCertificate',
    clientCertificateSha256: leaf.fingerprintSha256,
    clientCertificateSkid: leaf.subjectKeyIdentifier ? Buffer.from(leaf.subjectKeyIdentifier).toString('hex') : '',
  };
}
