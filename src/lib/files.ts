/**
 * File I/O with the guarantees key material needs: reads fail with an error
 * that names the file, writes are atomic (temp file, fsync, rename) so a crash
 * never leaves half a key, and secrets are created with mode 0600.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { HaloError } from './errors.js';

export type FileErrorCode = 'FILE_NOT_FOUND' | 'FILE_UNREADABLE' | 'FILE_UNWRITABLE';

export class FileError extends HaloError<FileErrorCode> {
  constructor(code: FileErrorCode, message: string, readonly path: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export function readFileBytes(path: string, what = 'file'): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new FileError('FILE_NOT_FOUND', `${what} not found: ${path}`, path, { cause: err });
    throw new FileError('FILE_UNREADABLE', `cannot read ${what} ${path}: ${code ?? 'error'}`, path, { cause: err });
  }
}

/** The items of a small JSON-lines file (a report's list), in order. */
export function readJsonLines<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

export interface WriteOptions {
  /** File mode; 0o600 for anything secret. Defaults to 0o644. */
  mode?: number;
}

/** Writes `data` to `path` atomically: readers see the old file or the new one. */
export function writeFileAtomic(path: string, data: Uint8Array | string, options: WriteOptions = {}): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'wx', options.mode ?? 0o644);
    let offset = 0;
    while (offset < bytes.length) offset += writeSync(fd, bytes, offset);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
    fsyncDir(dirname(path));
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new FileError('FILE_UNWRITABLE', `cannot write ${path}: ${code}`, path, { cause: err });
  }
}

/** Writes a secret: mode 0600, atomically. */
export function writeSecretFile(path: string, data: Uint8Array | string): void {
  writeFileAtomic(path, data, { mode: 0o600 });
}

/** Makes a rename or create in `dir` durable; a no-op where the filesystem cannot fsync a directory. */
export function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}
