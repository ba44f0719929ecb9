/**
 * Private keys at rest: PKCS#8 `EncryptedPrivateKeyInfo` under PBES2 with
 * scrypt (RFC 8018 §6.2, RFC 7914 §7) and AES-256-CBC, the form
 * `openssl pkcs8 -topk8 -scrypt` writes and `openssl pkey` reads.
 *
 * Node's `KeyObject.export({ cipher })` can only write PBKDF2 at 2,048
 * iterations, which a GPU guesses through quickly; so we build the structure
 * here. scrypt's memory is capped at what OpenSSL accepts when reading
 * (32 MiB), so N = 2^14 with r = 8, and p = 5 brings the work to OWASP's
 * scrypt floor. Reading accepts anything OpenSSL does, so keys written before
 * (PBKDF2) still open; `needsKdfUpgrade` tells the writer to rewrite them.
 */
import { createCipheriv, createDecipheriv, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import { encode, parse, readInteger, readOctetString, sequence, readAlgorithmIdentifier } from '../lib/index.js';
import { CryptoError } from './errors.js';
import { deriveScryptKey, scryptMemory, type ScryptParams } from './scrypt.js';

const OID = {
  pbes2: '1.2.840.113549.1.5.13',
  scrypt: '1.3.6.1.4.1.11591.4.11',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
} as const;

/** N = 2^14, r = 8, p = 5: 16 MiB per run, five runs; about 0.2 s per key open. */
export const PRIVATE_KEY_SCRYPT: ScryptParams = { log2N: 14, r: 8, p: 5 };

/** OpenSSL refuses to derive beyond this when reading; we never write or read past it. */
const OPENSSL_SCRYPT_MAX_MEMORY = 32 * 1024 * 1024;
const MAX_P = 16;
const SALT_LENGTH = 16;

export interface Pkcs8EncryptionOptions {
  scrypt?: ScryptParams;
  /**
   * Use this salt (8-64 bytes) instead of a fresh one, so a process writing
   * several keys under one passphrase derives its key once. Each key still
   * gets its own random IV.
   */
  salt?: Uint8Array;
}

function malformed(message: string, cause?: unknown): CryptoError {
  return new CryptoError('KEY_MALFORMED', message, cause === undefined ? undefined : { cause });
}

function work(p: ScryptParams): number {
  return 2 ** p.log2N * p.r * p.p;
}

function checkParams(p: ScryptParams): void {
  if (!(p.log2N >= 1 && p.r >= 1 && p.p >= 1 && p.p <= MAX_P && scryptMemory(p) <= OPENSSL_SCRYPT_MAX_MEMORY)) {
    throw malformed('scrypt parameters outside what OpenSSL reads (memory at most 32 MiB)');
  }
}

function derBuffer(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** Encrypted PKCS#8 DER (PBES2, scrypt, AES-256-CBC). */
export function encryptPkcs8(key: KeyObject, passphrase: string | Uint8Array, options: Pkcs8EncryptionOptions = {}): Uint8Array {
  if (passphrase.length === 0) throw malformed('an empty passphrase does not protect a key');
  if (key.type !== 'private') throw malformed('only a private key can be exported encrypted');
  const params = options.scrypt ?? PRIVATE_KEY_SCRYPT;
  checkParams(params);
  const salt = options.salt ?? randomBytes(SALT_LENGTH);
  if (salt.length < 8 || salt.length > 64) throw malformed('a private key salt must be 8 to 64 bytes');
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', deriveScryptKey(passphrase, salt, params), iv);
  const sealed = Buffer.concat([cipher.update(key.export({ format: 'der', type: 'pkcs8' })), cipher.final()]);
  return encode.sequence(
    encode.sequence(
      encode.oid(OID.pbes2),
      encode.sequence(
        encode.sequence(
          encode.oid(OID.scrypt),
          encode.sequence(encode.octetString(salt), encode.integer(2 ** params.log2N), encode.integer(params.r), encode.integer(params.p)),
        ),
        encode.sequence(encode.oid(OID.aes256Cbc), encode.octetString(iv)),
      ),
    ),
    encode.octetString(sealed),
  );
}

interface ScryptPbes2 {
  salt: Uint8Array;
  params: ScryptParams;
  iv: Uint8Array;
  data: Uint8Array;
}

/** The PBES2-scrypt-AES-256-CBC fields of an EncryptedPrivateKeyInfo; undefined for any other scheme. */
function readScryptPbes2(der: Uint8Array): ScryptPbes2 | undefined {
  const [algorithm, data] = sequence(parse(der), 'EncryptedPrivateKeyInfo');
  const scheme = readAlgorithmIdentifier(algorithm, 'encryptionAlgorithm');
  if (scheme.oid !== OID.pbes2 || !scheme.parameters) return undefined;
  const [kdfNode, encNode] = sequence(parse(scheme.parameters), 'PBES2-params');
  const kdf = readAlgorithmIdentifier(kdfNode, 'keyDerivationFunc');
  const enc = readAlgorithmIdentifier(encNode, 'encryptionScheme');
  if (kdf.oid !== OID.scrypt || !kdf.parameters || enc.oid !== OID.aes256Cbc || !enc.parameters) return undefined;
  const [saltNode, nNode, rNode, pNode, lengthNode] = sequence(parse(kdf.parameters), 'scrypt-params');
  if (lengthNode && readInteger(lengthNode, 'keyLength') !== 32n) return undefined;
  const n = readInteger(nNode, 'costParameter');
  const r = readInteger(rNode, 'blockSize');
  const p = readInteger(pNode, 'parallelizationParameter');
  const log2N = n.toString(2).length - 1;
  if (n < 2n || n !== 1n << BigInt(log2N) || r < 1n || r > 1024n || p < 1n || p > BigInt(MAX_P)) throw malformed('scrypt parameters out of range');
  const iv = readOctetString(parse(enc.parameters), 'IV');
  if (iv.length !== 16) throw malformed('AES-256-CBC needs a 16-byte IV');
  return { salt: readOctetString(saltNode, 'salt'), params: { log2N, r: Number(r), p: Number(p) }, iv, data: readOctetString(data, 'encryptedData') };
}

function parsed(der: Uint8Array): ScryptPbes2 | undefined {
  try {
    return readScryptPbes2(der);
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw malformed('encrypted private key does not parse', err);
  }
}

/**
 * Decrypts an EncryptedPrivateKeyInfo. Ours (scrypt) derive through the
 * shared cache; any other scheme OpenSSL knows (PBKDF2 keys written before)
 * goes to OpenSSL. A wrong passphrase or damage is `KEY_MALFORMED`.
 */
export function decryptPkcs8(der: Uint8Array, passphrase: string | Uint8Array): KeyObject {
  const fields = parsed(der);
  if (!fields) {
    try {
      return createPrivateKey({ key: derBuffer(der), format: 'der', type: 'pkcs8', passphrase: Buffer.from(passphrase) });
    } catch (err) {
      throw malformed('cannot decrypt the private key: wrong passphrase or damaged key', err);
    }
  }
  checkParams(fields.params);
  try {
    const decipher = createDecipheriv('aes-256-cbc', deriveScryptKey(passphrase, fields.salt, fields.params), fields.iv);
    const plain = Buffer.concat([decipher.update(fields.data), decipher.final()]);
    return createPrivateKey({ key: plain, format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw malformed('cannot decrypt the private key: wrong passphrase or damaged key', err);
  }
}

/** True when an encrypted key is not scrypt at least as costly as we write, so it should be rewritten. */
export function needsKdfUpgrade(der: Uint8Array): boolean {
  try {
    const fields = readScryptPbes2(der);
    return !fields || work(fields.params) < work(PRIVATE_KEY_SCRYPT);
  } catch {
    return false; // not ours to judge: reading it reports the problem
  }
}

