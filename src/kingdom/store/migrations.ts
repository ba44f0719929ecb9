/** The schema migrations, in order, and running those a database has not had yet. */
import type { Database } from './database.js';
import { StoreError } from './errors.js';
import { initialSchema } from './schema/0001-initial.js';
import { auditAuthenticationSchema } from './schema/0002-audit-authentication.js';
import { upstreamRequestFieldsSchema } from './schema/0003-upstream-request-fields.js';
import { accountsAndDataProviderSettingsSchema } from './schema/0004-accounts-and-data-provider-settings.js';
import { eventGroupListOrderSchema } from './schema/0005-event-group-list-order.js';
import { eventGroupByConsumerAndIdSchema } from './schema/0006-event-group-by-consumer-and-id.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** In order; a released migration is never edited, only followed by a new one. */
export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial', sql: initialSchema },
  { version: 2, name: 'audit-authentication', sql: auditAuthenticationSchema },
  { version: 3, name: 'upstream-request-fields', sql: upstreamRequestFieldsSchema },
  { version: 4, name: 'accounts-and-data-provider-settings', sql: accountsAndDataProviderSettingsSchema },
  { version: 5, name: 'event-group-list-order', sql: eventGroupListOrderSchema },
  { version: 6, name: 'event-group-by-consumer-and-id', sql: eventGroupByConsumerAndIdSchema },
];

/** Key of the transaction-scoped advisory lock that lets one migrator run at a time. */
const MIGRATION_LOCK_KEY = 0x4b696e67; // 'King'

/**
 * Brings the schema up to date in one transaction. Replicas starting together
 * queue on an advisory lock, so each migration runs exactly once; a database
 * newer than this code is refused rather than written with an old schema.
 * Returns the versions applied now.
 */
export async function migrate(db: Database, list: readonly Migration[] = migrations): Promise<number[]> {
  const latest = list.reduce((m, x) => Math.max(m, x.version), 0);
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await tx.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await tx.query<{ version: number }>('SELECT version FROM schema_migrations');
    const applied = new Set(rows.map((r) => Number(r.version)));
    const unknown = [...applied].filter((v) => v > latest);
    if (unknown.length > 0) {
      throw new StoreError(
        'FAILED_PRECONDITION',
        'SCHEMA_VERSION_UNKNOWN',
        `database schema version ${Math.max(...unknown)} is newer than this program knows (${latest})`,
      );
    }
    const done: number[] = [];
    for (const m of [...list].sort((a, b) => a.version - b.version)) {
      if (applied.has(m.version)) continue;
      for (const statement of splitStatements(m.sql)) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      done.push(m.version);
    }
    return done;
  });
}

/**
 * Splits a script at top-level semicolons so each statement runs through the
 * transaction's `query` (the extended protocol takes one statement at a time).
 * The schema uses no dollar quoting or semicolons inside literals.
 */
function splitStatements(script: string): string[] {
  return script
    .split(';')
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
