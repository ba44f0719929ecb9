/**
 * A self-issued OpenID provider for the Account suites: answers the
 * Kingdom's authentication request URI with an RS256 ID token the way
 * upstream's SelfIssuedIdTokens does (sub_jwk, sub = SHA-256 of its JSON,
 * aud = client_id, state and nonce echoed), with overrides for the attacks.
 */
import { createHash, generateKeyPairSync, sign, type JsonWebKey, type KeyObject } from 'node:crypto';

export interface SelfIssuedSigner {
  readonly privateKey: KeyObject;
  readonly jwk: JsonWebKey;
}

export function newSigner(modulusLength = 2048): SelfIssuedSigner {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  const { kty, n, e } = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty, n, e } };
}

export interface IdTokenOptions {
  /** Claims to replace or add (undefined removes one). */
  readonly claims?: Record<string, unknown>;
  readonly header?: Record<string, unknown>;
  /** Sign with this key instead of the one in sub_jwk. */
  readonly signWith?: KeyObject;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

export function idTokenFor(requestUri: string, signer: SelfIssuedSigner, now: Date, options: IdTokenOptions = {}): string {
  const query = new URLSearchParams(requestUri.slice(requestUri.indexOf('?') + 1));
  const claims: Record<string, unknown> = {
    iss: 'https://self-issued.me',
    sub: createHash('sha256').update(JSON.stringify(signer.jwk)).digest('base64url'),
    aud: query.get('client_id'),
    exp: Math.floor(now.getTime() / 1000) + 5000,
    iat: Math.floor(now.getTime() / 1000),
    sub_jwk: signer.jwk,
    state: query.get('state'),
    nonce: query.get('nonce'),
    ...options.claims,
  };
  // Upstream's generator puts this JSON text in `typ`.
  const header = { typ: '{"typ":"JWT","alg":"RS256"}', alg: 'RS256', ...options.header };
  const signingInput = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(signingInput), options.signWith ?? signer.privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}
