/**
 * `kingdom admin rotate-admin-token`: a new operator token for a data dir
 * whose token was never seen, was lost, or may have leaked. It changes files
 * on the Kingdom host, so it takes `--data-dir`, not `--target`.
 *
 * - No server running: the store is opened here (its lock keeps a server
 *   whose server.json went missing safe) and the rotation is audited in it.
 * - A server running: it re-reads `admin-token.sha256` on its next admin
 *   call and audits the change itself; this command makes that call with the
 *   new token, so it returns only once the server accepts it.
 */
import { join } from 'node:path';
import {
  ADMIN_TOKEN_FILE,
  adminTokenRotatedEvent,
  rotateAdminToken,
  readServerInfo,
  openKingdomStore,
} from '../../kingdom/index.js';
import { UsageError } from '../run.js';
import { type AdminConnectionFlags, existingDatabaseDir, openAdminConnection } from './kingdom-admin-connection.js';

export interface RotatedAdminToken {
  token: string;
  tokenFile: string;
  sha256Prefix: string;
  /** The running server that accepted it; absent when audited directly, for the server's next start. */
  serverPid?: number;
}

export async function rotateAdminTokenOfDataDir(flags: AdminConnectionFlags): Promise<RotatedAdminToken> {
  if (flags.target !== undefined) {
    throw new UsageError('rotate-admin-token writes the token files of a data dir: run it on the Kingdom host with --data-dir DIR, not --target');
  }
  const tokenFile = join(flags.dataDir, ADMIN_TOKEN_FILE);
  const running = readServerInfo(flags.dataDir);
  if (running?.state === 'starting') throw new UsageError(`the Kingdom server of ${flags.dataDir} (pid ${running.pid}) is still starting: retry in a moment`);
  if (running !== null) {
    const rotated = rotateAdminToken(flags.dataDir);
    const conn = await openAdminConnection({ ...flags, adminTokenFile: tokenFile });
    try {
      await conn.client.admin.listAkidPrincipals({});
    } finally {
      await conn.close();
    }
    return { token: rotated.token, tokenFile, sha256Prefix: prefix(rotated.sha256), serverPid: running.pid };
  }
  // Open (and lock) the store before touching the files: a Kingdom that is not there, or is in use, changes nothing.
  const store = await openKingdomStore(
    flags.databaseUrl !== undefined
      ? { databaseUrl: flags.databaseUrl }
      : { dataDir: existingDatabaseDir(flags.dataDir, ' (or --database-url URL for a Kingdom on PostgreSQL)'), holder: 'kingdom admin rotate-admin-token' },
  );
  try {
    const rotated = rotateAdminToken(flags.dataDir);
    await store.recordAuditEvent(adminTokenRotatedEvent(rotated.previousSha256, rotated.sha256));
    return { token: rotated.token, tokenFile, sha256Prefix: prefix(rotated.sha256) };
  } finally {
    await store.close();
  }
}

function prefix(sha256: Uint8Array): string {
  return Buffer.from(sha256).toString('hex').slice(0, 16);
}
