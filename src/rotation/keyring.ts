/**
 * The keyring inventory (`keyring.json`): every key and certificate the
 * participant has had, with its state history, and what is published at the
 * Kingdom. It is rewritten atomically as a whole, so a reader (or a crash)
 * only ever sees a complete inventory. Key material lives in separate files
 * (see `keyring-files.ts`); this file holds names, SKIDs and fingerprints.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readFileBytes, writeFileAtomic } from '../lib/index.js';
import { KEY_KINDS, type KeyKind } from './config.js';
import { RotationError } from './errors.js';

export const KEYRING_FILE = 'keyring.json';

export type KeyState = 'pending' | 'active' | 'retiring' | 'retired' | 'compromised';
export const KEY_STATES: readonly KeyState[] = ['pending', 'active', 'retiring', 'retired', 'compromised'];

export interface StateChange {
  at: string;
  from: KeyState | null;
  to: KeyState;
  reason: string;
}

export interface KeyEntry {
  /** Stable local id, e.g. `signing-20260101t000000z-3f2a`; also names the key files. */
  id: string;
  kind: KeyKind;
  state: KeyState;
  createdAt: string;
  origin: 'generated' | 'imported';
  /** SHA-256 of the certificate DER, or of the public key data for an encryption key. */
  fingerprint: string;
  // Certificates (tls, signing)
  certificateFile?: string;
  privateKeyFile?: string;
  subject?: string;
  serialHex?: string;
  notBefore?: string;
  notAfter?: string;
  /** subjectKeyIdentifier, lower-case hex. */
  skid?: string;
  /** The Kingdom `Certificate` it is registered as. */
  kingdomCertificate?: string;
  /** The Kingdom revocation state last set or seen. */
  kingdomRevocation?: 'HOLD' | 'REVOKED';
  // Encryption keys
  tinkKeyId?: number;
  /** When the private key material was destroyed (the entry stays for history). */
  destroyedAt?: string;
  history: StateChange[];
}

/** The EncryptionPublicKey currently published at the Kingdom, as this keyring last set it. */
export interface Publication {
  /** `dataProviders/{id}/publicKey` etc. */
  publicKey: string;
  /** The certificate the SignedMessage was made with (Kingdom name). */
  certificate: string;
  signingEntryId: string;
  primaryKeyId: number;
  keyIds: number[];
  /** SHA-256 of the serialized EncryptionPublicKey message that was signed. */
  messageSha256: string;
  at: string;
}

export interface Keyring {
  version: 1;
  /** The registered name once known (`sync`/registration), else the config's collection. */
  participant: string;
  createdAt: string;
  /** Relative path of the encrypted private Tink keyset holding every encryption key. */
  encryptionKeyset: string;
  entries: KeyEntry[];
  publication?: Publication;
  /**
   * The salt and scrypt parameters of the keyset's passphrase envelope, reused
   * on every rewrite so a run derives the key once (a derivation per keyset
   * write would dominate a rotation). Absent: each write picks a fresh salt.
   * Keyrings made before the envelope sealed the keyset under this derivation
   * as a raw key; they are rewritten in the envelope when first opened.
   */
  keysetKdf?: KeysetKdf;
}

export interface KeysetKdf {
  /** Hex, 16 bytes. */
  salt: string;
  log2N: number;
  r: number;
  p: number;
}

export function keyringPath(dir: string): string {
  return join(dir, KEYRING_FILE);
}

export function keyringExists(dir: string): boolean {
  return existsSync(keyringPath(dir));
}

function corrupt(message: string): RotationError {
  return new RotationError('KEYRING_CORRUPT', `${KEYRING_FILE}: ${message}`);
}

function checkEntry(e: unknown, i: number): KeyEntry {
  const x = e as KeyEntry;
  const at = `entry ${i}`;
  if (typeof x !== 'object' || x === null) throw corrupt(`${at} is not an object`);
  if (typeof x.id !== 'string' || !/^[a-z0-9][a-z0-9.-]*$/.test(x.id)) throw corrupt(`${at} has a bad id`);
  if (!KEY_KINDS.includes(x.kind)) throw corrupt(`${x.id} has an unknown kind`);
  if (!KEY_STATES.includes(x.state)) throw corrupt(`${x.id} has an unknown state`);
  if (typeof x.createdAt !== 'string' || Number.isNaN(Date.parse(x.createdAt))) throw corrupt(`${x.id} has no creation time`);
  if (!Array.isArray(x.history)) throw corrupt(`${x.id} has no history`);
  if (x.kind === 'encryption') {
    if (typeof x.tinkKeyId !== 'number') throw corrupt(`${x.id} has no Tink key id`);
  } else if (typeof x.certificateFile !== 'string' || typeof x.privateKeyFile !== 'string' || typeof x.skid !== 'string') {
    throw corrupt(`${x.id} lacks its certificate, key file or SKID`);
  }
  return x;
}

export function parseKeyring(text: string): Keyring {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RotationError('KEYRING_CORRUPT', `${KEYRING_FILE} is not JSON`, { cause: err });
  }
  const k = raw as Keyring;
  if (typeof k !== 'object' || k === null || k.version !== 1) throw corrupt('not a version 1 keyring');
  if (typeof k.participant !== 'string' || typeof k.encryptionKeyset !== 'string' || !Array.isArray(k.entries)) throw corrupt('missing fields');
  k.entries.forEach(checkEntry);
  if (k.keysetKdf !== undefined) {
    const f = k.keysetKdf;
    const int = (v: unknown, lo: number, hi: number) => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi;
    if (typeof f?.salt !== 'string' || !/^[0-9a-f]{32}$/.test(f.salt) || !int(f.log2N, 10, 20) || !int(f.r, 1, 32) || !int(f.p, 1, 16)) {
      throw corrupt('keysetKdf out of range');
    }
  }
  const ids = new Set<string>();
  for (const e of k.entries) {
    if (ids.has(e.id)) throw corrupt(`duplicate entry id ${e.id}`);
    ids.add(e.id);
  }
  return k;
}

export function readKeyring(dir: string): Keyring {
  const file = keyringPath(dir);
  if (!existsSync(file)) throw new RotationError('KEYRING_NOT_FOUND', `${file} not found: run halo-keys init or import first`);
  return parseKeyring(Buffer.from(readFileBytes(file, KEYRING_FILE)).toString('utf8'));
}

export function writeKeyring(dir: string, keyring: Keyring): void {
  writeFileAtomic(keyringPath(dir), `${JSON.stringify(keyring, null, 2)}\n`, { mode: 0o600 });
}

// --- queries ----------------------------------------------------------------

export function findEntry(keyring: Keyring, id: string): KeyEntry | undefined {
  return keyring.entries.find((e) => e.id === id);
}

export function requireEntry(keyring: Keyring, id: string): KeyEntry {
  const e = findEntry(keyring, id);
  if (!e) throw corrupt(`no entry ${id}`);
  return e;
}

/** The one active entry of a kind (the newest, should there be several after a manual edit). */
export function activeEntry(keyring: Keyring, kind: KeyKind): KeyEntry | undefined {
  const active = keyring.entries.filter((e) => e.kind === kind && e.state === 'active');
  return active.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt))[0];
}

export function entriesOf(keyring: Keyring, kind: KeyKind, state?: KeyState): KeyEntry[] {
  return keyring.entries.filter((e) => e.kind === kind && (state === undefined || e.state === state));
}

/** Moves an entry to a new state and records why; a no-op when it is already there. */
export function transition(entry: KeyEntry, to: KeyState, at: Date, reason: string): boolean {
  if (entry.state === to) return false;
  entry.history.push({ at: at.toISOString(), from: entry.state, to, reason });
  entry.state = to;
  return true;
}

/** A new entry id: kind, creation time, and a short random suffix so two in one second differ. */
export function newEntryId(kind: KeyKind, at: Date, suffix: string): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase();
  return `${kind}-${stamp}-${suffix}`;
}
