/**
 * One rotation at a time per keyring: `rotation.lock`, created exclusively,
 * holds the pid, host and start time of its owner. A lock left by a process
 * on this host that no longer exists is stale and taken over (a SIGKILLed
 * rotation must not block the next one); a lock from another host is only
 * broken when asked, since we cannot see whether its owner lives.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../lib/clock.js';
import { RotationError } from './errors.js';

export const LOCK_FILE = 'rotation.lock';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface LockOptions {
  clock: Clock;
  command: string;
  /** Take over a lock held by another host's process. */
  breakLock?: boolean;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLockOwner(dir: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Why a present lock may be taken over, or undefined when it must be respected. */
export function staleReason(owner: LockOwner | undefined, breakLock = false): string | undefined {
  if (!owner || typeof owner.pid !== 'number') return 'unreadable lock file';
  if (owner.host === hostname()) {
    if (owner.pid === process.pid) return undefined;
    return alive(owner.pid) ? undefined : `process ${owner.pid} no longer runs`;
  }
  return breakLock ? `broken on request (held by ${owner.host})` : undefined;
}

export interface HeldLock {
  /** Set when a stale lock was taken over. */
  readonly tookOver?: string;
  release(): void;
}

export function acquireLock(dir: string, options: LockOptions): HeldLock {
  const path = join(dir, LOCK_FILE);
  const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: options.clock.now().toISOString(), command: options.command };
  let tookOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RotationError('LOCKED', `cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, { cause: err });
      }
      const current = readLockOwner(dir);
      const reason = staleReason(current, options.breakLock);
      if (!reason) {
        throw new RotationError(
          'LOCKED',
          `another rotation holds ${path} (pid ${current?.pid} on ${current?.host} since ${current?.startedAt}, ${current?.command})`,
        );
      }
      rmSync(path, { force: true });
      tookOver = reason;
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(owner)}\n`);
    } finally {
      closeSync(fd);
    }
    return {
      ...(tookOver ? { tookOver } : {}),
      release() {
        const current = readLockOwner(dir);
        if (current && current.pid === owner.pid && current.host === owner.host) rmSync(path, { force: true });
      },
    };
  }
  throw new RotationError('LOCKED', `could not take ${path}: it keeps being recreated`);
}
