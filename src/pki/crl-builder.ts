/**
 * Signed X.509 v2 CRLs (RFC 5280 §5): the issuing CA's revoked serials with
 * their reasons, a monotonically increasing CRL number and the CA's key id,
 * so relying parties (and `openssl verify -crl_check`) can pick the CRL for
 * the right issuer.
 */
import type { SigningKey } from './signer.js';
import { encode, minimalUnsigned } from '../lib/index.js';
import { truncateToSeconds } from './certificate-builder.js';
import type { Certificate } from './certificate.js';
import { PkiError } from './errors.js';
import type { CrlReason } from './crl.js';
import { authorityKeyIdentifier, crlNumber, crlReason } from './extensions-builder.js';
import { issuerKeyIdentifier, signatureSchemeFor, spkiOf } from './key-types.js';

export interface RevokedCertificateEntry {
  /** The serial as hex of its (positive) magnitude. */
  serialHex: string;
  revocationDate: Date;
  /** Omitted from the CRL entry when `unspecified`, as §5.3.1 recommends. */
  reason?: CrlReason;
}

export interface CrlOptions {
  issuer: Certificate;
  issuerKey: SigningKey;
  entries: readonly RevokedCertificateEntry[];
  crlNumber: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
}

export function serialBytes(serialHex: string): Uint8Array {
  const hex = serialHex.toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]+$/.test(hex) || hex.length > 42) throw new PkiError('INVALID_REQUEST', `"${serialHex}" is not a hex serial number`);
  return minimalUnsigned(new Uint8Array(Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex')));
}

export function buildCrl(options: CrlOptions): Uint8Array {
  const { issuer } = options;
  if (issuer.keyUsage && !issuer.keyUsage.has('cRLSign')) {
    throw new PkiError('POLICY_VIOLATION', `${issuer.subject.text} may not sign CRLs (keyUsage lacks cRLSign)`);
  }
  if (Buffer.compare(spkiOf(options.issuerKey), issuer.spki) !== 0) {
    throw new PkiError('INVALID_REQUEST', `the key does not belong to ${issuer.subject.text}`);
  }
  if (!(options.thisUpdate < options.nextUpdate)) throw new PkiError('INVALID_REQUEST', 'nextUpdate must be after thisUpdate');
  if (options.crlNumber < 0n || options.crlNumber >= 1n << 159n) throw new PkiError('INVALID_REQUEST', 'CRL number out of range');
  const scheme = signatureSchemeFor(options.issuerKey);
  const revoked = options.entries.map((entry) => {
    const fields = [encode.integer(serialBytes(entry.serialHex)), encode.time(truncateToSeconds(entry.revocationDate))];
    if (entry.reason && entry.reason !== 'unspecified') fields.push(encode.sequence(crlReason(entry.reason)));
    return encode.sequence(...fields);
  });
  const tbs = encode.sequence(
    encode.integer(1), // v2
    scheme.algorithmIdentifier,
    issuer.subject.der,
    encode.time(truncateToSeconds(options.thisUpdate)),
    encode.time(truncateToSeconds(options.nextUpdate)),
    // An empty revokedCertificates must be absent, not an empty SEQUENCE.
    ...(revoked.length ? [encode.sequence(...revoked)] : []),
    encode.explicit(0, encode.sequence(authorityKeyIdentifier(issuerKeyIdentifier(issuer)), crlNumber(options.crlNumber))),
  );
  return encode.sequence(tbs, scheme.algorithmIdentifier, encode.bitString(scheme.sign(tbs)));
}
