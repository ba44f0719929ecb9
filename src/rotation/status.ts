/**
 * `halo-keys status`: every key and certificate with its age, expiry, next
 * due date and what is wrong, plus a comparison with what the Kingdom shows
 * when one is configured and answers. Problems are `error` (overdue, expired,
 * inconsistent: exit 3, so a deployment can be gated on it) or `warning`.
 */
import { isRegisteredName, keyKindsOf, type KeyKind } from './config.js';
import { readJournal } from './journal/journal.js';
import { activeEntry, type KeyEntry } from './keyring.js';
import type { KingdomPort } from './kingdom-port.js';
import { sha256Hex } from './keyring-files.js';
import { urgency, type Urgency } from './policy.js';
import type { KeyringSession } from './session.js';

export const STATUS_EXIT = { OK: 0, ATTENTION: 3 } as const;

export interface StatusProblem {
  severity: 'error' | 'warning';
  entry?: string;
  code:
    | 'expired'
    | 'overdue'
    | 'due'
    | 'missing'
    | 'unregistered'
    | 'signed-by-retired'
    | 'published-not-active'
    | 'kingdom-differs'
    | 'kingdom-unreachable'
    | 'rotation-unfinished'
    | 'not-yet-valid'
    | 'pending';
  message: string;
}

export interface StatusRow {
  id: string;
  kind: KeyKind;
  state: KeyEntry['state'];
  createdAt: string;
  ageMs: number;
  notAfter?: string;
  /** Until notAfter (negative once expired). */
  remainingMs?: number;
  /** For active entries: the next rotation. */
  dueAt?: string;
  urgency?: Urgency;
  skid?: string;
  fingerprint: string;
  kingdomCertificate?: string;
  tinkKeyId?: number;
  published?: boolean;
  /** Where the private key lives: its file under the state directory, or its PKCS#11 URI (no PIN). */
  key: string;
}

export interface StatusReport {
  participant: string;
  at: string;
  rows: StatusRow[];
  problems: StatusProblem[];
  kingdom: 'not-configured' | 'unregistered' | 'compared' | 'unreachable';
  exitCode: number;
}

export interface StatusOptions {
  /** Compare with the Kingdom through this port (omit to skip). */
  kingdom?: KingdomPort;
}

export async function collectStatus(session: KeyringSession, options: StatusOptions = {}): Promise<StatusReport> {
  const now = session.now();
  const { keyring, config } = session;
  const problems: StatusProblem[] = [];
  const publication = keyring.publication;
  // An encryption key left in the keyring of a party that publishes none is listed, not scheduled.
  const held = keyKindsOf(config.participantKind);
  const rows: StatusRow[] = keyring.entries.map((e) => {
    const row: StatusRow = {
      id: e.id,
      kind: e.kind,
      state: e.state,
      createdAt: e.createdAt,
      ageMs: now.getTime() - Date.parse(e.createdAt),
      fingerprint: e.fingerprint,
      key: e.privateKeyUri ?? (e.kind === 'encryption' ? (e.destroyedAt ? 'destroyed' : keyring.encryptionKeyset) : (e.privateKeyFile ?? '-')),
      ...(e.notAfter ? { notAfter: e.notAfter, remainingMs: Date.parse(e.notAfter) - now.getTime() } : {}),
      ...(e.skid ? { skid: e.skid } : {}),
      ...(e.kingdomCertificate ? { kingdomCertificate: e.kingdomCertificate } : {}),
      ...(e.tinkKeyId !== undefined ? { tinkKeyId: e.tinkKeyId } : {}),
    };
    if (e.kind === 'encryption' && publication) row.published = publication.primaryKeyId === e.tinkKeyId;
    // A rehearsal at a later instant must never leave an active certificate that cannot be used yet.
    if (e.state === 'active' && e.notBefore && Date.parse(e.notBefore) > now.getTime()) {
      problems.push({ severity: 'error', entry: e.id, code: 'not-yet-valid', message: `active ${e.kind} ${e.id} is not valid before ${e.notBefore}` });
    }
    if (e.state === 'pending') {
      problems.push({ severity: 'error', entry: e.id, code: 'pending', message: `${e.kind} ${e.id} is pending: finish the rotation (halo-keys rotate) or abandon it (halo-keys rotate --abort)` });
    }
    if (e.state === 'active' && held.includes(e.kind)) {
      const u = urgency(e, config.policy, e.kind, now);
      row.dueAt = u.schedule.dueAt.toISOString();
      row.urgency = u.urgency;
      if (u.urgency === 'expired') problems.push({ severity: 'error', entry: e.id, code: 'expired', message: `${e.kind} ${e.id} expired at ${e.notAfter}` });
      else if (u.urgency === 'overdue') problems.push({ severity: 'error', entry: e.id, code: 'overdue', message: `${e.kind} ${e.id} was due at ${row.dueAt}` });
      else if (u.urgency === 'due') problems.push({ severity: 'warning', entry: e.id, code: 'due', message: `${e.kind} ${e.id} is due (since ${row.dueAt})` });
    }
    return row;
  });

  const registered = isRegisteredName(session.participant);
  for (const kind of held) {
    if (!activeEntry(keyring, kind)) problems.push({ severity: 'warning', code: 'missing', message: `no active ${kind} ${kind === 'encryption' ? 'key' : 'certificate'}: run rotate --${kind}` });
  }
  const signing = activeEntry(keyring, 'signing');
  if (registered && signing && !signing.kingdomCertificate) {
    problems.push({ severity: 'warning', entry: signing.id, code: 'unregistered', message: `signing certificate ${signing.id} is not registered at the Kingdom (run halo-keys sync)` });
  }
  if (publication) {
    const signer = keyring.entries.find((e) => e.id === publication.signingEntryId);
    if (signer && (signer.state === 'retired' || signer.state === 'compromised')) {
      problems.push({ severity: 'error', entry: signer.id, code: 'signed-by-retired', message: `the published public key is signed by ${signer.state} certificate ${publication.certificate}: rotate --signing` });
    }
    const encryption = activeEntry(keyring, 'encryption');
    if (encryption && encryption.tinkKeyId !== publication.primaryKeyId) {
      problems.push({ severity: 'warning', entry: encryption.id, code: 'published-not-active', message: `the published key (Tink ${publication.primaryKeyId}) is not the active one (Tink ${encryption.tinkKeyId})` });
    }
  }
  const journal = readJournal(session.dir);
  if (journal && journal.status !== 'done') {
    const what = journal.procedure ?? 'rotation';
    problems.push({ severity: 'error', code: 'rotation-unfinished', message: `${what} ${journal.id} is unfinished (${journal.status}): run halo-keys rotate to finish it, or halo-keys rotate --abort to abandon it` });
  }

  let kingdom: StatusReport['kingdom'] = config.kingdom ? (registered ? 'compared' : 'unregistered') : 'not-configured';
  if (options.kingdom && kingdom === 'compared') {
    try {
      problems.push(...(await compareWithKingdom(session, options.kingdom)));
    } catch (err) {
      kingdom = 'unreachable';
      problems.push({ severity: 'warning', code: 'kingdom-unreachable', message: `cannot compare with the Kingdom: ${(err as Error).message}` });
    }
  } else if (kingdom === 'compared') {
    kingdom = 'unreachable';
  }
  const exitCode = problems.some((p) => p.severity === 'error') ? STATUS_EXIT.ATTENTION : STATUS_EXIT.OK;
  return { participant: session.participant, at: now.toISOString(), rows, problems, kingdom, exitCode };
}

async function compareWithKingdom(session: KeyringSession, port: KingdomPort): Promise<StatusProblem[]> {
  const out: StatusProblem[] = [];
  const { keyring } = session;
  const differs = (message: string, entry?: string) => out.push({ severity: 'error', code: 'kingdom-differs', message, ...(entry ? { entry } : {}) });
  const participant = await port.getParticipant(session.participant);
  const publication = keyring.publication;
  if (publication) {
    if (participant.certificate !== publication.certificate) differs(`the Kingdom names ${participant.certificate || 'no certificate'} for the public key; locally ${publication.certificate}`);
    const shown = participant.publicKey?.message?.value ?? participant.publicKey?.data;
    if (shown && sha256Hex(shown) !== publication.messageSha256) differs('the public key the Kingdom shows is not the one this keyring published');
  }
  for (const e of keyring.entries) {
    if (!e.kingdomCertificate) continue;
    let revocation: string;
    try {
      revocation = (await port.getCertificate(e.kingdomCertificate)).revocation;
    } catch (err) {
      if ((err as { reason?: string; grpcCode?: number }).grpcCode === 5) {
        differs(`${e.kingdomCertificate} (${e.id}) is not at the Kingdom`, e.id);
        continue;
      }
      throw err;
    }
    if ((e.state === 'active' || e.state === 'retiring') && revocation !== 'NONE') differs(`${e.kingdomCertificate} is ${revocation} at the Kingdom but ${e.state} locally`, e.id);
    if (e.kingdomRevocation && revocation !== e.kingdomRevocation) differs(`${e.kingdomCertificate} is ${revocation} at the Kingdom; locally recorded ${e.kingdomRevocation}`, e.id);
  }
  return out;
}
