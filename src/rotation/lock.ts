/**
 * One rotation at a time per keyring: `rotation.lock` (see lib/pid-lock.ts:
 * owner pid, host and start; a dead owner's lock is taken over).
 */
import { join } from 'node:path';
import { type Clock, type HeldLock, type LockOwner, acquirePidLock, readLockFile } from '../lib/index.js';
import { RotationError } from './errors.js';

export const LOCK_FILE = 'rotation.lock';

export interface LockOptions {
  clock: Clock;
  command: string;
  /** Take over a lock held by another host's process. */
  breakLock?: boolean;
}

export function readLockOwner(dir: string): LockOwner | undefined {
  return readLockFile(join(dir, LOCK_FILE));
}

export function acquireLock(dir: string, options: LockOptions): HeldLock {
  return acquirePidLock(join(dir, LOCK_FILE), {
    now: options.clock.now(),
    command: options.command,
    ...(options.breakLock !== undefined ? { breakLock: options.breakLock } : {}),
    held: (current, path) =>
      new RotationError('LOCKED', `another rotation holds ${path} (pid ${current?.pid} on ${current?.host} since ${current?.startedAt}, ${current?.command})`),
    failed: (message, cause) => new RotationError('LOCKED', message, cause === undefined ? undefined : { cause }),
  });
}
