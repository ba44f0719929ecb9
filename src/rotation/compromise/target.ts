/** Which keyring entry a compromise names: a certificate by Kingdom name or SKID, an encryption key by Tink key id. */
import { RotationError } from '../errors.js';
import { activeEntry, type KeyEntry } from '../keyring.js';
import type { KeyringSession } from '../session.js';

export function normalizeSkid(text: string): string {
  const hex = text.trim().toLowerCase().replace(/:/g, '');
  if (!/^([0-9a-f]{2})+$/.test(hex)) throw new RotationError('TARGET_NOT_FOUND', `"${text.slice(0, 80)}" is not a hex subject key identifier`);
  return hex;
}

export function certificateTarget(session: KeyringSession, by: { name?: string; skid?: string }): KeyEntry {
  const certificates = session.keyring.entries.filter((e) => e.kind === 'tls' || e.kind === 'signing');
  let found: KeyEntry[];
  let what: string;
  if (by.name !== undefined && by.skid === undefined) {
    found = certificates.filter((e) => e.kingdomCertificate === by.name);
    what = `registered as ${by.name} (run halo-keys sync if it is)`;
  } else if (by.skid !== undefined && by.name === undefined) {
    const skid = normalizeSkid(by.skid);
    found = certificates.filter((e) => e.skid === skid);
    what = `with SKID ${skid}`;
  } else {
    throw new RotationError('TARGET_NOT_FOUND', 'name the certificate by its Kingdom name or by --skid, one of the two');
  }
  if (found.length === 0) throw new RotationError('TARGET_NOT_FOUND', `no certificate in the keyring ${what}`);
  if (found.length > 1) throw new RotationError('TARGET_NOT_FOUND', `${found.length} certificates in the keyring ${what}: ${found.map((e) => e.id).join(', ')}`);
  return found[0]!;
}

/** The key with this Tink key id, or the active one. */
export function encryptionKeyTarget(session: KeyringSession, keyId?: number): KeyEntry {
  const entry =
    keyId === undefined ? activeEntry(session.keyring, 'encryption') : session.keyring.entries.find((e) => e.kind === 'encryption' && e.tinkKeyId === keyId);
  if (!entry) throw new RotationError('TARGET_NOT_FOUND', keyId === undefined ? 'the keyring has no active encryption key' : `no encryption key with Tink key id ${keyId} in the keyring`);
  return entry;
}
