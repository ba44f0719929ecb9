/** Wycheproof signature files run through the SignedMessage verification path. */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { CryptoError } from '../../src/crypto/errors.js';
import type { SignatureAlgorithm } from '../../src/crypto/signature-algorithm.js';
import { verifySignedMessage } from '../../src/crypto/signed-message.js';
import { SignedMessageSchema, type SignedMessage } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import type { WycheproofGroup } from './wycheproof.js';

const keys = new WeakMap<WycheproofGroup, KeyObject>();

/** The group's `publicKeyDer` (SPKI), imported once per group. */
export function groupPublicKey(group: WycheproofGroup): KeyObject {
  let key = keys.get(group);
  if (!key) {
    key = createPublicKey({ key: Buffer.from(group.publicKeyDer as string, 'hex'), format: 'der', type: 'spki' });
    keys.set(group, key);
  }
  return key;
}

/**
 * True when verification accepts `signature` over `msg` packed in an Any and
 * naming `algorithm`'s OID; any CryptoError is a rejection, anything else a
 * bug. `verify` replaces the SignedMessage check where a test needs the step
 * beneath it.
 */
export function signedMessageAccepts(
  msg: Uint8Array,
  signature: Uint8Array,
  key: KeyObject,
  algorithm: SignatureAlgorithm,
  verify: (signed: SignedMessage) => void = (signed) => verifySignedMessage(signed, key),
): boolean {
  const signed = create(SignedMessageSchema, {
    message: create(AnySchema, { typeUrl: 'type.googleapis.com/wycheproof.Message', value: msg }),
    signature,
    signatureAlgorithmOid: algorithm.oid,
  });
  try {
    verify(signed);
    return true;
  } catch (err) {
    if (err instanceof CryptoError) return false;
    throw err;
  }
}
