/**
 * Wycheproof ECDSA P-256/SHA-256, DER and IEEE P1363, run through the
 * SignedMessage verification path (the signed bytes packed in an Any).
 * Neither file has `acceptable` cases; the check below would list any.
 */
import assert from 'node:assert/strict';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { CryptoError } from '../../src/crypto/errors.js';
import { p1363ToDer } from '../../src/crypto/ecdsa-signature.js';
import { SignatureAlgorithms } from '../../src/crypto/signature-algorithm.js';
import { verifySignedMessage } from '../../src/crypto/signed-message.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';

const vectors = new URL('../../../shared/testdata/wycheproof/testvectors_v1/', import.meta.url);

interface Test {
  tcId: number;
  comment: string;
  flags: string[];
  msg: string;
  sig: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface Group {
  publicKeyDer: string;
  sha: string;
  tests: Test[];
}

const hex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));

/** True when our verifier accepts; any CryptoError is a rejection, anything else a bug. */
function accepts(msg: Uint8Array, der: Uint8Array, key: KeyObject): boolean {
  const signed = create(SignedMessageSchema, {
    message: create(AnySchema, { typeUrl: 'type.googleapis.com/wycheproof.Message', value: msg }),
    signature: der,
    signatureAlgorithmOid: SignatureAlgorithms.ECDSA_WITH_SHA256.oid,
  });
  try {
    verifySignedMessage(signed, key);
    return true;
  } catch (err) {
    if (err instanceof CryptoError) return false;
    throw err;
  }
}

function run(file: string, toDer: (sig: Uint8Array) => Uint8Array) {
  const suite = JSON.parse(readFileSync(new URL(file, vectors), 'utf8')) as { numberOfTests: number; testGroups: Group[] };
  const tally = { valid: 0, validAccepted: 0, invalid: 0, invalidRejected: 0, acceptable: [] as string[] };
  const failures: string[] = [];
  for (const group of suite.testGroups) {
    assert.equal(group.sha, 'SHA-256');
    const key = createPublicKey({ key: Buffer.from(group.publicKeyDer, 'hex'), format: 'der', type: 'spki' });
    for (const t of group.tests) {
      let ok: boolean;
      try {
        ok = accepts(hex(t.msg), toDer(hex(t.sig)), key);
      } catch (err) {
        if (!(err instanceof CryptoError)) throw err;
        ok = false; // the encoding conversion itself rejected it
      }
      if (t.result === 'valid') {
        tally.valid++;
        if (ok) tally.validAccepted++;
        else failures.push(`tc ${t.tcId} valid but rejected: ${t.comment}`);
      } else if (t.result === 'invalid') {
        tally.invalid++;
        if (!ok) tally.invalidRejected++;
        else failures.push(`tc ${t.tcId} invalid but accepted: ${t.comment}`);
      } else {
        tally.acceptable.push(`tc ${t.tcId} [${t.flags.join(',')}] ${ok ? 'accepted' : 'rejected'}`);
      }
    }
  }
  const total = tally.valid + tally.invalid + tally.acceptable.length;
  console.log(
    `${file}: ${total}/${suite.numberOfTests} tests; valid accepted ${tally.validAccepted}/${tally.valid}; ` +
      `invalid rejected ${tally.invalidRejected}/${tally.invalid}; acceptable ${tally.acceptable.length}` +
      (tally.acceptable.length ? `: ${tally.acceptable.join('; ')}` : ''),
  );
  assert.equal(total, suite.numberOfTests);
  assert.deepEqual(failures, []);
  assert.ok(tally.valid > 100 && tally.invalid > 50);
}

describe('Wycheproof ECDSA P-256/SHA-256', () => {
  it('DER signatures: every valid accepted, every invalid rejected', () => {
    run('ecdsa_secp256r1_sha256_test.json', (sig) => sig);
  });

  it('P1363 signatures, converted to DER by p1363ToDer: every valid accepted, every invalid rejected', () => {
    run('ecdsa_secp256r1_sha256_p1363_test.json', (sig) => p1363ToDer(sig, 32));
  });
});
