/**
 * Self-issued OpenID Connect ID tokens, as upstream's Accounts flow uses
 * them: `Authenticate` hands out a request URI with a state and nonce the
 * Kingdom remembers; the client answers with an RS256 JWT whose key is in
 * the token itself (`sub_jwk`), whose subject is the SHA-256 of that key's
 * JSON, whose audience is the Kingdom's redirect URI, and which carries the
 * state and nonce back. The identity is (issuer, subject): whoever holds the
 * private key of `sub_jwk`.
 */
import { createHash, createPublicKey, verify, type JsonWebKey } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { rpcError } from './errors.js';

export const SELF_ISSUED_ISSUER = 'https://self-issued.me';

/** Upstream's generator sets the JWT `typ` header to this JSON text; plain `JWT` is accepted too. */
const UPSTREAM_TYP = '{"typ":"JWT","alg":"RS256"}';
/** The metadata key upstream sends the ID token in. */
export const ID_TOKEN_HEADER = 'id_token';
/** Longest ID token read: a 4096-bit key's JWK and signature fit in far less. */
const MAX_ID_TOKEN_CHARS = 8192;
const MIN_RSA_BITS = 2048;

export interface OpenIdIdentity {
  readonly issuer: string;
  readonly subject: string;
}

/** state and nonce travel as the base64url of their 8 big-endian bytes. */
export function encodeRequestParam(v: bigint): string {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b.toString('base64url');
}

function decodeRequestParam(s: unknown): bigint | undefined {
  if (typeof s !== 'string' || !/^[A-Za-z0-9_-]{11}$/.test(s)) return undefined;
  return Buffer.from(s, 'base64url').readBigUInt64BE(0);
}

/** The URI a self-issued OpenID provider answers (scope, response type, state, nonce, client id). */
export function selfIssuedRequestUri(state: bigint, nonce: bigint, redirectUri: string): string {
  return `openid://?response_type=id_token&scope=openid&state=${encodeRequestParam(state)}&nonce=${encodeRequestParam(nonce)}&client_id=${redirectUri}`;
}

/** Why a token was refused; the message never repeats the token. */
export function invalidIdToken(why: string): Error {
  return rpcError(Code.Unauthenticated, 'ID_TOKEN_INVALID', `ID token is invalid: ${why}`);
}

function jsonPart(part: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw invalidIdToken(`${what} is not a JSON object`);
}

/**
 * Checks the token's form, signature and claims against `redirectUri` and
 * `now`, and returns its identity with the state and nonce it carries (the
 * caller checks those against the ones it issued).
 */
export function verifySelfIssuedIdToken(
  token: string,
  redirectUri: string,
  now: Date,
): { identity: OpenIdIdentity; state: bigint; nonce: bigint } {
  if (token.length > MAX_ID_TOKEN_CHARS) throw invalidIdToken('too long');
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]*$/.test(p))) throw invalidIdToken('not a compact JWS of three base64url parts');
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
  const header = jsonPart(headerPart, 'header');
  if (header.alg !== 'RS256') throw invalidIdToken('alg must be RS256');
  if (header.typ !== undefined && header.typ !== 'JWT' && header.typ !== UPSTREAM_TYP) throw invalidIdToken('typ is not JWT');
  const claims = jsonPart(payloadPart, 'payload');
  const jwk = claims.sub_jwk;
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk) || (jwk as JsonWebKey).kty !== 'RSA') {
    throw invalidIdToken('sub_jwk is not an RSA JSON Web Key');
  }
  let key;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    throw invalidIdToken('sub_jwk is not an RSA public key');
  }
  if (key.asymmetricKeyType !== 'rsa' || (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw invalidIdToken(`sub_jwk must be an RSA key of at least ${MIN_RSA_BITS} bits`);
  }
  const signed = Buffer.from(`${headerPart}.${payloadPart}`, 'ascii');
  if (!verify('sha256', signed, key, Buffer.from(signaturePart, 'base64url'))) throw invalidIdToken('signature does not verify');

  if (claims.iss !== SELF_ISSUED_ISSUER) throw invalidIdToken(`iss must be ${SELF_ISSUED_ISSUER}`);
  const aud = claims.aud;
  if (!(aud === redirectUri || (Array.isArray(aud) && aud.includes(redirectUri)))) throw invalidIdToken('aud is not this Kingdom');
  if (typeof claims.exp !== 'number' || claims.exp * 1000 <= now.getTime()) throw invalidIdToken('expired or without exp');
  // Upstream's subject: SHA-256 of the key's JSON text, base64url.
  const thumbprint = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url');
  if (claims.sub !== thumbprint) throw invalidIdToken('sub is not the thumbprint of sub_jwk');
  const state = decodeRequestParam(claims.state);
  const nonce = decodeRequestParam(claims.nonce);
  if (state === undefined || nonce === undefined) throw invalidIdToken('state or nonce missing');
  return { identity: { issuer: SELF_ISSUED_ISSUER, subject: thumbprint }, state, nonce };
}
