/**
 * Tink's ECIES-AEAD-HKDF hybrid encryption (the CMMS encryption-key scheme),
 * byte-compatible with Tink:
 *
 *   kem   = ephemeral public point in the key's point format
 *   key   = HKDF-<hash>(IKM = kem ‖ ECDH x-coordinate, salt, info = context info)
 *   out   = kem ‖ DEM(key, plaintext, empty associated data)
 *
 * The output prefix is added by `hybrid.ts`. Keys are prepared once (ECDH
 * objects with the scalar loaded) so the per-message cost is node:crypto's.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { ECDH, createECDH } from 'node:crypto';
import { AesCtrHmacAeadKeyFormatSchema } from '../gen/google/crypto/tink/aes_ctr_hmac_aead_pb.js';
import { AesGcmKeyFormatSchema } from '../gen/google/crypto/tink/aes_gcm_pb.js';
import { EcPointFormat, EllipticCurveType, HashType } from '../gen/google/crypto/tink/common_pb.js';
import {
  EciesAeadHkdfPrivateKeySchema,
  EciesAeadHkdfPublicKeySchema,
  type EciesAeadHkdfParams,
  type EciesAeadHkdfPublicKey,
} from '../gen/google/crypto/tink/ecies_aead_hkdf_pb.js';
import {
  aesCtrHmacDecrypt,
  aesCtrHmacEncrypt,
  aesGcmDecrypt,
  aesGcmEncrypt,
  type AesCtrHmacParams,
} from './aead.js';
import { concatBytes } from '../lib/index.js';
import { CryptoError } from './errors.js';
import { hkdf, type HashName } from './hkdf.js';
import { TYPE_URL, decodeProto, toFixedLength, toTwosComplement } from './keyset-proto.js';

export type EciesCurve = 'P-256' | 'P-384' | 'P-521';
export type EciesPointFormat = 'UNCOMPRESSED' | 'COMPRESSED' | 'DO_NOT_USE_CRUNCHY_UNCOMPRESSED';
export type EciesDem = { type: 'AES_GCM'; keySize: number } | ({ type: 'AES_CTR_HMAC' } & AesCtrHmacParams);

export interface EciesParameters {
  curve: EciesCurve;
  hkdfHash: HashName;
  hkdfSalt: Uint8Array;
  pointFormat: EciesPointFormat;
  dem: EciesDem;
}

const CURVES: Record<EciesCurve, { openssl: string; size: number }> = {
  'P-256': { openssl: 'prime256v1', size: 32 },
  'P-384': { openssl: 'secp384r1', size: 48 },
  'P-521': { openssl: 'secp521r1', size: 66 },
};

export function hashName(h: HashType): HashName {
  switch (h) {
    case HashType.SHA1:
      return 'sha1';
    case HashType.SHA224:
      return 'sha224';
    case HashType.SHA256:
      return 'sha256';
    case HashType.SHA384:
      return 'sha384';
    case HashType.SHA512:
      return 'sha512';
    default:
      throw new CryptoError('KEYSET_INVALID', `unknown hash type ${h}`);
  }
}

function curveOf(c: EllipticCurveType): EciesCurve {
  switch (c) {
    case EllipticCurveType.NIST_P256:
      return 'P-256';
    case EllipticCurveType.NIST_P384:
      return 'P-384';
    case EllipticCurveType.NIST_P521:
      return 'P-521';
    case EllipticCurveType.CURVE25519:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', 'ECIES over Curve25519 is not supported');
    default:
      throw new CryptoError('KEYSET_INVALID', `unknown curve type ${c}`);
  }
}

function pointFormatOf(f: EcPointFormat): EciesPointFormat {
  switch (f) {
    case EcPointFormat.UNCOMPRESSED:
      return 'UNCOMPRESSED';
    case EcPointFormat.COMPRESSED:
      return 'COMPRESSED';
    case EcPointFormat.DO_NOT_USE_CRUNCHY_UNCOMPRESSED:
      return 'DO_NOT_USE_CRUNCHY_UNCOMPRESSED';
    default:
      throw new CryptoError('KEYSET_INVALID', `unknown EC point format ${f}`);
  }
}

function demOf(params: EciesAeadHkdfParams): EciesDem {
  const t = params.demParams?.aeadDem;
  if (!t) throw new CryptoError('KEYSET_INVALID', 'ECIES key has no DEM template');
  // The DEM template's own output prefix is ignored, as in Tink.
  switch (t.typeUrl) {
    case TYPE_URL.aesGcm: {
      const f = decodeProto(AesGcmKeyFormatSchema, t.value, 'AES-GCM key format');
      if (f.keySize !== 16 && f.keySize !== 32) throw new CryptoError('UNSUPPORTED_KEY_TYPE', `AES-GCM DEM key size ${f.keySize}`);
      return { type: 'AES_GCM', keySize: f.keySize };
    }
    case TYPE_URL.aesCtrHmacAead: {
      const f = decodeProto(AesCtrHmacAeadKeyFormatSchema, t.value, 'AES-CTR-HMAC key format');
      const aesKeySize = f.aesCtrKeyFormat?.keySize ?? 0;
      const ivSize = f.aesCtrKeyFormat?.params?.ivSize ?? 0;
      const hmacKeySize = f.hmacKeyFormat?.keySize ?? 0;
      const tagSize = f.hmacKeyFormat?.params?.tagSize ?? 0;
      const hmacHash = hashName(f.hmacKeyFormat?.params?.hash ?? HashType.UNKNOWN_HASH);
      if ((aesKeySize !== 16 && aesKeySize !== 32) || ivSize < 12 || ivSize > 16 || hmacKeySize < 16 || tagSize < 10) {
        throw new CryptoError('UNSUPPORTED_KEY_TYPE', 'unsupported AES-CTR-HMAC DEM parameters');
      }
      return { type: 'AES_CTR_HMAC', aesKeySize, ivSize, hmacKeySize, hmacHash, tagSize };
    }
    case TYPE_URL.aesSiv:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', 'the AES-SIV DEM is not supported (node:crypto has no AES-SIV)');
    default:
      throw new CryptoError('UNSUPPORTED_KEY_TYPE', `unsupported ECIES DEM ${t.typeUrl}`);
  }
}

/** Reads and checks the parameters of an ECIES key. */
export function eciesParameters(params: EciesAeadHkdfParams | undefined): EciesParameters {
  if (!params?.kemParams) throw new CryptoError('KEYSET_INVALID', 'ECIES key has no KEM parameters');
  return {
    curve: curveOf(params.kemParams.curveType),
    hkdfHash: hashName(params.kemParams.hkdfHashType),
    hkdfSalt: params.kemParams.hkdfSalt,
    pointFormat: pointFormatOf(params.ecPointFormat),
    dem: demOf(params),
  };
}

function demKeySize(dem: EciesDem): number {
  return dem.type === 'AES_GCM' ? dem.keySize : dem.aesKeySize + dem.hmacKeySize;
}

function demOverhead(dem: EciesDem): number {
  return dem.type === 'AES_GCM' ? 12 + 16 : dem.ivSize + dem.tagSize;
}

function kemLength(p: EciesParameters): number {
  const size = CURVES[p.curve].size;
  switch (p.pointFormat) {
    case 'UNCOMPRESSED':
      return 1 + 2 * size;
    case 'COMPRESSED':
      return 1 + size;
    case 'DO_NOT_USE_CRUNCHY_UNCOMPRESSED':
      return 2 * size;
  }
}

/** The uncompressed point 04 ‖ x ‖ y of a public key proto, checked to be on the curve. */
function recipientPoint(curve: EciesCurve, pub: EciesAeadHkdfPublicKey): Buffer {
  const size = CURVES[curve].size;
  const point = Buffer.from(
    concatBytes(Uint8Array.of(4), toFixedLength(pub.x, size, 'public key x'), toFixedLength(pub.y, size, 'public key y')),
  );
  try {
    ECDH.convertKey(point, CURVES[curve].openssl, undefined, undefined, 'uncompressed');
  } catch (err) {
    throw new CryptoError('KEYSET_INVALID', 'ECIES public key is not a point on the curve', { cause: err });
  }
  return point;
}

export class EciesPublicKey {
  private constructor(
    readonly params: EciesParameters,
    private readonly point: Buffer,
  ) {}

  /** Prepares a key from a serialized `EciesAeadHkdfPublicKey`. */
  static fromBytes(value: Uint8Array): EciesPublicKey {
    const pub = decodeProto(EciesAeadHkdfPublicKeySchema, value, 'ECIES public key');
    if (pub.version !== 0) throw new CryptoError('KEYSET_INVALID', `ECIES public key version ${pub.version}`);
    const params = eciesParameters(pub.params);
    return new EciesPublicKey(params, recipientPoint(params.curve, pub));
  }

  /** kem ‖ DEM ciphertext (no output prefix). */
  encrypt(plaintext: Uint8Array, contextInfo: Uint8Array): Uint8Array {
    const p = this.params;
    const eph = createECDH(CURVES[p.curve].openssl);
    const full = eph.generateKeys();
    let kem: Uint8Array;
    if (p.pointFormat === 'UNCOMPRESSED') kem = full;
    else if (p.pointFormat === 'COMPRESSED') kem = eph.getPublicKey(null, 'compressed');
    else kem = full.subarray(1);
    const shared = eph.computeSecret(this.point);
    const key = hkdf(p.hkdfHash, concatBytes(kem, shared), p.hkdfSalt, contextInfo, demKeySize(p.dem));
    const dem = p.dem.type === 'AES_GCM' ? aesGcmEncrypt(key, plaintext) : aesCtrHmacEncrypt(p.dem, key, plaintext);
    const out = new Uint8Array(kem.length + dem.length);
    out.set(kem, 0);
    out.set(dem, kem.length);
    return out;
  }
}

export class EciesPrivateKey {
  private constructor(
    readonly params: EciesParameters,
    private readonly ecdh: ECDH,
  ) {}

  /** Prepares a key from a serialized `EciesAeadHkdfPrivateKey`; checks d·G equals the stored public point. */
  static fromBytes(value: Uint8Array): EciesPrivateKey {
    const priv = decodeProto(EciesAeadHkdfPrivateKeySchema, value, 'ECIES private key');
    if (priv.version !== 0 || !priv.publicKey || priv.publicKey.version !== 0) {
      throw new CryptoError('KEYSET_INVALID', 'ECIES private key has an unknown version or no public key');
    }
    const params = eciesParameters(priv.publicKey.params);
    const curve = CURVES[params.curve];
    const ecdh = createECDH(curve.openssl);
    try {
      ecdh.setPrivateKey(toFixedLength(priv.keyValue, curve.size, 'private key'));
    } catch (err) {
      if (err instanceof CryptoError) throw err;
      throw new CryptoError('KEYSET_INVALID', 'ECIES private key is out of range', { cause: err });
    }
    if (!ecdh.getPublicKey().equals(recipientPoint(params.curve, priv.publicKey))) {
      throw new CryptoError('KEYSET_INVALID', 'ECIES private key does not match its public key');
    }
    return new EciesPrivateKey(params, ecdh);
  }

  /** Decrypts kem ‖ DEM ciphertext (prefix already removed). */
  decrypt(ciphertext: Uint8Array, contextInfo: Uint8Array): Uint8Array {
    const p = this.params;
    const kemLen = kemLength(p);
    if (ciphertext.length < kemLen + demOverhead(p.dem)) throw new CryptoError('DECRYPTION_FAILED', 'ciphertext too short');
    const kem = ciphertext.subarray(0, kemLen);
    const first = kem[0];
    let point: Uint8Array = kem;
    if (p.pointFormat === 'UNCOMPRESSED') {
      if (first !== 4) throw new CryptoError('DECRYPTION_FAILED', 'invalid ephemeral point encoding');
    } else if (p.pointFormat === 'COMPRESSED') {
      if (first !== 2 && first !== 3) throw new CryptoError('DECRYPTION_FAILED', 'invalid ephemeral point encoding');
    } else {
      point = concatBytes(Uint8Array.of(4), kem);
    }
    let shared: Buffer;
    try {
      shared = this.ecdh.computeSecret(point);
    } catch (err) {
      throw new CryptoError('DECRYPTION_FAILED', 'ephemeral point is not on the curve', { cause: err });
    }
    const key = hkdf(p.hkdfHash, concatBytes(kem, shared), p.hkdfSalt, contextInfo, demKeySize(p.dem));
    const body = ciphertext.subarray(kemLen);
    return p.dem.type === 'AES_GCM' ? aesGcmDecrypt(key, body) : aesCtrHmacDecrypt(p.dem, key, body);
  }
}

/**
 * Raw ECDH: the x-coordinate of scalar·peer, as ECIES uses it. The peer point
 * may be uncompressed or compressed and must lie on the curve; anything else
 * is `KEY_MALFORMED`.
 */
export function ecdhSharedSecret(curve: EciesCurve, privateScalar: Uint8Array, peerPoint: Uint8Array): Uint8Array {
  const c = CURVES[curve];
  const ecdh = createECDH(c.openssl);
  try {
    ecdh.setPrivateKey(toFixedLength(privateScalar, c.size, 'private key'));
  } catch (err) {
    throw new CryptoError('KEY_MALFORMED', 'ECDH private key is out of range', { cause: err });
  }
  try {
    return new Uint8Array(ecdh.computeSecret(peerPoint));
  } catch (err) {
    throw new CryptoError('KEY_MALFORMED', 'ECDH peer key is not a valid point on the curve', { cause: err });
  }
}

/**
 * Generates a serialized `EciesAeadHkdfPrivateKey` for `params`. Integers are
 * written in minimal two's complement, as Tink Java writes them.
 */
export function generateEciesPrivateKey(params: EciesAeadHkdfParams): Uint8Array {
  const p = eciesParameters(params);
  const curve = CURVES[p.curve];
  const ecdh = createECDH(curve.openssl);
  const point = ecdh.generateKeys();
  const publicKey = create(EciesAeadHkdfPublicKeySchema, {
    version: 0,
    params,
    x: toTwosComplement(point.subarray(1, 1 + curve.size)),
    y: toTwosComplement(point.subarray(1 + curve.size)),
  });
  return toBinary(
    EciesAeadHkdfPrivateKeySchema,
    create(EciesAeadHkdfPrivateKeySchema, { version: 0, publicKey, keyValue: toTwosComplement(ecdh.getPrivateKey()) }),
  );
}
