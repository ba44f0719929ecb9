/**
 * The CA private key at rest: PKCS#8 encrypted with a passphrase (PBES2 with
 * scrypt and AES-256-CBC; PEM `ENCRYPTED PRIVATE KEY`, which `openssl pkey`
 * reads), written mode 0600. A key written before under PBKDF2 still opens and
 * is rewritten under scrypt the next time the CA opens it. The passphrase comes from a file or the environment,
 * never from a command-line value, which other users could read from the
 * process table.
 */
import type { KeyObject } from 'node:crypto';
import { exportEncryptedPrivateKeyPem, loadPrivateKey } from '../crypto/index.js';
import { readFileBytes } from '../lib/index.js';
import { PkiError } from './errors.js';

export const PASSPHRASE_ENV = 'HALO_KEYS_CA_PASSPHRASE';

const MIN_PASSPHRASE_LENGTH = 8;

export interface PassphraseSource {
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** The passphrase from `file` (first line) or `HALO_KEYS_CA_PASSPHRASE`; CA_KEY_LOCKED when neither is set. */
export function resolvePassphrase(source: PassphraseSource): string {
  let passphrase: string | undefined;
  if (source.file) {
    passphrase = Buffer.from(readFileBytes(source.file, 'passphrase file')).toString('utf8').split(/\r?\n/)[0];
  } else {
    passphrase = (source.env ?? process.env)[PASSPHRASE_ENV];
  }
  if (!passphrase) {
    throw new PkiError('CA_KEY_LOCKED', `the CA key is encrypted: set ${PASSPHRASE_ENV} or pass --passphrase-file FILE`);
  }
  return passphrase;
}

export function encryptPrivateKey(privateKey: KeyObject, passphrase: string): string {
  if ([...passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new PkiError('INVALID_REQUEST', `the CA passphrase must have at least ${MIN_PASSPHRASE_LENGTH} characters`);
  }
  return exportEncryptedPrivateKeyPem(privateKey, passphrase);
}

/** Decrypts; a wrong passphrase or an altered file is CA_KEY_LOCKED, with no detail about the key. */
export function decryptPrivateKey(pem: string, passphrase: string, path: string): KeyObject {
  if (!pem.includes('-----BEGIN ENCRYPTED PRIVATE KEY-----')) {
    throw new PkiError('CA_KEY_LOCKED', `${path} is not an encrypted PKCS#8 key; refusing to use an unprotected CA key`);
  }
  try {
    return loadPrivateKey(Buffer.from(pem, 'utf8'), { passphrase });
  } catch (err) {
    throw new PkiError('CA_KEY_LOCKED', `cannot decrypt the CA key ${path}: wrong passphrase or damaged file`, { cause: err });
  }
}
