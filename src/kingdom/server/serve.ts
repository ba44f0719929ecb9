/**
 * `halo-keys kingdom serve`: data dir and TLS material, the Kingdom
 * (service/assembly.ts) on PGlite under DIR/db or PostgreSQL by URL, the
 * network front, `DIR/server.json`, and shutdown on SIGTERM/SIGINT.
 */
import { join } from 'node:path';
import { type Clock, systemClock } from '../../lib/clock.js';
import { openKingdom, type KingdomAssembly } from '../service/assembly.js';
import type { SqlKingdomStore } from '../store/index.js';
import { AdminTokenHash, adminTokenFileMissing, adminTokenRotatedEvent, ensureAdminToken, rotateAdminTokenHint } from './admin-token.js';
import { DATA_DIR_FILES, DEV_SERVER_NAMES, ensureDevTls, readTlsFiles } from './bootstrap.js';
import { type ServeConfig, formatListen } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createServerMetrics, registerStoreMetrics } from './metrics.js';
import { checkListenable } from './listen.js';
import { startKingdomServer, type KingdomServer } from './server.js';
import { readServerInfo, removeServerInfo, writeServerInfo } from './server-info.js';
import { ServerError } from './errors.js';
import { readRootBundles } from './trusted-roots.js';

export interface RunningKingdom {
  readonly server: KingdomServer;
  readonly store: SqlKingdomStore;
  /** Graceful stop: drain calls, close the store, remove server.json. Idempotent. */
  stop(): Promise<void>;
}

export interface ServeDependencies {
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Where the connection instructions go (stdout for the CLI). */
  readonly print?: (text: string) => void;
}

export async function serveKingdom(config: ServeConfig, deps: ServeDependencies = {}): Promise<RunningKingdom> {
  const clock = deps.clock ?? systemClock;
  const log = deps.logger ?? createLogger(config.logLevel);
  const print = deps.print ?? ((t: string) => process.stdout.write(t));

  // A taken port fails now, not after the data dir and its database are made.
  await checkListenable(config.listen);
  if (config.metricsListen) await checkListenable(config.metricsListen);
  const tls = config.tlsCertFile && config.tlsKeyFile ? readTlsFiles(config.tlsCertFile, config.tlsKeyFile) : ensureDevTls(config.dataDir, clock);
  const admin = ensureAdminToken(config.dataDir);
  const staticRoots = readRootBundles(config.trustedRootsFiles);
  const other = readServerInfo(config.dataDir);
  if (other !== null && other.pid !== process.pid && config.databaseUrl === undefined) {
    throw new ServerError('DATA_DIR_UNUSABLE', `another Kingdom server (pid ${other.pid}) is using ${config.dataDir}; its embedded database allows one process`);
  }
  // Claim the data dir before opening its database, so the admin and audit
  // commands keep away from an embedded database another process is opening.
  writeServerInfo(config.dataDir, {
    state: 'starting',
    host: config.listen.host,
    port: 0,
    pid: process.pid,
    serverName: config.listen.host,
    database: config.databaseUrl !== undefined ? 'postgres' : 'pglite',
    startedAt: clock.now().toISOString(),
  });
  let server: KingdomServer | undefined;
  let kingdom: KingdomAssembly | undefined;
  const adminHash = new AdminTokenHash(config.dataDir, admin.sha256, {
    // The file already holds the new hash: a failed audit write is logged, not a reason to lock the operator out.
    onChange: async (before, after) => {
      log.info('admin token rotated: the new token is accepted from now on');
      await kingdom?.store
        .recordAuditEvent(adminTokenRotatedEvent(before, after))
        .catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'cannot audit the admin token rotation'));
    },
    onError: (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'admin token hash unreadable; the previous one stays in force'),
  });
  try {
    kingdom = await openKingdom({
      store:
        config.databaseUrl !== undefined
          ? { databaseUrl: config.databaseUrl }
          : { dataDir: join(config.dataDir, DATA_DIR_FILES.database), holder: 'kingdom serve', embeddedCacheMiB: config.embeddedCacheMb },
      clock,
      mode: config.mode,
      admin: { tokenSha256: () => adminHash.current() },
      operatorRoots: staticRoots,
      maxResponseBytes: config.maxMessageBytes,
      ...(config.openIdRedirectUri !== undefined ? { openIdRedirectUri: config.openIdRedirectUri } : {}),
      onTrustChanged: async () => {
        await server?.reloadTrust();
      },
    });
  } catch (err) {
    removeServerInfo(config.dataDir);
    throw err;
  }
  const store = kingdom.store;
  const metrics = createServerMetrics();
  registerStoreMetrics(metrics.registry, store);
  try {
    server = await startKingdomServer({
      metrics,
      listen: config.listen,
      tls,
      routes: kingdom.routes,
      interceptors: kingdom.interceptors,
      staticRoots,
      participantRoots: () => store.listParticipantRoots(),
      health: async () => {
        await store.database.query('SELECT 1');
      },
      maxMessageBytes: config.maxMessageBytes,
      fieldLimits: { certificateBytes: config.maxCertificateBytes },
      connectionLimits: config.connectionLimits,
      drainTimeoutMs: config.drainTimeoutMs,
      trustRefreshMs: config.trustRefreshMs,
      ...(config.metricsListen ? { metricsListen: config.metricsListen } : {}),
      logger: log,
    });
  } catch (err) {
    await store.close().catch(() => {});
    removeServerInfo(config.dataDir);
    throw err;
  }
  const running = server;
  const serverName = tls.kingdomRootPath ? DEV_SERVER_NAMES.dns[0] : running.address.host;
  writeServerInfo(config.dataDir, {
    state: 'serving',
    host: running.address.host,
    port: running.address.port,
    pid: process.pid,
    serverName,
    ...(tls.kingdomRootPath ? { kingdomRoot: tls.kingdomRootPath } : {}),
    database: store.dialect,
    startedAt: clock.now().toISOString(),
  });
  log.info(
    { listen: formatListen(running.address), database: store.dialect, mode: config.mode, metrics: running.metricsAddress ? formatListen(running.metricsAddress) : 'same port' },
    'Kingdom serving',
  );

  const lines = [
    `Kingdom listening on ${formatListen(running.address)} (gRPC, gRPC-Web and Connect over TLS 1.3; mode ${config.mode}; ${store.dialect === 'pglite' ? `embedded database in ${join(config.dataDir, DATA_DIR_FILES.database)}` : 'PostgreSQL'})`,
  ];
  if (tls.kingdomRootPath) {
    lines.push(`Trust the Kingdom root: ${tls.kingdomRootPath} (server name ${serverName})`);
  }
  if (admin.created) {
    lines.push(`Admin token (shown once; also in ${join(config.dataDir, 'admin-token')}, mode 0600): ${admin.created}`);
  } else if (adminTokenFileMissing(config.dataDir)) {
    lines.push(`No admin token file in ${config.dataDir} (moved or lost): make a new one with ${rotateAdminTokenHint(config.dataDir)} (this server accepts it at once)`);
  }
  lines.push(
    `Health: https://${formatListen(running.address)}/healthz   Metrics: ${running.metricsAddress ? `http://${formatListen(running.metricsAddress)}` : `https://${formatListen(running.address)}`}/metrics`,
    `Create a participant: halo-keys kingdom admin --data-dir ${config.dataDir} create-data-provider --root-cert ROOT.pem --certificate LEAF.der --public-key KEY --public-key-signature SIG`,
  );
  print(`${lines.join('\n')}\n`);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('shutting down');
      try {
        await running.close();
      } finally {
        await store.close().catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'store close failed'));
        removeServerInfo(config.dataDir);
        log.info('stopped');
        log.flush?.();
      }
    })();
    return stopping;
  };
  return { server: running, store, stop };
}

/** Stops on SIGTERM or SIGINT (exit 0 after a clean drain); a second signal exits at once. */
export function stopOnSignals(running: RunningKingdom, log: Logger): Promise<number> {
  return new Promise((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        process.exit(130);
      }
      signalled = true;
      log.info({ signal }, 'signal received');
      running.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}
