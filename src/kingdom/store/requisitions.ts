/** Requisitions: a DataProvider's view of its part of a measurement, fulfilling it directly, refusing it. */
import type { AuditActor } from './audit.js';
import { CERTIFICATE_COLUMNS, type CertificateRow, certificateInvalid, certificateNotFound, toCertificate } from './certificate-rows.js';
import { type ReadContext, type WriteContext, invalidArgument, requireBytes, requireExternalId, requireLimit, sha256Hex } from './context.js';
import { StoreError } from './errors.js';
import { apiId } from './ids.js';
import {
  MEASUREMENT_STATES,
  type RequisitionRow,
  checkStates,
  failMeasurements,
  measurementStateIllegal,
} from './measurements.js';
import { certificateName, measurementName, requisitionName } from './names.js';
import { read, write } from './operations.js';
import {
  type MeasurementState,
  type Page,
  type RequisitionRecord,
  type RequisitionState,
  dataProvider,
  isCertificateValidAt,
  requisitionEtag,
} from './records.js';

const REQUISITION_STATES = new Set<RequisitionState>(['UNFULFILLED', 'FULFILLED', 'REFUSED', 'WITHDRAWN']);

function requisitionNotFound(dp: bigint, r: bigint): StoreError {
  return new StoreError('NOT_FOUND', 'REQUISITION_NOT_FOUND', 'Requisition not found.', {
    metadata: { requisition: requisitionName(dp, r), externalRequisitionId: apiId(r) },
  });
}

interface RequisitionJoinRow extends RequisitionRow {
  fulfillment_context: Uint8Array | null;
  mc_external_id: bigint;
  external_measurement_id: bigint;
  mc_certificate_external_id: bigint;
  measurement_spec: Uint8Array;
  measurement_state: MeasurementState;
}

const REQUISITION_FULL_SELECT = `SELECT r.requisition_id, r.measurement_id, dp.external_id AS dp_external_id,
  r.external_requisition_id, dpc.external_certificate_id AS dp_certificate_external_id, r.data_provider_public_key,
  r.encrypted_requisition_spec, r.nonce_hash, r.state, fc.external_certificate_id AS fulfilling_certificate_external_id,
  r.encrypted_result, r.nonce, r.fulfillment_context, r.refusal_justification, r.refusal_message, r.create_time, r.update_time,
  mp.external_id AS mc_external_id, m.external_measurement_id, mcc.external_certificate_id AS mc_certificate_external_id,
  m.measurement_spec, m.state AS measurement_state
  FROM requisitions r
  JOIN parties dp ON dp.party_id = r.data_provider_id
  JOIN certificates dpc ON dpc.certificate_id = r.data_provider_certificate_id
  LEFT JOIN certificates fc ON fc.certificate_id = r.fulfilling_certificate_id
  JOIN measurements m ON m.measurement_id = r.measurement_id
  JOIN parties mp ON mp.party_id = m.measurement_consumer_id
  JOIN certificates mcc ON mcc.certificate_id = m.measurement_consumer_certificate_id`;

function toRequisition(r: RequisitionJoinRow): RequisitionRecord {
  return {
    dataProviderId: r.dp_external_id,
    externalRequisitionId: r.external_requisition_id,
    measurementConsumerId: r.mc_external_id,
    externalMeasurementId: r.external_measurement_id,
    measurementConsumerCertificateId: r.mc_certificate_external_id,
    measurementSpec: r.measurement_spec,
    measurementState: r.measurement_state,
    dataProviderCertificateId: r.dp_certificate_external_id,
    dataProviderPublicKey: r.data_provider_public_key,
    encryptedRequisitionSpec: r.encrypted_requisition_spec,
    nonceHash: r.nonce_hash,
    state: r.state,
    fulfillment:
      r.state === 'FULFILLED' && r.encrypted_result !== null && r.fulfilling_certificate_external_id !== null
        ? {
            certificateId: r.fulfilling_certificate_external_id,
            encryptedResult: r.encrypted_result,
            nonce: r.nonce,
            context: r.fulfillment_context,
          }
        : null,
    refusal:
      r.state === 'REFUSED' ? { justification: Number(r.refusal_justification ?? 0), message: r.refusal_message ?? '' } : null,
    createTime: r.create_time,
    updateTime: r.update_time,
  };
}

async function findRequisition(ctx: ReadContext, dp: bigint, r: bigint): Promise<RequisitionJoinRow | null> {
  const rows = await ctx.tx.query<RequisitionJoinRow>(
    `${REQUISITION_FULL_SELECT} WHERE dp.kind = 'DATA_PROVIDER' AND dp.external_id = $1 AND r.external_requisition_id = $2`,
    [dp, r],
  );
  return rows[0] ?? null;
}

export async function getRequisition(ctx: ReadContext, dp: bigint, r: bigint): Promise<RequisitionRecord> {
  requireExternalId(dp, 'data provider id');
  requireExternalId(r, 'requisition id');
  const row = await findRequisition(ctx, dp, r);
  if (row === null) throw requisitionNotFound(dp, r);
  return toRequisition(row);
}

export interface ListRequisitionsOptions {
  readonly dataProviderId: bigint;
  readonly states?: readonly RequisitionState[];
  readonly measurementStates?: readonly MeasurementState[];
  /** External requisition id of the last item of the previous page. */
  readonly after?: bigint;
  readonly limit?: number;
}

/**
 * The page query of `listRequisitions`. The DataProvider is resolved to its
 * internal id first, so the (DataProvider, requisition id) index is walked
 * in page order instead of sorting all of its requisitions.
 */
export function listRequisitionsQuery(o: ListRequisitionsOptions, limit: number): { sql: string; params: readonly unknown[] } {
  const params: unknown[] = [o.dataProviderId, o.after ?? 0n, limit + 1];
  const where: string[] = [];
  if (o.states !== undefined && o.states.length > 0) {
    params.push([...o.states]);
    where.push(`AND r.state = ANY($${params.length}::text[])`);
  }
  if (o.measurementStates !== undefined && o.measurementStates.length > 0) {
    params.push([...o.measurementStates]);
    where.push(`AND m.state = ANY($${params.length}::text[])`);
  }
  const sql = `${REQUISITION_FULL_SELECT}
      WHERE r.data_provider_id = (SELECT party_id FROM parties WHERE kind = 'DATA_PROVIDER' AND external_id = $1)
        AND r.external_requisition_id > $2 ${where.join(' ')}
      ORDER BY r.external_requisition_id LIMIT $3`;
  return { sql, params };
}

export async function listRequisitions(ctx: ReadContext, o: ListRequisitionsOptions): Promise<Page<RequisitionRecord, bigint>> {
  requireExternalId(o.dataProviderId, 'data provider id');
  const limit = requireLimit(o.limit);
  checkStates(o.states, REQUISITION_STATES);
  checkStates(o.measurementStates, MEASUREMENT_STATES);
  const query = listRequisitionsQuery(o, limit);
  const rows = await ctx.tx.query<RequisitionJoinRow>(query.sql, query.params);
  const items = rows.slice(0, limit).map(toRequisition);
  const last = items[items.length - 1];
  return { items, next: rows.length > limit && last !== undefined ? last.externalRequisitionId : null };
}

/**
 * Finds the requisition, locks its measurement, and re-reads both under that
 * lock; a non-empty `etag` must be the requisition's current one (ABORTED).
 */
async function lockRequisition(ctx: WriteContext, dp: bigint, r: bigint, etag = ''): Promise<RequisitionJoinRow> {
  requireExternalId(dp, 'data provider id');
  requireExternalId(r, 'requisition id');
  const first = await findRequisition(ctx, dp, r);
  if (first === null) throw requisitionNotFound(dp, r);
  await ctx.tx.query('SELECT 1 FROM measurements WHERE measurement_id = $1 FOR UPDATE', [first.measurement_id]);
  const row = await findRequisition(ctx, dp, r);
  if (row === null) throw requisitionNotFound(dp, r);
  if (etag !== '' && etag !== requisitionEtag(row.update_time)) {
    throw new StoreError('ABORTED', 'REQUISITION_ETAG_MISMATCH', 'Requisition etag does not match.', {
      metadata: { requisition: requisitionName(dp, r), requestEtag: etag, etag: requisitionEtag(row.update_time) },
    });
  }
  if (row.measurement_state !== 'AWAITING_REQUISITION_FULFILLMENT') {
    throw measurementStateIllegal(row.mc_external_id, row.external_measurement_id, row.measurement_state);
  }
  if (row.state !== 'UNFULFILLED') {
    throw new StoreError('FAILED_PRECONDITION', 'REQUISITION_STATE_ILLEGAL', `Requisition is in state ${row.state}.`, {
      metadata: { requisition: requisitionName(dp, r), requisitionState: row.state },
    });
  }
  return row;
}

export interface FulfillDirectRequisitionInput {
  readonly actor: AuditActor;
  readonly dataProviderId: bigint;
  readonly externalRequisitionId: bigint;
  /** `EncryptedMessage.ciphertext` of the SignedMessage(Result). */
  readonly encryptedResult: Uint8Array;
  /** The DataProvider certificate whose key signed the result; defaults to the requisition's. */
  readonly certificateId?: bigint;
  readonly nonce?: bigint;
  /** Serialized `Requisition.FulfillmentContext`. */
  readonly fulfillmentContext?: Uint8Array;
  /** When not empty, the requisition's current etag. */
  readonly etag?: string;
}

/**
 * Records a direct result. When it is the last outstanding requisition the
 * measurement SUCCEEDS with one result per requisition. Beyond upstream, the
 * signing certificate must belong to the DataProvider and be valid now.
 */
export async function fulfillDirectRequisition(ctx: WriteContext, input: FulfillDirectRequisitionInput): Promise<RequisitionRecord> {
  requireBytes(input.encryptedResult, 'encrypted_result');
  if (input.nonce !== undefined && (typeof input.nonce !== 'bigint' || input.nonce < 0n || input.nonce >= 1n << 64n)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'nonce is not a fixed64');
  }
  const dp = input.dataProviderId;
  const row = await lockRequisition(ctx, dp, input.externalRequisitionId, input.etag);
  const certExternalId = input.certificateId ?? row.dp_certificate_external_id;
  requireExternalId(certExternalId, 'certificate id');
  const certRows = await ctx.tx.query<CertificateRow>(
    `SELECT ${CERTIFICATE_COLUMNS} FROM certificates c JOIN parties p ON p.party_id = c.party_id
      WHERE p.kind = 'DATA_PROVIDER' AND p.external_id = $1 AND c.external_certificate_id = $2 FOR SHARE OF c`,
    [dp, certExternalId],
  );
  const cert = certRows[0];
  if (cert === undefined) throw certificateNotFound(dataProvider(dp), certExternalId, 'FAILED_PRECONDITION');
  if (!isCertificateValidAt(toCertificate(cert), ctx.now)) throw certificateInvalid(dataProvider(dp), certExternalId);
  // fixed64 nonces above 2^63 are stored as their signed two's-complement value.
  const nonce = input.nonce === undefined ? null : BigInt.asIntN(64, input.nonce);
  await ctx.tx.query(
    `UPDATE requisitions SET state = 'FULFILLED', fulfilling_certificate_id = $2, encrypted_result = $3, nonce = $4,
       update_time = $5, fulfillment_context = $6 WHERE requisition_id = $1`,
    [row.requisition_id, cert.certificate_id, input.encryptedResult, nonce, ctx.now, input.fulfillmentContext ?? null],
  );
  ctx.audit(input.actor, 'FulfillDirectRequisition', requisitionName(dp, input.externalRequisitionId), { state: 'UNFULFILLED' }, {
    state: 'FULFILLED',
    certificate: certificateName(dataProvider(dp), certExternalId),
    encryptedResultSha256: sha256Hex(input.encryptedResult),
  });
  const outstanding = await ctx.tx.query<{ n: bigint }>(
    `SELECT count(*)::bigint AS n FROM requisitions WHERE measurement_id = $1 AND state <> 'FULFILLED'`,
    [row.measurement_id],
  );
  if ((outstanding[0]?.n ?? 0n) === 0n) {
    await ctx.tx.query(
      `INSERT INTO measurement_results (measurement_id, result_index, certificate_id, encrypted_result)
       SELECT measurement_id, entry_index, fulfilling_certificate_id, encrypted_result FROM requisitions
        WHERE measurement_id = $1 ORDER BY entry_index`,
      [row.measurement_id],
    );
    await ctx.tx.query(`UPDATE measurements SET state = 'SUCCEEDED', update_time = $2 WHERE measurement_id = $1`, [
      row.measurement_id,
      ctx.now,
    ]);
    ctx.audit(
      input.actor,
      'SucceedMeasurement',
      measurementName(row.mc_external_id, row.external_measurement_id),
      { state: row.measurement_state },
      { state: 'SUCCEEDED' },
    );
  }
  const done = await findRequisition(ctx, dp, input.externalRequisitionId);
  if (done === null) throw new Error('requisition vanished inside its transaction');
  return toRequisition(done);
}

export interface RefuseRequisitionInput {
  readonly actor: AuditActor;
  readonly dataProviderId: bigint;
  readonly externalRequisitionId: bigint;
  /** `Requisition.Refusal.Justification` value. */
  readonly justification: number;
  readonly message: string;
  /** When not empty, the requisition's current etag. */
  readonly etag?: string;
}

/** The DataProvider refuses: the measurement FAILS with REQUISITION_REFUSED and the rest are withdrawn. */
export async function refuseRequisition(ctx: WriteContext, input: RefuseRequisitionInput): Promise<RequisitionRecord> {
  if (!Number.isSafeInteger(input.justification) || input.justification <= 0 || input.justification > 0x7fffffff) {
    throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'refusal justification is not specified');
  }
  if (typeof input.message !== 'string') throw invalidArgument('INVALID_FIELD_VALUE', 'refusal message must be a string');
  const dp = input.dataProviderId;
  const row = await lockRequisition(ctx, dp, input.externalRequisitionId, input.etag);
  await ctx.tx.query(
    `UPDATE requisitions SET state = 'REFUSED', refusal_justification = $2, refusal_message = $3, update_time = $4
      WHERE requisition_id = $1`,
    [row.requisition_id, input.justification, input.message, ctx.now],
  );
  ctx.audit(input.actor, 'RefuseRequisition', requisitionName(dp, input.externalRequisitionId), { state: 'UNFULFILLED' }, {
    state: 'REFUSED',
    justification: input.justification,
    message: input.message,
  });
  await failMeasurements(
    ctx,
    input.actor,
    [row.measurement_id],
    'REQUISITION_REFUSED',
    `ID of refused Requisition: ${apiId(input.externalRequisitionId)}`,
  );
  const done = await findRequisition(ctx, dp, input.externalRequisitionId);
  if (done === null) throw new Error('requisition vanished inside its transaction');
  return toRequisition(done);
}

export const requisitionOperations = {
  getRequisition: read(getRequisition),
  listRequisitions: read(listRequisitions),
  fulfillDirectRequisition: write(fulfillDirectRequisition),
  refuseRequisition: write(refuseRequisition),
};
