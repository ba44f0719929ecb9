/**
 * The signature algorithms a `SignedMessage` may name, with upstream's enum
 * names and OIDs (common-jvm `SignatureAlgorithm`), plus Ed25519 and
 * RSASSA-PSS, which upstream does not support but CMMS participants' CAs may
 * use for their own certificates.
 */
import type { KeyObject } from 'node:crypto';
import {
  type AlgorithmIdentifier,
  readAlgorithmIdentifier,
  DerError,
  children,
  isContext,
  parse,
  readSmallInteger,
  sequence,
} from '../lib/index.js';
import { ecdsaFieldSize } from './ecdsa-signature.js';
import { CryptoError } from './errors.js';
import { hashLength, type HashName } from './hkdf.js';

/** The digests a signature may use: HKDF's hashes less SHA-1 and SHA-224. */
export type SignatureHashName = Extract<HashName, 'sha256' | 'sha384' | 'sha512'>;

export type SignatureAlgorithmName =
  | 'ECDSA_WITH_SHA256'
  | 'ECDSA_WITH_SHA384'
  | 'ECDSA_WITH_SHA512'
  | 'SHA_256_WITH_RSA_ENCRYPTION'
  | 'SHA_384_WITH_RSA_ENCRYPTION'
  | 'SHA_512_WITH_RSA_ENCRYPTION'
  | 'ED25519'
  | 'RSASSA_PSS';

/** The family decides which keys fit and how node:crypto is called. */
export type SignatureFamily = 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss' | 'ed25519';

export interface RsaPssParameters {
  readonly hash: SignatureHashName;
  /** node:crypto (OpenSSL's default) always uses MGF1 with the message hash, so this must equal `hash`. */
  readonly mgf1Hash: SignatureHashName;
  readonly saltLength: number;
}

export interface SignatureAlgorithm {
  readonly name: SignatureAlgorithmName;
  /** Dotted OID as written to `SignedMessage.signature_algorithm_oid`. */
  readonly oid: string;
  readonly family: SignatureFamily;
  /** The message digest; null for Ed25519, which hashes internally. */
  readonly hash: SignatureHashName | null;
  /** Set for RSASSA-PSS only. */
  readonly pss?: RsaPssParameters;
}

export const RSASSA_PSS_OID = '1.2.840.113549.1.1.10';
const MGF1_OID = '1.2.840.113549.1.1.8';

const HASH_OIDS: Record<string, SignatureHashName | 'sha1'> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const SIGNATURE_HASHES: ReadonlySet<string> = new Set<SignatureHashName>(['sha256', 'sha384', 'sha512']);

/** Used when signing with PSS and nothing else is asked for, and for a bare PSS OID. */
export const DEFAULT_RSA_PSS_PARAMETERS: RsaPssParameters = { hash: 'sha256', mgf1Hash: 'sha256', saltLength: 32 };

const fixed = (name: SignatureAlgorithmName, oid: string, family: SignatureFamily, hash: SignatureHashName | null): SignatureAlgorithm =>
  Object.freeze({ name, oid, family, hash });

export const SignatureAlgorithms = {
  ECDSA_WITH_SHA256: fixed('ECDSA_WITH_SHA256', '1.2.840.10045.4.3.2', 'ecdsa', 'sha256'),
  ECDSA_WITH_SHA384: fixed('ECDSA_WITH_SHA384', '1.2.840.10045.4.3.3', 'ecdsa', 'sha384'),
  ECDSA_WITH_SHA512: fixed('ECDSA_WITH_SHA512', '1.2.840.10045.4.3.4', 'ecdsa', 'sha512'),
  SHA_256_WITH_RSA_ENCRYPTION: fixed('SHA_256_WITH_RSA_ENCRYPTION', '1.2.840.113549.1.1.11', 'rsa-pkcs1', 'sha256'),
  SHA_384_WITH_RSA_ENCRYPTION: fixed('SHA_384_WITH_RSA_ENCRYPTION', '1.2.840.113549.1.1.12', 'rsa-pkcs1', 'sha384'),
  SHA_512_WITH_RSA_ENCRYPTION: fixed('SHA_512_WITH_RSA_ENCRYPTION', '1.2.840.113549.1.1.13', 'rsa-pkcs1', 'sha512'),
  ED25519: fixed('ED25519', '1.3.101.112', 'ed25519', null),
  RSASSA_PSS: rsaPss(DEFAULT_RSA_PSS_PARAMETERS),
} as const satisfies Record<SignatureAlgorithmName, SignatureAlgorithm>;

export const SIGNATURE_ALGORITHM_NAMES = Object.keys(SignatureAlgorithms) as SignatureAlgorithmName[];

const BY_OID = new Map<string, SignatureAlgorithm>(Object.values(SignatureAlgorithms).map((a) => [a.oid, a]));

function unsupported(message: string): CryptoError {
  return new CryptoError('UNSUPPORTED_SIGNATURE_ALGORITHM', message);
}

/** RSASSA-PSS with the given parameters (checked: node:crypto must be able to honour them). */
export function rsaPss(parameters: RsaPssParameters): SignatureAlgorithm {
  const { hash, mgf1Hash, saltLength } = parameters;
  if (!SIGNATURE_HASHES.has(hash)) throw unsupported(`RSASSA-PSS hash ${hash} is not supported`);
  if (mgf1Hash !== hash) throw unsupported(`RSASSA-PSS with MGF1-${mgf1Hash} and ${hash} is not supported (MGF1 must use the message hash)`);
  if (!Number.isSafeInteger(saltLength) || saltLength < 0 || saltLength > 1024) {
    throw unsupported(`RSASSA-PSS salt length ${saltLength} is not supported`);
  }
  return Object.freeze({ name: 'RSASSA_PSS', oid: RSASSA_PSS_OID, family: 'rsa-pss', hash, pss: Object.freeze({ hash, mgf1Hash, saltLength }) });
}

/** Lookup by upstream enum name, e.g. `ECDSA_WITH_SHA256`. Throws `UNSUPPORTED_SIGNATURE_ALGORITHM`. */
export function signatureAlgorithmByName(name: string): SignatureAlgorithm {
  if (Object.hasOwn(SignatureAlgorithms, name)) return SignatureAlgorithms[name as SignatureAlgorithmName];
  throw unsupported(`unsupported signature algorithm ${JSON.stringify(name)} (supported: ${SIGNATURE_ALGORITHM_NAMES.join(', ')})`);
}

/**
 * Lookup by dotted OID. A bare RSASSA-PSS OID (a SignedMessage has no room
 * for parameters) means SHA-256, MGF1-SHA-256, salt 32; `parameters` (DER
 * RSASSA-PSS-params from an AlgorithmIdentifier) override that.
 */
export function signatureAlgorithmByOid(oid: string, parameters?: Uint8Array): SignatureAlgorithm {
  if (oid === RSASSA_PSS_OID && parameters) return rsaPss(parseRsaPssParameters(parameters));
  const found = BY_OID.get(oid);
  if (!found) throw unsupported(`unsupported signature algorithm OID ${JSON.stringify(oid)}`);
  return found;
}

/** The algorithm an X.509 AlgorithmIdentifier names (e.g. a certificate's own signatureAlgorithm). */
export function signatureAlgorithmFromIdentifier(identifier: AlgorithmIdentifier): SignatureAlgorithm {
  if (identifier.oid === RSASSA_PSS_OID) return rsaPss(parseRsaPssParameters(identifier.parameters));
  return signatureAlgorithmByOid(identifier.oid);
}

function hashFromIdentifier(node: Parameters<typeof readAlgorithmIdentifier>[0], what: string): SignatureHashName {
  const { oid } = readAlgorithmIdentifier(node, what, { dropNull: true });
  const hash = HASH_OIDS[oid];
  if (!hash) throw unsupported(`${what} ${oid} is not a supported hash`);
  if (hash === 'sha1') throw unsupported(`${what} SHA-1 is not supported`);
  return hash;
}

/**
 * RFC 4055 RSASSA-PSS-params. Absent fields take the RFC defaults (SHA-1,
 * MGF1-SHA-1, salt 20), which we then refuse: SHA-1 is not supported.
 */
export function parseRsaPssParameters(der: Uint8Array | undefined): RsaPssParameters {
  if (!der) throw unsupported('RSASSA-PSS without parameters means SHA-1, which is not supported');
  try {
    let hash: SignatureHashName | 'sha1' = 'sha1';
    let mgf1Hash: SignatureHashName | 'sha1' = 'sha1';
    let saltLength = 20;
    let lastTag = -1;
    for (const field of sequence(parse(der), 'RSASSA-PSS-params')) {
      const tag = [0, 1, 2, 3].find((t) => isContext(field, t));
      if (tag === undefined || tag <= lastTag) throw new DerError('RSASSA-PSS-params has an unexpected field');
      lastTag = tag;
      const [inner, extra] = children(field);
      if (extra) throw new DerError('RSASSA-PSS-params field has extra elements');
      if (tag === 0) hash = hashFromIdentifier(inner, 'RSASSA-PSS hash');
      if (tag === 1) {
        const mgf = readAlgorithmIdentifier(inner, 'RSASSA-PSS maskGenAlgorithm', { dropNull: true });
        if (mgf.oid !== MGF1_OID) throw unsupported(`RSASSA-PSS mask generation ${mgf.oid} is not supported`);
        mgf1Hash = hashFromIdentifier(mgf.parameters && parse(mgf.parameters), 'RSASSA-PSS MGF1 hash');
      }
      if (tag === 2) saltLength = readSmallInteger(inner, 'RSASSA-PSS saltLength');
      if (tag === 3 && readSmallInteger(inner, 'RSASSA-PSS trailerField') !== 1) {
        throw unsupported('RSASSA-PSS trailerField other than 1 is not supported');
      }
    }
    if (hash === 'sha1' || mgf1Hash === 'sha1') throw unsupported('RSASSA-PSS with SHA-1 is not supported');
    return { hash, mgf1Hash, saltLength };
  } catch (err) {
    if (err instanceof DerError) throw unsupported(`RSASSA-PSS parameters do not parse: ${err.message}`);
    throw err;
  }
}

/** The signature family a key can make, or undefined for keys we do not sign with. */
function keyFamilies(key: KeyObject): readonly SignatureFamily[] {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return ecdsaFieldSize(key.asymmetricKeyDetails?.namedCurve) ? ['ecdsa'] : [];
    case 'rsa':
      return ['rsa-pkcs1', 'rsa-pss'];
    case 'rsa-pss':
      return ['rsa-pss'];
    case 'ed25519':
      return ['ed25519'];
    default:
      return [];
  }
}

/** A short name of the key for messages ("ec P-256", "rsa 2048"); never key material. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails;
  if (key.asymmetricKeyType === 'ec') return `ec ${d?.namedCurve ?? 'unknown curve'}`;
  if (d?.modulusLength) return `${key.asymmetricKeyType} ${d.modulusLength}`;
  return key.asymmetricKeyType ?? key.type;
}

export function algorithmFitsKey(algorithm: SignatureAlgorithm, key: KeyObject): boolean {
  return keyFamilies(key).includes(algorithm.family);
}

/**
 * Upstream's default: the key type with SHA-256 (`SigningKeyHandle`), never
 * the certificate's own algorithm. EC → ECDSA_WITH_SHA256, RSA →
 * SHA_256_WITH_RSA_ENCRYPTION, Ed25519 → ED25519, an RSASSA-PSS-only key →
 * PSS with its own restrictions or the SHA-256 defaults.
 */
export function defaultSignatureAlgorithm(key: KeyObject): SignatureAlgorithm {
  const family = keyFamilies(key)[0];
  switch (family) {
    case 'ecdsa':
      return SignatureAlgorithms.ECDSA_WITH_SHA256;
    case 'rsa-pkcs1':
      return SignatureAlgorithms.SHA_256_WITH_RSA_ENCRYPTION;
    case 'ed25519':
      return SignatureAlgorithms.ED25519;
    case 'rsa-pss': {
      // A key restricted to PSS (id-RSASSA-PSS SPKI) may fix its hash and a minimum salt.
      const d = key.asymmetricKeyDetails;
      const hash = (d?.hashAlgorithm ?? 'sha256') as SignatureHashName;
      const minSalt = SIGNATURE_HASHES.has(hash) ? hashLength(hash) : 32;
      return rsaPss({ hash, mgf1Hash: (d?.mgf1HashAlgorithm ?? hash) as SignatureHashName, saltLength: Math.max(d?.saltLength ?? 0, minSalt) });
    }
    default:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', `no signature algorithm for a ${describeKey(key)} key`);
  }
}

/** "ECDSA_WITH_SHA256 (1.2.840.10045.4.3.2)", with PSS parameters when they matter. */
export function describeSignatureAlgorithm(algorithm: SignatureAlgorithm): string {
  const base = `${algorithm.name} (${algorithm.oid})`;
  if (!algorithm.pss) return base;
  const { hash, mgf1Hash, saltLength } = algorithm.pss;
  return `${base} ${hash.toUpperCase()}, MGF1-${mgf1Hash.toUpperCase()}, salt ${saltLength}`;
}
