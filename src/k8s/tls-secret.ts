/**
 * Builds the `kubernetes.io/tls` Secret content for a rotation: `tls.crt`
 * (leaf first, then any intermediates, PEM), `tls.key` (PKCS#8 PEM, as
 * upstream's `*_tls.key`), and optionally the trusted-roots bundle. The
 * certificate and key are checked to belong together before anything is
 * written, since a mismatched pair takes the endpoint down.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { loadPrivateKey } from '../crypto/index.js';
import { encodePem } from '../lib/index.js';
import { parseCertificates, spkiOf } from '../pki/index.js';
import { K8sError } from './errors.js';
import { type GeneratorId, type SecretUpdate, TLS_SECRET_TYPE } from './kustomization.js';

/** Certificates as PEM text or bytes (any number of blocks), one DER certificate, or a list of DER certificates. */
export type CertificatesInput = string | Uint8Array | readonly Uint8Array[];

export interface TlsSecretInput extends GeneratorId {
  /** Leaf first. */
  readonly certificateChain: CertificatesInput;
  readonly privateKey: KeyObject | Uint8Array | string;
  /** Written under `trustedRootsKey` in the same Secret when given. */
  readonly trustedRoots?: CertificatesInput;
  /** Default `ca.crt`, the key cert-manager and most TLS consumers read. */
  readonly trustedRootsKey?: string;
}

/** The PEM bundle of `certs`, checked to parse. */
export function certificateBundle(certs: CertificatesInput, what: string): string {
  const ders = derList(certs, what);
  return ders.map((der) => encodePem('CERTIFICATE', der)).join('');
}

export function tlsSecretUpdate(input: TlsSecretInput): SecretUpdate {
  const chain = certificateBundle(input.certificateChain, 'tls.crt');
  const key = privateKeyOf(input.privateKey);
  assertTlsPair(Buffer.from(chain), key, input.name);
  const keyPem = key.export({ format: 'pem', type: 'pkcs8' }) as string;
  const files = [
    { key: 'tls.crt', data: chain },
    { key: 'tls.key', data: keyPem },
  ];
  if (input.trustedRoots !== undefined) files.push({ key: input.trustedRootsKey ?? 'ca.crt', data: certificateBundle(input.trustedRoots, 'trusted roots') });
  return { name: input.name, ...(input.namespace !== undefined ? { namespace: input.namespace } : {}), type: TLS_SECRET_TYPE, files };
}

/**
 * Throws `TLS_KEY_MISMATCH` unless the key belongs to the first certificate
 * of `crt`; `INVALID_SECRET` when either does not parse.
 */
export function assertTlsPair(crt: Uint8Array, key: Uint8Array | KeyObject, secret: string): void {
  let leafSpki: Uint8Array;
  try {
    const first = parseCertificates(crt)[0];
    if (!first) throw new Error('empty');
    leafSpki = first.spki;
  } catch (err) {
    throw new K8sError('INVALID_SECRET', `tls.crt of Secret ${secret} is not a certificate`, { cause: err });
  }
  const privateKey = privateKeyOf(key, secret);
  if (Buffer.compare(spkiOf(createPublicKey(privateKey)), leafSpki) !== 0) {
    throw new K8sError('TLS_KEY_MISMATCH', `tls.key of Secret ${secret} is not the key of the certificate in tls.crt`);
  }
}

function privateKeyOf(key: KeyObject | Uint8Array | string, secret?: string): KeyObject {
  const where = secret ? `tls.key of Secret ${secret}` : 'the TLS private key';
  if (typeof key === 'object' && 'type' in key && !(key instanceof Uint8Array)) {
    if (key.type !== 'private') throw new K8sError('INVALID_SECRET', `${where} must be a private key`);
    return key;
  }
  try {
    return loadPrivateKey(typeof key === 'string' ? Buffer.from(key) : key);
  } catch (err) {
    // An encrypted key lands here too: Kubernetes TLS consumers cannot use one.
    throw new K8sError('INVALID_SECRET', `${where} is not an unencrypted private key`, { cause: err });
  }
}

function derList(certs: CertificatesInput, what: string): Uint8Array[] {
  try {
    if (typeof certs === 'string') return parseCertificates(Buffer.from(certs)).map((c) => c.der);
    if (certs instanceof Uint8Array) return parseCertificates(certs).map((c) => c.der);
    if (certs.length === 0) throw new Error('empty');
    return certs.flatMap((der) => parseCertificates(der).map((c) => c.der));
  } catch (err) {
    throw new K8sError('INVALID_SECRET', `${what} does not hold certificates`, { cause: err });
  }
}
