/**
 * Tink key templates for hybrid encryption, with the parameters, type URLs
 * and output prefixes Tink and Tinkey use, and key generation from them.
 */
import { clone, create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { randomBytes } from 'node:crypto';
import { AesCtrHmacAeadKeyFormatSchema } from '../gen/google/crypto/tink/aes_ctr_hmac_aead_pb.js';
import { AesGcmKeyFormatSchema } from '../gen/google/crypto/tink/aes_gcm_pb.js';
import { EcPointFormat, EllipticCurveType, HashType } from '../gen/google/crypto/tink/common_pb.js';
import {
  EciesAeadHkdfKeyFormatSchema,
  EciesAeadHkdfParamsSchema,
  EciesAeadHkdfPrivateKeySchema,
  EciesAeadHkdfPublicKeySchema,
  type EciesAeadHkdfParams,
} from '../gen/google/crypto/tink/ecies_aead_hkdf_pb.js';
import {
  HpkeAead,
  HpkeKdf,
  HpkeKem,
  HpkeKeyFormatSchema,
  HpkePrivateKeySchema,
  HpkePublicKeySchema,
  type HpkeParams,
} from '../gen/google/crypto/tink/hpke_pb.js';
import {
  KeyData_KeyMaterialType,
  KeyDataSchema,
  KeysetSchema,
  Keyset_KeySchema,
  KeyStatusType,
  KeyTemplateSchema,
  OutputPrefixType,
  type KeyData,
  type Keyset,
  type KeyTemplate,
} from '../gen/google/crypto/tink/tink_pb.js';
import { generateEciesPrivateKey } from './ecies.js';
import { CryptoError } from './errors.js';
import { generateHpkePrivateKey } from './hpke.js';
import { TYPE_URL, decodeProto } from './keyset-proto.js';

export type { KeyTemplate };

type EciesSpec = { kind: 'ecies'; point: EcPointFormat; dem: 'AES128_GCM' | 'AES256_GCM' | 'AES128_CTR_HMAC_SHA256' };
type HpkeSpec = { kind: 'hpke'; kem: HpkeKem; aead: HpkeAead };
type Spec = (EciesSpec | HpkeSpec) & { prefix: OutputPrefixType };

const BASE_SPECS: Record<string, EciesSpec | HpkeSpec> = {
  ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM: { kind: 'ecies', point: EcPointFormat.UNCOMPRESSED, dem: 'AES128_GCM' },
  ECIES_P256_HKDF_HMAC_SHA256_AES256_GCM: { kind: 'ecies', point: EcPointFormat.UNCOMPRESSED, dem: 'AES256_GCM' },
  ECIES_P256_COMPRESSED_HKDF_HMAC_SHA256_AES128_GCM: { kind: 'ecies', point: EcPointFormat.COMPRESSED, dem: 'AES128_GCM' },
  ECIES_P256_HKDF_HMAC_SHA256_AES128_CTR_HMAC_SHA256: { kind: 'ecies', point: EcPointFormat.UNCOMPRESSED, dem: 'AES128_CTR_HMAC_SHA256' },
  DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_128_GCM: { kind: 'hpke', kem: HpkeKem.DHKEM_X25519_HKDF_SHA256, aead: HpkeAead.AES_128_GCM },
  DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM: { kind: 'hpke', kem: HpkeKem.DHKEM_X25519_HKDF_SHA256, aead: HpkeAead.AES_256_GCM },
  DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_128_GCM: { kind: 'hpke', kem: HpkeKem.DHKEM_P256_HKDF_SHA256, aead: HpkeAead.AES_128_GCM },
  DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_256_GCM: { kind: 'hpke', kem: HpkeKem.DHKEM_P256_HKDF_SHA256, aead: HpkeAead.AES_256_GCM },
};

/** Every template name, each also in a `_RAW` variant (no output prefix), as Tink names them. */
export const KEY_TEMPLATE_NAMES: readonly string[] = Object.keys(BASE_SPECS).flatMap((n) => [n, `${n}_RAW`]);

/** The template CMMS uses for every party's encryption key. */
export const DEFAULT_KEY_TEMPLATE = 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM';

function specOf(name: string): Spec {
  const raw = name.endsWith('_RAW');
  const base = BASE_SPECS[raw ? name.slice(0, -4) : name];
  if (!base) throw new CryptoError('UNSUPPORTED_KEY_TYPE', `unknown key template ${name} (known: ${KEY_TEMPLATE_NAMES.join(', ')})`);
  return { ...base, prefix: raw ? OutputPrefixType.RAW : OutputPrefixType.TINK };
}

function demTemplate(dem: EciesSpec['dem']): KeyTemplate {
  // Tink writes the DEM template with a TINK prefix, which ECIES ignores.
  if (dem === 'AES128_CTR_HMAC_SHA256') {
    return create(KeyTemplateSchema, {
      typeUrl: TYPE_URL.aesCtrHmacAead,
      outputPrefixType: OutputPrefixType.TINK,
      value: toBinary(
        AesCtrHmacAeadKeyFormatSchema,
        create(AesCtrHmacAeadKeyFormatSchema, {
          aesCtrKeyFormat: { params: { ivSize: 16 }, keySize: 16 },
          hmacKeyFormat: { params: { hash: HashType.SHA256, tagSize: 16 }, keySize: 32 },
        }),
      ),
    });
  }
  return create(KeyTemplateSchema, {
    typeUrl: TYPE_URL.aesGcm,
    outputPrefixType: OutputPrefixType.TINK,
    value: toBinary(AesGcmKeyFormatSchema, create(AesGcmKeyFormatSchema, { keySize: dem === 'AES128_GCM' ? 16 : 32 })),
  });
}

function eciesParams(spec: EciesSpec): EciesAeadHkdfParams {
  const keyFormat = create(EciesAeadHkdfKeyFormatSchema, {
    params: {
      kemParams: { curveType: EllipticCurveType.NIST_P256, hkdfHashType: HashType.SHA256 },
      demParams: { aeadDem: demTemplate(spec.dem) },
      ecPointFormat: spec.point,
    },
  });
  return keyFormat.params!;
}

function hpkeParams(spec: HpkeSpec): HpkeParams {
  return create(HpkeKeyFormatSchema, { params: { kem: spec.kem, kdf: HpkeKdf.HKDF_SHA256, aead: spec.aead } }).params!;
}

/** The Tink `KeyTemplate` of a named template. */
export function keyTemplate(name: string): KeyTemplate {
  const spec = specOf(name);
  if (spec.kind === 'ecies') {
    return create(KeyTemplateSchema, {
      typeUrl: TYPE_URL.eciesPrivate,
      outputPrefixType: spec.prefix,
      value: toBinary(EciesAeadHkdfKeyFormatSchema, create(EciesAeadHkdfKeyFormatSchema, { params: eciesParams(spec) })),
    });
  }
  return create(KeyTemplateSchema, {
    typeUrl: TYPE_URL.hpkePrivate,
    outputPrefixType: spec.prefix,
    value: toBinary(HpkeKeyFormatSchema, create(HpkeKeyFormatSchema, { params: hpkeParams(spec) })),
  });
}

/** Generates fresh private key material for a template. */
export function newKeyData(template: KeyTemplate): KeyData {
  let value: Uint8Array;
  if (template.typeUrl === TYPE_URL.eciesPrivate) {
    const format = decodeProto(EciesAeadHkdfKeyFormatSchema, template.value, 'ECIES key format');
    if (!format.params) throw new CryptoError('KEYSET_INVALID', 'ECIES key format has no parameters');
    value = generateEciesPrivateKey(format.params);
  } else if (template.typeUrl === TYPE_URL.hpkePrivate) {
    const format = decodeProto(HpkeKeyFormatSchema, template.value, 'HPKE key format');
    if (!format.params) throw new CryptoError('KEYSET_INVALID', 'HPKE key format has no parameters');
    value = generateHpkePrivateKey(format.params);
  } else {
    throw new CryptoError('UNSUPPORTED_KEY_TYPE', `cannot generate keys of type ${template.typeUrl}`);
  }
  return create(KeyDataSchema, { typeUrl: template.typeUrl, value, keyMaterialType: KeyData_KeyMaterialType.ASYMMETRIC_PRIVATE });
}

/** A random non-zero uint32 key id not in `used`. */
export function newKeyId(used: Iterable<number> = []): number {
  const taken = new Set(used);
  for (;;) {
    const id = randomBytes(4).readUInt32BE(0);
    if (id !== 0 && !taken.has(id)) return id;
  }
}

/** A new private keyset holding one fresh primary key. */
export function generateKeyset(template: string | KeyTemplate = DEFAULT_KEY_TEMPLATE): Keyset {
  const t = typeof template === 'string' ? keyTemplate(template) : template;
  if (t.outputPrefixType === OutputPrefixType.UNKNOWN_PREFIX) throw new CryptoError('KEYSET_INVALID', 'template has no output prefix type');
  const keyId = newKeyId();
  return create(KeysetSchema, {
    primaryKeyId: keyId,
    key: [create(Keyset_KeySchema, { keyData: newKeyData(t), status: KeyStatusType.ENABLED, keyId, outputPrefixType: t.outputPrefixType })],
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The name of the template a key was made from, when it is one of ours
 * (parameters and output prefix compared; the DEM's own prefix ignored).
 */
export function templateNameOf(keyData: KeyData | undefined, outputPrefixType: OutputPrefixType): string | undefined {
  if (!keyData) return undefined;
  try {
    let keyParams: Uint8Array | undefined;
    let isEcies = false;
    switch (keyData.typeUrl) {
      case TYPE_URL.eciesPrivate:
        keyParams = paramsBytesEcies(fromBinary(EciesAeadHkdfPrivateKeySchema, keyData.value).publicKey?.params);
        isEcies = true;
        break;
      case TYPE_URL.eciesPublic:
        keyParams = paramsBytesEcies(fromBinary(EciesAeadHkdfPublicKeySchema, keyData.value).params);
        isEcies = true;
        break;
      case TYPE_URL.hpkePrivate: {
        const p = fromBinary(HpkePrivateKeySchema, keyData.value).publicKey?.params;
        keyParams = p && toBinary(HpkeKeyFormatSchema, create(HpkeKeyFormatSchema, { params: p }));
        break;
      }
      case TYPE_URL.hpkePublic: {
        const p = fromBinary(HpkePublicKeySchema, keyData.value).params;
        keyParams = p && toBinary(HpkeKeyFormatSchema, create(HpkeKeyFormatSchema, { params: p }));
        break;
      }
    }
    if (!keyParams) return undefined;
    for (const name of KEY_TEMPLATE_NAMES) {
      const spec = specOf(name);
      if (spec.prefix !== outputPrefixType || (spec.kind === 'ecies') !== isEcies) continue;
      const t = spec.kind === 'ecies' ? paramsBytesEcies(eciesParams(spec)) : toBinary(HpkeKeyFormatSchema, create(HpkeKeyFormatSchema, { params: hpkeParams(spec) }));
      if (t && sameBytes(t, keyParams)) return name;
    }
  } catch {
    // A key that does not parse has no template name; inspection reports it as is.
  }
  return undefined;
}

function paramsBytesEcies(params: EciesAeadHkdfParams | undefined): Uint8Array | undefined {
  if (!params) return undefined;
  // A copy: the DEM prefix is blanked for the comparison only.
  const copy = create(EciesAeadHkdfKeyFormatSchema, { params: clone(EciesAeadHkdfParamsSchema, params) });
  const dem = copy.params?.demParams?.aeadDem;
  if (dem) dem.outputPrefixType = OutputPrefixType.UNKNOWN_PREFIX;
  return toBinary(EciesAeadHkdfKeyFormatSchema, copy);
}
