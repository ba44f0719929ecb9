/**
 * A CA directory on disk:
 *
 *   ca.pem         the CA certificate
 *   ca.key         its private key, encrypted PKCS#8 PEM, mode 0600
 *   ca-pkcs11.json instead of ca.key: the PKCS#11 URI and module of a key kept on a token (no PIN)
 *   chain.pem      the certificates above it, nearest first (intermediates only)
 *   ca-state.json  what it issued, what it revoked, the last CRL number
 *
 * Every file is replaced atomically, and changes to the state happen under
 * `ca.lock` so two commands issuing at once cannot lose a record.
 */
import { closeSync, existsSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { readFileBytes, writeFileAtomic, writeSecretFile, encodePem } from '../lib/index.js';
import type { CertificateAuthority } from './ca.js';
import { privateKeyNeedsRewrite } from '../crypto/index.js';
import { decryptPrivateKey, encryptPrivateKey } from './ca-key-file.js';
import { type Certificate, parseCertificate, parseCertificates } from './certificate.js';
import { PkiError } from './errors.js';
import { type CrlReason, isCrlReason } from './crl.js';
import { spkiOf } from './key-types.js';
import { type TokenAccess, parsePkcs11Uri, pkcs11Signer, readTokenPublicKey } from './pkcs11-signer.js';
import { type SigningKey, isKeySigner } from './signer.js';

export const CA_FILES = {
  certificate: 'ca.pem',
  key: 'ca.key',
  pkcs11: 'ca-pkcs11.json',
  chain: 'chain.pem',
  state: 'ca-state.json',
  lock: 'ca.lock',
} as const;

export type IssuedKind = 'root' | 'intermediate' | 'cross-sign' | 'tls-server' | 'tls-client' | 'tls' | 'signing';

export interface IssuedRecord {
  serialHex: string;
  kind: IssuedKind;
  subject: string;
  notBefore: string;
  notAfter: string;
  fingerprintSha256: string;
}

export interface RevocationRecord {
  serialHex: string;
  revokedAt: string;
  reason: CrlReason;
}

export interface CaState {
  version: 1;
  /** The number of the last CRL produced, as a decimal string (0 before the first). */
  lastCrlNumber: string;
  issued: IssuedRecord[];
  revoked: RevocationRecord[];
}

/** Lower-case hex of the serial's magnitude, even length, no leading zero bytes: one spelling per serial. */
export function normalizeSerial(text: string): string {
  const hex = text.trim().toLowerCase().replace(/^0x/, '').replace(/:/g, '');
  if (!/^[0-9a-f]{1,42}$/.test(hex)) throw new PkiError('INVALID_REQUEST', `"${text}" is not a hex serial number`);
  const s = BigInt(`0x${hex}`).toString(16);
  return s.length % 2 ? `0${s}` : s;
}

export function serialOf(cert: Certificate): string {
  return normalizeSerial(cert.serialNumber.toString(16));
}

export function recordFor(cert: Certificate, kind: IssuedKind): IssuedRecord {
  return {
    serialHex: serialOf(cert),
    kind,
    subject: cert.subject.text,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    fingerprintSha256: cert.fingerprintSha256,
  };
}

function path(dir: string, file: keyof typeof CA_FILES): string {
  return join(dir, CA_FILES[file]);
}

export interface NewCaDirectory {
  certificateDer: Uint8Array;
  /** A key in memory (written encrypted under `passphrase`) or a token signer (its URI recorded). */
  privateKey: SigningKey;
  passphrase?: string;
  /** The PKCS#11 module path, recorded with a token signer's URI. */
  pkcs11Module?: string;
  /** Certificates above this CA, nearest first. */
  chain?: readonly Uint8Array[];
}

/** Creates a CA directory; refuses to overwrite an existing CA. */
export function createCaDirectory(dir: string, ca: NewCaDirectory): Certificate {
  const certificate = parseCertificate(ca.certificateDer);
  if (Buffer.compare(spkiOf(ca.privateKey), certificate.spki) !== 0) {
    throw new PkiError('INVALID_REQUEST', 'the key does not belong to the CA certificate');
  }
  const keyFile = isKeySigner(ca.privateKey)
    ? { file: path(dir, 'pkcs11'), text: `${JSON.stringify({ uri: ca.privateKey.custody, module: ca.pkcs11Module }, null, 2)}\n` }
    : { file: path(dir, 'key'), text: encryptPrivateKey(ca.privateKey, ca.passphrase ?? '') };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new PkiError('INVALID_REQUEST', `cannot create CA directory ${dir}`, { cause: err });
  }
  if (existsSync(path(dir, 'certificate')) || existsSync(path(dir, 'key')) || existsSync(path(dir, 'pkcs11'))) {
    throw new PkiError('INVALID_REQUEST', `${dir} already holds a CA; refusing to overwrite it`);
  }
  writeSecretFile(keyFile.file, keyFile.text);
  if (ca.chain?.length) writeFileAtomic(path(dir, 'chain'), ca.chain.map((c) => encodePem('CERTIFICATE', c)).join(''));
  const state: CaState = {
    version: 1,
    lastCrlNumber: '0',
    issued: [recordFor(certificate, certificate.isSelfIssued ? 'root' : 'intermediate')],
    revoked: [],
  };
  writeCaState(dir, state);
  // The certificate last: its presence is what marks the directory as a complete CA.
  writeFileAtomic(path(dir, 'certificate'), encodePem('CERTIFICATE', ca.certificateDer));
  return certificate;
}

export function readCaCertificate(dir: string): Certificate {
  const certs = parseCertificates(readFileBytes(path(dir, 'certificate'), 'CA certificate'));
  if (certs.length !== 1) throw new PkiError('CERT_MALFORMED', `${path(dir, 'certificate')} must hold exactly one certificate`);
  return certs[0]!;
}

export function readCaChain(dir: string): Certificate[] {
  if (!existsSync(path(dir, 'chain'))) return [];
  return parseCertificates(readFileBytes(path(dir, 'chain'), 'CA chain'));
}

/** The CA with its key decrypted; CA_KEY_LOCKED on a wrong passphrase. */
export function openCa(dir: string, passphrase: string): CertificateAuthority & { privateKey: KeyObject } {
  const certificate = readCaCertificate(dir);
  const keyPath = path(dir, 'key');
  const pem = Buffer.from(readFileBytes(keyPath, 'CA key')).toString('utf8');
  const privateKey = decryptPrivateKey(pem, passphrase, keyPath);
  if (Buffer.compare(spkiOf(privateKey), certificate.spki) !== 0) {
    throw new PkiError('INVALID_REQUEST', `${keyPath} does not belong to ${path(dir, 'certificate')}`);
  }
  // A key written under the old KDF (PBKDF2, 2,048 iterations) is rewritten under scrypt now.
  if (privateKeyNeedsRewrite(Buffer.from(pem, 'utf8'))) writeSecretFile(keyPath, encryptPrivateKey(privateKey, passphrase));
  return { certificate, privateKey, chain: readCaChain(dir) };
}

/** Where a CA's key lives: on a token (its recorded URI and module), or undefined for the key file. */
export function readCaKeyCustody(dir: string): { uri: string; module?: string } | undefined {
  const file = path(dir, 'pkcs11');
  if (!existsSync(file)) return undefined;
  const record = JSON.parse(Buffer.from(readFileBytes(file, 'CA PKCS#11 record')).toString('utf8')) as { uri?: unknown; module?: unknown };
  if (typeof record?.uri !== 'string' || (record.module !== undefined && typeof record.module !== 'string')) {
    throw new PkiError('INVALID_REQUEST', `${file} is not a halo-keys PKCS#11 record`);
  }
  return typeof record.module === 'string' ? { uri: record.uri, module: record.module } : { uri: record.uri };
}

/** A token CA: the certificate, and a signer for the key on the token (checked to belong to it). */
export function openTokenCa(dir: string, access: TokenAccess): CertificateAuthority {
  const custody = readCaKeyCustody(dir);
  if (!custody) throw new PkiError('INVALID_REQUEST', `${dir} keeps its key in ${CA_FILES.key}, not on a token`);
  const certificate = readCaCertificate(dir);
  const key = parsePkcs11Uri(custody.uri);
  const publicKey = readTokenPublicKey(key, access);
  if (Buffer.compare(spkiOf(publicKey), certificate.spki) !== 0) {
    throw new PkiError('INVALID_REQUEST', `the key at ${custody.uri} does not belong to ${path(dir, 'certificate')}`);
  }
  return { certificate, privateKey: pkcs11Signer(key, access, publicKey), chain: readCaChain(dir) };
}

export function readCaState(dir: string): CaState {
  const file = path(dir, 'state');
  let state: unknown;
  try {
    state = JSON.parse(Buffer.from(readFileBytes(file, 'CA state')).toString('utf8'));
  } catch (err) {
    if (err instanceof PkiError || (err as { code?: string }).code?.startsWith('FILE_')) throw err;
    throw new PkiError('INVALID_REQUEST', `${file} is not valid JSON`, { cause: err });
  }
  if (!isCaState(state)) throw new PkiError('INVALID_REQUEST', `${file} is not a halo-keys CA state file`);
  return state;
}

function isCaState(v: unknown): v is CaState {
  const s = v as CaState;
  return (
    typeof s === 'object' &&
    s !== null &&
    s.version === 1 &&
    typeof s.lastCrlNumber === 'string' &&
    /^\d+$/.test(s.lastCrlNumber) &&
    Array.isArray(s.issued) &&
    Array.isArray(s.revoked) &&
    s.issued.every((r) => typeof r?.serialHex === 'string' && typeof r.notAfter === 'string') &&
    s.revoked.every((r) => typeof r?.serialHex === 'string' && typeof r.revokedAt === 'string' && isCrlReason(String(r.reason)))
  );
}

export function writeCaState(dir: string, state: CaState): void {
  writeFileAtomic(path(dir, 'state'), `${JSON.stringify(state, null, 2)}\n`);
}

/** Runs `fn` holding the directory's lock file; a second writer fails fast instead of racing. */
export function withCaLock<T>(dir: string, fn: () => T): T {
  const lock = path(dir, 'lock');
  let fd: number;
  try {
    fd = openSync(lock, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new PkiError('INVALID_REQUEST', `${lock} exists: another halo-keys command is using this CA (remove the file if none is)`);
    }
    throw new PkiError('INVALID_REQUEST', `cannot lock ${dir}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
  }
  try {
    writeSync(fd, `${process.pid}\n`);
    closeSync(fd);
    return fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Adds a revocation. A certificate on hold may later be revoked for good
 * (the reason is replaced); any other repeat is refused.
 */
export function addRevocation(state: CaState, serial: string, reason: CrlReason, at: Date): RevocationRecord {
  const serialHex = normalizeSerial(serial);
  if (reason === 'removeFromCRL') throw new PkiError('INVALID_REQUEST', 'removeFromCRL is for delta CRLs; release the hold instead');
  if (!state.issued.some((r) => r.serialHex === serialHex)) {
    throw new PkiError('INVALID_REQUEST', `serial ${serialHex} was not issued by this CA`);
  }
  const existing = state.revoked.find((r) => r.serialHex === serialHex);
  if (existing) {
    if (existing.reason !== 'certificateHold' || reason === 'certificateHold') {
      throw new PkiError('INVALID_REQUEST', `serial ${serialHex} is already revoked (${existing.reason})`);
    }
    existing.reason = reason;
    return existing;
  }
  const record = { serialHex, revokedAt: at.toISOString(), reason };
  state.revoked.push(record);
  return record;
}

/** Lifts a certificateHold: the serial leaves the next CRL. */
export function releaseHold(state: CaState, serial: string): void {
  const serialHex = normalizeSerial(serial);
  const index = state.revoked.findIndex((r) => r.serialHex === serialHex);
  if (index < 0) throw new PkiError('INVALID_REQUEST', `serial ${serialHex} is not revoked`);
  if (state.revoked[index]!.reason !== 'certificateHold') {
    throw new PkiError('INVALID_REQUEST', `serial ${serialHex} is revoked (${state.revoked[index]!.reason}), not on hold`);
  }
  state.revoked.splice(index, 1);
}

/** Takes the next CRL number (CRL numbers must increase, §5.2.3). */
export function takeCrlNumber(state: CaState): bigint {
  const next = BigInt(state.lastCrlNumber) + 1n;
  state.lastCrlNumber = next.toString();
  return next;
}
