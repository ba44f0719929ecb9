/**
 * Reading the files a signing command takes (certificate, signing key,
 * passphrase) with errors that name the file. Shared by `halo-keys
 * sign|verify` and `EncryptionPublicKeys sign`.
 */
import type { KeyObject } from 'node:crypto';
import {
  readCertificateInfo,
  type CertificateInfo,
  CryptoError,
  isEncryptedPrivateKey,
  loadPrivateKey,
  SIGNATURE_ALGORITHM_NAMES,
  signatureAlgorithmByName,
  type SignatureAlgorithm,
} from '../crypto/index.js';
import { readFileBytes } from '../lib/index.js';
import { UsageError } from './run.js';

/** The environment variable that may hold a signing key's passphrase (never a flag value: argv is visible to others). */
export const PASSPHRASE_ENV = 'HALO_KEYS_PASSPHRASE';

function inFile<T>(path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CryptoError) throw new CryptoError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The passphrase from `--passphrase-file` (one trailing newline dropped) or `HALO_KEYS_PASSPHRASE`. */
export function readPassphrase(passphraseFile: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (passphraseFile !== undefined) {
    const text = Buffer.from(readFileBytes(passphraseFile, 'passphrase file')).toString('utf8').replace(/\r?\n$/, '');
    if (text.length === 0) throw new UsageError(`passphrase file ${passphraseFile} is empty`);
    return text;
  }
  const fromEnv = env[PASSPHRASE_ENV];
  return fromEnv ? fromEnv : undefined;
}

export function readCertificateFile(path: string): CertificateInfo {
  const bytes = readFileBytes(path, 'certificate');
  return inFile(path, () => readCertificateInfo(bytes));
}

/** Loads a signing key (PKCS#8 DER/PEM, SEC1 PEM, or encrypted PKCS#8 with a passphrase). */
export function readSigningKeyFile(path: string, passphraseFile?: string): KeyObject {
  const bytes = readFileBytes(path, 'signing key');
  const encrypted = isEncryptedPrivateKey(bytes);
  const passphrase = encrypted ? readPassphrase(passphraseFile) : undefined;
  if (encrypted && passphrase === undefined) {
    throw new UsageError(`signing key ${path} is encrypted: give --passphrase-file or set ${PASSPHRASE_ENV}`);
  }
  return inFile(path, () => loadPrivateKey(bytes, passphrase === undefined ? {} : { passphrase }));
}

/** `--signature-algorithm NAME` (an upstream enum name), or undefined when not given. */
export function parseSignatureAlgorithmOption(name: string | undefined): SignatureAlgorithm | undefined {
  if (name === undefined) return undefined;
  try {
    return signatureAlgorithmByName(name.toUpperCase());
  } catch {
    throw new UsageError(`unknown --signature-algorithm ${JSON.stringify(name)} (one of ${SIGNATURE_ALGORITHM_NAMES.join(', ')})`);
  }
}
