/**
 * The operator's admin bearer token. It is shown once and written to
 * `DIR/admin-token` (mode 0600) for the admin CLI; the server itself keeps
 * only its SHA-256 (`DIR/admin-token.sha256`), so the token file may be moved
 * off the host without stopping the server.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic, writeSecretFile } from '../../lib/files.js';
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

/** Loads the token hash from the data dir, creating token and hash on first start. */
export function ensureAdminToken(dataDir: string): AdminTokenState {
  const hashPath = join(dataDir, ADMIN_TOKEN_HASH_FILE);
  const tokenPath = join(dataDir, ADMIN_TOKEN_FILE);
  if (existsSync(hashPath)) {
    const hex = readFileSync(hashPath, 'utf8').trim();
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new ServerError('DATA_DIR_UNUSABLE', `${hashPath} does not hold a SHA-256 in hex`);
    return { sha256: new Uint8Array(Buffer.from(hex, 'hex')) };
  }
  if (existsSync(tokenPath)) {
    const sha256 = adminTokenSha256(readAdminToken(dataDir));
    writeFileAtomic(hashPath, `${Buffer.from(sha256).toString('hex')}\n`);
    return { sha256 };
  }
  const token = `hk_admin_${randomBytes(32).toString('base64url')}`;
  writeSecretFile(tokenPath, `${token}\n`);
  const sha256 = adminTokenSha256(token);
  writeFileAtomic(hashPath, `${Buffer.from(sha256).toString('hex')}\n`);
  return { sha256, created: token };
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
    throw new ServerError('DATA_DIR_UNUSABLE', `no admin token: ${path} is missing (set HALO_KEYS_ADMIN_TOKEN or pass the right --data-dir)`);
  }
  if (text === '') throw new ServerError('DATA_DIR_UNUSABLE', `${path} is empty`);
  return text;
}
