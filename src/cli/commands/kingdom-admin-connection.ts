/**
 * How `halo-keys kingdom admin` reaches the KingdomAdmin service: the running
 * server of the data dir (found through DIR/server.json, authenticated with
 * DIR/admin-token), an explicit remote `--target`, or — when no server runs —
 * the store itself, opened in this process behind the same services (the
 * embedded database allows one process at a time).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRouterTransport, type Interceptor } from '@connectrpc/connect';
import { createKingdomClient, kingdomClientOver, type KingdomClient } from '../../client/index.js';
import { systemClock } from '../../lib/index.js';
import {
  adminTokenSha256,
  readAdminToken,
  DATA_DIR_FILES,
  readServerInfo,
  PrincipalResolver,
  type KingdomMode,
  kingdomRoutes,
  routerOptions,
  openKingdomStore,
} from '../../kingdom/index.js';
import { UsageError } from '../run.js';

export interface AdminConnectionFlags {
  dataDir: string;
  target?: string;
  serverName?: string;
  kingdomRoot?: string;
  adminTokenFile?: string;
  databaseUrl?: string;
  mode?: string;
}

export interface AdminConnection {
  readonly client: KingdomClient;
  /** Where the calls go, for messages: `server 127.0.0.1:8443` or `store DIR/db`. */
  readonly via: string;
  close(): Promise<void>;
}

/**
 * The embedded database of an existing Kingdom data dir. Operator commands
 * never create a Kingdom: a wrong or missing `--data-dir` must not become a
 * new, empty one that takes the registrations meant for the real Kingdom.
 */
export function existingDatabaseDir(dataDir: string, alternative: string): string {
  const db = join(dataDir, DATA_DIR_FILES.database);
  if (!existsSync(join(db, 'PG_VERSION'))) {
    throw new UsageError(`no Kingdom in ${dataDir}: no server runs there and it holds no database; pass --data-dir DIR (the data dir of the Kingdom server)${alternative}`);
  }
  return db;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${what} ${path}`);
  }
}

function tokenFor(flags: AdminConnectionFlags): string {
  if (flags.adminTokenFile !== undefined) {
    const token = readText(flags.adminTokenFile, 'the admin token file').trim();
    if (token === '') throw new UsageError(`${flags.adminTokenFile} is empty`);
    return token;
  }
  return readAdminToken(flags.dataDir);
}

export async function openAdminConnection(flags: AdminConnectionFlags): Promise<AdminConnection> {
  if (flags.target !== undefined) {
    if (flags.kingdomRoot === undefined) throw new UsageError('--target needs --kingdom-root (the root the Kingdom server certificate chains to)');
    const client = createKingdomClient({
      target: flags.target,
      trustedRoots: readText(flags.kingdomRoot, 'the Kingdom root'),
      adminToken: tokenFor(flags),
      ...(flags.serverName !== undefined ? { serverName: flags.serverName } : {}),
    });
    return { client, via: `server ${flags.target}`, close: async () => {} };
  }
  const info = readServerInfo(flags.dataDir);
  if (info?.state === 'starting') {
    throw new UsageError(`the Kingdom server of ${flags.dataDir} (pid ${info.pid}) is still starting: retry in a moment`);
  }
  if (info !== null) {
    const rootPath = flags.kingdomRoot ?? info.kingdomRoot ?? join(flags.dataDir, DATA_DIR_FILES.kingdomRoot);
    const host = info.host === '0.0.0.0' || info.host === '::' ? '127.0.0.1' : info.host;
    const target = `${host.includes(':') ? `[${host}]` : host}:${info.port}`;
    const client = createKingdomClient({
      target,
      trustedRoots: readText(rootPath, 'the Kingdom root'),
      adminToken: tokenFor(flags),
      serverName: flags.serverName ?? info.serverName,
    });
    return { client, via: `server ${target}`, close: async () => {} };
  }
  const mode = (flags.mode ?? 'strict') as KingdomMode;
  if (mode !== 'strict' && mode !== 'compatible') throw new UsageError('--mode must be strict or compatible');
  const store = await openKingdomStore(
    flags.databaseUrl !== undefined
      ? { databaseUrl: flags.databaseUrl }
      : { dataDir: existingDatabaseDir(flags.dataDir, ', or --target HOST:PORT with --kingdom-root and --admin-token-file'), holder: 'kingdom admin' },
  );
  // In process the operator is this user: a one-off token stands in for the admin credential.
  const token = randomBytes(32).toString('base64url');
  const services = { store, clock: systemClock, mode, resolver: new PrincipalResolver(store) };
  const bearer: Interceptor = (next) => (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
  const transport = createRouterTransport(kingdomRoutes(services), {
    router: routerOptions(services, { admin: { tokenSha256: adminTokenSha256(token) } }),
    transport: { interceptors: [bearer] },
  });
  return {
    client: kingdomClientOver(transport, { target: 'the store', serverName: 'the store' }),
    via: flags.databaseUrl !== undefined ? 'PostgreSQL' : `store ${join(flags.dataDir, DATA_DIR_FILES.database)}`,
    close: () => store.close(),
  };
}
