/** The database connection: PGlite or a PostgreSQL pool, transactions, snapshots, LISTEN. */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import pg from 'pg';
import { type HeldLock, acquirePidLock } from '../../lib/pid-lock.js';
import { StoreError } from './errors.js';

/**
 * The one SQL dialect (PostgreSQL) over two engines: embedded PGlite (a data
 * directory, one connection) and a PostgreSQL server through a `pg` pool.
 *
 * Values are normalised so the store sees the same types on both: int8 as
 * `bigint`, bytea as `Uint8Array`, timestamptz as `Date`, jsonb parsed.
 */
export type Row = Record<string, unknown>;

export interface Queryable {
  query<R extends object = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface Database extends Queryable {
  readonly dialect: 'pglite' | 'postgres';
  /** Runs a multi-statement script outside any caller transaction. */
  exec(script: string): Promise<void>;
  /**
   * Runs `fn` in one transaction (READ COMMITTED; writers take row locks) and
   * commits. On PostgreSQL a serialization failure or deadlock rolls back and
   * runs `fn` again, so `fn` must not have effects outside the transaction.
   * `maxAttempts` overrides the database's limit for this call.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs read-only `fn` against one consistent snapshot (several queries, one point in time). */
  snapshot<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Hands each notification on `channel` (NOTIFY, sent at other sessions'
   * commits) to `onMessage`. `onState(true)` once listening; `onState(false)`
   * when the connection drops, after which it reconnects by itself and
   * reports true again. PGlite has one process and no one else to hear
   * from: it only reports listening.
   */
  listen(channel: string, onMessage: (payload: string) => void, onState: (listening: boolean) => void): Promise<void>;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  /** PGlite data directory; `undefined` with no `url` keeps the database in memory. */
  dataDir?: string;
  /** `postgres://...` selects a PostgreSQL server instead of PGlite. */
  url?: string;
  /** Connections in the PostgreSQL pool. */
  poolSize?: number;
  /** Attempts of a transaction that keeps hitting serialization failures or deadlocks. */
  maxAttempts?: number;
  /** What opens a PGlite data directory (`kingdom serve`), named to another process that finds it locked. */
  holder?: string;
  /** PGlite's page cache (shared_buffers), MiB; default DEFAULT_EMBEDDED_CACHE_MIB. */
  embeddedCacheMiB?: number;
}

/**
 * PGlite's own default is PostgreSQL's 128 MB of shared_buffers, all of it in
 * the process's WebAssembly memory once touched. The Kingdom's working set
 * (indexes of the tables it pages through) fits in far less, and PGlite's
 * reads come from the operating system's page cache anyway.
 */
export const DEFAULT_EMBEDDED_CACHE_MIB = 16;

export interface TransactionOptions {
  readonly maxAttempts?: number;
}

const RETRYABLE_SQLSTATES = new Set(['40001', '40P01']);

/** A serialization failure or deadlock: running the whole transaction again may succeed. */
export function isRetryableConflict(err: unknown): boolean {
  const state = (err as { code?: unknown } | null)?.code;
  return typeof state === 'string' && RETRYABLE_SQLSTATES.has(state);
}

/** The error `transaction` throws when every attempt conflicted. */
export function isConflictExhausted(err: unknown): boolean {
  return err instanceof StoreError && err.reason === 'TRANSACTION_ABORTED' && isRetryableConflict(err.cause);
}

export async function openDatabase(options: DatabaseOptions = {}): Promise<Database> {
  if (options.url !== undefined) return openPostgres(options.url, options);
  return openPglite(options.dataDir, options.holder ?? 'halo-keys', options.embeddedCacheMiB ?? DEFAULT_EMBEDDED_CACHE_MIB);
}

// ---------------------------------------------------------------- PGlite

/** In the PGlite data directory: which process has it open. */
export const PGLITE_LOCK_FILE = 'halo-keys.lock';

/**
 * PGlite is one process's database: a second process opening the same
 * directory writes over the first one's pages and acknowledged writes are
 * lost. So the directory itself carries a lock naming its owner; a lock left
 * by a process that died is taken over.
 */
function lockPgliteDir(dataDir: string, holder: string): HeldLock {
  return acquirePidLock(join(dataDir, PGLITE_LOCK_FILE), {
    now: new Date(),
    command: holder,
    held: (owner) =>
      new StoreError(
        'UNAVAILABLE',
        'DATABASE_UNAVAILABLE',
        `the embedded database ${dataDir} is in use by pid ${owner?.pid ?? '?'} (${owner?.command ?? 'unknown'}, since ${owner?.startedAt ?? '?'}); it allows one process: stop that one first, or use PostgreSQL (--database-url)`,
      ),
    failed: (message, cause) => new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', `cannot lock the embedded database: ${message}`, { cause }),
  });
}

async function openPglite(dataDir: string | undefined, holder: string, cacheMiB: number): Promise<Database> {
  let lock: HeldLock | undefined;
  if (dataDir !== undefined) {
    mkdirSync(dataDir, { recursive: true });
    lock = lockPgliteDir(dataDir, holder);
  }
  let db: PGlite;
  try {
    const options = {
      // PGlite returns small int8 values as numbers; the store wants bigint always.
      parsers: { 20: (v: string) => BigInt(v) },
      startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${cacheMiB}MB`],
    };
    // Creating a data directory (initdb) leaves about 500 MiB of WebAssembly
    // memory behind for the life of the instance: open it once more.
    const created = dataDir !== undefined && !existsSync(join(dataDir, 'PG_VERSION'));
    db = await PGlite.create(dataDir ?? 'memory://', options);
    if (created) {
      await db.close();
      db = await PGlite.create(dataDir, options);
    }
  } catch (cause) {
    lock?.release();
    throw new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'cannot open the embedded database', { cause });
  }
  const run = async <R extends object>(q: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]) => {
    const res = await q.query<R>(sql, params === undefined ? [] : [...params]);
    return res.rows;
  };
  return {
    dialect: 'pglite',
    query: (sql, params) => run(db, sql, params),
    async exec(script) {
      await db.exec(script);
    },
    // PGlite has a single connection and serialises transactions itself, so
    // there is nothing to retry.
    transaction: (fn) => db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) })),
    // One connection, and transactions exclude other queries: a transaction is a snapshot.
    snapshot: (fn) => db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params) })),
    async listen(_channel, _onMessage, onState) {
      onState(true);
    },
    async close() {
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
  };
}

// ---------------------------------------------------------------- PostgreSQL

const types = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === 20) return (v: string) => BigInt(v); // int8
    return (pg.types.getTypeParser as (oid: number, format?: string) => (value: string) => unknown)(oid, format);
  },
};

/** pg hands back bytea as Buffer; the store compares and returns plain Uint8Arrays. */
function normaliseRow<R extends object>(row: Row): R {
  for (const k of Object.keys(row)) {
    const v = row[k];
    if (Buffer.isBuffer(v)) row[k] = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
  return row as R;
}

/**
 * Names for parameterised statements, so each connection parses and plans a
 * statement once and then only binds it (planning the store's CTEs costs
 * about as much as running them). The store's statement texts are a small
 * fixed set; past the cap, statements simply run unnamed.
 */
const MAX_NAMED_STATEMENTS = 512;
const statementNames = new Map<string, string>();

function statementName(sql: string): string | undefined {
  let name = statementNames.get(sql);
  if (name === undefined && statementNames.size < MAX_NAMED_STATEMENTS) {
    name = `halo_${createHash('sha256').update(sql).digest('hex').slice(0, 32)}`;
    statementNames.set(sql, name);
  }
  return name;
}

async function openPostgres(url: string, options: DatabaseOptions): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options.poolSize ?? 10, types });
  // An idle connection dropped by the server must not crash the process; the
  // next checkout gets a fresh one.
  pool.on('error', () => {});
  const maxAttempts = options.maxAttempts ?? 20;
  const notifications = notificationListener(url);

  const run = async <R extends object>(c: pg.Pool | pg.PoolClient, sql: string, params?: readonly unknown[]) => {
    // Without parameters pg uses the simple protocol: one round trip, nothing to name.
    const name = params === undefined || params.length === 0 ? undefined : statementName(sql);
    const res = await c.query({ text: sql, values: params === undefined ? [] : [...params], name });
    return (res.rows as Row[]).map((r) => normaliseRow<R>(r));
  };

  try {
    await pool.query('SELECT 1');
  } catch (cause) {
    await pool.end().catch(() => {});
    throw new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'cannot connect to the PostgreSQL database', { cause });
  }

  return {
    dialect: 'postgres',
    query: (sql, params) => run(pool, sql, params),
    async exec(script) {
      await pool.query(script);
    },
    async transaction(fn, txOptions) {
      const attempts = txOptions?.maxAttempts ?? maxAttempts;
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        let retry = false;
        let broken: Error | undefined;
        try {
          await client.query('BEGIN');
          const result = await fn({ query: (sql, params) => run(client, sql, params) });
          await client.query('COMMIT');
          return result;
        } catch (err) {
          try {
            await client.query('ROLLBACK');
          } catch (rollbackErr) {
            broken = rollbackErr as Error; // discard the connection, not return it to the pool
          }
          if (!isRetryableConflict(err)) throw err;
          if (attempt >= attempts) {
            throw new StoreError('ABORTED', 'TRANSACTION_ABORTED', `transaction conflicted ${attempt} times`, {
              cause: err,
            });
          }
          retry = true;
        } finally {
          client.release(broken);
        }
        // Jittered backoff so the conflicting transactions do not meet again.
        if (retry) await sleep(Math.random() * Math.min(50, 2 ** attempt));
      }
    },
    async snapshot(fn) {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        // A read-only REPEATABLE READ transaction never fails to serialise.
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        const result = await fn({ query: (sql, params) => run(client, sql, params) });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => {
          broken = e;
        });
        throw err;
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, onMessage, onState) => notifications.listen(channel, onMessage, onState),
    async close() {
      await notifications.close();
      await pool.end();
    },
  };
}

const RELISTEN_DELAY_MS = 1000;

/** LISTEN on a connection of its own (a pooled one would lose it), reconnecting after a drop. */
function notificationListener(url: string) {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;

  async function connect(channel: string, onMessage: (payload: string) => void, onState: (listening: boolean) => void): Promise<void> {
    const c = new pg.Client({ connectionString: url });
    let dropped = false;
    const drop = () => {
      if (dropped) return;
      dropped = true;
      c.end().catch(() => {});
      if (client === c) client = undefined;
      if (closed) return;
      onState(false);
      retry = setTimeout(() => {
        connect(channel, onMessage, onState).catch(() => {});
      }, RELISTEN_DELAY_MS);
      retry.unref();
    };
    c.on('error', drop);
    c.on('end', drop);
    c.on('notification', (n) => {
      if (n.channel === channel) onMessage(n.payload ?? '');
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (err) {
      drop();
      throw err;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
    onState(true);
  }

  return {
    listen: connect,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      await client?.end().catch(() => {});
      client = undefined;
    },
  };
}
