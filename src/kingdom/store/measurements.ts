/** Measurements: creating one with its requisitions, reading, cancelling, failing, and results no longer trusted. */
import type { AuditActor, JsonValue } from './audit.js';
import { CERTIFICATE_COLUMNS, type CertificateRow, certificateInvalid, certificateNotFound, toCertificate } from './certificate-rows.js';
import {
  type PartyRow,
  type ReadContext,
  type WriteContext,
  invalidArgument,
  partyKeyOf,
  partyNotFound,
  requireBytes,
  requireExternalId,
  requireLimit,
  sha256Hex,
} from './context.js';
import { StoreError } from './errors.js';
import { apiId, insertWithExternalId } from './ids.js';
import { certificateName, measurementName, requisitionName } from './names.js';
import { read, snapshot, write } from './operations.js';
import {
  type DataProviderEntryInput,
  type DataProviderEntryRecord,
  type MeasurementFailureReason,
  type MeasurementKey,
  type MeasurementRecord,
  type MeasurementResultRecord,
  type MeasurementState,
  type Page,
  type PartyKey,
  type RequisitionState,
  type UntrustedResult,
  type RevocationState,
  dataProvider,
  isCertificateValidAt,
  measurementConsumer,
} from './records.js';

const PENDING_SQL = `('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING')`;
export const MEASUREMENT_STATES = new Set<MeasurementState>([
  'AWAITING_REQUISITION_FULFILLMENT',
  'COMPUTING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
]);

/** Upstream's `failure.message` per owner type of the revoked certificate (§2.5). */
const REVOKED_MESSAGE: Record<PartyKey['kind'], string | null> = {
  MEASUREMENT_CONSUMER: 'The associated Measurement Consumer certificate has been revoked.',
  DATA_PROVIDER: 'An associated Data Provider certificate has been revoked.',
  DUCHY: 'An associated Duchy certificate has been revoked.',
  MODEL_PROVIDER: null,
};

// ---------------------------------------------------------------- reading

interface MeasurementRow {
  measurement_id: bigint;
  mc_external_id: bigint;
  external_measurement_id: bigint;
  mc_certificate_external_id: bigint;
  measurement_spec: Uint8Array;
  state: MeasurementState;
  failure_reason: MeasurementFailureReason | null;
  failure_message: string | null;
  measurement_reference_id: string;
  api_version: string;
  details: Uint8Array;
  create_time: Date;
  update_time: Date;
}

const MEASUREMENT_SELECT = `SELECT m.measurement_id, mp.external_id AS mc_external_id, m.external_measurement_id,
  mcc.external_certificate_id AS mc_certificate_external_id, m.measurement_spec, m.state, m.failure_reason,
  m.failure_message, m.measurement_reference_id, m.api_version, m.details, m.create_time, m.update_time
  FROM measurements m
  JOIN parties mp ON mp.party_id = m.measurement_consumer_id
  JOIN certificates mcc ON mcc.certificate_id = m.measurement_consumer_certificate_id`;

/** A requisition row with its DataProvider's and certificate's external ids. */
export interface RequisitionRow {
  requisition_id: bigint;
  measurement_id: bigint;
  dp_external_id: bigint;
  external_requisition_id: bigint;
  dp_certificate_external_id: bigint;
  data_provider_public_key: Uint8Array;
  encrypted_requisition_spec: Uint8Array;
  nonce_hash: Uint8Array;
  state: RequisitionState;
  fulfilling_certificate_external_id: bigint | null;
  encrypted_result: Uint8Array | null;
  nonce: bigint | null;
  refusal_justification: number | null;
  refusal_message: string | null;
  create_time: Date;
  update_time: Date;
}

const REQUISITION_SELECT = `SELECT r.requisition_id, r.measurement_id, dp.external_id AS dp_external_id,
  r.external_requisition_id, dpc.external_certificate_id AS dp_certificate_external_id, r.data_provider_public_key,
  r.encrypted_requisition_spec, r.nonce_hash, r.state, fc.external_certificate_id AS fulfilling_certificate_external_id,
  r.encrypted_result, r.nonce, r.refusal_justification, r.refusal_message, r.create_time, r.update_time
  FROM requisitions r
  JOIN parties dp ON dp.party_id = r.data_provider_id
  JOIN certificates dpc ON dpc.certificate_id = r.data_provider_certificate_id
  LEFT JOIN certificates fc ON fc.certificate_id = r.fulfilling_certificate_id`;

interface ResultRow extends PartyRow {
  measurement_id: bigint;
  external_certificate_id: bigint;
  encrypted_result: Uint8Array;
}

/** Loads whole measurements (entries and results) for the given internal ids, in that order. */
async function loadMeasurements(ctx: ReadContext, ids: readonly bigint[]): Promise<MeasurementRecord[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.tx.query<MeasurementRow>(`${MEASUREMENT_SELECT} WHERE m.measurement_id = ANY($1::bigint[])`, [
    ids,
  ]);
  const reqs = await ctx.tx.query<RequisitionRow>(
    `${REQUISITION_SELECT} WHERE r.measurement_id = ANY($1::bigint[]) ORDER BY r.measurement_id, r.entry_index`,
    [ids],
  );
  const results = await ctx.tx.query<ResultRow>(
    `SELECT mr.measurement_id, c.external_certificate_id, mr.encrypted_result, p.kind, p.external_id, p.duchy_id
       FROM measurement_results mr JOIN certificates c ON c.certificate_id = mr.certificate_id
       JOIN parties p ON p.party_id = c.party_id
      WHERE mr.measurement_id = ANY($1::bigint[]) ORDER BY mr.measurement_id, mr.result_index`,
    [ids],
  );
  const byId = new Map<bigint, MeasurementRow>(rows.map((r) => [r.measurement_id, r]));
  const entries = new Map<bigint, DataProviderEntryRecord[]>();
  for (const r of reqs) {
    const list = entries.get(r.measurement_id) ?? [];
    list.push({
      dataProviderId: r.dp_external_id,
      dataProviderCertificateId: r.dp_certificate_external_id,
      dataProviderPublicKey: r.data_provider_public_key,
      encryptedRequisitionSpec: r.encrypted_requisition_spec,
      nonceHash: r.nonce_hash,
      externalRequisitionId: r.external_requisition_id,
      requisitionState: r.state,
    });
    entries.set(r.measurement_id, list);
  }
  const outputs = new Map<bigint, MeasurementResultRecord[]>();
  for (const r of results) {
    const list = outputs.get(r.measurement_id) ?? [];
    list.push({ certificateOwner: partyKeyOf(r), certificateId: r.external_certificate_id, encryptedResult: r.encrypted_result });
    outputs.set(r.measurement_id, list);
  }
  const out: MeasurementRecord[] = [];
  for (const id of ids) {
    const m = byId.get(id);
    if (m === undefined) continue;
    out.push({
      measurementConsumerId: m.mc_external_id,
      externalMeasurementId: m.external_measurement_id,
      measurementConsumerCertificateId: m.mc_certificate_external_id,
      measurementSpec: m.measurement_spec,
      dataProviders: entries.get(id) ?? [],
      state: m.state,
      results: outputs.get(id) ?? [],
      failure:
        m.failure_reason === null ? null : { reason: m.failure_reason, message: m.failure_message ?? '' },
      measurementReferenceId: m.measurement_reference_id,
      apiVersion: m.api_version,
      details: m.details,
      createTime: m.create_time,
      updateTime: m.update_time,
    });
  }
  return out;
}

async function loadMeasurement(ctx: ReadContext, id: bigint): Promise<MeasurementRecord> {
  const [m] = await loadMeasurements(ctx, [id]);
  if (m === undefined) throw new Error('measurement vanished inside its transaction');
  return m;
}

function measurementNotFound(mc: bigint, m: bigint): StoreError {
  return new StoreError('NOT_FOUND', 'MEASUREMENT_NOT_FOUND', 'Measurement not found.', {
    metadata: { measurement: measurementName(mc, m), externalMeasurementId: apiId(m) },
  });
}

async function findMeasurementId(
  ctx: ReadContext,
  mc: bigint,
  m: bigint,
  lock: '' | 'FOR UPDATE OF m' = '',
): Promise<{ measurement_id: bigint; state: MeasurementState } | null> {
  const rows = await ctx.tx.query<{ measurement_id: bigint; state: MeasurementState }>(
    `SELECT m.measurement_id, m.state FROM measurements m JOIN parties mp ON mp.party_id = m.measurement_consumer_id
      WHERE mp.kind = 'MEASUREMENT_CONSUMER' AND mp.external_id = $1 AND m.external_measurement_id = $2 ${lock}`,
    [mc, m],
  );
  return rows[0] ?? null;
}

export async function getMeasurement(ctx: ReadContext, mc: bigint, m: bigint): Promise<MeasurementRecord> {
  requireExternalId(mc, 'measurement consumer id');
  requireExternalId(m, 'measurement id');
  const row = await findMeasurementId(ctx, mc, m);
  if (row === null) throw measurementNotFound(mc, m);
  return loadMeasurement(ctx, row.measurement_id);
}

export function checkStates<S extends string>(states: readonly S[] | undefined, known: Set<S>): void {
  for (const s of states ?? []) if (!known.has(s)) throw invalidArgument('INVALID_FIELD_VALUE', `unknown state ${String(s)}`);
}

export interface ListMeasurementsOptions {
  readonly measurementConsumerId: bigint;
  readonly states?: readonly MeasurementState[];
  /** Exclusive bounds on create_time and update_time. */
  readonly createdAfter?: Date;
  readonly createdBefore?: Date;
  readonly updatedAfter?: Date;
  readonly updatedBefore?: Date;
  /** External measurement id of the last item of the previous page. */
  readonly after?: bigint;
  readonly limit?: number;
}

/**
 * The page query of `listMeasurements`: one walk of the MeasurementConsumer's
 * (consumer, external id) index from the page token. The consumer is resolved
 * to its internal id first; behind a join the planner would sort all of its
 * measurements to find one page.
 */
export function listMeasurementsQuery(o: ListMeasurementsOptions, limit: number): { sql: string; params: readonly unknown[] } {
  const params: unknown[] = [o.measurementConsumerId, o.after ?? 0n, limit + 1];
  const where: string[] = [];
  if (o.states !== undefined && o.states.length > 0) {
    params.push([...o.states]);
    where.push(`AND m.state = ANY($${params.length}::text[])`);
  }
  const bounds: Array<[Date | undefined, string]> = [
    [o.createdAfter, 'm.create_time >'],
    [o.createdBefore, 'm.create_time <'],
    [o.updatedAfter, 'm.update_time >'],
    [o.updatedBefore, 'm.update_time <'],
  ];
  for (const [time, condition] of bounds) {
    if (time === undefined) continue;
    params.push(time);
    where.push(`AND ${condition} $${params.length}`);
  }
  const sql = `SELECT m.measurement_id, m.external_measurement_id FROM measurements m
      WHERE m.measurement_consumer_id = (SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1)
        AND m.external_measurement_id > $2 ${where.join(' ')}
      ORDER BY m.external_measurement_id LIMIT $3`;
  return { sql, params };
}

/** Measurements of one MeasurementConsumer in external-id order. */
export async function listMeasurements(ctx: ReadContext, o: ListMeasurementsOptions): Promise<Page<MeasurementRecord, bigint>> {
  requireExternalId(o.measurementConsumerId, 'measurement consumer id');
  const limit = requireLimit(o.limit);
  checkStates(o.states, MEASUREMENT_STATES);
  const query = listMeasurementsQuery(o, limit);
  const rows = await ctx.tx.query<{ measurement_id: bigint; external_measurement_id: bigint }>(query.sql, query.params);
  const page = rows.slice(0, limit);
  const items = await loadMeasurements(ctx, page.map((r) => r.measurement_id));
  const last = page[page.length - 1];
  return { items, next: rows.length > limit && last !== undefined ? last.external_measurement_id : null };
}

// ---------------------------------------------------------------- creating

export interface CreateMeasurementInput {
  readonly actor: AuditActor;
  readonly measurementConsumerId: bigint;
  /** External id of the MC certificate named in `measurement_consumer_certificate`. */
  readonly measurementConsumerCertificateId: bigint;
  /** Serialized SignedMessage(MeasurementSpec). */
  readonly measurementSpec: Uint8Array;
  readonly dataProviders: readonly DataProviderEntryInput[];
  readonly measurementReferenceId?: string;
  readonly apiVersion?: string;
  readonly details?: Uint8Array;
  /** Idempotency key: a repeated request returns the measurement it created. */
  readonly requestId?: string;
}

interface DpCertRow extends CertificateRow {
  party_id: bigint;
}

/**
 * Creates the measurement and one UNFULFILLED requisition per DataProvider.
 * The MC certificate and every DataProvider's current public-key certificate
 * are share-locked and must be valid now, so a concurrent revocation either
 * sees this measurement (and fails it) or makes this creation fail.
 */
export async function createMeasurement(ctx: WriteContext, input: CreateMeasurementInput): Promise<MeasurementRecord> {
  const mc = requireExternalId(input.measurementConsumerId, 'measurement consumer id');
  const mcCertId = requireExternalId(input.measurementConsumerCertificateId, 'measurement consumer certificate id');
  requireBytes(input.measurementSpec, 'measurement_spec');
  if (!Array.isArray(input.dataProviders) || input.dataProviders.length === 0) {
    throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'data_providers is empty');
  }
  const seen = new Set<bigint>();
  for (const e of input.dataProviders) {
    requireExternalId(e?.dataProviderId, 'data provider id');
    if (seen.has(e.dataProviderId)) throw invalidArgument('INVALID_FIELD_VALUE', `data provider ${apiId(e.dataProviderId)} appears twice`);
    seen.add(e.dataProviderId);
    requireBytes(e.dataProviderPublicKey, 'data_provider_public_key');
    requireBytes(e.encryptedRequisitionSpec, 'encrypted_requisition_spec');
    requireBytes(e.nonceHash, 'nonce_hash');
  }
  if (input.requestId !== undefined && (typeof input.requestId !== 'string' || input.requestId.length === 0)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'request_id must be a non-empty string');
  }
  const mcKey = measurementConsumer(mc);
  const mcRows = await ctx.tx.query<{ party_id: bigint }>(
    `SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1`,
    [mc],
  );
  const mcPartyId = mcRows[0]?.party_id;
  if (mcPartyId === undefined) throw partyNotFound(mcKey);

  if (input.requestId !== undefined) {
    const existing = await ctx.tx.query<{ measurement_id: bigint }>(
      'SELECT measurement_id FROM measurements WHERE measurement_consumer_id = $1 AND create_request_id = $2',
      [mcPartyId, input.requestId],
    );
    if (existing[0] !== undefined) return loadMeasurement(ctx, existing[0].measurement_id);
  }

  const mcCert = await ctx.tx.query<CertificateRow>(
    `SELECT ${CERTIFICATE_COLUMNS} FROM certificates c JOIN parties p ON p.party_id = c.party_id
      WHERE c.party_id = $1 AND c.external_certificate_id = $2 FOR SHARE OF c`,
    [mcPartyId, mcCertId],
  );
  const mcCertRow = mcCert[0];
  if (mcCertRow === undefined) throw certificateNotFound(mcKey, mcCertId, 'FAILED_PRECONDITION');
  if (!isCertificateValidAt(toCertificate(mcCertRow), ctx.now)) throw certificateInvalid(mcKey, mcCertId);

  // Lock in id order so concurrent creations never wait on each other in a cycle.
  const dpIds = [...seen].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const dpRows = await ctx.tx.query<DpCertRow>(
    `SELECT ${CERTIFICATE_COLUMNS}, p.party_id FROM parties p
       JOIN certificates c ON c.certificate_id = p.public_key_certificate_id
      WHERE p.kind = 'DATA_PROVIDER' AND p.external_id = ANY($1::bigint[])
      ORDER BY c.certificate_id FOR SHARE OF c`,
    [dpIds],
  );
  const dpById = new Map<bigint, DpCertRow>(dpRows.map((r) => [r.external_id ?? 0n, r]));
  for (const id of dpIds) {
    const row = dpById.get(id);
    if (row === undefined) throw partyNotFound(dataProvider(id), 'FAILED_PRECONDITION');
    if (!isCertificateValidAt(toCertificate(row), ctx.now)) throw certificateInvalid(dataProvider(id), row.external_certificate_id);
  }

  const { externalId: externalMeasurementId, inserted: measurementId } = await insertWithExternalId(ctx.now, async (id) => {
    const rows = await ctx.tx.query<{ measurement_id: bigint }>(
      `INSERT INTO measurements (measurement_consumer_id, external_measurement_id, measurement_consumer_certificate_id,
         measurement_spec, state, measurement_reference_id, api_version, details, create_request_id, create_time, update_time)
       VALUES ($1, $2, $3, $4, 'AWAITING_REQUISITION_FULFILLMENT', $5, $6, $7, $8, $9, $9)
       ON CONFLICT ON CONSTRAINT measurements_external_id DO NOTHING
       RETURNING measurement_id`,
      [mcPartyId, id, mcCertRow.certificate_id, input.measurementSpec,
        input.measurementReferenceId ?? '', input.apiVersion ?? '', input.details ?? new Uint8Array(),
        input.requestId ?? null, ctx.now],
    );
    return rows[0]?.measurement_id;
  });

  const requisitions: JsonValue[] = [];
  for (const [index, e] of input.dataProviders.entries()) {
    const dp = dpById.get(e.dataProviderId);
    if (dp === undefined) throw new Error('unreachable');
    const { externalId: rid } = await insertWithExternalId(ctx.now, async (rid) => {
      const rows = await ctx.tx.query<{ requisition_id: bigint }>(
        `INSERT INTO requisitions (measurement_id, data_provider_id, external_requisition_id, entry_index,
           data_provider_certificate_id, data_provider_public_key, encrypted_requisition_spec, nonce_hash, state,
           create_time, update_time)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'UNFULFILLED', $9, $9)
         ON CONFLICT ON CONSTRAINT requisitions_external_id DO NOTHING
         RETURNING requisition_id`,
        [measurementId, dp.party_id, rid, index, dp.certificate_id, e.dataProviderPublicKey, e.encryptedRequisitionSpec,
          e.nonceHash, ctx.now],
      );
      return rows[0];
    });
    requisitions.push({
      requisition: requisitionName(e.dataProviderId, rid),
      dataProviderCertificate: certificateName(dataProvider(e.dataProviderId), dp.external_certificate_id),
    });
  }
  ctx.audit(input.actor, 'CreateMeasurement', measurementName(mc, externalMeasurementId), null, {
    state: 'AWAITING_REQUISITION_FULFILLMENT',
    measurementConsumerCertificate: certificateName(mcKey, mcCertId),
    measurementSpecSha256: sha256Hex(input.measurementSpec),
    requisitions,
  });
  return loadMeasurement(ctx, measurementId);
}

// ---------------------------------------------------------------- ending

/** Withdraws the requisitions of `ids` that were still waiting for their DataProvider. */
async function withdrawRequisitions(ctx: WriteContext, actor: AuditActor, ids: readonly bigint[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await ctx.tx.query<{ dp: bigint; r: bigint }>(
    `UPDATE requisitions r SET state = 'WITHDRAWN', update_time = $2 FROM parties dp
      WHERE dp.party_id = r.data_provider_id AND r.measurement_id = ANY($1::bigint[]) AND r.state = 'UNFULFILLED'
      RETURNING dp.external_id AS dp, r.external_requisition_id AS r`,
    [ids, ctx.now],
  );
  for (const x of rows) {
    ctx.audit(actor, 'WithdrawRequisition', requisitionName(x.dp, x.r), { state: 'UNFULFILLED' }, { state: 'WITHDRAWN' });
  }
}

export async function failMeasurements(
  ctx: WriteContext,
  actor: AuditActor,
  ids: readonly bigint[],
  reason: MeasurementFailureReason,
  message: string,
): Promise<MeasurementKey[]> {
  if (ids.length === 0) return [];
  const rows = await ctx.tx.query<{ mc: bigint; m: bigint; before: MeasurementState }>(
    `UPDATE measurements m SET state = 'FAILED', failure_reason = $2, failure_message = $3, update_time = $4
       FROM parties mp, measurements old
      WHERE mp.party_id = m.measurement_consumer_id AND old.measurement_id = m.measurement_id
        AND m.measurement_id = ANY($1::bigint[]) AND m.state IN ${PENDING_SQL}
      RETURNING mp.external_id AS mc, m.external_measurement_id AS m, old.state AS before`,
    [ids, reason, message, ctx.now],
  );
  for (const x of rows) {
    ctx.audit(actor, 'FailMeasurement', measurementName(x.mc, x.m), { state: x.before }, {
      state: 'FAILED',
      failure: { reason, message },
    });
  }
  await withdrawRequisitions(ctx, actor, ids);
  return rows.map((x) => ({ measurementConsumerId: x.mc, externalMeasurementId: x.m }));
}

/**
 * §2.5 side effects of putting a certificate on hold or revoking it: fails the
 * pending measurements that depend on it. Duchy certificates have none here,
 * since this Kingdom runs direct measurements only (no computation
 * participants); ModelProvider certificates have none upstream either.
 */
export async function failMeasurementsForCertificate(
  ctx: WriteContext,
  actor: AuditActor,
  certificateId: bigint,
  owner: PartyKey,
): Promise<MeasurementKey[]> {
  const message = REVOKED_MESSAGE[owner.kind];
  let dependent: string;
  if (owner.kind === 'MEASUREMENT_CONSUMER') {
    dependent = `m.measurement_consumer_certificate_id = $1`;
  } else if (owner.kind === 'DATA_PROVIDER') {
    dependent = `EXISTS (SELECT 1 FROM requisitions r WHERE r.measurement_id = m.measurement_id
      AND r.data_provider_certificate_id = $1 AND r.state = 'UNFULFILLED')`;
  } else {
    return [];
  }
  if (message === null) return [];
  // Lock the candidates in id order, then re-check: a requisition fulfilled by
  // a transaction that held one of these locks is visible only now.
  const candidates = await ctx.tx.query<{ measurement_id: bigint }>(
    `SELECT m.measurement_id FROM measurements m WHERE m.state IN ${PENDING_SQL} AND ${dependent}
      ORDER BY m.measurement_id FOR UPDATE OF m`,
    [certificateId],
  );
  if (candidates.length === 0) return [];
  const confirmed = await ctx.tx.query<{ measurement_id: bigint }>(
    `SELECT m.measurement_id FROM measurements m
      WHERE m.measurement_id = ANY($2::bigint[]) AND m.state IN ${PENDING_SQL} AND ${dependent}
      ORDER BY m.measurement_id`,
    [certificateId, candidates.map((c) => c.measurement_id)],
  );
  return failMeasurements(
    ctx,
    actor,
    confirmed.map((c) => c.measurement_id),
    'CERTIFICATE_REVOKED',
    message,
  );
}

export function measurementStateIllegal(mc: bigint, m: bigint, state: MeasurementState): StoreError {
  return new StoreError('FAILED_PRECONDITION', 'MEASUREMENT_STATE_ILLEGAL', `Measurement is in state ${state}.`, {
    metadata: { measurement: measurementName(mc, m), measurementState: state },
  });
}

export async function cancelMeasurement(
  ctx: WriteContext,
  input: { actor: AuditActor; measurementConsumerId: bigint; externalMeasurementId: bigint },
): Promise<MeasurementRecord> {
  const { actor, measurementConsumerId: mc, externalMeasurementId: m } = input;
  requireExternalId(mc, 'measurement consumer id');
  requireExternalId(m, 'measurement id');
  const row = await findMeasurementId(ctx, mc, m, 'FOR UPDATE OF m');
  if (row === null) throw measurementNotFound(mc, m);
  if (row.state !== 'AWAITING_REQUISITION_FULFILLMENT' && row.state !== 'COMPUTING') {
    throw measurementStateIllegal(mc, m, row.state);
  }
  await ctx.tx.query(`UPDATE measurements SET state = 'CANCELLED', update_time = $2 WHERE measurement_id = $1`, [
    row.measurement_id,
    ctx.now,
  ]);
  ctx.audit(actor, 'CancelMeasurement', measurementName(mc, m), { state: row.state }, { state: 'CANCELLED' });
  await withdrawRequisitions(ctx, actor, [row.measurement_id]);
  return loadMeasurement(ctx, row.measurement_id);
}

// ---------------------------------------------------------------- trust after the fact

/** SUCCEEDED measurements with a result signed by a certificate now on hold or revoked. */
export async function listUntrustedResults(
  ctx: ReadContext,
  o: { measurementConsumerId?: bigint; limit?: number } = {},
): Promise<UntrustedResult[]> {
  const limit = requireLimit(o.limit, 1000, 100000);
  const params: unknown[] = [limit];
  let mcSql = '';
  if (o.measurementConsumerId !== undefined) {
    requireExternalId(o.measurementConsumerId, 'measurement consumer id');
    params.push(o.measurementConsumerId);
    mcSql = 'AND mp.external_id = $2';
  }
  const rows = await ctx.tx.query<PartyRow & { mc: bigint; m: bigint; cert: bigint; revocation_state: number }>(
    `SELECT mp.external_id AS mc, m.external_measurement_id AS m, c.external_certificate_id AS cert,
            c.revocation_state, p.kind, p.external_id, p.duchy_id
       FROM measurement_results mr
       JOIN measurements m ON m.measurement_id = mr.measurement_id
       JOIN parties mp ON mp.party_id = m.measurement_consumer_id
       JOIN certificates c ON c.certificate_id = mr.certificate_id
       JOIN parties p ON p.party_id = c.party_id
      WHERE m.state = 'SUCCEEDED' AND c.revocation_state IN (1, 2) ${mcSql}
      ORDER BY m.measurement_id, mr.result_index LIMIT $1`,
    params,
  );
  return rows.map((r) => ({
    measurement: { measurementConsumerId: r.mc, externalMeasurementId: r.m },
    certificateOwner: partyKeyOf(r),
    certificateId: r.cert,
    revocationState: Number(r.revocation_state) as RevocationState,
  }));
}

/** Several measurements of one MeasurementConsumer in one transaction: all are created or none. */
export async function createMeasurements(
  ctx: WriteContext,
  input: { actor: AuditActor; measurements: readonly Omit<CreateMeasurementInput, 'actor'>[] },
): Promise<MeasurementRecord[]> {
  const records: MeasurementRecord[] = [];
  for (const m of input.measurements) records.push(await createMeasurement(ctx, { actor: input.actor, ...m }));
  return records;
}

export const measurementOperations = {
  createMeasurement: write(createMeasurement),
  createMeasurements: write(createMeasurements),
  getMeasurement: snapshot(getMeasurement),
  listMeasurements: snapshot(listMeasurements),
  cancelMeasurement: write(cancelMeasurement),
  listUntrustedResults: read(listUntrustedResults),
};
