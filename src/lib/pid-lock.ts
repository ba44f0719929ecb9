/**
 * An exclusive lock file naming its owner: created with O_EXCL, it holds the
 * pid, host and start time of the process that took it. A lock left by a
 * process on this host that no longer exists is stale and taken over (a
 * SIGKILLed owner must not block the next one); a lock from another host is
 * only broken when asked, since we cannot see whether its owner lives.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

export interface LockOwner {
  pid: number;
  host: string;
  startedAt: string;
  command: string;
}

export interface PidLockOptions {
  /** When the owner started, recorded in the file. */
  now: Date;
  /** What the owner does, for the message another process shows. */
  command: string;
  /** Take over a lock held by another host's process. */
  breakLock?: boolean;
  /** The error for a lock that a live owner holds. */
  held(owner: LockOwner | undefined, path: string): Error;
  /** The error for a lock file that cannot be created, or keeps being recreated. */
  failed(message: string, cause?: unknown): Error;
}

export interface HeldLock {
  /** Set when a stale lock was taken over. */
  readonly tookOver?: string;
  release(): void;
}

/** True when a process with this pid exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readLockFile(path: string): LockOwner | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
  } catch {
    return undefined;
  }
}

/** Why a present lock may be taken over, or undefined when it must be respected. */
export function staleReason(owner: LockOwner | undefined, breakLock = false): string | undefined {
  if (!owner || typeof owner.pid !== 'number') return 'unreadable lock file';
  if (owner.host === hostname()) {
    if (owner.pid === process.pid) return undefined;
    return processAlive(owner.pid) ? undefined : `process ${owner.pid} no longer runs`;
  }
  return breakLock ? `broken on request (held by ${owner.host})` : undefined;
}

export function acquirePidLock(path: string, options: PidLockOptions): HeldLock {
  const owner: LockOwner = { pid: process.pid, host: hostname(), startedAt: options.now.toISOString(), command: options.command };
  let tookOver: string | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw options.failed(`cannot create ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`, err);
      }
      const current = readLockFile(path);
      const reason = staleReason(current, options.breakLock);
      if (!reason) throw options.held(current, path);
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
        const current = readLockFile(path);
        if (current && current.pid === owner.pid && current.host === owner.host) rmSync(path, { force: true });
      },
    };
  }
  throw options.failed(`could not take ${path}: it keeps being recreated`);
}
