/**
 * Server settings from flags and an optional YAML file (`--config`). A flag
 * given on the command line wins over the file; the file wins over the
 * defaults. Every value is checked here, once.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { KingdomMode } from '../service/context.js';
import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.js';
import { ServerError } from './errors.js';
import { DEFAULT_MAX_CERTIFICATE_BYTES } from './field-limits.js';
import { DEFAULT_EMBEDDED_CACHE_MIB } from '../store/database.js';

export interface ListenAddress {
  readonly host: string;
  /** 0 picks a free port; the real one is reported once listening. */
  readonly port: number;
}

export interface ServeConfig {
  readonly dataDir: string;
  readonly listen: ListenAddress;
  readonly databaseUrl?: string;
  /** The embedded database's page cache (PostgreSQL shared_buffers), MiB: memory against re-reads from the OS. */
  readonly embeddedCacheMb: number;
  readonly mode: KingdomMode;
  /** Production TLS: both files, or neither (then the data dir's dev certificate). */
  readonly tlsCertFile?: string;
  readonly tlsKeyFile?: string;
  /** PEM bundles of client roots trusted beside the registered participants' roots. */
  readonly trustedRootsFiles: readonly string[];
  /** Serve /healthz and /metrics over plain HTTP here too (for scrapers without client TLS). */
  readonly metricsListen?: ListenAddress;
  /** Largest request message accepted (bytes); larger ones get RESOURCE_EXHAUSTED. */
  readonly maxMessageBytes: number;
  /** Largest certificate DER accepted (CreateCertificate, registrations); larger ones get INVALID_ARGUMENT. */
  readonly maxCertificateBytes: number;
  /** Handshake, idle and request-body timeouts, pending-handshake and stream limits. */
  readonly connectionLimits: ConnectionLimits;
  /** How long shutdown waits for in-flight calls before cutting connections. */
  readonly drainTimeoutMs: number;
  /** How often trusted roots are re-read from the database, so replicas see each other's admin changes. */
  readonly trustRefreshMs: number;
  /** Audience of Accounts' self-issued OpenID ID tokens; the Account methods are refused without it. */
  readonly openIdRedirectUri?: string;
  readonly logLevel: string;
}

export const DEFAULT_DATA_DIR = './.data/kingdom';
export const DEFAULT_LISTEN = '127.0.0.1:8443';
/** gRPC's customary default limit. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024;

/** What the command line may give; everything optional. */
export interface ServeFlags {
  dataDir?: string;
  listen?: string;
  databaseUrl?: string;
  embeddedCacheMb?: number;
  mode?: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  trustedRoots?: string[];
  metricsListen?: string;
  maxMessageBytes?: number;
  maxCertificateBytes?: number;
  tlsHandshakeTimeoutMs?: number;
  maxPendingHandshakes?: number;
  idleTimeoutMs?: number;
  requestBodyTimeoutMs?: number;
  maxConcurrentStreams?: number;
  drainTimeoutMs?: number;
  trustRefreshMs?: number;
  openIdRedirectUri?: string;
  logLevel?: string;
  config?: string;
}

/** HOST:PORT, [IPv6]:PORT, or a bare PORT, which means 127.0.0.1:PORT (never every interface by accident). */
export function parseListen(text: string, flag = '--listen'): ListenAddress {
  const trimmed = text.trim();
  const bare = /^\d{1,5}$/.test(trimmed) ? `127.0.0.1:${trimmed}` : trimmed;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(bare);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new ServerError('CONFIG_INVALID', `${flag} must be HOST:PORT or PORT (e.g. 127.0.0.1:8443), got "${text}"`);
  return { host: (m[1] ?? m[2])!, port };
}

export function formatListen(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}

const FILE_KEYS: Record<string, keyof ServeFlags> = {
  dataDir: 'dataDir',
  'data-dir': 'dataDir',
  listen: 'listen',
  databaseUrl: 'databaseUrl',
  'database-url': 'databaseUrl',
  embeddedCacheMb: 'embeddedCacheMb',
  'embedded-cache-mb': 'embeddedCacheMb',
  mode: 'mode',
  tlsCertFile: 'tlsCertFile',
  'tls-cert-file': 'tlsCertFile',
  tlsKeyFile: 'tlsKeyFile',
  'tls-key-file': 'tlsKeyFile',
  trustedRoots: 'trustedRoots',
  'trusted-roots': 'trustedRoots',
  metricsListen: 'metricsListen',
  'metrics-listen': 'metricsListen',
  maxMessageBytes: 'maxMessageBytes',
  'max-message-bytes': 'maxMessageBytes',
  maxCertificateBytes: 'maxCertificateBytes',
  'max-certificate-bytes': 'maxCertificateBytes',
  tlsHandshakeTimeoutMs: 'tlsHandshakeTimeoutMs',
  'tls-handshake-timeout-ms': 'tlsHandshakeTimeoutMs',
  maxPendingHandshakes: 'maxPendingHandshakes',
  'max-pending-handshakes': 'maxPendingHandshakes',
  idleTimeoutMs: 'idleTimeoutMs',
  'idle-timeout-ms': 'idleTimeoutMs',
  requestBodyTimeoutMs: 'requestBodyTimeoutMs',
  'request-body-timeout-ms': 'requestBodyTimeoutMs',
  maxConcurrentStreams: 'maxConcurrentStreams',
  'max-concurrent-streams': 'maxConcurrentStreams',
  drainTimeoutMs: 'drainTimeoutMs',
  'drain-timeout-ms': 'drainTimeoutMs',
  trustRefreshMs: 'trustRefreshMs',
  'trust-refresh-ms': 'trustRefreshMs',
  openIdRedirectUri: 'openIdRedirectUri',
  'open-id-redirect-uri': 'openIdRedirectUri',
  logLevel: 'logLevel',
  'log-level': 'logLevel',
};

/** Reads a YAML config file into flags; relative paths in it are relative to the file. */
export function readConfigFile(path: string): ServeFlags {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (cause) {
    const what = (cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : 'not valid YAML';
    throw new ServerError('CONFIG_INVALID', `config file ${path} is ${what}`, { cause });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ServerError('CONFIG_INVALID', `config file ${path} must be a YAML mapping`);
  const base = resolve(path, '..');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    const key = FILE_KEYS[k];
    if (!key) throw new ServerError('CONFIG_INVALID', `config file ${path}: unknown setting "${k}"`);
    out[key] = v;
  }
  const flags = out as ServeFlags;
  const rel = (p: unknown, name: string): string => {
    if (typeof p !== 'string' || p === '') throw new ServerError('CONFIG_INVALID', `config file ${path}: ${name} must be a path`);
    return resolve(base, p);
  };
  if (flags.dataDir !== undefined) flags.dataDir = rel(flags.dataDir, 'dataDir');
  if (flags.tlsCertFile !== undefined) flags.tlsCertFile = rel(flags.tlsCertFile, 'tlsCertFile');
  if (flags.tlsKeyFile !== undefined) flags.tlsKeyFile = rel(flags.tlsKeyFile, 'tlsKeyFile');
  if (flags.trustedRoots !== undefined) {
    const list: unknown = flags.trustedRoots;
    flags.trustedRoots = (Array.isArray(list) ? list : [list]).map((p) => rel(p, 'trustedRoots'));
  }
  return flags;
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new ServerError('CONFIG_INVALID', `${name} must be a positive integer`);
  }
  return value;
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new ServerError('CONFIG_INVALID', `${name} must be a non-empty string`);
  return value;
}

/** Merges `--config FILE` under the flags and validates the result. */
export function resolveServeConfig(flags: ServeFlags): ServeConfig {
  const file = flags.config !== undefined ? readConfigFile(flags.config) : {};
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) as ServeFlags;
  const f: ServeFlags = { ...file, ...defined };
  const mode = f.mode ?? 'strict';
  if (mode !== 'strict' && mode !== 'compatible') throw new ServerError('CONFIG_INVALID', `--mode must be strict or compatible, got "${mode}"`);
  const tlsCertFile = optionalString(f.tlsCertFile, '--tls-cert-file');
  const tlsKeyFile = optionalString(f.tlsKeyFile, '--tls-key-file');
  if ((tlsCertFile === undefined) !== (tlsKeyFile === undefined)) {
    throw new ServerError('CONFIG_INVALID', '--tls-cert-file and --tls-key-file go together');
  }
  // From the environment too, so a Kubernetes Secret can supply it without putting the password in argv.
  const databaseUrl = optionalString(f.databaseUrl ?? (process.env.HALO_KEYS_DATABASE_URL?.trim() || undefined), '--database-url');
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ServerError('CONFIG_INVALID', '--database-url must be a postgres:// or postgresql:// URL');
  }
  const trusted = f.trustedRoots ?? [];
  if (!Array.isArray(trusted) || trusted.some((p) => typeof p !== 'string' || p === '')) {
    throw new ServerError('CONFIG_INVALID', '--trusted-roots must name PEM files');
  }
  const config: ServeConfig = {
    dataDir: resolve(optionalString(f.dataDir, '--data-dir') ?? DEFAULT_DATA_DIR),
    listen: parseListen(optionalString(f.listen, '--listen') ?? DEFAULT_LISTEN),
    embeddedCacheMb: positive(f.embeddedCacheMb, '--embedded-cache-mb', DEFAULT_EMBEDDED_CACHE_MIB),
    mode,
    trustedRootsFiles: trusted.map((p) => resolve(p)),
    maxMessageBytes: positive(f.maxMessageBytes, '--max-message-bytes', DEFAULT_MAX_MESSAGE_BYTES),
    maxCertificateBytes: positive(f.maxCertificateBytes, '--max-certificate-bytes', DEFAULT_MAX_CERTIFICATE_BYTES),
    connectionLimits: {
      tlsHandshakeTimeoutMs: positive(f.tlsHandshakeTimeoutMs, '--tls-handshake-timeout-ms', DEFAULT_CONNECTION_LIMITS.tlsHandshakeTimeoutMs),
      maxPendingHandshakes: positive(f.maxPendingHandshakes, '--max-pending-handshakes', DEFAULT_CONNECTION_LIMITS.maxPendingHandshakes),
      idleTimeoutMs: positive(f.idleTimeoutMs, '--idle-timeout-ms', DEFAULT_CONNECTION_LIMITS.idleTimeoutMs),
      requestBodyTimeoutMs: positive(f.requestBodyTimeoutMs, '--request-body-timeout-ms', DEFAULT_CONNECTION_LIMITS.requestBodyTimeoutMs),
      maxConcurrentStreams: positive(f.maxConcurrentStreams, '--max-concurrent-streams', DEFAULT_CONNECTION_LIMITS.maxConcurrentStreams),
    },
    drainTimeoutMs: positive(f.drainTimeoutMs, '--drain-timeout-ms', 10_000),
    trustRefreshMs: positive(f.trustRefreshMs, '--trust-refresh-ms', 30_000),
    logLevel: optionalString(f.logLevel, '--log-level') ?? process.env.HALO_KEYS_LOG_LEVEL ?? 'info',
  };
  const metrics = optionalString(f.metricsListen, '--metrics-listen');
  const openIdRedirectUri = optionalString(f.openIdRedirectUri, '--open-id-redirect-uri');
  return {
    ...config,
    ...(openIdRedirectUri !== undefined ? { openIdRedirectUri } : {}),
    ...(databaseUrl !== undefined ? { databaseUrl } : {}),
    ...(tlsCertFile !== undefined && tlsKeyFile !== undefined ? { tlsCertFile: resolve(tlsCertFile), tlsKeyFile: resolve(tlsKeyFile) } : {}),
    ...(metrics !== undefined ? { metricsListen: parseListen(metrics, '--metrics-listen') } : {}),
  };
}
