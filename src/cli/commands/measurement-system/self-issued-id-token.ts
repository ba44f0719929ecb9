/**
 * A self-issued OpenID provider, as upstream's `accounts authenticate`: the
 * Kingdom's authentication request URI is answered with an RS256 ID token
 * signed by the RSA key of a Tink keyset (JwtRsaSsaPkcs1PrivateKey), whose
 * public half travels in the token (`sub_jwk`, in the member order Tink's
 * JwkSetConverter writes) and whose subject is the SHA-256 of that JWK's
 * JSON, so the same key proves the same identity with either tool.
 */
import { createHash, createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { fromBinary } from '@bufbuild/protobuf';
import { CryptoError, primaryKey, readKeyset } from '../../../crypto/index.js';
import { JwtRsaSsaPkcs1Algorithm, JwtRsaSsaPkcs1PrivateKeySchema } from '../../../gen/google/crypto/tink/jwt_rsa_ssa_pkcs1_pb.js';
import { OutputPrefixType } from '../../../gen/google/crypto/tink/tink_pb.js';
import { readFileBytes } from '../../../lib/files.js';
import { UsageError } from '../../run.js';

export const SELF_ISSUED_ISSUER = 'https://self-issued.me';
const PRIVATE_KEY_TYPE_URL = 'type.googleapis.com/google.crypto.tink.JwtRsaSsaPkcs1PrivateKey';
/** Upstream puts this JSON text in the JWT `typ` header. */
const TYPE_HEADER = '{"typ":"JWT","alg":"RS256"}';
const EXPIRATION_SECONDS = 5000;

export interface SelfIssuedKey {
  readonly privateKey: KeyObject;
  /** The public JWK, members in Tink's order. */
  readonly jwk: { kty: 'RSA'; n: string; e: string; use: 'sig'; alg: 'RS256'; key_ops: ['verify']; kid?: string };
}

/** A big-endian unsigned integer without leading zero bytes. */
function minimal(bytes: Uint8Array): Uint8Array {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  return bytes.subarray(i);
}

/** Base64url of the minimal form (RFC 7518 Base64urlUInt), what a private JWK takes. */
const uint = (bytes: Uint8Array) => Buffer.from(minimal(bytes)).toString('base64url');

/**
 * Base64url of Java's BigInteger.toByteArray, as Tink 1.12 writes the public
 * JWK: a leading zero byte when the top bit is set. The subject hashes this
 * text, so it must match byte for byte.
 */
function javaBigInteger(bytes: Uint8Array): string {
  const m = minimal(bytes);
  return Buffer.from(m[0]! >= 0x80 ? Uint8Array.of(0, ...m) : m).toString('base64url');
}

/** The RS256 key of a Tink keyset file (binary or JSON; encrypted with a passphrase). */
export function readSelfIssuedKey(path: string, passphrase?: string): SelfIssuedKey {
  const { keyset } = readKeyset(readFileBytes(path, 'self-issued OpenID provider key'), passphrase === undefined ? {} : { passphrase });
  const primary = primaryKey(keyset);
  const keyData = primary.keyData;
  if (keyData?.typeUrl !== PRIVATE_KEY_TYPE_URL) {
    throw new CryptoError('KEYSET_INVALID', `${path}: the primary key is ${keyData?.typeUrl ?? 'missing'}, not a JwtRsaSsaPkcs1PrivateKey`);
  }
  // Upstream's keys are RAW (JWT_RS256_2048_F4_RAW); a TINK prefix would add a kid this does not write.
  if (primary.outputPrefixType !== OutputPrefixType.RAW) throw new CryptoError('KEYSET_INVALID', `${path}: the key's output prefix is not RAW`);
  const key = fromBinary(JwtRsaSsaPkcs1PrivateKeySchema, keyData.value);
  const pub = key.publicKey;
  if (pub?.algorithm !== JwtRsaSsaPkcs1Algorithm.RS256) throw new CryptoError('KEYSET_INVALID', `${path}: the key is not an RS256 key`);
  const jwk: SelfIssuedKey['jwk'] = {
    kty: 'RSA',
    n: javaBigInteger(pub.n),
    e: javaBigInteger(pub.e),
    use: 'sig',
    alg: 'RS256',
    key_ops: ['verify'],
    ...(pub.customKid ? { kid: pub.customKid.value } : {}),
  };
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({
      key: { kty: 'RSA', n: uint(pub.n), e: uint(pub.e), d: uint(key.d), p: uint(key.p), q: uint(key.q), dp: uint(key.dp), dq: uint(key.dq), qi: uint(key.crt) },
      format: 'jwk',
    });
  } catch (err) {
    throw new CryptoError('KEYSET_INVALID', `${path}: not a usable RSA private key`, { cause: err });
  }
  return { privateKey, jwk };
}

/** Upstream's checks of the request URI: `openid://` with scope openid, response_type id_token, state and nonce. */
function requestParams(requestUri: string): Map<string, string> {
  const [scheme, query] = [requestUri.slice(0, requestUri.indexOf(':')), requestUri.slice(requestUri.indexOf('?') + 1)];
  if (scheme !== 'openid' || !requestUri.includes('?')) throw new UsageError(`the Kingdom's authentication request URI is not a self-issued OpenID request: ${requestUri}`);
  const params = new Map(query.split('&').map((p) => [p.slice(0, p.indexOf('=') < 0 ? p.length : p.indexOf('=')), p.slice(p.indexOf('=') + 1)] as [string, string]));
  if (!(params.get('scope') ?? '').includes('openid') || params.get('response_type') !== 'id_token' || !params.has('state') || !params.has('nonce')) {
    throw new UsageError(`the Kingdom's authentication request URI lacks scope, response_type, state or nonce: ${requestUri}`);
  }
  return params;
}

const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** The ID token answering `requestUri`, valid for 5000 s from `now`. */
export function selfIssuedIdToken(requestUri: string, key: SelfIssuedKey, now: Date): string {
  const params = requestParams(requestUri);
  const seconds = Math.floor(now.getTime() / 1000);
  const claims = {
    iss: SELF_ISSUED_ISSUER,
    sub: createHash('sha256').update(JSON.stringify(key.jwk)).digest('base64url'),
    aud: [params.get('client_id') ?? ''],
    exp: seconds + EXPIRATION_SECONDS,
    iat: seconds,
    sub_jwk: key.jwk,
    state: params.get('state'),
    nonce: params.get('nonce'),
  };
  const signingInput = `${part({ ...(key.jwk.kid !== undefined ? { kid: key.jwk.kid } : {}), alg: 'RS256', typ: TYPE_HEADER })}.${part(claims)}`;
  return `${signingInput}.${sign('sha256', Buffer.from(signingInput), key.privateKey).toString('base64url')}`;
}
