/** What every operation works with: its read or write context, party lookups, and input checks. */
import { sha256Hex } from '../../lib/digest.js';
import { type AuditActor, type AuditEvent, type JsonValue, actorName } from './audit.js';
import type { CertificateCache } from './certificate-cache.js';
import type { Queryable } from './database.js';
import { StoreError, type StoreErrorReason } from './errors.js';
import { hex } from '../../lib/bytes.js';
import { partyName } from './names.js';
import type { PartyKey, PartyKind } from './records.js';

/** One attempt of a read-write transaction: its connection, its instant, its audit entries. */
export class WriteContext {
  readonly events: AuditEvent[] = [];

  constructor(
    readonly tx: Queryable,
    readonly now: Date,
  ) {}

  audit(actor: AuditActor, action: string, resource: string, before: JsonValue | null, after: JsonValue | null): void {
    const authentication = typeof actor === 'string' ? null : actor.authentication;
    this.events.push({ actor: actorName(actor), action, resource, before, after, authentication });
  }
}

export interface ReadContext {
  readonly tx: Queryable;
  readonly now: Date;
  /** Only on single-query reads outside a transaction, where a cached certificate may answer. */
  readonly certificateCache?: CertificateCache;
}

export const PARTY_NOT_FOUND: Record<PartyKind, StoreErrorReason> = {
  DATA_PROVIDER: 'DATA_PROVIDER_NOT_FOUND',
  MEASUREMENT_CONSUMER: 'MEASUREMENT_CONSUMER_NOT_FOUND',
  MODEL_PROVIDER: 'MODEL_PROVIDER_NOT_FOUND',
  DUCHY: 'DUCHY_NOT_FOUND',
};

const PARTY_LABEL: Record<PartyKind, string> = {
  DATA_PROVIDER: 'Data Provider',
  MEASUREMENT_CONSUMER: 'Measurement Consumer',
  MODEL_PROVIDER: 'Model Provider',
  DUCHY: 'Duchy',
};

const METADATA_KEY: Record<PartyKind, string> = {
  DATA_PROVIDER: 'dataProvider',
  MEASUREMENT_CONSUMER: 'measurementConsumer',
  MODEL_PROVIDER: 'modelProvider',
  DUCHY: 'duchy',
};

export function partyNotFound(key: PartyKey, code: 'NOT_FOUND' | 'FAILED_PRECONDITION' = 'NOT_FOUND'): StoreError {
  return new StoreError(code, PARTY_NOT_FOUND[key.kind], `${PARTY_LABEL[key.kind]} not found.`, {
    metadata: { [METADATA_KEY[key.kind]]: partyName(key) },
  });
}

/** INVALID_ARGUMENT with its reason first, as service/errors.ts's `invalidArgument`. */
export function invalidArgument(reason: StoreErrorReason, message: string): StoreError {
  return new StoreError('INVALID_ARGUMENT', reason, message);
}

/** The SQL condition and parameters that select one party row by its public key. */
export function partyWhere(key: PartyKey, firstParam: number, alias = 'p'): { sql: string; params: unknown[] } {
  if (key.kind === 'DUCHY') {
    return { sql: `${alias}.kind = 'DUCHY' AND ${alias}.duchy_id = $${firstParam}`, params: [key.id] };
  }
  return {
    sql: `${alias}.kind = $${firstParam} AND ${alias}.external_id = $${firstParam + 1}`,
    params: [key.kind, key.id],
  };
}

export interface PartyRow {
  kind: PartyKind;
  external_id: bigint | null;
  duchy_id: string | null;
}

export function partyKeyOf(r: PartyRow): PartyKey {
  if (r.kind === 'DUCHY') return { kind: 'DUCHY', id: r.duchy_id ?? '' };
  return { kind: r.kind, id: r.external_id ?? 0n };
}

/** Looks up a party's internal id (optionally locking its row); null if absent. */
export async function findPartyId(tx: Queryable, key: PartyKey, lock: '' | 'FOR UPDATE' | 'FOR SHARE' = ''): Promise<bigint | null> {
  const w = partyWhere(key, 1);
  const rows = await tx.query<{ party_id: bigint }>(`SELECT p.party_id FROM parties p WHERE ${w.sql} ${lock}`, w.params);
  return rows[0]?.party_id ?? null;
}

export async function requirePartyId(tx: Queryable, key: PartyKey, lock: '' | 'FOR UPDATE' | 'FOR SHARE' = ''): Promise<bigint> {
  const id = await findPartyId(tx, key, lock);
  if (id === null) throw partyNotFound(key);
  return id;
}

export { sha256Hex };

// ---------------------------------------------------------------- input checks

export function requireActor(actor: AuditActor): void {
  const name = typeof actor === 'object' && actor !== null ? actor.name : actor;
  if (typeof name !== 'string' || name.length === 0) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'actor is required');
}

export function requireBytes(value: Uint8Array | undefined | null, field: string): Uint8Array {
  if (!(value instanceof Uint8Array) || value.length === 0) {
    throw invalidArgument('REQUIRED_FIELD_NOT_SET', `${field} is not specified`);
  }
  return value;
}

export function requireExternalId(value: bigint, field: string): bigint {
  if (typeof value !== 'bigint' || value <= 0n || value >= 1n << 63n) throw invalidArgument('INVALID_FIELD_VALUE', `${field} is not a valid id`);
  return value;
}

export function requireDate(value: Date, field: string): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) throw invalidArgument('INVALID_FIELD_VALUE', `${field} is not a valid time`);
  return value;
}

export function requireLimit(limit: number | undefined, fallback = 50, max = 1000): number {
  const n = limit ?? fallback;
  if (!Number.isSafeInteger(n) || n < 1 || n > max) throw invalidArgument('INVALID_FIELD_VALUE', `limit must be an integer in 1..${max}`);
  return n;
}

export function requireKey(key: PartyKey): PartyKey {
  if (typeof key !== 'object' || key === null || !Object.hasOwn(METADATA_KEY, key.kind)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'unknown owner kind');
  }
  if (key.kind === 'DUCHY') {
    if (typeof key.id !== 'string' || key.id.length === 0) throw invalidArgument('INVALID_FIELD_VALUE', 'duchy id is required');
  } else {
    requireExternalId(key.id, `${METADATA_KEY[key.kind]} id`);
  }
  return key;
}

export { hex };
