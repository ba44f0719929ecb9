/**
 * Signing keys of the keyring on a PKCS#11 token (`signing.pkcs11` in
 * halo-keys.yaml). Each generation is its own key pair on the token, labelled
 * `<object>-<entry id>`; the entry records that URI (never the PIN), and a
 * rotation's journal records it at planning, so a resumed run finds and
 * reuses the key it generated instead of making a second one. The PIN comes
 * from `--pin-file` or HALO_KEYS_PKCS11_PIN; the module from the config
 * (`module`, or `module-path` in its URI) or HALO_KEYS_PKCS11_MODULE.
 *
 * TLS keys stay in files: the Kubernetes TLS Secret must carry `tls.key`, and
 * the keyring's mTLS client to the Kingdom holds the key in memory, which a
 * token key that cannot be extracted can give neither.
 */
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { signMessage, verifyBytes, signatureAlgorithmByOid } from '../crypto/index.js';
import { SignedMessageSchema, type SignedMessage } from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readFileBytes } from '../lib/files.js';
import {
  keyTypeOf,
  spkiOf,
  type KeyType,
  PKCS11_MODULE_ENV,
  PKCS11_PIN_ENV,
  type Pkcs11Uri,
  type TokenAccess,
  checkTokenLogin,
  deleteTokenKey,
  findTokenPublicKey,
  generateTokenKey,
  parsePkcs11Uri,
  pkcs11Signer,
  type KeySigner,
  type SigningKey,
} from '../pki/index.js';
import { RotationError } from './errors.js';
import type { TokenKeyConfig } from './config.js';
import type { KeyEntry } from './keyring.js';

/** `signing.pkcs11` of halo-keys.yaml: where new signing keys are generated. */
/** The PIN from the file's first line or HALO_KEYS_PKCS11_PIN. */
export function resolveTokenPin(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const pin = file ? Buffer.from(readFileBytes(file, 'PIN file')).toString('utf8').split(/\r?\n/)[0] : env[PKCS11_PIN_ENV];
  if (!pin) throw new RotationError('PIN_REQUIRED', `a key of this keyring is on a PKCS#11 token: set ${PKCS11_PIN_ENV} or pass --pin-file FILE`);
  return pin;
}

/** The URI of one generation's key: the configured object label, then the entry id. */
export type { TokenKeyConfig };

export function tokenObjectUri(config: TokenKeyConfig, entryId: string): string {
  const base = parsePkcs11Uri(config.uri);
  return base.uri.replace(/(^pkcs11:|;)object=[^;]*/, (_, lead: string) => `${lead}object=${encodeURIComponent(`${base.object}-${entryId}`)}`);
}

/** Reaches the token with the PIN asked for once, on first use. */
export class TokenKeys {
  readonly #config: () => TokenKeyConfig | undefined;
  readonly #pin: () => string;
  #cachedPin: string | undefined;

  constructor(config: () => TokenKeyConfig | undefined, pin: () => string) {
    this.#config = config;
    this.#pin = pin;
  }

  access(key: Pkcs11Uri): TokenAccess {
    const module = key.modulePath ?? this.#config()?.module ?? process.env[PKCS11_MODULE_ENV];
    if (!module) throw new RotationError('CONFIG_INVALID', `name the PKCS#11 module of ${key.uri}: signing.pkcs11.module in halo-keys.yaml or $${PKCS11_MODULE_ENV}`);
    this.#cachedPin ??= this.#pin();
    return { module, pin: this.#cachedPin };
  }

  /** Logs in, so a wrong PIN or missing token stops a run before its journal starts. */
  checkLogin(uri: string): void {
    const key = parsePkcs11Uri(uri);
    checkTokenLogin(key, this.access(key));
  }

  /**
   * The public key of the object at `uri`, generated there first when the
   * token has none; a key already there (left by a run that died) is reused
   * only if it is of the keyring's key type.
   */
  generateOrReuse(uri: string, keyType: KeyType): { publicKey: KeyObject; reused: boolean } {
    const key = parsePkcs11Uri(uri);
    const access = this.access(key);
    const found = findTokenPublicKey(key, access);
    if (!found) return { publicKey: generateTokenKey(key, access, keyType), reused: false };
    const type = keyTypeOf(found);
    if (type !== keyType) throw new RotationError('TOKEN_KEY_INVALID', `"${key.object}" on token "${key.token}" is a ${type ?? 'unsupported'} key; the keyring's keyType is ${keyType}`);
    return { publicKey: found, reused: true };
  }

  /** A signer for an entry's token key, checked to be the key of its certificate. */
  signer(entry: KeyEntry, certificateSpki: Uint8Array): KeySigner {
    const key = parsePkcs11Uri(entry.privateKeyUri!);
    const access = this.access(key);
    const publicKey = findTokenPublicKey(key, access);
    if (!publicKey) throw new RotationError('TOKEN_KEY_INVALID', `no key "${key.object}" on PKCS#11 token "${key.token}" (the signing key of ${entry.id})`);
    const expected = keyTypeOf(createPublicKey({ key: Buffer.from(certificateSpki), format: 'der', type: 'spki' }));
    const found = keyTypeOf(publicKey);
    if (found !== expected) throw new RotationError('TOKEN_KEY_INVALID', `"${key.object}" on token "${key.token}" is a ${found ?? 'unsupported'} key; the certificate of ${entry.id} is for a ${expected ?? 'other'} key`);
    if (Buffer.compare(spkiOf(publicKey), certificateSpki) !== 0) {
      throw new RotationError('TOKEN_KEY_INVALID', `the key at ${key.uri} is not the key of ${entry.certificateFile}`);
    }
    return pkcs11Signer(key, access, publicKey);
  }

  /** Deletes the key pair at `uri`; false when the token held none. */
  delete(uri: string): boolean {
    const key = parsePkcs11Uri(uri);
    return deleteTokenKey(key, this.access(key));
  }
}

/**
 * A SignedMessage over `message.value`, as `signMessage` makes it, with a key
 * in memory or on a token. A token's signature (DER for ECDSA, as the CMMS
 * expects) is verified before it is used.
 */
export function signMessageWith(message: Any, key: SigningKey): SignedMessage {
  if (!('scheme' in key)) return signMessage(message, key);
  const algorithm = signatureAlgorithmByOid(key.scheme.oid);
  const signature = key.scheme.sign(message.value);
  verifyBytes(message.value, signature, key.publicKey, algorithm);
  return create(SignedMessageSchema, { message, data: message.value, signature, signatureAlgorithmOid: algorithm.oid });
}
