/**
 * Key material of the keyring on disk: certificate PEMs, private keys as
 * encrypted PKCS#8 PEM (mode 0600), and one encrypted private Tink keyset for
 * every encryption key, in the same passphrase (scrypt) envelope as
 * `halo-keys keyset encrypt`, so `halo-keys keyset inspect|public|decrypt
 * --passphrase-file` open it. The passphrase comes from `--passphrase-file`
 * or `HALO_KEYS_PASSPHRASE`, never from a flag value.
 */
import {
  sha256Hex,
  systemClock,
  type Clock,
  readFileBytes,
  writeFileAtomic,
  writeSecretFile,
  encodePem,
} from '../lib/index.js';
import { scryptSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  exportEncryptedPrivateKeyPem,
  loadPrivateKey,
  privateKeyNeedsRewrite,
  type Pkcs8EncryptionOptions,
  publicKeyset,
  type Keyset,
  readKeyset,
  saveKeyset,
  keysetBytes,
  type KeysetProtection,
} from '../crypto/index.js';
import { type Certificate, parseCertificates } from '../pki/index.js';
import { RotationError } from './errors.js';
import type { KeyEntry, KeysetKdf } from './keyring.js';
import { acquireLock, readLockOwner } from './lock.js';

export const PASSPHRASE_ENV = 'HALO_KEYS_PASSPHRASE';
export const KEYS_DIR = 'keys';
export const ENCRYPTION_KEYSET_FILE = `${KEYS_DIR}/encryption_private.tink`;

const MIN_PASSPHRASE = 8;

/** The passphrase from the file's first line or HALO_KEYS_PASSPHRASE. */
export function resolveKeyringPassphrase(file: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const value = file ? Buffer.from(readFileBytes(file, 'passphrase file')).toString('utf8').split(/\r?\n/)[0] : env[PASSPHRASE_ENV];
  if (!value) throw new RotationError('PASSPHRASE_REQUIRED', `the keyring's private keys are encrypted: set ${PASSPHRASE_ENV} or pass --passphrase-file FILE`);
  if ([...value].length < MIN_PASSPHRASE) throw new RotationError('PASSPHRASE_REQUIRED', `the keyring passphrase must have at least ${MIN_PASSPHRASE} characters`);
  return value;
}

export { sha256Hex };

export function hex(bytes: Uint8Array | undefined): string {
  return bytes ? Buffer.from(bytes).toString('hex') : '';
}

/** File names of a certificate entry, relative to the state directory. */
export function certificateFiles(id: string): { certificateFile: string; privateKeyFile: string } {
  return { certificateFile: `${KEYS_DIR}/${id}.crt.pem`, privateKeyFile: `${KEYS_DIR}/${id}.key.pem` };
}

/** Lazily unlocks key material; the passphrase is asked for only when a private key is needed. */
export class KeyMaterial {
  readonly dir: string;
  readonly #passphrase: () => string;
  #cached: string | undefined;
  /** The last keyset read or written per file, so a rotation parses and decrypts it once. */
  readonly #keysets = new Map<string, Keyset>();

  readonly #kdf: () => KeysetKdf | undefined;
  readonly #clock: Clock;

  constructor(dir: string, passphrase: () => string, kdf: () => KeysetKdf | undefined = () => undefined, clock: Clock = systemClock) {
    this.dir = dir;
    this.#passphrase = passphrase;
    this.#kdf = kdf;
    this.#clock = clock;
  }

  /**
   * The keyset's envelope: the passphrase through scrypt, with the keyring's
   * recorded salt and parameters so every rewrite reuses the key
   * keyset-encryption derived once in this process.
   */
  #keysetProtection(): KeysetProtection {
    const kdf = this.#kdf();
    if (!kdf) return { passphrase: this.passphrase() };
    return { passphrase: this.passphrase(), scrypt: { log2N: kdf.log2N, r: kdf.r, p: kdf.p }, salt: Buffer.from(kdf.salt, 'hex') };
  }

  /**
   * Keyrings made before the keyset used the passphrase envelope sealed it
   * under `scrypt(passphrase, keysetKdf)` as a raw key. Reads such a keyset,
   * or returns undefined when it is not one.
   */
  #readLegacyKeyset(bytes: Uint8Array): Keyset | undefined {
    const kdf = this.#kdf();
    if (!kdf) return undefined;
    const N = 2 ** kdf.log2N;
    const key = new Uint8Array(scryptSync(this.passphrase(), Buffer.from(kdf.salt, 'hex'), 32, { N, r: kdf.r, p: kdf.p, maxmem: 256 * N * kdf.r + (1 << 20) }));
    try {
      return readKeyset(bytes, { key }).keyset;
    } catch {
      return undefined;
    }
  }

  /** Rewrites a legacy keyset in the passphrase envelope (under the lock: see below). */
  #migrateKeyset(relative: string, keyset: Keyset, bytesRead: Uint8Array): void {
    this.#rewriteUnderLock(relative, bytesRead, 'keyset envelope upgrade', () =>
      saveKeyset(this.path(relative), keyset, { protection: this.#keysetProtection() }),
    );
  }

  /**
   * Rewrites `relative` (read as `bytesRead`) under the keyring lock, so it
   * cannot overwrite a rotation's newer file, and only if nobody rewrote it
   * since. A rotation of this process already holds the
   * lock; when another process holds it, the file stays as it is (still
   * readable) and a later run converts it.
   */
  #rewriteUnderLock(relative: string, bytesRead: Uint8Array, command: string, write: () => void): void {
    const rewrite = () => {
      if (!Buffer.from(readFileBytes(this.path(relative), 'key file')).equals(bytesRead)) return;
      write();
    };
    if (readLockOwner(this.dir)?.pid === process.pid) return rewrite();
    let lock;
    try {
      lock = acquireLock(this.dir, { clock: this.#clock, command });
    } catch (err) {
      if ((err as { code?: string }).code === 'LOCKED') return;
      throw err;
    }
    try {
      rewrite();
    } finally {
      lock.release();
    }
  }

  /**
   * Private keys use the keyring's recorded salt too (with the PKCS#8
   * parameters OpenSSL can read), so writing or opening all of a keyring's
   * keys costs one scrypt run per process.
   */
  #privateKeyEncryption(): Pkcs8EncryptionOptions {
    const kdf = this.#kdf();
    return kdf ? { salt: Buffer.from(kdf.salt, 'hex') } : {};
  }

  passphrase(): string {
    this.#cached ??= this.#passphrase();
    return this.#cached;
  }

  path(relative: string): string {
    return join(this.dir, relative);
  }

  ensureKeysDir(): void {
    mkdirSync(join(this.dir, KEYS_DIR), { recursive: true, mode: 0o700 });
  }

  /** Writes the encrypted key, then the certificate: a certificate file on disk always has its key. */
  writeCertificateAndKey(id: string, der: Uint8Array, privateKey: KeyObject): { certificateFile: string; privateKeyFile: string } {
    this.ensureKeysDir();
    const files = certificateFiles(id);
    writeSecretFile(this.path(files.privateKeyFile), exportEncryptedPrivateKeyPem(privateKey, this.passphrase(), this.#privateKeyEncryption()));
    writeFileAtomic(this.path(files.certificateFile), encodePem('CERTIFICATE', der));
    return files;
  }

  hasFiles(entry: KeyEntry): boolean {
    return !!entry.certificateFile && !!entry.privateKeyFile && existsSync(this.path(entry.certificateFile)) && existsSync(this.path(entry.privateKeyFile));
  }

  certificate(entry: KeyEntry): Certificate {
    if (!entry.certificateFile) throw new RotationError('KEYRING_CORRUPT', `${entry.id} has no certificate`);
    const certs = parseCertificates(readFileBytes(this.path(entry.certificateFile), 'certificate'));
    if (certs.length !== 1) throw new RotationError('KEYRING_CORRUPT', `${entry.certificateFile} must hold one certificate`);
    return certs[0]!;
  }

  privateKey(entry: KeyEntry): KeyObject {
    if (!entry.privateKeyFile) throw new RotationError('KEYRING_CORRUPT', `${entry.id} has no private key`);
    const relative = entry.privateKeyFile;
    const bytes = readFileBytes(this.path(relative), 'private key');
    let key: KeyObject;
    try {
      key = loadPrivateKey(bytes, { passphrase: this.passphrase() });
    } catch (err) {
      throw new RotationError('PASSPHRASE_WRONG', `cannot decrypt ${relative}: wrong passphrase or damaged file`, { cause: err });
    }
    // Keys written under PBKDF2 at 2,048 iterations are rewritten under scrypt.
    if (privateKeyNeedsRewrite(bytes)) {
      this.#rewriteUnderLock(relative, bytes, 'private key KDF upgrade', () =>
        writeSecretFile(this.path(relative), exportEncryptedPrivateKeyPem(key, this.passphrase(), this.#privateKeyEncryption())),
      );
    }
    return key;
  }

  /** Unencrypted PKCS#8 PEM, for consumers that cannot take a passphrase (a Kubernetes TLS Secret, the TLS client). */
  privateKeyPem(entry: KeyEntry): string {
    return this.privateKey(entry).export({ format: 'pem', type: 'pkcs8' }) as string;
  }

  encryptionKeysetExists(relative: string): boolean {
    return existsSync(this.path(relative));
  }

  loadEncryptionKeyset(relative: string): Keyset {
    const cached = this.#keysets.get(relative);
    if (cached) return cached;
    const bytes = readFileBytes(this.path(relative), 'encryption keyset');
    let keyset: Keyset;
    try {
      keyset = readKeyset(bytes, { passphrase: this.passphrase() }).keyset;
    } catch (err) {
      if ((err as { code?: string }).code !== 'KEYSET_DECRYPTION_FAILED') throw err;
      const legacy = this.#readLegacyKeyset(bytes);
      if (!legacy) throw new RotationError('PASSPHRASE_WRONG', `cannot decrypt ${relative}: wrong passphrase or damaged file`, { cause: err });
      this.#migrateKeyset(relative, legacy, bytes);
      keyset = legacy;
    }
    this.#keysets.set(relative, keyset);
    return keyset;
  }

  saveEncryptionKeyset(relative: string, keyset: Keyset): void {
    this.ensureKeysDir();
    this.#keysets.delete(relative);
    saveKeyset(this.path(relative), keyset, { protection: this.#keysetProtection() });
    this.#keysets.set(relative, keyset);
  }
}

/** SHA-256 of one key's public key data: the fingerprint of an encryption key. */
export function encryptionKeyFingerprint(keyset: Keyset, keyId: number): string {
  const pub = publicKeyset(keyset).key.find((k) => k.keyId === keyId);
  return sha256Hex(pub?.keyData?.value ?? new Uint8Array(0));
}

export { keysetBytes };
