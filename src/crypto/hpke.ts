/**
 * HPKE (RFC 9180) over node:crypto, and Tink's HPKE hybrid keys on top of it.
 *
 * The RFC part implements all four modes (base, PSK, auth, auth-PSK) so the
 * Appendix A vectors can be checked end to end; Tink uses base mode only:
 * output = enc ‖ Seal(key, nonce0, aad = "", plaintext) with info = context info.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { createECDH, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, ECDH, type KeyObject } from 'node:crypto';
import {
  HpkeAead,
  HpkeKdf,
  HpkeKem,
  HpkePrivateKeySchema,
  HpkePublicKeySchema,
  type HpkeParams,
} from '../gen/google/crypto/tink/hpke_pb.js';
import { bytesEqual, concatBytes } from '../lib/index.js';
import { aeadOpen, aeadSeal, type AeadCipher } from './aead.js';
import { CryptoError } from './errors.js';
import { hkdfExpand, hkdfExtract, hashLength, type HashName } from './hkdf.js';
import { decodeProto, toFixedLength } from './keyset-proto.js';

export const HPKE_MODE = { BASE: 0, PSK: 1, AUTH: 2, AUTH_PSK: 3 } as const;
export type HpkeMode = (typeof HPKE_MODE)[keyof typeof HPKE_MODE];

/** RFC 9180 algorithm identifiers. */
export interface HpkeSuite {
  kemId: number; // 0x10 P-256, 0x11 P-384, 0x12 P-521, 0x20 X25519
  kdfId: number; // 1 HKDF-SHA256, 2 HKDF-SHA384, 3 HKDF-SHA512
  aeadId: number; // 1 AES-128-GCM, 2 AES-256-GCM, 3 ChaCha20-Poly1305, 0xffff export-only
}

interface KemInfo {
  hash: HashName;
  nSecret: number;
  nPk: number;
  nSk: number;
  curve?: string; // OpenSSL curve name for the NIST KEMs
  bitmask: number;
  order?: bigint;
}

const KEMS: Record<number, KemInfo> = {
  0x10: { hash: 'sha256', nSecret: 32, nPk: 65, nSk: 32, curve: 'prime256v1', bitmask: 0xff, order: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n },
  0x11: { hash: 'sha384', nSecret: 48, nPk: 97, nSk: 48, curve: 'secp384r1', bitmask: 0xff, order: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n },
  0x12: { hash: 'sha512', nSecret: 64, nPk: 133, nSk: 66, curve: 'secp521r1', bitmask: 0x01, order: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n },
  0x20: { hash: 'sha256', nSecret: 32, nPk: 32, nSk: 32, bitmask: 0 },
};

const KDFS: Record<number, HashName> = { 1: 'sha256', 2: 'sha384', 3: 'sha512' };
const AEADS: Record<number, { cipher?: AeadCipher; nK: number; nN: number }> = {
  1: { cipher: 'aes-128-gcm', nK: 16, nN: 12 },
  2: { cipher: 'aes-256-gcm', nK: 32, nN: 12 },
  3: { cipher: 'chacha20-poly1305', nK: 32, nN: 12 },
  0xffff: { nK: 0, nN: 0 },
};

const ENC = new TextEncoder();
const HPKE_V1 = ENC.encode('HPKE-v1');

function i2osp(value: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  return out;
}

function kemInfo(kemId: number): KemInfo {
  const k = KEMS[kemId];
  if (!k) throw new CryptoError('UNSUPPORTED_KEY_TYPE', `HPKE KEM 0x${kemId.toString(16)} is not supported`);
  return k;
}

function suiteInfo(suite: HpkeSuite): { kem: KemInfo; kdf: HashName; aead: { cipher?: AeadCipher; nK: number; nN: number } } {
  const kdf = KDFS[suite.kdfId];
  const aead = AEADS[suite.aeadId];
  if (!kdf || !aead) throw new CryptoError('UNSUPPORTED_KEY_TYPE', `HPKE suite KDF ${suite.kdfId} / AEAD ${suite.aeadId} is not supported`);
  return { kem: kemInfo(suite.kemId), kdf, aead };
}

function labeledExtract(hash: HashName, suiteId: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return hkdfExtract(hash, salt, concatBytes(HPKE_V1, suiteId, ENC.encode(label), ikm));
}

function labeledExpand(hash: HashName, suiteId: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return hkdfExpand(hash, prk, concatBytes(i2osp(length, 2), HPKE_V1, suiteId, ENC.encode(label), info), length);
}

// ---- KEM: key pairs and Diffie-Hellman -------------------------------------------------------

const X25519_PKCS8 = Uint8Array.from(Buffer.from('302e020100300506032b656e04220420', 'hex'));
const X25519_SPKI = Uint8Array.from(Buffer.from('302a300506032b656e032100', 'hex'));

/** A recipient or sender private key loaded for DH. */
export type KemPrivateKey = { kemId: number; ecdh?: ECDH; keyObject?: KeyObject; publicKey: Uint8Array };

function x25519Private(sk: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.from(concatBytes(X25519_PKCS8, sk)), format: 'der', type: 'pkcs8' });
}

function x25519Public(pk: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(concatBytes(X25519_SPKI, pk)), format: 'der', type: 'spki' });
}

function x25519Raw(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(der.length - 32));
}

/** Loads a serialized private key (`skXm`); throws KEYSET_INVALID when it is out of range. */
export function loadKemPrivateKey(kemId: number, sk: Uint8Array): KemPrivateKey {
  const k = kemInfo(kemId);
  try {
    if (k.curve) {
      const ecdh = createECDH(k.curve);
      ecdh.setPrivateKey(toFixedLength(sk, k.nSk, 'HPKE private key'));
      return { kemId, ecdh, publicKey: new Uint8Array(ecdh.getPublicKey()) };
    }
    if (sk.length !== 32) throw new CryptoError('KEYSET_INVALID', 'X25519 private key must be 32 bytes');
    const keyObject = x25519Private(sk);
    return { kemId, keyObject, publicKey: x25519Raw(createPublicKey(keyObject)) };
  } catch (err) {
    if (err instanceof CryptoError) throw err;
    throw new CryptoError('KEYSET_INVALID', 'invalid HPKE private key', { cause: err });
  }
}

function generateKemKey(kemId: number): KemPrivateKey {
  const k = kemInfo(kemId);
  if (k.curve) {
    const ecdh = createECDH(k.curve);
    return { kemId, ecdh, publicKey: new Uint8Array(ecdh.generateKeys()) };
  }
  const pair = generateKeyPairSync('x25519');
  return { kemId, keyObject: pair.privateKey, publicKey: x25519Raw(pair.publicKey) };
}

/** DH(sk, pk); a malformed or low-order public key fails with `code`. */
function dh(sk: KemPrivateKey, pk: Uint8Array, code: 'DECRYPTION_FAILED' | 'KEYSET_INVALID' | 'KEY_MALFORMED'): Uint8Array {
  const k = kemInfo(sk.kemId);
  if (pk.length !== k.nPk || (k.curve && pk[0] !== 4)) throw new CryptoError(code, 'invalid HPKE public key encoding');
  try {
    const out = sk.ecdh ? sk.ecdh.computeSecret(pk) : diffieHellman({ privateKey: sk.keyObject!, publicKey: x25519Public(pk) });
    if (out.every((b) => b === 0)) throw new Error('all-zero shared secret');
    return new Uint8Array(out);
  } catch (err) {
    throw new CryptoError(code, 'HPKE Diffie-Hellman failed', { cause: err });
  }
}

/**
 * Raw X25519 as HPKE's DHKEM uses it: an all-zero result (a low-order peer
 * key) is rejected, as RFC 9180 §7.1.4 requires. Errors are `KEY_MALFORMED`.
 */
export function x25519SharedSecret(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
  let sk: KemPrivateKey;
  try {
    sk = loadKemPrivateKey(0x20, privateKey);
  } catch (err) {
    throw new CryptoError('KEY_MALFORMED', 'invalid X25519 private key', { cause: err });
  }
  return dh(sk, publicKey, 'KEY_MALFORMED');
}

/** DeriveKeyPair(ikm) of RFC 9180 §7.1.3; returns the serialized private key. */
export function deriveKeyPair(kemId: number, ikm: Uint8Array): { privateKey: Uint8Array; publicKey: Uint8Array } {
  const k = kemInfo(kemId);
  const suiteId = concatBytes(ENC.encode('KEM'), i2osp(kemId, 2));
  const prk = labeledExtract(k.hash, suiteId, new Uint8Array(0), 'dkp_prk', ikm);
  if (!k.curve) {
    const sk = labeledExpand(k.hash, suiteId, prk, 'sk', new Uint8Array(0), k.nSk);
    return { privateKey: sk, publicKey: loadKemPrivateKey(kemId, sk).publicKey };
  }
  for (let counter = 0; counter < 256; counter++) {
    const bytes = labeledExpand(k.hash, suiteId, prk, 'candidate', i2osp(counter, 1), k.nSk);
    bytes[0] = bytes[0]! & k.bitmask;
    const value = BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
    if (value !== 0n && value < k.order!) return { privateKey: bytes, publicKey: loadKemPrivateKey(kemId, bytes).publicKey };
  }
  throw new CryptoError('KEYSET_INVALID', 'DeriveKeyPair found no valid scalar');
}

// ---- key schedule and contexts ---------------------------------------------------------------

export interface HpkeSetupOptions {
  mode?: HpkeMode;
  info?: Uint8Array;
  psk?: Uint8Array;
  pskId?: Uint8Array;
}

export interface HpkeSenderOptions extends HpkeSetupOptions {
  /** Sender's static key, for the auth modes. */
  senderPrivateKey?: KemPrivateKey;
  /** A fixed ephemeral key (for known-answer tests); fresh when absent. */
  ephemeralPrivateKey?: KemPrivateKey;
}

export interface HpkeReceiverOptions extends HpkeSetupOptions {
  /** Sender's static public key, for the auth modes. */
  senderPublicKey?: Uint8Array;
}

export class HpkeContext {
  private seq = 0;

  constructor(
    private readonly suite: HpkeSuite,
    readonly key: Uint8Array,
    readonly baseNonce: Uint8Array,
    readonly exporterSecret: Uint8Array,
    readonly sharedSecret: Uint8Array,
  ) {}

  /** Nonce for sequence number `seq`: base_nonce XOR I2OSP(seq, Nn). */
  nonce(seq: number): Uint8Array {
    const n = Uint8Array.from(this.baseNonce);
    const s = i2osp(seq, n.length);
    for (let i = 0; i < n.length; i++) n[i]! ^= s[i]!;
    return n;
  }

  private cipher(): AeadCipher {
    const c = AEADS[this.suite.aeadId]!.cipher;
    if (!c) throw new CryptoError('UNSUPPORTED_KEY_TYPE', 'export-only HPKE suite cannot seal or open');
    return c;
  }

  /** Seals at sequence number `seq` (defaults to the context's counter, which then advances). */
  seal(plaintext: Uint8Array, aad: Uint8Array = new Uint8Array(0), seq?: number): Uint8Array {
    const out = aeadSeal(this.cipher(), this.key, this.nonce(seq ?? this.seq), plaintext, aad);
    if (seq === undefined) this.seq++;
    return out;
  }

  open(ciphertext: Uint8Array, aad: Uint8Array = new Uint8Array(0), seq?: number): Uint8Array {
    const out = aeadOpen(this.cipher(), this.key, this.nonce(seq ?? this.seq), ciphertext, aad);
    if (seq === undefined) this.seq++;
    return out;
  }

  export(exporterContext: Uint8Array, length: number): Uint8Array {
    const { kdf } = suiteInfo(this.suite);
    return labeledExpand(kdf, hpkeSuiteId(this.suite), this.exporterSecret, 'sec', exporterContext, length);
  }
}

function hpkeSuiteId(s: HpkeSuite): Uint8Array {
  return concatBytes(ENC.encode('HPKE'), i2osp(s.kemId, 2), i2osp(s.kdfId, 2), i2osp(s.aeadId, 2));
}

function checkPsk(mode: HpkeMode, psk: Uint8Array, pskId: Uint8Array): void {
  const pskMode = mode === HPKE_MODE.PSK || mode === HPKE_MODE.AUTH_PSK;
  if (pskMode !== (psk.length > 0) || pskMode !== (pskId.length > 0)) {
    throw new CryptoError('DECRYPTION_FAILED', 'HPKE PSK inputs do not match the mode');
  }
}

function keySchedule(suite: HpkeSuite, mode: HpkeMode, sharedSecret: Uint8Array, o: HpkeSetupOptions): HpkeContext {
  const { kdf, aead } = suiteInfo(suite);
  const sid = hpkeSuiteId(suite);
  const empty = new Uint8Array(0);
  const psk = o.psk ?? empty;
  const pskId = o.pskId ?? empty;
  checkPsk(mode, psk, pskId);
  const context = concatBytes(
    Uint8Array.of(mode),
    labeledExtract(kdf, sid, empty, 'psk_id_hash', pskId),
    labeledExtract(kdf, sid, empty, 'info_hash', o.info ?? empty),
  );
  const secret = labeledExtract(kdf, sid, sharedSecret, 'secret', psk);
  const key = aead.nK ? labeledExpand(kdf, sid, secret, 'key', context, aead.nK) : empty;
  const baseNonce = aead.nN ? labeledExpand(kdf, sid, secret, 'base_nonce', context, aead.nN) : empty;
  const exporterSecret = labeledExpand(kdf, sid, secret, 'exp', context, hashLength(kdf));
  return new HpkeContext(suite, key, baseNonce, exporterSecret, sharedSecret);
}

function extractAndExpand(kemId: number, dhValue: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const k = kemInfo(kemId);
  const suiteId = concatBytes(ENC.encode('KEM'), i2osp(kemId, 2));
  const prk = labeledExtract(k.hash, suiteId, new Uint8Array(0), 'eae_prk', dhValue);
  return labeledExpand(k.hash, suiteId, prk, 'shared_secret', kemContext, k.nSecret);
}

function modeOf(o: HpkeSetupOptions, hasAuth: boolean): HpkeMode {
  const mode = o.mode ?? (hasAuth ? (o.psk ? HPKE_MODE.AUTH_PSK : HPKE_MODE.AUTH) : o.psk ? HPKE_MODE.PSK : HPKE_MODE.BASE);
  const authMode = mode === HPKE_MODE.AUTH || mode === HPKE_MODE.AUTH_PSK;
  if (authMode !== hasAuth) throw new CryptoError('DECRYPTION_FAILED', 'HPKE sender key does not match the mode');
  return mode;
}

/** SetupS: returns `enc` and a sender context. `recipientPublicKey` is pkRm. */
export function setupSender(suite: HpkeSuite, recipientPublicKey: Uint8Array, o: HpkeSenderOptions = {}): { enc: Uint8Array; context: HpkeContext } {
  suiteInfo(suite);
  const mode = modeOf(o, o.senderPrivateKey !== undefined);
  const eph = o.ephemeralPrivateKey ?? generateKemKey(suite.kemId);
  const enc = eph.publicKey;
  let dhValue = dh(eph, recipientPublicKey, 'KEYSET_INVALID');
  let kemContext = concatBytes(enc, recipientPublicKey);
  if (o.senderPrivateKey) {
    dhValue = concatBytes(dhValue, dh(o.senderPrivateKey, recipientPublicKey, 'KEYSET_INVALID'));
    kemContext = concatBytes(kemContext, o.senderPrivateKey.publicKey);
  }
  const shared = extractAndExpand(suite.kemId, dhValue, kemContext);
  return { enc, context: keySchedule(suite, mode, shared, o) };
}

/** SetupR: the receiver context for `enc`. Any malformed input fails with DECRYPTION_FAILED. */
export function setupReceiver(suite: HpkeSuite, enc: Uint8Array, recipient: KemPrivateKey, o: HpkeReceiverOptions = {}): HpkeContext {
  suiteInfo(suite);
  const mode = modeOf(o, o.senderPublicKey !== undefined);
  let dhValue = dh(recipient, enc, 'DECRYPTION_FAILED');
  let kemContext = concatBytes(enc, recipient.publicKey);
  if (o.senderPublicKey) {
    dhValue = concatBytes(dhValue, dh(recipient, o.senderPublicKey, 'DECRYPTION_FAILED'));
    kemContext = concatBytes(kemContext, o.senderPublicKey);
  }
  const shared = extractAndExpand(suite.kemId, dhValue, kemContext);
  return keySchedule(suite, mode, shared, o);
}

/** Single-shot base-mode seal (RFC 9180 §6.1): returns enc and ciphertext. */
export function sealBase(suite: HpkeSuite, recipientPublicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): { enc: Uint8Array; ciphertext: Uint8Array } {
  const { enc, context } = setupSender(suite, recipientPublicKey, { info });
  return { enc, ciphertext: context.seal(plaintext, aad) };
}

/** Single-shot base-mode open. */
export function openBase(suite: HpkeSuite, enc: Uint8Array, recipient: KemPrivateKey, info: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  return setupReceiver(suite, enc, recipient, { info }).open(ciphertext, aad);
}

// ---- Tink HPKE keys ---------------------------------------------------------------------------

/** Maps Tink's HpkeParams enums to RFC 9180 identifiers. */
export function hpkeSuite(params: HpkeParams | undefined): HpkeSuite {
  if (!params) throw new CryptoError('KEYSET_INVALID', 'HPKE key has no parameters');
  const kemId = { [HpkeKem.DHKEM_X25519_HKDF_SHA256]: 0x20, [HpkeKem.DHKEM_P256_HKDF_SHA256]: 0x10, [HpkeKem.DHKEM_P384_HKDF_SHA384]: 0x11, [HpkeKem.DHKEM_P521_HKDF_SHA512]: 0x12 }[params.kem as number];
  const kdfId = { [HpkeKdf.HKDF_SHA256]: 1, [HpkeKdf.HKDF_SHA384]: 2, [HpkeKdf.HKDF_SHA512]: 3 }[params.kdf as number];
  const aeadId = { [HpkeAead.AES_128_GCM]: 1, [HpkeAead.AES_256_GCM]: 2, [HpkeAead.CHACHA20_POLY1305]: 3 }[params.aead as number];
  if (kemId === undefined || kdfId === undefined || aeadId === undefined) {
    throw new CryptoError('KEYSET_INVALID', 'HPKE key has unknown KEM, KDF or AEAD');
  }
  return { kemId, kdfId, aeadId };
}

const EMPTY = new Uint8Array(0);

export class HpkePublicKey {
  private constructor(
    readonly suite: HpkeSuite,
    private readonly publicKey: Uint8Array,
  ) {}

  static fromBytes(value: Uint8Array): HpkePublicKey {
    const pub = decodeProto(HpkePublicKeySchema, value, 'HPKE public key');
    if (pub.version !== 0) throw new CryptoError('KEYSET_INVALID', `HPKE public key version ${pub.version}`);
    const suite = hpkeSuite(pub.params);
    const k = kemInfo(suite.kemId);
    if (pub.publicKey.length !== k.nPk || (k.curve && pub.publicKey[0] !== 4)) {
      throw new CryptoError('KEYSET_INVALID', 'HPKE public key has the wrong encoding');
    }
    if (k.curve) {
      try {
        ECDH.convertKey(Buffer.from(pub.publicKey), k.curve, undefined, undefined, 'uncompressed');
      } catch (err) {
        throw new CryptoError('KEYSET_INVALID', 'HPKE public key is not a point on the curve', { cause: err });
      }
    }
    return new HpkePublicKey(suite, pub.publicKey);
  }

  /** enc ‖ ciphertext (no output prefix). */
  encrypt(plaintext: Uint8Array, contextInfo: Uint8Array): Uint8Array {
    const { enc, ciphertext } = sealBase(this.suite, this.publicKey, contextInfo, EMPTY, plaintext);
    return concatBytes(enc, ciphertext);
  }
}

export class HpkePrivateKey {
  private constructor(
    readonly suite: HpkeSuite,
    private readonly key: KemPrivateKey,
  ) {}

  static fromBytes(value: Uint8Array): HpkePrivateKey {
    const priv = decodeProto(HpkePrivateKeySchema, value, 'HPKE private key');
    if (priv.version !== 0 || !priv.publicKey || priv.publicKey.version !== 0) {
      throw new CryptoError('KEYSET_INVALID', 'HPKE private key has an unknown version or no public key');
    }
    const suite = hpkeSuite(priv.publicKey.params);
    const key = loadKemPrivateKey(suite.kemId, priv.privateKey);
    if (!bytesEqual(key.publicKey, priv.publicKey.publicKey)) {
      throw new CryptoError('KEYSET_INVALID', 'HPKE private key does not match its public key');
    }
    return new HpkePrivateKey(suite, key);
  }

  decrypt(ciphertext: Uint8Array, contextInfo: Uint8Array): Uint8Array {
    const nPk = kemInfo(this.suite.kemId).nPk;
    if (ciphertext.length < nPk + 16) throw new CryptoError('DECRYPTION_FAILED', 'ciphertext too short');
    return openBase(this.suite, ciphertext.subarray(0, nPk), this.key, contextInfo, EMPTY, ciphertext.subarray(nPk));
  }
}

/** Generates a serialized Tink `HpkePrivateKey` (fixed-length big-endian private scalar). */
export function generateHpkePrivateKey(params: HpkeParams): Uint8Array {
  const suite = hpkeSuite(params);
  const k = generateKemKey(suite.kemId);
  const sk = k.ecdh ? toFixedLength(k.ecdh.getPrivateKey(), kemInfo(suite.kemId).nSk, 'private key') : x25519PrivateRaw(k.keyObject!);
  const publicKey = create(HpkePublicKeySchema, { version: 0, params, publicKey: k.publicKey });
  return toBinary(HpkePrivateKeySchema, create(HpkePrivateKeySchema, { version: 0, publicKey, privateKey: sk }));
}

function x25519PrivateRaw(key: KeyObject): Uint8Array {
  const der = key.export({ format: 'der', type: 'pkcs8' });
  return new Uint8Array(der.subarray(der.length - 32));
}
