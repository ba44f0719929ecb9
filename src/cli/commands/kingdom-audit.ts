/** `kingdom audit`: opens the store read-only in spirit, and renders entries as JSON lines or CSV. */
import {
  readServerInfo,
  type AuditEntry,
  type KingdomStore,
  openKingdomStore,
  ServerError,
} from '../../kingdom/index.js';
import { existingDatabaseDir } from './kingdom-admin-connection.js';

/**
 * The store, opened directly. A server running on the embedded database is
 * not a usage mistake but a state of the Kingdom: exit 1, saying what to do.
 * (Its lock in the database directory refuses us too when server.json is gone.)
 */
export async function openAuditStore(flags: { dataDir: string; databaseUrl?: string }): Promise<KingdomStore> {
  if (flags.databaseUrl !== undefined) return openKingdomStore({ databaseUrl: flags.databaseUrl });
  const running = readServerInfo(flags.dataDir);
  if (running !== null && running.database === 'pglite') {
    throw new ServerError(
      'DATA_DIR_UNUSABLE',
      `the Kingdom server (pid ${running.pid}) holds the embedded database of ${flags.dataDir}: stop it first, or use PostgreSQL (--database-url)`,
    );
  }
  return openKingdomStore({ dataDir: existingDatabaseDir(flags.dataDir, ', or --database-url URL'), holder: 'kingdom audit' });
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function entryJson(e: AuditEntry) {
  return {
    seq: e.seq.toString(),
    time: e.time.toISOString(),
    actor: e.actor,
    action: e.action,
    resource: e.resource,
    before: e.before,
    after: e.after,
    ...(e.authentication ? { authentication: e.authentication } : {}),
    prevHash: hex(e.prevHash),
    hash: hex(e.hash),
  };
}

export function auditJsonLines(entries: readonly AuditEntry[]): string {
  return entries.map((e) => `${JSON.stringify(entryJson(e))}\n`).join('');
}

/** RFC 4180 quoting: every cell quoted, quotes doubled. */
function cell(value: string): string {
  return `"${value.replace(/"/g, '""')}"`;
}

export function auditCsv(entries: readonly AuditEntry[]): string {
  const header = ['seq', 'time', 'actor', 'action', 'resource', 'before', 'after', 'prev_hash', 'hash', 'authentication'];
  const rows = entries.map((e) => {
    const j = entryJson(e);
    const authentication = j.authentication ? JSON.stringify(j.authentication) : '';
    return [j.seq, j.time, j.actor, j.action, j.resource, JSON.stringify(j.before), JSON.stringify(j.after), j.prevHash, j.hash, authentication]
      .map(cell)
      .join(',');
  });
  return `${[header.join(','), ...rows].join('\r\n')}\r\n`;
}
