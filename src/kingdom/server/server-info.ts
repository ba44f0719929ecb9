/**
 * `DIR/server.json`: written while a server runs on a data dir, so the admin
 * CLI can find it (address) and knows not to open the embedded database
 * itself (PGlite allows one process).
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, processAlive } from '../../lib/index.js';
import { DATA_DIR_FILES } from './bootstrap.js';

export interface ServerInfo {
  /** `starting` from before the database opens until the port listens. */
  readonly state: 'starting' | 'serving';
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  /** The server's certificate is issued for this name. */
  readonly serverName: string;
  /** Path of the root that the server certificate chains to, when the dev CA made it. */
  readonly kingdomRoot?: string;
  readonly database: 'pglite' | 'postgres';
  readonly startedAt: string;
}

export function serverInfoPath(dataDir: string): string {
  return join(dataDir, DATA_DIR_FILES.serverInfo);
}

export function writeServerInfo(dataDir: string, info: ServerInfo): void {
  writeFileAtomic(serverInfoPath(dataDir), `${JSON.stringify(info, null, 2)}\n`);
}

export function removeServerInfo(dataDir: string, pid = process.pid): void {
  const info = readServerInfo(dataDir, { checkAlive: false });
  if (info && info.pid === pid) rmSync(serverInfoPath(dataDir), { force: true });
}

/** The running server of a data dir; null when none (a stale file of a killed server counts as none). */
export function readServerInfo(dataDir: string, options: { checkAlive?: boolean } = {}): ServerInfo | null {
  let info: ServerInfo;
  try {
    info = JSON.parse(readFileSync(serverInfoPath(dataDir), 'utf8')) as ServerInfo;
  } catch {
    return null;
  }
  if (typeof info !== 'object' || info === null || typeof info.port !== 'number' || typeof info.pid !== 'number' || typeof info.host !== 'string') {
    return null;
  }
  if (options.checkAlive !== false && !processAlive(info.pid)) return null;
  return info;
}
