/** The Kingdom's store: opening it, and running each entity module's operations in a transaction or snapshot. */
import { type Clock, systemClock } from '../../lib/clock.js';
import { type AuditActor, type AuditEvent, type AuditExportOptions, type PreparedAuditEvent, exportAudit, verifyAuditChain } from './audit.js';
import { accountOperations } from './accounts.js';
import { authOperations } from './auth.js';
import { CertificateCache, isCertificateName } from './certificate-cache.js';
import { certificateOperations } from './certificates.js';
import { type ReadContext, type WriteContext, requireActor } from './context.js';
import { dataProviderSettingsOperations } from './data-provider-settings.js';
import { type Database, openDatabase } from './database.js';
import { translateDatabaseError } from './driver-errors.js';
import { eventGroupOperations } from './event-groups.js';
import { measurementOperations } from './measurements.js';
import { migrate } from './migrations.js';
import { type StoreMethods, read, snapshot, write } from './operations.js';
import { partyOperations } from './parties.js';
import { requisitionOperations } from './requisitions.js';
import { WriteBatcher, type WriteBatchStats, type WriteBatchingOptions } from './write-batcher.js';

const auditOperations = {
  verifyAuditChain: snapshot((ctx) => verifyAuditChain(ctx.tx)),
  exportAudit: read((ctx, options?: AuditExportOptions) => exportAudit(ctx.tx, options)),
  /** Records an operator action that changes no table (the admin token rotated). */
  recordAuditEvent: write(async (ctx, event: AuditEvent) =>
    ctx.audit(event.actor, event.action, event.resource, event.before, event.after),
  ),
};

/** Every store operation: adding one to an entity module's table adds the store method. */
const operations = {
  ...partyOperations,
  ...dataProviderSettingsOperations,
  ...accountOperations,
  ...certificateOperations,
  ...eventGroupOperations,
  ...measurementOperations,
  ...requisitionOperations,
  ...authOperations,
  ...auditOperations,
};

/**
 * The Kingdom's storage: domain operations, each one transaction. Every
 * state change appends its audit entries in that same transaction. Errors are
 * `StoreError`s with upstream reason names.
 */
export interface KingdomStore extends StoreMethods<typeof operations> {
  readonly dialect: Database['dialect'];
  close(): Promise<void>;
}

export interface OpenKingdomStoreOptions {
  /** PGlite data directory (created if missing). Ignored when `databaseUrl` is set. */
  readonly dataDir?: string;
  /** `postgres://...`: use a PostgreSQL server (shared by replicas). */
  readonly databaseUrl?: string;
  readonly poolSize?: number;
  readonly clock?: Clock;
  /** How concurrent writes share transactions (group commit). */
  readonly writeBatching?: WriteBatchingOptions;
  /** Named in the PGlite directory's lock, for the message another process gets. */
  readonly holder?: string;
  /** The embedded database's page cache, MiB. Ignored when `databaseUrl` is set. */
  readonly embeddedCacheMiB?: number;
}

/** Opens the database, runs pending migrations, and returns the store. */
export async function openKingdomStore(options: OpenKingdomStoreOptions = {}): Promise<SqlKingdomStore> {
  const db = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.poolSize, holder: options.holder, embeddedCacheMiB: options.embeddedCacheMiB });
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw translateDatabaseError(err);
  }
  const store = new SqlKingdomStore(db, options.clock ?? systemClock, options.writeBatching);
  await store.listenForCertificateChanges();
  return store;
}

/** The channel on which replicas tell each other which certificates changed. */
const CERTIFICATE_CHANGES_CHANNEL = 'halo_kingdom_certificate_changes';
/** Under PostgreSQL's 8000-byte NOTIFY payload limit. */
const MAX_NOTIFY_PAYLOAD = 7000;

/** Newline-joined names, in as few payloads as fit the limit. */
function notifyPayloads(names: readonly string[]): string[] {
  const payloads: string[] = [];
  let current = '';
  for (const name of names) {
    if (current && current.length + 1 + name.length > MAX_NOTIFY_PAYLOAD) {
      payloads.push(current);
      current = '';
    }
    current = current ? `${current}\n${name}` : name;
  }
  if (current) payloads.push(current);
  return payloads;
}

function changedCertificates(events: readonly PreparedAuditEvent[], existingOnly: boolean): string[] {
  return events.filter((e) => isCertificateName(e.resource) && (!existingOnly || e.before !== null)).map((e) => e.resource);
}

// The operations' methods are installed on the prototype below.
export interface SqlKingdomStore extends StoreMethods<typeof operations> {}

export class SqlKingdomStore implements KingdomStore {
  static {
    for (const [name, op] of Object.entries(operations)) {
      Object.defineProperty(SqlKingdomStore.prototype, name, {
        value(this: SqlKingdomStore, ...args: unknown[]) {
          return this.run(op, args);
        },
        writable: true,
        configurable: true,
      });
    }
  }

  private readonly writes: WriteBatcher;
  /** Nothing is cached until `listenForCertificateChanges` hears other replicas. */
  readonly certificateCache = new CertificateCache({ enabled: false });

  constructor(
    /** The underlying database, for maintenance tools and tests. */
    readonly database: Database,
    private readonly clock: Clock,
    writeBatching?: WriteBatchingOptions,
  ) {
    this.writes = new WriteBatcher(database, clock, writeBatching, {
      // Other replicas only need to hear of certificates that existed before.
      beforeCommit: async (tx, events) => {
        if (database.dialect !== 'postgres') return;
        const payloads = notifyPayloads(changedCertificates(events, true));
        if (payloads.length > 0) {
          await tx.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [CERTIFICATE_CHANGES_CHANNEL, payloads]);
        }
      },
      afterCommit: (events) => {
        const names = changedCertificates(events, false);
        if (names.length > 0) this.certificateCache.invalidate(names);
      },
    });
  }

  /** Starts hearing other replicas' certificate changes; certificates are cached while it listens. */
  async listenForCertificateChanges(): Promise<void> {
    await this.database
      .listen(
        CERTIFICATE_CHANGES_CHANNEL,
        (payload) => this.certificateCache.invalidate(payload.split('\n')),
        (listening) => this.certificateCache.reset(listening),
      )
      // The listener keeps retrying; until it connects nothing is cached.
      .catch(() => {});
  }

  /** How writes have been grouped into transactions so far. */
  get writeStats(): Readonly<WriteBatchStats> {
    return { ...this.writes.stats };
  }

  get dialect(): Database['dialect'] {
    return this.database.dialect;
  }

  private run(op: (typeof operations)[keyof typeof operations], args: unknown[]): Promise<unknown> {
    // Sound: each method is typed from its operation, so `args` are the ones `op.run` declares.
    const run = op.run as (ctx: ReadContext | WriteContext, ...args: unknown[]) => Promise<unknown>;
    switch (op.kind) {
      case 'read':
        return this.read((ctx) => run(ctx, ...args));
      case 'snapshot':
        return this.readSnapshot((ctx) => run(ctx, ...args));
      case 'write':
        return this.write((args[0] as { readonly actor: AuditActor }).actor, (ctx) => run(ctx, ...args));
    }
  }

  private async write<T>(actor: AuditActor, fn: (ctx: WriteContext) => Promise<T>): Promise<T> {
    requireActor(actor);
    try {
      return await this.writes.submit(fn);
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  /** A read of one query needs no transaction; a certificate may come from the cache. */
  private async read<T>(fn: (ctx: ReadContext) => Promise<T>): Promise<T> {
    try {
      return await fn({ tx: this.database, now: this.clock.now(), certificateCache: this.certificateCache });
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  /** A read that assembles one answer from several queries sees a single snapshot. */
  private async readSnapshot<T>(fn: (ctx: ReadContext) => Promise<T>): Promise<T> {
    try {
      return await this.database.snapshot((tx) => fn({ tx, now: this.clock.now() }));
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  async close(): Promise<void> {
    await this.writes.idle();
    await this.database.close();
  }
}
