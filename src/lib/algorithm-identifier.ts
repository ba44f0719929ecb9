/**
 * X.509 AlgorithmIdentifier (RFC 5280 §4.1.1.2), read the same way by the
 * PKI parser and by crypto's minimal certificate reader.
 */
import { type DerNode, DerError, Tag, isUniversal, readOid, sequence } from './der.js';

export interface AlgorithmIdentifier {
  readonly oid: string;
  /** The parameters element (whole TLV), when present. */
  readonly parameters?: Uint8Array;
}

export interface ReadAlgorithmOptions {
  /**
   * Leave out an explicit NULL (RSA PKCS#1 writes one): it carries no
   * information, so a caller that only wants real parameters (RSASSA-PSS)
   * sets this. Certificate parsing keeps it, to compare the two copies of
   * the signature algorithm byte for byte.
   */
  readonly dropNull?: boolean;
}

/** Reads `SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL }`; throws `DerError`. */
export function readAlgorithmIdentifier(node: DerNode | undefined, what: string, options: ReadAlgorithmOptions = {}): AlgorithmIdentifier {
  const [oidNode, params, extra] = sequence(node, what);
  if (extra) throw new DerError(`${what} has too many fields`);
  const oid = readOid(oidNode, `${what} algorithm`);
  if (!params || (options.dropNull && isUniversal(params, Tag.NULL) && params.value.length === 0)) return { oid };
  return { oid, parameters: params.bytes };
}
