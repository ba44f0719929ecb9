/** EventGroups and the requests to re-encrypt their metadata. */
import type { AuditActor, JsonValue } from './audit.js';
import {
  type ReadContext,
  type WriteContext,
  invalidArgument,
  partyNotFound,
  requireBytes,
  requireExternalId,
  requireLimit,
  sha256Hex,
} from './context.js';
import { StoreError } from './errors.js';
import { apiId, insertWithExternalId } from './ids.js';
import { hex } from '../../lib/bytes.js';
import { eventGroupName, reencryptionRequestName } from './names.js';
import { read, write } from './operations.js';
import {
  type EventGroupCursor,
  type EventGroupRecord,
  type EventGroupState,
  type MetadataReencryptionRequestRecord,
  type Page,
  dataProvider,
  measurementConsumer,
} from './records.js';

interface EventGroupRow {
  event_group_id: bigint;
  dp_external_id: bigint;
  external_event_group_id: bigint;
  mc_external_id: bigint;
  event_group_reference_id: string;
  encrypted_metadata: Uint8Array | null;
  measurement_consumer_public_key: Uint8Array | null;
  api_version: string;
  details: Uint8Array;
  state: EventGroupState;
  revision: bigint;
  create_time: Date;
  update_time: Date;
}

const SELECT = `SELECT eg.event_group_id, dp.external_id AS dp_external_id, eg.external_event_group_id,
  mc.external_id AS mc_external_id, eg.event_group_reference_id, eg.encrypted_metadata,
  eg.measurement_consumer_public_key, eg.api_version, eg.details, eg.state, eg.revision, eg.create_time, eg.update_time
  FROM event_groups eg
  JOIN parties dp ON dp.party_id = eg.data_provider_id
  JOIN parties mc ON mc.party_id = eg.measurement_consumer_id`;

const toEventGroup = (r: EventGroupRow): EventGroupRecord => ({
  dataProviderId: r.dp_external_id,
  externalEventGroupId: r.external_event_group_id,
  measurementConsumerId: r.mc_external_id,
  eventGroupReferenceId: r.event_group_reference_id,
  encryptedMetadata: r.encrypted_metadata,
  measurementConsumerPublicKey: r.measurement_consumer_public_key,
  apiVersion: r.api_version,
  details: r.details,
  state: r.state,
  revision: r.revision,
  createTime: r.create_time,
  updateTime: r.update_time,
});

/** What the audit log keeps of an EventGroup: its byte fields as SHA-256 (hex), hashed by the caller or the database. */
interface AuditedEventGroup {
  readonly measurementConsumerId: bigint;
  readonly eventGroupReferenceId: string;
  readonly encryptedMetadataSha256: string | null;
  readonly measurementConsumerPublicKeySha256: string | null;
  readonly details: Uint8Array;
  readonly state: EventGroupState;
  readonly revision: bigint;
}

function auditJson(e: AuditedEventGroup): JsonValue {
  return {
    measurementConsumer: `measurementConsumers/${apiId(e.measurementConsumerId)}`,
    eventGroupReferenceId: e.eventGroupReferenceId,
    encryptedMetadataSha256: e.encryptedMetadataSha256,
    measurementConsumerPublicKeySha256: e.measurementConsumerPublicKeySha256,
    detailsSha256: sha256Hex(e.details),
    state: e.state,
    revision: e.revision.toString(),
  };
}

function eventGroupJson(e: EventGroupRecord): JsonValue {
  return auditJson({
    ...e,
    encryptedMetadataSha256: e.encryptedMetadata === null ? null : sha256Hex(e.encryptedMetadata),
    measurementConsumerPublicKeySha256: e.measurementConsumerPublicKey === null ? null : sha256Hex(e.measurementConsumerPublicKey),
  });
}

function notFound(dp: bigint, eg: bigint): StoreError {
  return new StoreError('NOT_FOUND', 'EVENT_GROUP_NOT_FOUND', 'EventGroup not found.', {
    metadata: { eventGroup: eventGroupName(dp, eg), externalEventGroupId: apiId(eg) },
  });
}

/** The fields a DataProvider sets on create and replaces on update. */
export interface EventGroupFields {
  readonly eventGroupReferenceId?: string;
  readonly encryptedMetadata?: Uint8Array | null;
  readonly measurementConsumerPublicKey?: Uint8Array | null;
  readonly apiVersion?: string;
  readonly details?: Uint8Array;
}

function validateFields(f: EventGroupFields): void {
  if (f.eventGroupReferenceId !== undefined && typeof f.eventGroupReferenceId !== 'string') {
    throw invalidArgument('INVALID_FIELD_VALUE', 'event_group_reference_id must be a string');
  }
  const hasMetadata = f.encryptedMetadata !== undefined && f.encryptedMetadata !== null;
  if (hasMetadata) requireBytes(f.encryptedMetadata, 'encrypted_metadata');
  // Upstream: encrypted metadata is meaningless without the key it was encrypted to.
  if (hasMetadata && (f.measurementConsumerPublicKey === undefined || f.measurementConsumerPublicKey === null)) {
    throw new StoreError(
      'INVALID_ARGUMENT',
      'EVENT_GROUP_INVALID_ARGS',
      'measurement_consumer_public_key must be specified if encrypted_metadata is specified',
    );
  }
  if (f.measurementConsumerPublicKey !== undefined && f.measurementConsumerPublicKey !== null) {
    requireBytes(f.measurementConsumerPublicKey, 'measurement_consumer_public_key');
  }
}

export interface CreateEventGroupInput extends EventGroupFields {
  readonly actor: AuditActor;
  readonly dataProviderId: bigint;
  readonly measurementConsumerId: bigint;
  /** When set, a second create with the same DataProvider and request id returns the first group. */
  readonly requestId?: string;
}

export async function createEventGroup(ctx: WriteContext, input: CreateEventGroupInput): Promise<EventGroupRecord> {
  const dp = requireExternalId(input.dataProviderId, 'data provider id');
  const mc = requireExternalId(input.measurementConsumerId, 'measurement consumer id');
  validateFields(input);
  const parties = await ctx.tx.query<{ kind: string; party_id: bigint }>(
    `SELECT kind, party_id FROM parties WHERE (kind = 'DATA_PROVIDER' AND external_id = $1)
        OR (kind = 'MEASUREMENT_CONSUMER' AND external_id = $2)`,
    [dp, mc],
  );
  const dpId = parties.find((p) => p.kind === 'DATA_PROVIDER')?.party_id;
  const mcId = parties.find((p) => p.kind === 'MEASUREMENT_CONSUMER')?.party_id;
  if (dpId === undefined) throw partyNotFound(dataProvider(dp));
  if (mcId === undefined) throw partyNotFound(measurementConsumer(mc));
  if (input.requestId !== undefined && input.requestId !== '') {
    const existing = await ctx.tx.query<{ external_event_group_id: bigint }>(
      'SELECT external_event_group_id FROM event_groups WHERE data_provider_id = $1 AND create_request_id = $2',
      [dpId, input.requestId],
    );
    if (existing[0] !== undefined) return getEventGroup(ctx, dp, existing[0].external_event_group_id);
  }
  const { externalId: eg } = await insertWithExternalId(ctx.now, async (eg) => {
    const rows = await ctx.tx.query<{ event_group_id: bigint }>(
      `INSERT INTO event_groups (data_provider_id, external_event_group_id, measurement_consumer_id,
         event_group_reference_id, encrypted_metadata, measurement_consumer_public_key, api_version, details, state,
         revision, create_time, update_time, create_request_id, data_provider_external_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ACTIVE', 1, $9, $9, $10, $11)
       ON CONFLICT ON CONSTRAINT event_groups_external_id DO NOTHING
       RETURNING event_group_id`,
      [dpId, eg, mcId, input.eventGroupReferenceId ?? '', input.encryptedMetadata ?? null,
        input.measurementConsumerPublicKey ?? null, input.apiVersion ?? '', input.details ?? new Uint8Array(), ctx.now,
        input.requestId === '' ? null : input.requestId ?? null, dp],
    );
    return rows[0];
  });
  const record = await getEventGroup(ctx, dp, eg);
  ctx.audit(input.actor, 'CreateEventGroup', eventGroupName(dp, eg), null, eventGroupJson(record));
  return record;
}

async function findRow(ctx: ReadContext, dp: bigint, eg: bigint, lock = ''): Promise<EventGroupRow | null> {
  const rows = await ctx.tx.query<EventGroupRow>(
    `${SELECT} WHERE eg.data_provider_external_id = $1 AND eg.external_event_group_id = $2 ${lock}`,
    [dp, eg],
  );
  return rows[0] ?? null;
}

export async function getEventGroup(ctx: ReadContext, dp: bigint, eg: bigint): Promise<EventGroupRecord> {
  requireExternalId(dp, 'data provider id');
  requireExternalId(eg, 'event group id');
  const row = await findRow(ctx, dp, eg);
  if (row === null) throw notFound(dp, eg);
  return toEventGroup(row);
}

/**
 * The query of `getEventGroupByConsumer`: one probe of the index on
 * (MeasurementConsumer, EventGroup id, DataProvider), the MeasurementConsumer
 * resolved first as in the list query.
 */
export function eventGroupByConsumerQuery(mc: bigint, eg: bigint): SqlQuery {
  return {
    sql: `SELECT ${PAGE_COLUMNS} FROM event_groups eg
      WHERE eg.measurement_consumer_id = (SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1)
        AND eg.external_event_group_id = $2
      ORDER BY eg.data_provider_external_id LIMIT 1`,
    params: [requireExternalId(mc, 'measurement consumer id'), requireExternalId(eg, 'event group id')],
  };
}

/**
 * The MeasurementConsumer's EventGroup with this id, deleted or not. EventGroup
 * ids are unique only per DataProvider: when groups of several DataProviders
 * share the id, the first in list order (lowest DataProvider id) is the one.
 */
export async function getEventGroupByConsumer(ctx: ReadContext, mc: bigint, eg: bigint): Promise<EventGroupRecord> {
  const query = eventGroupByConsumerQuery(mc, eg);
  const row = (await ctx.tx.query<EventGroupRow>(query.sql, query.params))[0];
  if (row === undefined) throw new StoreError('NOT_FOUND', 'EVENT_GROUP_NOT_FOUND', 'EventGroup not found.');
  return toEventGroup(row);
}

export interface ListEventGroupsOptions {
  /** At least one of the DataProvider and the MeasurementConsumer. */
  readonly dataProviderId?: bigint;
  readonly measurementConsumerId?: bigint;
  readonly showDeleted?: boolean;
  readonly after?: EventGroupCursor;
  readonly limit?: number;
}

/** One statement and its parameters, as the store sends it. */
export interface SqlQuery {
  readonly sql: string;
  readonly params: readonly unknown[];
}

const PAGE_COLUMNS = `eg.event_group_id, eg.data_provider_external_id AS dp_external_id, eg.external_event_group_id,
  (SELECT mc.external_id FROM parties mc WHERE mc.party_id = eg.measurement_consumer_id) AS mc_external_id,
  eg.event_group_reference_id, eg.encrypted_metadata, eg.measurement_consumer_public_key, eg.api_version, eg.details,
  eg.state, eg.revision, eg.create_time, eg.update_time`;

/**
 * The page query of `listEventGroups`, or null when the cursor is past every
 * group the filter can match. It walks one index from the page token to the
 * page's end: the parents are resolved to internal ids first (a join would
 * hide from the planner that the index is already in page order), the
 * MeasurementConsumer's external id is read only for the rows returned, and
 * with the DataProvider fixed the order is the EventGroup id alone.
 */
export function listEventGroupsQuery(o: ListEventGroupsOptions, limit: number): SqlQuery | null {
  const params: unknown[] = [];
  const where: string[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  let order: string;
  if (o.dataProviderId !== undefined) {
    const dp = requireExternalId(o.dataProviderId, 'data provider id');
    // Narrowed to a MeasurementConsumer too, its index has both: the planner,
    // not knowing how many groups the two share, might otherwise walk all of
    // the DataProvider's groups to find theirs.
    where.push(
      o.measurementConsumerId === undefined
        ? `eg.data_provider_id = (SELECT party_id FROM parties WHERE kind = 'DATA_PROVIDER' AND external_id = ${param(dp)})`
        : `eg.data_provider_external_id = ${param(dp)}`,
    );
    if (o.after !== undefined) {
      if (o.after.dataProviderId > dp) return null;
      if (o.after.dataProviderId === dp) where.push(`eg.external_event_group_id > ${param(o.after.externalEventGroupId)}`);
    }
    order = 'eg.external_event_group_id';
  } else {
    if (o.after !== undefined) {
      where.push(`(eg.data_provider_external_id, eg.external_event_group_id) > (${param(o.after.dataProviderId)}, ${param(o.after.externalEventGroupId)})`);
    }
    order = 'eg.data_provider_external_id, eg.external_event_group_id';
  }
  if (o.measurementConsumerId !== undefined) {
    const mc = param(requireExternalId(o.measurementConsumerId, 'measurement consumer id'));
    where.push(`eg.measurement_consumer_id = (SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = ${mc})`);
  }
  if (o.showDeleted !== true) where.push(`eg.state <> 'DELETED'`);
  const sql = `SELECT ${PAGE_COLUMNS} FROM event_groups eg WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ${param(limit + 1)}`;
  return { sql, params };
}

/** Ordered by (DataProvider external id, EventGroup external id). */
export async function listEventGroups(ctx: ReadContext, o: ListEventGroupsOptions): Promise<Page<EventGroupRecord, EventGroupCursor>> {
  if (o.dataProviderId === undefined && o.measurementConsumerId === undefined) {
    throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'a data provider or a measurement consumer is required');
  }
  const limit = requireLimit(o.limit);
  const query = listEventGroupsQuery(o, limit);
  if (query === null) return { items: [], next: null };
  const rows = await ctx.tx.query<EventGroupRow>(query.sql, query.params);
  const items = rows.slice(0, limit).map(toEventGroup);
  const last = items[items.length - 1];
  const next =
    rows.length > limit && last !== undefined
      ? { dataProviderId: last.dataProviderId, externalEventGroupId: last.externalEventGroupId }
      : null;
  return { items, next };
}

async function lockLive(ctx: WriteContext, dp: bigint, eg: bigint, expectedRevision?: bigint): Promise<EventGroupRow> {
  requireExternalId(dp, 'data provider id');
  requireExternalId(eg, 'event group id');
  const row = await findRow(ctx, dp, eg, 'FOR UPDATE OF eg');
  if (row === null) throw notFound(dp, eg);
  if (row.state === 'DELETED') {
    throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_STATE_ILLEGAL', 'EventGroup is deleted.', {
      metadata: { eventGroup: eventGroupName(dp, eg), eventGroupState: row.state },
    });
  }
  if (expectedRevision !== undefined && expectedRevision !== row.revision) {
    throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_ETAG_MISMATCH', 'EventGroup was changed since it was read.', {
      metadata: { eventGroup: eventGroupName(dp, eg), actualEtag: row.revision.toString(), requestEtag: expectedRevision.toString() },
    });
  }
  return row;
}

export interface UpdateEventGroupInput extends EventGroupFields {
  readonly actor: AuditActor;
  readonly dataProviderId: bigint;
  readonly externalEventGroupId: bigint;
  /** Immutable: when given it must match. */
  readonly measurementConsumerId?: bigint;
  /** Optimistic concurrency: the revision the caller read. */
  readonly expectedRevision?: bigint;
}

/** Replaces the mutable fields (absent ones are cleared, as a full update). */
export async function updateEventGroup(ctx: WriteContext, input: UpdateEventGroupInput): Promise<EventGroupRecord> {
  validateFields(input);
  const dp = input.dataProviderId;
  const eg = input.externalEventGroupId;
  const row = await lockLive(ctx, dp, eg, input.expectedRevision);
  if (input.measurementConsumerId !== undefined && input.measurementConsumerId !== row.mc_external_id) {
    throw new StoreError('INVALID_ARGUMENT', 'EVENT_GROUP_INVALID_ARGS', 'measurement_consumer cannot be changed', {
      metadata: { eventGroup: eventGroupName(dp, eg) },
    });
  }
  const before = toEventGroup(row);
  await ctx.tx.query(
    `UPDATE event_groups SET event_group_reference_id = $2, encrypted_metadata = $3, measurement_consumer_public_key = $4,
       api_version = $5, details = $6, revision = revision + 1, update_time = $7 WHERE event_group_id = $1`,
    [row.event_group_id, input.eventGroupReferenceId ?? '', input.encryptedMetadata ?? null,
      input.measurementConsumerPublicKey ?? null, input.apiVersion ?? '', input.details ?? new Uint8Array(), ctx.now],
  );
  const after = await getEventGroup(ctx, dp, eg);
  ctx.audit(input.actor, 'UpdateEventGroup', eventGroupName(dp, eg), eventGroupJson(before), eventGroupJson(after));
  return after;
}

/** Marks the EventGroup DELETED and drops its metadata and key, which no one may read any more. */
export async function deleteEventGroup(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; externalEventGroupId: bigint; expectedRevision?: bigint },
): Promise<EventGroupRecord> {
  const { actor, dataProviderId: dp, externalEventGroupId: eg } = input;
  const row = await lockLive(ctx, dp, eg, input.expectedRevision);
  const before = toEventGroup(row);
  await ctx.tx.query(
    `UPDATE event_groups SET state = 'DELETED', encrypted_metadata = NULL, measurement_consumer_public_key = NULL,
       details = '\\x', revision = revision + 1, update_time = $2 WHERE event_group_id = $1`,
    [row.event_group_id, ctx.now],
  );
  const after = await getEventGroup(ctx, dp, eg);
  ctx.audit(actor, 'DeleteEventGroup', eventGroupName(dp, eg), eventGroupJson(before), eventGroupJson(after));
  return after;
}

// ---------------------------------------------------------------- metadata re-encryption requests

interface ReencryptionRow {
  external_request_id: bigint;
  dp_external_id: bigint;
  external_event_group_id: bigint;
  mc_external_id: bigint;
  measurement_consumer_key_fingerprint: Uint8Array;
  state: 'OPEN' | 'CLOSED';
  create_time: Date;
  close_time: Date | null;
  event_group_reference_id: string;
  still_encrypted: boolean;
}

/**
 * Whether the request's group is still encrypted to its key is computed by the
 * database beside the request (metadata present, SHA-256 of the key), so a
 * page does not read back every group's ciphertext and key to hash them here.
 */
const REENCRYPTION_SELECT = `SELECT rr.external_request_id, eg.data_provider_external_id AS dp_external_id, eg.external_event_group_id,
  mc.external_id AS mc_external_id, rr.measurement_consumer_key_fingerprint, rr.state, rr.create_time, rr.close_time,
  eg.event_group_reference_id, (eg.state = 'ACTIVE' AND eg.encrypted_metadata IS NOT NULL
    AND sha256(eg.measurement_consumer_public_key) IS NOT DISTINCT FROM rr.measurement_consumer_key_fingerprint) AS still_encrypted
  FROM event_group_metadata_reencryption_requests rr
  JOIN event_groups eg ON eg.event_group_id = rr.event_group_id
  JOIN parties mc ON mc.party_id = eg.measurement_consumer_id`;

const toReencryption = (r: ReencryptionRow): MetadataReencryptionRequestRecord => ({
  externalRequestId: r.external_request_id,
  dataProviderId: r.dp_external_id,
  externalEventGroupId: r.external_event_group_id,
  measurementConsumerId: r.mc_external_id,
  measurementConsumerKeyFingerprint: r.measurement_consumer_key_fingerprint,
  state: r.state,
  createTime: r.create_time,
  closeTime: r.close_time,
  eventGroupReferenceId: r.event_group_reference_id,
  stillEncryptedToKey: r.still_encrypted === true,
});

export interface CreateReencryptionRequestsInput {
  readonly actor: AuditActor;
  readonly measurementConsumerId: bigint;
  /** Fingerprint (SHA-256) of the MeasurementConsumer key the metadata is encrypted to. */
  readonly measurementConsumerKeyFingerprint: Uint8Array;
}

export interface CreatedReencryptionRequests {
  /** Requests this call opened. */
  readonly created: number;
  /** Requests open for the key afterwards: those opened now and before. */
  readonly open: number;
}

/** A fresh external id per row, as generateExternalId makes them: random high bits, epoch millis low. */
const EXTERNAL_ID_SQL = `(((floor(random() * 2147483647)::bigint + 1) << 32) | ($3::bigint & 4294967295))`;

/**
 * Asks the DataProviders to re-encrypt the metadata of every live EventGroup
 * of the MeasurementConsumer still encrypted to a key (after it is
 * compromised), set-based: one INSERT ... SELECT, whatever the number of
 * groups. A group with an open request for the key is counted, not given a
 * second. No group row is locked: a group re-encrypted meanwhile only gets a
 * request its DataProvider closes at once. The open requests are excluded with
 * NOT IN (a hashed set, built once) rather than NOT EXISTS: without fresh
 * statistics the planner probed the index by fingerprint alone for every
 * group, quadratic in the groups.
 */
export async function createMetadataReencryptionRequests(
  ctx: WriteContext,
  input: CreateReencryptionRequestsInput,
): Promise<CreatedReencryptionRequests> {
  const fp = requireBytes(input.measurementConsumerKeyFingerprint, 'measurement_consumer_key_fingerprint');
  const mc = requireExternalId(input.measurementConsumerId, 'measurement consumer id');
  const mcParty = await ctx.tx.query<{ party_id: bigint }>(
    `SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1`,
    [mc],
  );
  if (mcParty[0] === undefined) throw partyNotFound(measurementConsumer(mc));
  let created = 0;
  // A drawn external id that is taken drops its row (ON CONFLICT DO NOTHING): draw again for those until none is left.
  for (;;) {
    const rows = await ctx.tx.query<{ external_request_id: bigint; dp_external_id: bigint; external_event_group_id: bigint }>(
      `WITH inserted AS (
         INSERT INTO event_group_metadata_reencryption_requests (external_request_id, event_group_id,
           measurement_consumer_key_fingerprint, state, create_time)
         SELECT ${EXTERNAL_ID_SQL}, eg.event_group_id, $2, 'OPEN', $4
           FROM event_groups eg
          WHERE eg.measurement_consumer_id = $1 AND eg.state = 'ACTIVE'
            AND eg.encrypted_metadata IS NOT NULL AND eg.measurement_consumer_public_key IS NOT NULL
            AND sha256(eg.measurement_consumer_public_key) = $2
            AND eg.event_group_id NOT IN (SELECT rr.event_group_id FROM event_group_metadata_reencryption_requests rr
                                           WHERE rr.measurement_consumer_key_fingerprint = $2 AND rr.state = 'OPEN')
         ON CONFLICT DO NOTHING
         RETURNING external_request_id, event_group_id)
       SELECT i.external_request_id, dp.external_id AS dp_external_id, eg.external_event_group_id
         FROM inserted i JOIN event_groups eg ON eg.event_group_id = i.event_group_id
         JOIN parties dp ON dp.party_id = eg.data_provider_id`,
      [mcParty[0].party_id, fp, BigInt(ctx.now.getTime()), ctx.now],
    );
    if (rows.length === 0) break;
    created += rows.length;
    const after = { state: 'OPEN', measurementConsumerKeyFingerprint: hex(fp) };
    for (const r of rows) {
      ctx.audit(input.actor, 'CreateMetadataReencryptionRequest', reencryptionRequestName(r.dp_external_id, r.external_event_group_id, r.external_request_id), null, after);
    }
  }
  const open = await ctx.tx.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM event_group_metadata_reencryption_requests rr
       JOIN event_groups eg ON eg.event_group_id = rr.event_group_id
      WHERE eg.measurement_consumer_id = $1 AND rr.measurement_consumer_key_fingerprint = $2 AND rr.state = 'OPEN'`,
    [mcParty[0].party_id, fp],
  );
  return { created, open: Number(open[0]?.n ?? 0) };
}

export interface ListOpenReencryptionRequestsOptions {
  /** Keyset paging: only requests made after this one (its external id). */
  readonly after?: bigint;
  /** At most this many (1..1001: a page of 1000 and one to tell there is more); every open request when not given. */
  readonly limit?: number;
}

/** The DataProvider's open requests, oldest first. */
export async function listOpenMetadataReencryptionRequests(
  ctx: ReadContext,
  dataProviderId: bigint,
  options: ListOpenReencryptionRequestsOptions = {},
): Promise<MetadataReencryptionRequestRecord[]> {
  requireExternalId(dataProviderId, 'data provider id');
  const params: unknown[] = [dataProviderId];
  let after = '';
  if (options.after !== undefined) {
    requireExternalId(options.after, 'page cursor');
    params.push(options.after);
    // By the internal key, so the order is creation order and a request closed meanwhile skips none.
    after = ` AND rr.request_id > (SELECT request_id FROM event_group_metadata_reencryption_requests WHERE external_request_id = $${params.length})`;
  }
  let limit = '';
  if (options.limit !== undefined) {
    params.push(requireLimit(options.limit, 50, 1001));
    limit = ` LIMIT $${params.length}`;
  }
  const rows = await ctx.tx.query<ReencryptionRow>(
    `${REENCRYPTION_SELECT} WHERE eg.data_provider_external_id = $1 AND rr.state = 'OPEN'${after}
      ORDER BY rr.request_id${limit}`,
    params,
  );
  return rows.map(toReencryption);
}

export async function countOpenMetadataReencryptionRequests(ctx: ReadContext, dataProviderId: bigint): Promise<number> {
  requireExternalId(dataProviderId, 'data provider id');
  const rows = await ctx.tx.query<{ n: bigint | number }>(
    `SELECT count(*) AS n FROM event_group_metadata_reencryption_requests rr
       JOIN event_groups eg ON eg.event_group_id = rr.event_group_id
      WHERE eg.data_provider_external_id = $1 AND rr.state = 'OPEN'`,
    [dataProviderId],
  );
  return Number(rows[0]?.n ?? 0);
}

/** One request to close: its id and the EventGroup its name says it belongs to. */
export interface CloseReencryptionRequestKey {
  readonly externalRequestId: bigint;
  readonly externalEventGroupId: bigint;
}

function requestNotFound(dp: bigint, key: CloseReencryptionRequestKey): StoreError {
  return new StoreError('NOT_FOUND', 'EVENT_GROUP_METADATA_REENCRYPTION_REQUEST_NOT_FOUND', 'Re-encryption request not found.', {
    metadata: { metadataReencryptionRequest: reencryptionRequestName(dp, key.externalEventGroupId, key.externalRequestId) },
  });
}

/**
 * Closes the DataProvider's requests in one transaction, all or none: each
 * must be the DataProvider's and name its EventGroup (NOT_FOUND otherwise),
 * and an open one's EventGroup must no longer be encrypted to the request's
 * key (FAILED_PRECONDITION). A closed request is returned unchanged.
 */
export async function closeMetadataReencryptionRequests(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; requests: readonly CloseReencryptionRequestKey[] },
): Promise<MetadataReencryptionRequestRecord[]> {
  const { actor, dataProviderId } = input;
  requireExternalId(dataProviderId, 'data provider id');
  for (const key of input.requests) requireExternalId(key.externalRequestId, 'request id');
  // One read for the whole batch: the requests locked, whether their EventGroups are still encrypted to the key beside them.
  const rows = await ctx.tx.query<ReencryptionRow>(
    `${REENCRYPTION_SELECT}
      WHERE eg.data_provider_external_id = $1 AND rr.external_request_id = ANY($2::bigint[])
      FOR UPDATE OF rr FOR SHARE OF eg`,
    [dataProviderId, input.requests.map((k) => k.externalRequestId)],
  );
  const byId = new Map(rows.map((r) => [r.external_request_id, r]));
  const out: MetadataReencryptionRequestRecord[] = [];
  const closing: bigint[] = [];
  for (const key of input.requests) {
    const row = byId.get(key.externalRequestId);
    if (row === undefined || row.external_event_group_id !== key.externalEventGroupId) throw requestNotFound(dataProviderId, key);
    if (row.state === 'CLOSED') {
      out.push(toReencryption(row));
      continue;
    }
    if (row.still_encrypted) {
      throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_METADATA_NOT_REENCRYPTED', 'EventGroup metadata is still encrypted to the key the request names; update it first.', {
        metadata: { eventGroup: eventGroupName(dataProviderId, row.external_event_group_id) },
      });
    }
    closing.push(key.externalRequestId);
    out.push({ ...toReencryption(row), state: 'CLOSED', closeTime: ctx.now });
  }
  if (closing.length > 0) {
    await ctx.tx.query(
      `UPDATE event_group_metadata_reencryption_requests SET state = 'CLOSED', close_time = $2 WHERE external_request_id = ANY($1::bigint[])`,
      [closing, ctx.now],
    );
  }
  const closed = new Set(closing);
  for (const r of out) {
    if (!closed.delete(r.externalRequestId)) continue;
    ctx.audit(actor, 'CloseMetadataReencryptionRequest', reencryptionRequestName(dataProviderId, r.externalEventGroupId, r.externalRequestId), { state: 'OPEN' }, { state: 'CLOSED' });
  }
  return out;
}

/** A DataProvider's answer to one of its requests. */
export interface ReencryptionAnswer {
  readonly key: CloseReencryptionRequestKey;
  /**
   * The metadata encrypted to the MC's current key, and that key; absent: only
   * close (the group must no longer be encrypted to the request's key).
   */
  readonly update?: {
    readonly encryptedMetadata: Uint8Array;
    readonly measurementConsumerPublicKey: Uint8Array;
    /** The group's new `details` from its current ones: the store keeps them opaque, the service knows where the key's signature goes. */
    readonly details: (current: Uint8Array) => Uint8Array;
  };
}

/** What answering did to one request. */
export type ReencryptionOutcome = 'REENCRYPTED' | 'CLOSED' | 'ALREADY_CLOSED';

interface AnswerRow extends ReencryptionRow {
  event_group_id: bigint;
  eg_state: EventGroupState;
  eg_revision: bigint;
  eg_details: Uint8Array;
  eg_metadata_sha256: Uint8Array | null;
  eg_key_sha256: Uint8Array | null;
}

/**
 * Answers the DataProvider's requests in one transaction, all or none: a
 * request whose group is still encrypted to its key gets the group's metadata
 * and key replaced and is closed (FAILED_PRECONDITION without an update); one
 * whose group no longer is is only closed; a closed one is returned as it is.
 * Four statements per batch whatever its size: read and lock, update the
 * groups, close the requests, and the audit append. Only hashes of the old
 * ciphertexts and keys are read back, for the audit entries.
 */
export async function answerMetadataReencryptionRequests(
  ctx: WriteContext,
  input: { actor: AuditActor; dataProviderId: bigint; answers: readonly ReencryptionAnswer[] },
): Promise<Array<{ request: MetadataReencryptionRequestRecord; outcome: ReencryptionOutcome }>> {
  const { actor, dataProviderId: dp } = input;
  requireExternalId(dp, 'data provider id');
  for (const a of input.answers) {
    requireExternalId(a.key.externalRequestId, 'request id');
    if (a.update !== undefined) {
      requireBytes(a.update.encryptedMetadata, 'encrypted_metadata');
      requireBytes(a.update.measurementConsumerPublicKey, 'measurement_consumer_public_key');
    }
  }
  const rows = await ctx.tx.query<AnswerRow>(
    `${REENCRYPTION_SELECT.replace('SELECT ', `SELECT eg.event_group_id, eg.state AS eg_state, eg.revision AS eg_revision,
       eg.details AS eg_details, sha256(eg.encrypted_metadata) AS eg_metadata_sha256, sha256(eg.measurement_consumer_public_key) AS eg_key_sha256, `)}
      WHERE eg.data_provider_external_id = $1 AND rr.external_request_id = ANY($2::bigint[])
      FOR UPDATE OF rr, eg`,
    [dp, input.answers.map((a) => a.key.externalRequestId)],
  );
  const byId = new Map(rows.map((r) => [r.external_request_id, r]));
  // Groups updated earlier in this batch: a later request for the same group sees them re-encrypted.
  const updated = new Map<bigint, { row: AnswerRow; metadata: Uint8Array; key: Uint8Array; details: Uint8Array }>();
  const results: Array<{ request: MetadataReencryptionRequestRecord; outcome: ReencryptionOutcome }> = [];
  const closing: bigint[] = [];
  for (const a of input.answers) {
    const row = byId.get(a.key.externalRequestId);
    if (row === undefined || row.external_event_group_id !== a.key.externalEventGroupId) throw requestNotFound(dp, a.key);
    if (row.state === 'CLOSED') {
      results.push({ request: toReencryption(row), outcome: 'ALREADY_CLOSED' });
      continue;
    }
    const still = row.still_encrypted && !updated.has(row.event_group_id);
    const group = eventGroupName(dp, row.external_event_group_id);
    if (still) {
      if (a.update === undefined) {
        throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_METADATA_NOT_REENCRYPTED', 'EventGroup metadata is still encrypted to the key the request names; answer with the re-encrypted metadata.', {
          metadata: { eventGroup: group },
        });
      }
      const { encryptedMetadata: metadata, measurementConsumerPublicKey: key } = a.update;
      if (sha256Hex(key) === hex(row.measurement_consumer_key_fingerprint)) {
        throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_METADATA_NOT_REENCRYPTED', 'The answer is encrypted to the very key the request names.', {
          metadata: { eventGroup: group },
        });
      }
      updated.set(row.event_group_id, { row, metadata, key, details: a.update.details(row.eg_details) });
    }
    closing.push(row.external_request_id);
    results.push({ request: { ...toReencryption(row), state: 'CLOSED', closeTime: ctx.now, stillEncryptedToKey: false }, outcome: still ? 'REENCRYPTED' : 'CLOSED' });
  }
  const groups = [...updated.values()];
  if (groups.length > 0) {
    await ctx.tx.query(
      `UPDATE event_groups eg SET encrypted_metadata = v.md, measurement_consumer_public_key = v.key, details = v.details,
         revision = eg.revision + 1, update_time = $5
       FROM unnest($1::bigint[], $2::bytea[], $3::bytea[], $4::bytea[]) AS v(id, md, key, details)
       WHERE eg.event_group_id = v.id`,
      [groups.map((g) => g.row.event_group_id), groups.map((g) => g.metadata), groups.map((g) => g.key), groups.map((g) => g.details), ctx.now],
    );
  }
  if (closing.length > 0) {
    await ctx.tx.query(
      `UPDATE event_group_metadata_reencryption_requests SET state = 'CLOSED', close_time = $2 WHERE external_request_id = ANY($1::bigint[])`,
      [closing, ctx.now],
    );
  }
  for (const g of groups) {
    const r = g.row;
    const before: AuditedEventGroup = {
      measurementConsumerId: r.mc_external_id,
      eventGroupReferenceId: r.event_group_reference_id,
      encryptedMetadataSha256: r.eg_metadata_sha256 === null ? null : hex(r.eg_metadata_sha256),
      measurementConsumerPublicKeySha256: r.eg_key_sha256 === null ? null : hex(r.eg_key_sha256),
      details: r.eg_details,
      state: r.eg_state,
      revision: r.eg_revision,
    };
    const after = { ...before, encryptedMetadataSha256: sha256Hex(g.metadata), measurementConsumerPublicKeySha256: sha256Hex(g.key), details: g.details, revision: r.eg_revision + 1n };
    ctx.audit(actor, 'UpdateEventGroup', eventGroupName(dp, r.external_event_group_id), auditJson(before), auditJson(after));
  }
  for (const { request: r, outcome } of results) {
    if (outcome === 'ALREADY_CLOSED') continue;
    ctx.audit(actor, 'CloseMetadataReencryptionRequest', reencryptionRequestName(dp, r.externalEventGroupId, r.externalRequestId), { state: 'OPEN' }, { state: 'CLOSED' });
  }
  return results;
}

/** Several creations in one transaction: all of them, or none. */
async function batchCreateEventGroups(
  ctx: WriteContext,
  input: { actor: AuditActor; inputs: readonly Omit<CreateEventGroupInput, 'actor'>[] },
): Promise<EventGroupRecord[]> {
  const created: EventGroupRecord[] = [];
  for (const one of input.inputs) created.push(await createEventGroup(ctx, { ...one, actor: input.actor }));
  return created;
}

/**
 * Several updates in one transaction: all of them, or none. The groups of one
 * DataProvider are read and locked with one query, checked, and written with
 * one statement (a page of re-encrypted metadata costs two statements, not
 * four a group); a batch naming a group twice, or several DataProviders, goes
 * one by one.
 */
async function batchUpdateEventGroups(
  ctx: WriteContext,
  input: { actor: AuditActor; inputs: readonly Omit<UpdateEventGroupInput, 'actor'>[] },
): Promise<EventGroupRecord[]> {
  const first = input.inputs[0];
  const ids = input.inputs.map((one) => one.externalEventGroupId);
  if (first === undefined || input.inputs.some((one) => one.dataProviderId !== first.dataProviderId) || new Set(ids).size !== ids.length) {
    const updated: EventGroupRecord[] = [];
    for (const one of input.inputs) updated.push(await updateEventGroup(ctx, { ...one, actor: input.actor }));
    return updated;
  }
  const dp = first.dataProviderId;
  requireExternalId(dp, 'data provider id');
  for (const one of input.inputs) {
    requireExternalId(one.externalEventGroupId, 'event group id');
    validateFields(one);
  }
  const rows = await ctx.tx.query<EventGroupRow>(
    `${SELECT} WHERE eg.data_provider_external_id = $1 AND eg.external_event_group_id = ANY($2::bigint[]) FOR UPDATE OF eg`,
    [dp, ids],
  );
  const byId = new Map(rows.map((r) => [r.external_event_group_id, r]));
  const updated: EventGroupRecord[] = [];
  const rowIds: bigint[] = [];
  for (const one of input.inputs) {
    const eg = one.externalEventGroupId;
    const row = byId.get(eg);
    // The checks of lockLive and updateEventGroup, in the same order.
    if (row === undefined) throw notFound(dp, eg);
    if (row.state === 'DELETED') {
      throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_STATE_ILLEGAL', 'EventGroup is deleted.', {
        metadata: { eventGroup: eventGroupName(dp, eg), eventGroupState: row.state },
      });
    }
    if (one.expectedRevision !== undefined && one.expectedRevision !== row.revision) {
      throw new StoreError('FAILED_PRECONDITION', 'EVENT_GROUP_ETAG_MISMATCH', 'EventGroup was changed since it was read.', {
        metadata: { eventGroup: eventGroupName(dp, eg), actualEtag: row.revision.toString(), requestEtag: one.expectedRevision.toString() },
      });
    }
    if (one.measurementConsumerId !== undefined && one.measurementConsumerId !== row.mc_external_id) {
      throw new StoreError('INVALID_ARGUMENT', 'EVENT_GROUP_INVALID_ARGS', 'measurement_consumer cannot be changed', {
        metadata: { eventGroup: eventGroupName(dp, eg) },
      });
    }
    const before = toEventGroup(row);
    const values = {
      eventGroupReferenceId: one.eventGroupReferenceId ?? '',
      encryptedMetadata: one.encryptedMetadata ?? null,
      measurementConsumerPublicKey: one.measurementConsumerPublicKey ?? null,
      apiVersion: one.apiVersion ?? '',
      details: one.details ?? new Uint8Array(),
    };
    const after: EventGroupRecord = { ...before, ...values, revision: row.revision + 1n, updateTime: ctx.now };
    ctx.audit(input.actor, 'UpdateEventGroup', eventGroupName(dp, eg), eventGroupJson(before), eventGroupJson(after));
    rowIds.push(row.event_group_id);
    updated.push(after);
  }
  // One statement for the whole batch: the values as parallel arrays.
  await ctx.tx.query(
    `UPDATE event_groups eg SET event_group_reference_id = v.ref, encrypted_metadata = v.md, measurement_consumer_public_key = v.key,
       api_version = v.api, details = v.details, revision = eg.revision + 1, update_time = $7
     FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bytea[], $5::text[], $6::bytea[]) AS v(id, ref, md, key, api, details)
     WHERE eg.event_group_id = v.id`,
    [
      rowIds,
      updated.map((u) => u.eventGroupReferenceId),
      updated.map((u) => u.encryptedMetadata),
      updated.map((u) => u.measurementConsumerPublicKey),
      updated.map((u) => u.apiVersion),
      updated.map((u) => u.details),
      ctx.now,
    ],
  );
  return updated;
}

/** The DataProvider's EventGroups with these ids that exist, in one query (any order). */
export async function getEventGroups(ctx: ReadContext, dp: bigint, ids: readonly bigint[]): Promise<EventGroupRecord[]> {
  requireExternalId(dp, 'data provider id');
  for (const id of ids) requireExternalId(id, 'event group id');
  if (ids.length === 0) return [];
  const rows = await ctx.tx.query<EventGroupRow>(`${SELECT} WHERE eg.data_provider_external_id = $1 AND eg.external_event_group_id = ANY($2::bigint[])`, [dp, ids]);
  return rows.map(toEventGroup);
}

export const eventGroupOperations = {
  createEventGroup: write(createEventGroup),
  batchCreateEventGroups: write(batchCreateEventGroups),
  getEventGroup: read(getEventGroup),
  getEventGroupByConsumer: read(getEventGroupByConsumer),
  getEventGroups: read(getEventGroups),
  listEventGroups: read(listEventGroups),
  updateEventGroup: write(updateEventGroup),
  batchUpdateEventGroups: write(batchUpdateEventGroups),
  deleteEventGroup: write(deleteEventGroup),
  createMetadataReencryptionRequests: write(createMetadataReencryptionRequests),
  listOpenMetadataReencryptionRequests: read(listOpenMetadataReencryptionRequests),
  countOpenMetadataReencryptionRequests: read(countOpenMetadataReencryptionRequests),
  closeMetadataReencryptionRequests: write(closeMetadataReencryptionRequests),
  answerMetadataReencryptionRequests: write(answerMetadataReencryptionRequests),
};
