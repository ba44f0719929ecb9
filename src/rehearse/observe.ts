/**
 * Looking from outside at what a drill did: the Kingdom's answers (as the
 * participant, over mTLS), the keyring files, the rendered TLS Secret,
 * `openssl s_client` against the served endpoint and `openssl crl` on the
 * CRL. Nothing here changes anything.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KingdomClient } from '../client/index.js';
import { decryptMessage, type Keyset } from '../crypto/index.js';
import { EventGroup_MetadataSchema } from '../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { sha256Hex } from '../lib/digest.js';
import { decodePem } from '../lib/pem.js';
import { systemClock } from '../lib/clock.js';
import {
  type KeyKind,
  activeEntry,
  readKeyring,
  type KeyEntry,
  connectKingdomClient,
  KeyringSession,
} from '../rotation/index.js';
import { renderedTlsPair } from './cluster.js';
import type { Participant } from './participants.js';

export function active(p: Participant, kind: KeyKind): KeyEntry {
  const e = activeEntry(readKeyring(p.dir), kind);
  if (!e) throw new Error(`${p.label} has no active ${kind} entry`);
  return e;
}

export function entry(p: Participant, id: string): KeyEntry {
  const e = readKeyring(p.dir).entries.find((x) => x.id === id);
  if (!e) throw new Error(`${p.label} has no entry ${id}`);
  return e;
}

export function session(p: Participant, passphrase: string): KeyringSession {
  return KeyringSession.open(p.dir, { clock: systemClock, passphrase: () => passphrase });
}

export function clientOf(p: Participant, passphrase: string): KingdomClient {
  return connectKingdomClient(session(p, passphrase));
}

export function privateKeyset(p: Participant, passphrase: string): Keyset {
  const s = session(p, passphrase);
  return s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
}

/** Runs `file` with stdin at end of file (s_client then quits after the handshake); its stdout. */
function execText(file: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.resume();
    child.once('error', reject);
    child.once('close', (code) => (out || code === 0 ? resolve(out) : reject(new Error(`${file} ${args[0]} exited ${code}`))));
  });
}

function firstCertificateDer(pem: string): Uint8Array {
  const block = decodePem(pem).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw new Error('no certificate');
  return block.der;
}

/** SHA-256 (hex) of the leaf `openssl s_client` is served at `address`. */
export async function servedFingerprint(address: string): Promise<string> {
  const out = await execText('openssl', ['s_client', '-connect', address, '-servername', 'localhost']);
  return sha256Hex(firstCertificateDer(out));
}

/** SHA-256 (hex) of the leaf in the participant's rendered Secret. */
export function renderedFingerprint(p: Participant): string {
  const pair = renderedTlsPair(p.rendered);
  if (!pair) throw new Error(`no rendered TLS Secret at ${p.rendered}`);
  return sha256Hex(firstCertificateDer(Buffer.from(pair.cert).toString('latin1')));
}

/** `openssl crl -text` of the participant's CRL. */
export function crlText(p: Participant): Promise<string> {
  return execText('openssl', ['crl', '-in', join(p.dir, 'crl.pem'), '-noout', '-text']);
}

/** Whether `openssl crl` lists `serialHex` as revoked for key compromise. */
export async function crlRevokes(p: Participant, serialHex: string): Promise<boolean> {
  const text = await crlText(p);
  const at = text.toUpperCase().indexOf(`SERIAL NUMBER: ${serialHex.toUpperCase()}`);
  return at >= 0 && /Key Compromise/i.test(text.slice(at, at + 400));
}

/** The Kingdom's Certificate `name`, its DER fingerprint compared with the keyring's entry. */
export async function kingdomCertificateMatches(client: KingdomClient, e: KeyEntry): Promise<string> {
  if (!e.kingdomCertificate) throw new Error(`${e.id} is not registered at the Kingdom`);
  const c = await client.certificates.getCertificate({ name: e.kingdomCertificate });
  if (sha256Hex(c.x509Der) !== e.fingerprint) throw new Error(`${e.kingdomCertificate} is not the keyring's certificate`);
  return e.kingdomCertificate;
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

/** Whether the keyset opens an encrypted EventGroup.Metadata (the outside check of a re-encryption). */
export function decrypts(keyset: Keyset, message: Parameters<typeof decryptMessage>[1]): boolean {
  try {
    decryptMessage(keyset, message, EventGroup_MetadataSchema);
    return true;
  } catch {
    return false;
  }
}
