/**
 * SignedMessage sign and verify (ECDSA P-256 over a serialized
 * EncryptionPublicKey, with a real CMMS signing certificate) beside bare
 * `crypto.sign` / `crypto.verify` with a pre-imported KeyObject.
 */
import { X509Certificate, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { create, toBinary } from '@bufbuild/protobuf';
import { loadPrivateKey } from '../src/crypto/keys.js';
import { signMessage, verifySignedMessage } from '../src/crypto/signed-message.js';
import {
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  SignedMessageSchema,
} from '../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { opsPerSecondSync, printFigures, type Figure } from './harness.js';

const secretfiles = new URL('../../shared/testdata/cmms-secretfiles/', import.meta.url);
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(name, secretfiles)));

/**
 * Runs ours and the baseline in alternating small batches and sums the time
 * of each, so load from other processes on a busy machine hits both alike.
 */
function compare(ours: () => unknown, baseline: () => unknown, ms = 1500, batch = 32): { ours: number; baseline: number } {
  opsPerSecondSync(baseline, 100);
  opsPerSecondSync(ours, 100);
  const time = { ours: 0, baseline: 0 };
  let batches = 0;
  const timeBatch = (fn: () => unknown): number => {
    const start = performance.now();
    for (let i = 0; i < batch; i++) fn();
    return performance.now() - start;
  };
  const end = performance.now() + 2 * ms;
  while (performance.now() < end) {
    // Swap the order every round so neither side always follows the other's garbage.
    if (batches % 2 === 0) {
      time.baseline += timeBatch(baseline);
      time.ours += timeBatch(ours);
    } else {
      time.ours += timeBatch(ours);
      time.baseline += timeBatch(baseline);
    }
    batches++;
  }
  const ops = batches * batch * 1000;
  return { ours: ops / time.ours, baseline: ops / time.baseline };
}

export async function run(): Promise<void> {
  const certificate = fixture('mc_cs_cert.der');
  const privateKey = loadPrivateKey(fixture('mc_cs_private.der'));
  const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: fixture('mc_enc_public.tink') });
  const signed = signMessage(EncryptionPublicKeySchema, message, privateKey);
  const wire = toBinary(SignedMessageSchema, signed);
  const legacy = create(SignedMessageSchema, { ...signed, signatureAlgorithmOid: '' });

  // Baselines: the bytes and key ready, no protobuf, no certificate, no checks.
  const data = Buffer.from(signed.message!.value);
  const signature = Buffer.from(signed.signature);
  const certKey = new X509Certificate(certificate).publicKey;
  const bareVerify = () => {
    if (!verify('sha256', data, certKey, signature)) throw new Error('baseline failed');
  };
  const bareSign = () => sign('sha256', data, privateKey);

  const figures: Figure[] = [];
  const v = compare(() => verifySignedMessage(signed, certificate), bareVerify);
  figures.push({ name: 'SignedMessage verify (cert bytes)', ...v, unit: 'ops/s', baselineName: 'crypto.verify', target: '>= 0.9' });
  const f = compare(() => verifySignedMessage(legacy, certificate), bareVerify);
  figures.push({ name: 'verify, empty OID (cert fallback)', ...f, unit: 'ops/s', baselineName: 'crypto.verify', target: '>= 0.9' });
  const w = compare(() => verifySignedMessage(wire, certificate), bareVerify);
  figures.push({ name: 'verify from wire bytes (parse too)', ...w, unit: 'ops/s', baselineName: 'crypto.verify' });
  const any = signed.message!;
  const s = compare(() => signMessage(any, privateKey), bareSign);
  figures.push({ name: 'SignedMessage sign (packed Any)', ...s, unit: 'ops/s', baselineName: 'crypto.sign', target: '>= 0.9' });
  // Informational: packing includes protobuf serialization of the message, which the bare baseline skips.
  const p = compare(() => signMessage(EncryptionPublicKeySchema, message, privateKey), bareSign);
  figures.push({ name: 'sign incl. serializing the message', ...p, unit: 'ops/s', baselineName: 'crypto.sign' });
  printFigures('signatures: ECDSA P-256 SignedMessage over an EncryptionPublicKey', figures);
}
