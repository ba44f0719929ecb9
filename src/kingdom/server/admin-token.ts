/**
 * The operator's admin bearer token. It is shown once and written to
 * `DIR/admin-token` (mode 0600) for the admin CLI; the server itself keeps
 * only its SHA-256 (`DIR/admin-token.sha256`), so the token file may be moved
 * off the host without stopping the server. `rotateAdminToken` writes a new
 * pair; a running server re-reads the hash file whenever it changes (checked
 * on every admin call), so the new token works at once and the old one stops.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeSecretFile } from '../../lib/index.js';
import { ADMIN_ACTOR } from '../service/admin-authentication.js';
import type { AuditEvent } from '../store/audit.js';
import { ServerError } from './errors.js';

export const ADMIN_TOKEN_FILE = 'admin-token';
export const ADMIN_TOKEN_HASH_FILE = 'admin-token.sha256';

export function adminTokenSha256(token: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(token, 'utf8').digest());
}

/** Constant-time comparison of a presented token against the kept hash. */
export function adminTokenMatches(token: string, sha256: Uint8Array): boolean {
  const presented = adminTokenSha256(token);
  return presented.length === sha256.length && timingSafeEqual(presented, sha256);
}

export interface AdminTokenState {
  readonly sha256: Uint8Array;
  /** Set only when the token was created just now, to be printed once. */
  readonly created?: string;
}

/** The audit entry of a rotation; it names the hashes by a 16-hex prefix. */
export function adminTokenRotatedEvent(before: Uint8Array | undefined, after: Uint8Array): AuditEvent {
  const prefix = (h: Uint8Array) => ({ sha256Prefix: Buffer.from(h).toString('hex').slice(0, 16) });
  return { actor: ADMIN_ACTOR, action: 'RotateAdminToken', resource: ADMIN_TOKEN_FILE, before: before ? prefix(before) : null, after: prefix(after) };
}

/** What to run when the token file is missing: the one fix for a lost or never-seen token. */
export function rotateAdminTokenHint(dataDir: string): string {
  return `halo-keys kingdom admin rotate-admin-token --data-dir ${dataDir}`;
}

function readTokenHash(hashPath: string): Uint8Array {
  const hex = readFileSync(hashPath, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new ServerError('DATA_DIR_UNUSABLE', `${hashPath} does not hold a SHA-256 in hex`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Writes a fresh token (mode 0600), then its hash: a crash between leaves the old hash, and running it again fixes that. */
function writeNewToken(dataDir: string): { token: string; sha256: Uint8Array } {
  const token = `hk_admin_${randomBytes(32).toString('base64url')}`;
  writeSecretFile(join(dataDir, ADMIN_TOKEN_FILE), `${token}\n`);
  const sha256 = adminTokenSha256(token);
  writeFileAtomic(join(dataDir, ADMIN_TOKEN_HASH_FILE), `${Buffer.from(sha256).toString('hex')}\n`);
  return { token, sha256 };
}

/** Loads the token hash from the data dir, creating token and hash on first start. */
export function ensureAdminToken(dataDir: string): AdminTokenState {
  const hashPath = join(dataDir, ADMIN_TOKEN_HASH_FILE);
  const tokenPath = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(hashPath)) return { sha256: readTokenHash(hashPath) };
  if (existsSync(tokenPath)) {
    const sha256 = adminTokenSha256(readAdminToken(dataDir));
    writeFileAtomic(hashPath, `${Buffer.from(sha256).toString('hex')}\n`);
    return { sha256 };
  }
  const { token, sha256 } = writeNewToken(dataDir);
  return { sha256, created: token };
}

/** True when the data dir has the hash but no token file: nobody here can present the token. */
export function adminTokenFileMissing(dataDir: string): boolean {
  return existsSync(join(dataDir, ADMIN_TOKEN_HASH_FILE)) && !existsSync(join(dataDir, ADMIN_TOKEN_FILE));
}

/** Replaces the token and its hash; returns the new token (to be shown once) and both hashes. */
export function rotateAdminToken(dataDir: string): { token: string; sha256: Uint8Array; previousSha256?: Uint8Array } {
  const hashPath = join(dataDir, ADMIN_TOKEN_HASH_FILE);
  const previousSha256 = existsSync(hashPath) ? readTokenHash(hashPath) : undefined;
  return { ...writeNewToken(dataDir), ...(previousSha256 ? { previousSha256 } : {}) };
}

/**
 * The server's view of `DIR/admin-token.sha256`: re-read when the file is
 * replaced (new inode, size or mtime), so `rotate-admin-token` takes effect
 * on the next admin call without a restart; that call waits for `onChange`
 * (the audit entry). A file that turns unreadable keeps the last good hash
 * and is reported through `onError`.
 */
export class AdminTokenHash {
  readonly #path: string;
  #sha256: Uint8Array;
  #stamp: string;
  readonly #onChange: (before: Uint8Array, after: Uint8Array) => Promise<void>;
  readonly #onError: (err: unknown) => void;

  constructor(
    dataDir: string,
    initial: Uint8Array,
    hooks: { onChange: (before: Uint8Array, after: Uint8Array) => Promise<void>; onError: (err: unknown) => void },
  ) {
    this.#path = join(dataDir, ADMIN_TOKEN_HASH_FILE);
    this.#sha256 = initial;
    this.#stamp = this.#statStamp();
    this.#onChange = hooks.onChange;
    this.#onError = hooks.onError;
  }

  #statStamp(): string {
    try {
      const st = statSync(this.#path);
      return `${st.ino}:${st.size}:${st.mtimeMs}`;
    } catch {
      return 'missing';
    }
  }

  async current(): Promise<Uint8Array> {
    const stamp = this.#statStamp();
    if (stamp === this.#stamp) return this.#sha256;
    this.#stamp = stamp;
    let next: Uint8Array;
    try {
      next = readTokenHash(this.#path);
    } catch (err) {
      this.#onError(err);
      return this.#sha256;
    }
    if (Buffer.from(next).equals(Buffer.from(this.#sha256))) return next;
    const before = this.#sha256;
    this.#sha256 = next;
    await this.#onChange(before, next);
    return next;
  }
}

/** The admin token the CLI presents, from `DIR/admin-token` or HALO_KEYS_ADMIN_TOKEN. */
export function readAdminToken(dataDir: string): string {
  const fromEnv = process.env.HALO_KEYS_ADMIN_TOKEN;
  if (fromEnv) return fromEnv.trim();
  const path = join(dataDir, ADMIN_TOKEN_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch {
    throw new ServerError(
      'DATA_DIR_UNUSABLE',
      `no admin token: ${path} is missing (pass the right --data-dir, set HALO_KEYS_ADMIN_TOKEN, or make a new one: ${rotateAdminTokenHint(dataDir)})`,
    );
  }
  if (text === '') throw new ServerError('DATA_DIR_UNUSABLE', `${path} is empty`);
  return text;
}
