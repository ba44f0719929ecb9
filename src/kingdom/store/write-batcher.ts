/** Group commit: concurrent writes sharing one transaction and one audit-log append. */
import type { Clock } from '../../lib/index.js';
import { type PreparedAuditEvent, appendAudit, prepareAuditEvents } from './audit.js';
import { WriteContext } from './context.js';
import { type Database, type Queryable, type Row, isConflictExhausted, isRetryableConflict } from './database.js';

/**
 * Group commit. Every write appends to the one hash-chained audit log under a
 * transaction-scoped advisory lock held through COMMIT, so writes commit one
 * at a time and each waits for its own WAL flush. Instead, concurrent writes
 * queue here and run together in one transaction: the events of those that
 * succeeded are chained with one lock, one tail read and one insert, and one
 * COMMIT makes them all durable before any of them is answered.
 *
 * Each operation stays atomic on its own: one that fails is rejected alone
 * and leaves neither changes nor audit events. A batch first runs without
 * savepoints; if an operation fails after touching the database, that
 * attempt is rolled back and the batch runs again with a savepoint per
 * operation, so the failure is rolled back to its savepoint. (Failures are
 * rare, and a savepoint costs a round trip per operation.)
 *
 * No operation waits for company: a batch starts as soon as a slot is free,
 * and a lone operation runs alone, as before. Under load the queue fills
 * while the running batches commit.
 */

export interface WriteBatchingOptions {
  /** Operations per transaction at most. */
  readonly maxBatchSize?: number;
  /**
   * Transactions in flight at once: with two, one batch runs its statements
   * while the other holds the audit lock through its commit.
   */
  readonly concurrency?: number;
  /** Attempts of a conflicting batch before its operations run one by one. */
  readonly batchAttempts?: number;
  /**
   * 'after-failure' (the default) runs a batch without savepoints and, if an
   * operation fails after touching the database, runs the batch again with
   * one savepoint per operation; 'always' takes them from the start.
   */
  readonly savepoints?: 'after-failure' | 'always';
}

/**
 * Who hears of committed changes (the certificate cache): `beforeCommit`
 * runs inside the transaction after the audit append (to notify other
 * replicas at commit), `afterCommit` once it has committed and before any
 * of its writers is answered.
 */
export interface CommitListener {
  beforeCommit(tx: Queryable, events: readonly PreparedAuditEvent[]): Promise<void>;
  afterCommit(events: readonly PreparedAuditEvent[]): void;
}

/** Counters for tests and metrics. */
export interface WriteBatchStats {
  /** Operations submitted. */
  operations: number;
  /** Transactions that ran two or more operations together. */
  batches: number;
  /** The most operations one transaction carried. */
  largestBatch: number;
  /** Batch attempts rerun after a serialization failure or deadlock. */
  batchRetries: number;
  /** Batches whose operations were rerun one per transaction after conflicting too often. */
  fallbacks: number;
  /** Batches run again with a savepoint per operation because one failed. */
  isolatedReruns: number;
}

type Operation<T> = (ctx: WriteContext) => Promise<T>;

interface Pending {
  readonly op: Operation<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };

/** Ends an attempt without savepoints: an operation failed after touching the database. */
class IsolationNeeded extends Error {}

/** Upper bound also keeps a transaction within PostgreSQL's 64 cached subtransaction ids. */
const MAX_BATCH_SIZE = 64;

export class WriteBatcher {
  readonly stats: WriteBatchStats = {
    operations: 0,
    batches: 0,
    largestBatch: 0,
    batchRetries: 0,
    fallbacks: 0,
    isolatedReruns: 0,
  };
  private readonly queue: Pending[] = [];
  private running = 0;
  private pumpScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private readonly maxBatchSize: number;
  private readonly concurrency: number;
  private readonly batchAttempts: number;
  private readonly alwaysIsolate: boolean;

  constructor(
    private readonly db: Database,
    private readonly clock: Clock,
    options: WriteBatchingOptions = {},
    private readonly listener?: CommitListener,
  ) {
    this.maxBatchSize = Math.max(1, Math.min(MAX_BATCH_SIZE, options.maxBatchSize ?? MAX_BATCH_SIZE));
    // PGlite has one connection: a second transaction would only wait for it.
    this.concurrency = Math.max(1, options.concurrency ?? (db.dialect === 'postgres' ? 2 : 1));
    this.batchAttempts = Math.max(1, options.batchAttempts ?? 3);
    this.alwaysIsolate = options.savepoints === 'always';
  }

  /**
   * Runs `op` in a transaction (possibly shared with other operations) with
   * its audit events, and resolves once that transaction has committed. `op`
   * may run more than once, so it must have no effects outside the database.
   * Errors are the raw driver or store errors.
   */
  submit<T>(op: Operation<T>): Promise<T> {
    this.stats.operations++;
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.schedulePump();
    });
  }

  /**
   * Batches start after pending I/O has been handled (setImmediate, not a
   * timer): the embedded database runs a whole transaction without yielding
   * to I/O, so without this the next request would never be read while one
   * write runs, and writes would never meet in a batch.
   */
  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.concurrency && this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatchSize);
      this.running++;
      void this.runBatch(batch).finally(() => {
        this.running--;
        this.schedulePump();
        if (this.running === 0 && this.queue.length === 0) {
          for (const wake of this.idleWaiters.splice(0)) wake();
        }
      });
    }
  }

  /** Resolves once every submitted operation has settled (before closing the database). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      await this.runAlone(batch[0] as Pending);
      return;
    }
    this.stats.batches++;
    this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
    let outcomes: Outcome[] | undefined;
    let events: readonly PreparedAuditEvent[] = [];
    let isolate = this.alwaysIsolate;
    while (outcomes === undefined) {
      try {
        let attempt = 0;
        ({ outcomes, events } = await this.db.transaction(
          (tx) => {
            if (attempt++ > 0) this.stats.batchRetries++;
            return this.runTogether(tx, batch, isolate);
          },
          { maxAttempts: this.batchAttempts },
        ));
      } catch (err) {
        if (err instanceof IsolationNeeded && !isolate) {
          this.stats.isolatedReruns++;
          isolate = true;
          continue;
        }
        if (isConflictExhausted(err)) {
          // One operation may keep conflicting; alone, each gets its own retries.
          this.stats.fallbacks++;
          for (const p of batch) await this.runAlone(p);
        } else {
          // Nothing committed (or the commit's fate is unknown, as for a single write).
          for (const p of batch) p.reject(err);
        }
        return;
      }
    }
    this.listener?.afterCommit(events);
    outcomes.forEach((o, i) => {
      const p = batch[i] as Pending;
      if (o.ok) p.resolve(o.value);
      else p.reject(o.error);
    });
  }

  /**
   * One attempt of a batch, then the audit of the operations that succeeded.
   * With `isolate`, each operation runs in its own savepoint and a failure is
   * rolled back to it. Without, the attempt is cheaper by a round trip per
   * operation but can only absorb failures that touched nothing: any other
   * ends it with IsolationNeeded, and the batch runs again isolated.
   */
  private async runTogether(
    tx: Queryable,
    batch: readonly Pending[],
    isolate: boolean,
  ): Promise<{ outcomes: Outcome[]; events: PreparedAuditEvent[] }> {
    const outcomes: Outcome[] = [];
    const events: PreparedAuditEvent[] = [];
    for (const [i, p] of batch.entries()) {
      const scope = new OperationScope(tx, isolate ? `halo_write_${i}` : undefined);
      const ctx = new WriteContext(scope, this.clock.now());
      try {
        const value = await p.op(ctx);
        events.push(...prepareAuditEvents(ctx.now, ctx.events));
        outcomes.push({ ok: true, value });
      } catch (err) {
        // A conflict aborts the whole attempt: its locks may be what the other side waits for.
        if (isRetryableConflict(err)) throw err;
        if (scope.touched && !isolate) throw new IsolationNeeded('an operation failed after touching the database', { cause: err });
        await scope.rollback();
        outcomes.push({ ok: false, error: err });
      }
    }
    await this.#record(tx, events);
    return { outcomes, events };
  }

  /** The audit entries of a transaction, and the listener's part in it. */
  async #record(tx: Queryable, events: readonly PreparedAuditEvent[]): Promise<void> {
    await appendAudit(tx, events);
    if (events.length > 0) await this.listener?.beforeCommit(tx, events);
  }

  private async runAlone(p: Pending): Promise<void> {
    try {
      const { value, events } = await this.db.transaction(async (tx) => {
        const ctx = new WriteContext(tx, this.clock.now());
        const value = await p.op(ctx);
        const events = prepareAuditEvents(ctx.now, ctx.events);
        await this.#record(tx, events);
        return { value, events };
      });
      this.listener?.afterCommit(events);
      p.resolve(value);
    } catch (err) {
      p.reject(err);
    }
  }
}

/**
 * The queries of one operation in a batch. A savepoint, when asked for, is
 * taken before the operation's first statement, so an operation refused
 * before touching the database costs no round trip; savepoints are not
 * released (that would be a round trip each) and simply nest until COMMIT.
 */
class OperationScope implements Queryable {
  private started: Promise<unknown> | undefined;

  constructor(
    private readonly tx: Queryable,
    private readonly savepoint: string | undefined,
  ) {}

  /** Whether the operation has sent a statement. */
  get touched(): boolean {
    return this.started !== undefined;
  }

  async query<R extends object = Row>(sql: string, params?: readonly unknown[]): Promise<R[]> {
    this.started ??= this.savepoint === undefined ? Promise.resolve() : this.tx.query(`SAVEPOINT ${this.savepoint}`);
    await this.started;
    return this.tx.query<R>(sql, params);
  }

  async rollback(): Promise<void> {
    if (this.started === undefined || this.savepoint === undefined) return;
    await this.started.catch(() => {});
    await this.tx.query(`ROLLBACK TO SAVEPOINT ${this.savepoint}`);
  }
}
