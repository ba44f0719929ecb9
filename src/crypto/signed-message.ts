/**
 * CMMS consent-signaling signatures: `SignedMessage` sign and verify.
 *
 * The signature always covers the bytes of `message.value` (the serialized
 * inner message), or the legacy `data` field when `message` is absent; never
 * the Any or the SignedMessage itself. ECDSA signatures are DER, as JCA writes
 * them. An empty `signature_algorithm_oid` means "the algorithm the
 * certificate itself was signed with" (the `public-keys update` tool never
 * sets the OID, so registered keys depend on this).
 */
import { X509Certificate, constants, sign, verify, type KeyObject } from 'node:crypto';
import { create, fromBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { SignedMessageSchema, type SignedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { packAny } from '../lib/index.js';
import { readCertificateInfo, type CertificateInfo } from './certificate-info.js';
import { ecdsaFieldSize, parseDerEcdsaSignature } from './ecdsa-signature.js';
import { CryptoError } from './errors.js';
import { publicKeyFromCertificate } from './keys.js';
import {
  algorithmFitsKey,
  defaultSignatureAlgorithm,
  describeKey,
  signatureAlgorithmByOid,
  signatureAlgorithmFromIdentifier,
  type SignatureAlgorithm,
} from './signature-algorithm.js';

/** Who signed: a certificate (DER/PEM bytes, parsed info, or node's X509Certificate) or a bare public key. */
export type Signer = Uint8Array | CertificateInfo | X509Certificate | KeyObject;

export interface VerifiedMessage {
  /** The bytes the signature covers (`message.value`, or legacy `data`). */
  readonly data: Uint8Array;
  /** The packed message, when the SignedMessage had one. */
  readonly message: Any | undefined;
  readonly algorithm: SignatureAlgorithm;
}

const asBuffer = (b: Uint8Array) => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** node:crypto's options for an algorithm; the bare key when the defaults (DER ECDSA, PKCS#1 v1.5) already fit. */
function keyInput(key: KeyObject, algorithm: SignatureAlgorithm) {
  if (!algorithm.pss) return key;
  return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: algorithm.pss.saltLength };
}

/** What verification asks of a key on every call; node's getters cross into C++, so ask once. */
interface KeyFacts {
  readonly fits: Set<SignatureAlgorithm['family']>;
  readonly ecdsaFieldSize: number | undefined;
}
const keyFacts = new WeakMap<KeyObject, KeyFacts>();

function factsOf(key: KeyObject): KeyFacts {
  let facts = keyFacts.get(key);
  if (!facts) {
    const families = (['ecdsa', 'rsa-pkcs1', 'rsa-pss', 'ed25519'] as const).filter((family) =>
      algorithmFitsKey({ family } as SignatureAlgorithm, key),
    );
    facts = { fits: new Set(families), ecdsaFieldSize: ecdsaFieldSize(key.asymmetricKeyDetails?.namedCurve) };
    keyFacts.set(key, facts);
  }
  return facts;
}

/** Signs `data`. ECDSA signatures are DER. */
export function signBytes(data: Uint8Array, privateKey: KeyObject, algorithm: SignatureAlgorithm = defaultSignatureAlgorithm(privateKey)): Uint8Array {
  if (privateKey.type !== 'private') throw new CryptoError('KEY_MALFORMED', 'signing needs a private key');
  if (!factsOf(privateKey).fits.has(algorithm.family)) {
    throw new CryptoError('UNSUPPORTED_SIGNATURE_ALGORITHM', `${algorithm.name} cannot sign with a ${describeKey(privateKey)} key`);
  }
  return new Uint8Array(sign(algorithm.hash, data, keyInput(privateKey, algorithm)));
}

/**
 * Verifies `signature` over `data`; throws `SIGNATURE_INVALID`. ECDSA
 * signatures must be canonical DER (checked here, not left to OpenSSL), so a
 * signature has exactly one accepted encoding.
 */
export function verifyBytes(data: Uint8Array, signature: Uint8Array, publicKey: KeyObject, algorithm: SignatureAlgorithm): void {
  const facts = factsOf(publicKey);
  if (!facts.fits.has(algorithm.family)) {
    throw new CryptoError('SIGNATURE_INVALID', `${algorithm.name} does not fit the signer's ${describeKey(publicKey)} key`);
  }
  if (algorithm.family === 'ecdsa') parseDerEcdsaSignature(signature, facts.ecdsaFieldSize!);
  let ok: boolean;
  try {
    ok = verify(algorithm.hash, data, keyInput(publicKey, algorithm), signature);
  } catch (err) {
    throw new CryptoError('SIGNATURE_INVALID', 'signature is invalid', { cause: err });
  }
  if (!ok) throw new CryptoError('SIGNATURE_INVALID', 'signature is invalid');
}

/**
 * Signs a message as upstream's `serializeAndSign` does: `message` = the
 * packed Any, `data` = the same value bytes (legacy, still set upstream),
 * `signature` over those bytes, `signature_algorithm_oid` = the algorithm.
 * The default algorithm is the key type with SHA-256, not the certificate's.
 */
export function signMessage(message: Any, privateKey: KeyObject, algorithm?: SignatureAlgorithm): SignedMessage;
export function signMessage<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  privateKey: KeyObject,
  algorithm?: SignatureAlgorithm,
): SignedMessage;
export function signMessage(...args: unknown[]): SignedMessage {
  let packed: Any;
  let rest: unknown[];
  if ((args[0] as DescMessage).kind === 'message') {
    packed = packAny(args[0] as DescMessage, args[1] as MessageShape<DescMessage>);
    rest = args.slice(2);
  } else {
    packed = args[0] as Any;
    rest = args.slice(1);
  }
  const privateKey = rest[0] as KeyObject;
  const algorithm = (rest[1] as SignatureAlgorithm | undefined) ?? defaultSignatureAlgorithm(privateKey);
  const signature = signBytes(packed.value, privateKey, algorithm);
  return create(SignedMessageSchema, { message: packed, data: packed.value, signature, signatureAlgorithmOid: algorithm.oid });
}

/** Parses a serialized SignedMessage; throws `MESSAGE_MALFORMED`. */
export function parseSignedMessage(bytes: Uint8Array): SignedMessage {
  try {
    return fromBinary(SignedMessageSchema, bytes);
  } catch (err) {
    throw new CryptoError('MESSAGE_MALFORMED', 'SignedMessage does not parse', { cause: err });
  }
}

// --- the signer's public key, cached: importing a key costs about as much as a verify ---

interface SignerEntry {
  readonly publicKey: KeyObject;
  readonly certificate: CertificateInfo | undefined;
  /** A private copy of the bytes the entry was made from, to detect a caller reusing its buffer. */
  readonly source?: Buffer;
  /** The empty-OID fallback, resolved on first use (or the error it raised). */
  fallback?: SignatureAlgorithm | CryptoError;
}

/** Keyed by immutable signer objects (KeyObject, X509Certificate, CertificateInfo) and by byte arrays (checked against `source`). */
const byObject = new WeakMap<object, SignerEntry>();
const MAX_CACHED_CERTIFICATES = 256;
/** Keyed by certificate bytes, for callers that re-read the same certificate into new arrays. */
const byCertificateBytes = new Map<string, SignerEntry>();

function certificateEntry(info: CertificateInfo, source?: Buffer): SignerEntry {
  return source ? { publicKey: publicKeyFromCertificate(info), certificate: info, source } : { publicKey: publicKeyFromCertificate(info), certificate: info };
}

function entryForBytes(bytes: Uint8Array): SignerEntry {
  // Same array as last time: a memcmp against our copy is much cheaper than hashing the bytes,
  // and it keeps a reused buffer from being served a stale key.
  const hit = byObject.get(bytes);
  const view = asBuffer(bytes);
  if (hit?.source && hit.source.equals(view)) return hit;
  const key = view.toString('latin1');
  let entry = byCertificateBytes.get(key);
  if (!entry) {
    const source = Buffer.from(view); // a copy: the entry must not change if the caller's buffer does
    entry = certificateEntry(readCertificateInfo(source), source);
    if (byCertificateBytes.size >= MAX_CACHED_CERTIFICATES) {
      // Evict the oldest insertion; a busy verifier sees a few certificates again and again.
      byCertificateBytes.delete(byCertificateBytes.keys().next().value!);
    }
    byCertificateBytes.set(key, entry);
  }
  byObject.set(bytes, entry);
  return entry;
}

function signerEntry(signer: Signer): SignerEntry {
  if (signer instanceof Uint8Array) return entryForBytes(signer);
  let entry = byObject.get(signer);
  if (entry) return entry;
  if (signer instanceof X509Certificate) entry = entryForBytes(signer.raw);
  else if ('subjectPublicKeyInfo' in signer) entry = certificateEntry(signer);
  else if (signer.type === 'public') entry = { publicKey: signer, certificate: undefined };
  else throw new CryptoError('KEY_MALFORMED', 'verification needs a public key or a certificate');
  byObject.set(signer, entry);
  return entry;
}

function fallbackAlgorithm(entry: SignerEntry): SignatureAlgorithm {
  if (entry.fallback === undefined) {
    if (!entry.certificate) {
      entry.fallback = new CryptoError(
        'UNSUPPORTED_SIGNATURE_ALGORITHM',
        'SignedMessage has no signature_algorithm_oid and no certificate was given to fall back on',
      );
    } else {
      try {
        entry.fallback = signatureAlgorithmFromIdentifier(entry.certificate.signatureAlgorithm);
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        entry.fallback = err;
      }
    }
  }
  if (entry.fallback instanceof CryptoError) throw entry.fallback;
  return entry.fallback;
}

/** The algorithm a SignedMessage names, or the signer certificate's own when the OID is empty. */
export function resolveSignatureAlgorithm(signatureAlgorithmOid: string, signer: Signer): SignatureAlgorithm {
  if (signatureAlgorithmOid !== '') return signatureAlgorithmByOid(signatureAlgorithmOid);
  return fallbackAlgorithm(signerEntry(signer));
}

/**
 * Verifies a SignedMessage (parsed, or its serialized bytes) against the
 * signer's certificate or public key and returns what the signature covers.
 * Throws `SIGNATURE_INVALID`, `UNSUPPORTED_SIGNATURE_ALGORITHM` (unknown or
 * unusable OID) or `MESSAGE_MALFORMED`. Certificate validation (chain,
 * validity) is the caller's separate step, as upstream.
 */
export function verifySignedMessage(signedMessage: SignedMessage | Uint8Array, signer: Signer): VerifiedMessage {
  const sm = signedMessage instanceof Uint8Array ? parseSignedMessage(signedMessage) : signedMessage;
  const entry = signerEntry(signer);
  const message = sm.message;
  const data = message ? message.value : sm.data;
  if (!message && data.length === 0) throw new CryptoError('MESSAGE_MALFORMED', 'SignedMessage has neither message nor data');
  if (sm.signature.length === 0) throw new CryptoError('MESSAGE_MALFORMED', 'SignedMessage has no signature');
  const algorithm = sm.signatureAlgorithmOid === '' ? fallbackAlgorithm(entry) : signatureAlgorithmByOid(sm.signatureAlgorithmOid);
  verifyBytes(data, sm.signature, entry.publicKey, algorithm);
  return { data, message, algorithm };
}

/**
 * Verifies, then decodes the signed message as `schema`. The packed type URL
 * must name `schema` (as in Java, only the text after the last '/' counts);
 * a legacy SignedMessage without `message` is decoded from `data`.
 */
export function verifyAndUnpack<Desc extends DescMessage>(
  schema: Desc,
  signedMessage: SignedMessage | Uint8Array,
  signer: Signer,
): MessageShape<Desc> {
  const verified = verifySignedMessage(signedMessage, signer);
  if (verified.message) {
    const url = verified.message.typeUrl;
    if (url.slice(url.lastIndexOf('/') + 1) !== schema.typeName) {
      throw new CryptoError('MESSAGE_MALFORMED', `signed message is ${url || 'untyped'}, expected ${schema.typeName}`);
    }
  }
  try {
    return fromBinary(schema, verified.data);
  } catch (err) {
    throw new CryptoError('MESSAGE_MALFORMED', `signed ${schema.typeName} does not parse`, { cause: err });
  }
}
