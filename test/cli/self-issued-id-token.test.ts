/**
 * `accounts authenticate`'s ID token from upstream's test key
 * (account1_siop_private.tink): the claims upstream's SelfIssuedIdTokens
 * writes, the JWK as Tink 1.12 writes it (so the subject is the one upstream
 * derives for the same key), and a signature that verifies with that JWK.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { readSelfIssuedKey, selfIssuedIdToken } from '../../src/cli/commands/measurement-system/self-issued-id-token.js';
import { UsageError } from '../../src/cli/run.js';
import { CryptoError } from '../../src/crypto/errors.js';
import { fixture } from './run-cli.js';

const REQUEST = 'openid://?response_type=id_token&scope=openid&state=AAAAAAAAAAE&nonce=AAAAAAAAAAI&client_id=https://kingdom.example/redirect';

test('the ID token of upstream\'s self-issued OpenID provider test key', () => {
  const key = readSelfIssuedKey(fixture('account1_siop_private.tink'));
  // A 2048-bit modulus has its top bit set: Java's BigInteger.toByteArray leads with a zero byte ("AI...").
  assert.equal(Buffer.from(key.jwk.n, 'base64url').length, 257);
  assert.match(key.jwk.n, /^AI/);
  assert.equal(key.jwk.e, 'AQAB');
  assert.equal(JSON.stringify(key.jwk), `{"kty":"RSA","n":"${key.jwk.n}","e":"AQAB","use":"sig","alg":"RS256","key_ops":["verify"]}`);

  const now = new Date('2026-01-01T00:00:00Z');
  const token = selfIssuedIdToken(REQUEST, key, now);
  const [header, payload, signature] = token.split('.') as [string, string, string];
  assert.deepEqual(JSON.parse(Buffer.from(header, 'base64url').toString()), { alg: 'RS256', typ: '{"typ":"JWT","alg":"RS256"}' });
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  assert.deepEqual(claims, {
    iss: 'https://self-issued.me',
    sub: createHash('sha256').update(JSON.stringify(claims.sub_jwk)).digest('base64url'),
    aud: ['https://kingdom.example/redirect'],
    exp: now.getTime() / 1000 + 5000,
    iat: now.getTime() / 1000,
    sub_jwk: key.jwk,
    state: 'AAAAAAAAAAE',
    nonce: 'AAAAAAAAAAI',
  });
  const publicKey = createPublicKey({ key: claims.sub_jwk as never, format: 'jwk' });
  assert.equal(publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  assert.ok(verify('sha256', Buffer.from(`${header}.${payload}`), publicKey, Buffer.from(signature, 'base64url')), 'RS256 signature verifies with sub_jwk');
  const tampered = Buffer.from(JSON.stringify({ ...claims, nonce: 'AAAAAAAAAAM' })).toString('base64url');
  assert.equal(verify('sha256', Buffer.from(`${header}.${tampered}`), publicKey, Buffer.from(signature, 'base64url')), false);
});

test('refuses a request URI that is not a self-issued OpenID request, and a key that is not RS256', () => {
  const key = readSelfIssuedKey(fixture('account1_siop_private.tink'));
  for (const uri of [REQUEST.replace('openid://', 'https://'), REQUEST.replace('&nonce=AAAAAAAAAAI', ''), REQUEST.replace('scope=openid', 'scope=email'), 'openid://']) {
    assert.throws(() => selfIssuedIdToken(uri, key, new Date()), UsageError, uri);
  }
  assert.throws(() => readSelfIssuedKey(fixture('edp1_enc_private.tink')), (e: unknown) => e instanceof CryptoError && /not a JwtRsaSsaPkcs1PrivateKey/.test(e.message));
  assert.throws(() => readSelfIssuedKey(fixture('edp1_cs_cert.der')), CryptoError);
});
