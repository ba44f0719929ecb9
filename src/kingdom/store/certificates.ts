/** Certificates: registering, reading, listing, revoking and releasing holds, and what depends on one. */
import type { AuditActor } from './audit.js';
import {
  CERTIFICATE_COLUMNS,
  type CertificateRow,
  certificateJson,
  certificateNotFound,
  findCertificateRow,
  toCertificate,
} from './certificate-rows.js';
import {
  type ReadContext,
  type WriteContext,
  hex,
  invalidArgument,
  partyWhere,
  requireBytes,
  requireDate,
  requireExternalId,
  requireKey,
  requireLimit,
  partyNotFound,
} from './context.js';
import { StoreError } from './errors.js';
import { apiId, insertWithExternalId } from './ids.js';
import { failMeasurementsForCertificate } from './measurements.js';
import { certificateName } from './names.js';
import { read, snapshot, write } from './operations.js';
import {
  type CertificateBlastRadius,
  type CertificateCursor,
  type CertificateInput,
  type CertificateRecord,
  type MeasurementKey,
  type Page,
  type PartyKey,
  type RequisitionKey,
  type RevocationState,
  revocationStateName,
} from './records.js';

export function validateCertificateInput(c: CertificateInput): void {
  requireBytes(c?.x509Der, 'x509_der');
  requireBytes(c.subjectKeyIdentifier, 'subject_key_identifier');
  requireDate(c.notValidBefore, 'not_valid_before');
  requireDate(c.notValidAfter, 'not_valid_after');
}

/**
 * Inserts a certificate under a party, given by internal id or (in the same
 * statement, saving a round trip) by its key, drawing a fresh external id.
 */
export async function insertCertificate(
  ctx: WriteContext,
  party: bigint | PartyKey,
  owner: PartyKey,
  c: CertificateInput,
  actor: AuditActor,
  action: string,
): Promise<{ record: CertificateRecord; certificateId: bigint }> {
  const w = typeof party === 'bigint' ? null : partyWhere(party, 7);
  const source = w === null ? 'SELECT $7::bigint AS party_id' : `SELECT p.party_id FROM parties p WHERE ${w.sql}`;
  const sourceParams = w === null ? [party] : w.params;
  // A SKID collision is not caught here: it raises the unique violation that
  // becomes CERT_SUBJECT_KEY_ID_ALREADY_EXISTS. A null certificate_id with a
  // party is an external-id collision: draw again.
  const { externalId: id, inserted: certificateId } = await insertWithExternalId(ctx.now, async (id) => {
    const rows = await ctx.tx.query<{ party_id: bigint | null; certificate_id: bigint | null }>(
      `WITH owner AS (${source}),
       inserted AS (
         INSERT INTO certificates (party_id, external_certificate_id, subject_key_identifier, not_valid_before,
           not_valid_after, revocation_state, x509_der, create_time, update_time)
         SELECT owner.party_id, $1, $2, $3, $4, 0, $5, $6, $6 FROM owner
         ON CONFLICT ON CONSTRAINT certificates_external_id DO NOTHING
         RETURNING certificate_id)
       SELECT (SELECT party_id FROM owner) AS party_id, (SELECT certificate_id FROM inserted) AS certificate_id`,
      [id, c.subjectKeyIdentifier, c.notValidBefore, c.notValidAfter, c.x509Der, ctx.now, ...sourceParams],
    );
    const row = rows[0];
    if (row?.party_id === null || row?.party_id === undefined) throw partyNotFound(owner);
    return row.certificate_id ?? undefined;
  });
  const record: CertificateRecord = {
    owner,
    externalCertificateId: id,
    subjectKeyIdentifier: c.subjectKeyIdentifier,
    notValidBefore: c.notValidBefore,
    notValidAfter: c.notValidAfter,
    revocationState: 0,
    x509Der: c.x509Der,
    createTime: ctx.now,
    updateTime: ctx.now,
  };
  ctx.audit(actor, action, certificateName(owner, id), null, certificateJson(record));
  return { record, certificateId };
}

export async function createCertificate(
  ctx: WriteContext,
  input: { actor: AuditActor; owner: PartyKey; certificate: CertificateInput },
): Promise<CertificateRecord> {
  requireKey(input.owner);
  validateCertificateInput(input.certificate);
  return (await insertCertificate(ctx, input.owner, input.owner, input.certificate, input.actor, 'CreateCertificate')).record;
}

/** Served from the store's certificate cache when the context carries it. */
export async function getCertificate(ctx: ReadContext, owner: PartyKey, id: bigint): Promise<CertificateRecord> {
  requireKey(owner);
  requireExternalId(id, 'certificate id');
  const cache = ctx.certificateCache;
  const name = certificateName(owner, id);
  const cached = cache?.get(name);
  if (cached) return cached;
  const generation = cache?.generation ?? 0;
  const row = await findCertificateRow(ctx.tx, owner, id);
  if (row === null) throw certificateNotFound(owner, id);
  const record = toCertificate(row);
  cache?.fill(name, generation, record);
  return record;
}

export interface ListCertificatesOptions {
  readonly owner: PartyKey;
  /** Only certificates with one of these SKIDs. */
  readonly subjectKeyIdentifiers?: readonly Uint8Array[];
  readonly after?: CertificateCursor;
  readonly limit?: number;
}

/**
 * Upstream's order (NotValidBefore DESC, external id ASC), but filtered by the
 * parent itself, with the keyset condition parenthesised so the SKID filter
 * holds on every page.
 */
export async function listCertificates(
  ctx: ReadContext,
  o: ListCertificatesOptions,
): Promise<Page<CertificateRecord, CertificateCursor>> {
  requireKey(o.owner);
  const limit = requireLimit(o.limit);
  const w = partyWhere(o.owner, 1);
  const params: unknown[] = [...w.params];
  const where = [w.sql];
  if (o.subjectKeyIdentifiers !== undefined) {
    if (o.subjectKeyIdentifiers.length === 0) return { items: [], next: null };
    params.push(o.subjectKeyIdentifiers.map((s) => hex(requireBytes(s, 'subject_key_identifier'))));
    where.push(`c.subject_key_identifier IN (SELECT decode(h, 'hex') FROM unnest($${params.length}::text[]) AS h)`);
  }
  if (o.after !== undefined) {
    requireDate(o.after.notValidBefore, 'after.not_valid_before');
    params.push(o.after.notValidBefore, o.after.externalCertificateId);
    const a = params.length - 1;
    where.push(
      `(c.not_valid_before < $${a} OR (c.not_valid_before = $${a} AND c.external_certificate_id > $${a + 1}))`,
    );
  }
  params.push(limit + 1);
  const rows = await ctx.tx.query<CertificateRow>(
    `SELECT ${CERTIFICATE_COLUMNS} FROM certificates c JOIN parties p ON p.party_id = c.party_id
      WHERE ${where.join(' AND ')}
      ORDER BY c.not_valid_before DESC, c.external_certificate_id ASC
      LIMIT $${params.length}`,
    params,
  );
  const items = rows.slice(0, limit).map(toCertificate);
  const last = items[items.length - 1];
  const next =
    rows.length > limit && last !== undefined
      ? { notValidBefore: last.notValidBefore, externalCertificateId: last.externalCertificateId }
      : null;
  return { items, next };
}

function illegalTransition(owner: PartyKey, id: bigint, current: RevocationState): StoreError {
  return new StoreError('FAILED_PRECONDITION', 'CERTIFICATE_REVOCATION_STATE_ILLEGAL', 'Certificate is in wrong State.', {
    metadata: {
      externalCertificateId: apiId(id),
      certificate: certificateName(owner, id),
      // upstream's spelling, carrying the current state
      certificationRevocationState: revocationStateName(current),
    },
  });
}

export interface RevokeCertificateResult {
  readonly certificate: CertificateRecord;
  /** Pending measurements this revocation failed, in the same transaction. */
  readonly failedMeasurements: MeasurementKey[];
}

/**
 * §2.5: UNSPECIFIED→HOLD|REVOKED, HOLD→HOLD|REVOKED, REVOKED→REVOKED. Both HOLD
 * and REVOKED fail the pending measurements that depend on the certificate.
 */
export async function revokeCertificate(
  ctx: WriteContext,
  input: { actor: AuditActor; owner: PartyKey; externalCertificateId: bigint; revocationState: RevocationState },
): Promise<RevokeCertificateResult> {
  const { actor, owner, externalCertificateId: id, revocationState: state } = input;
  requireKey(owner);
  requireExternalId(id, 'certificate id');
  if (state !== 1 && state !== 2) throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'Revocation State unspecified');
  const row = await findCertificateRow(ctx.tx, owner, id, 'FOR UPDATE OF c');
  if (row === null) throw certificateNotFound(owner, id);
  const before = toCertificate(row);
  if (before.revocationState === 2 && state === 1) throw illegalTransition(owner, id, before.revocationState);
  await ctx.tx.query('UPDATE certificates SET revocation_state = $2, update_time = $3 WHERE certificate_id = $1', [
    row.certificate_id,
    state,
    ctx.now,
  ]);
  const after: CertificateRecord = { ...before, revocationState: state, updateTime: ctx.now };
  ctx.audit(actor, 'RevokeCertificate', certificateName(owner, id), certificateJson(before), certificateJson(after));
  const failedMeasurements = await failMeasurementsForCertificate(ctx, actor, row.certificate_id, owner);
  return { certificate: after, failedMeasurements };
}

/** §2.6: only HOLD → UNSPECIFIED; measurements failed by the hold stay failed. */
export async function releaseCertificateHold(
  ctx: WriteContext,
  input: { actor: AuditActor; owner: PartyKey; externalCertificateId: bigint },
): Promise<CertificateRecord> {
  const { actor, owner, externalCertificateId: id } = input;
  requireKey(owner);
  requireExternalId(id, 'certificate id');
  const row = await findCertificateRow(ctx.tx, owner, id, 'FOR UPDATE OF c');
  if (row === null) throw certificateNotFound(owner, id);
  const before = toCertificate(row);
  if (before.revocationState !== 1) throw illegalTransition(owner, id, before.revocationState);
  await ctx.tx.query('UPDATE certificates SET revocation_state = 0, update_time = $2 WHERE certificate_id = $1', [
    row.certificate_id,
    ctx.now,
  ]);
  const after: CertificateRecord = { ...before, revocationState: 0, updateTime: ctx.now };
  ctx.audit(actor, 'ReleaseCertificateHold', certificateName(owner, id), certificateJson(before), certificateJson(after));
  return after;
}

/**
 * The SQL aggregate that packs rows of non-null int8 columns into one text
 * value, and its inverse. Ten thousand rows cost the embedded engine several
 * times more to hand over one by one than to find; as one value they cost
 * about as much as the rows do on PostgreSQL.
 */
const packRows = (...columns: string[]) => `string_agg(concat_ws(' ', ${columns.join(', ')}), ' ')`;

function unpackRows(packed: string | null | undefined, width: number): bigint[][] {
  if (packed === null || packed === undefined || packed === '') return [];
  const values = packed.split(' ');
  const rows: bigint[][] = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width).map((v) => BigInt(v)));
  return rows;
}

/** Rows in ascending order of their first column, the first of each key only. */
function ascendingUnique(rows: bigint[][]): bigint[][] {
  const sorted = [...rows].sort((a, b) => (a[0]! < b[0]! ? -1 : a[0]! > b[0]! ? 1 : 0));
  return sorted.filter((row, n) => n === 0 || sorted[n - 1]![0] !== row[0]);
}

/**
 * The pending measurements and requisitions that depend on a certificate,
 * each in creation order. A measurement depends on one only through its
 * owner's kind of reference: an MC certificate is named by the measurement, a
 * DataProvider's by its unfulfilled requisition (which names the
 * measurement). Each is read through its own partial index, and a
 * DataProvider's requisitions and their measurements in one pass; an OR of
 * the two kinds would read every pending measurement.
 */
async function pendingDependents(
  ctx: ReadContext,
  owner: PartyKey,
  cid: bigint,
): Promise<{ measurements: MeasurementKey[]; requisitions: RequisitionKey[] }> {
  const pending = `m.state IN ('AWAITING_REQUISITION_FULFILLMENT', 'COMPUTING')`;
  const measurementKey = ([, mc, m]: bigint[]): MeasurementKey => ({ measurementConsumerId: mc!, externalMeasurementId: m! });
  if (owner.kind === 'MEASUREMENT_CONSUMER') {
    const [row] = await ctx.tx.query<{ packed: string | null }>(
      `SELECT ${packRows('m.measurement_id', 'mp.external_id', 'm.external_measurement_id')} AS packed
         FROM measurements m JOIN parties mp ON mp.party_id = m.measurement_consumer_id
        WHERE m.measurement_consumer_certificate_id = $1 AND ${pending}`,
      [cid],
    );
    return { measurements: ascendingUnique(unpackRows(row?.packed, 3)).map(measurementKey), requisitions: [] };
  }
  const [row] = await ctx.tx.query<{ packed: string | null }>(
    `SELECT ${packRows('m.measurement_id', 'mp.external_id', 'm.external_measurement_id', 'r.requisition_id', 'dp.external_id', 'r.external_requisition_id')} AS packed
       FROM requisitions r JOIN measurements m ON m.measurement_id = r.measurement_id
       JOIN parties dp ON dp.party_id = r.data_provider_id
       JOIN parties mp ON mp.party_id = m.measurement_consumer_id
      WHERE r.data_provider_certificate_id = $1 AND r.state = 'UNFULFILLED' AND ${pending}`,
    [cid],
  );
  const rows = unpackRows(row?.packed, 6);
  return {
    measurements: ascendingUnique(rows).map(measurementKey),
    requisitions: ascendingUnique(rows.map((x) => x.slice(3))).map(([, dp, r]) => ({ dataProviderId: dp!, externalRequisitionId: r! })),
  };
}

/** Everything that depends on one certificate. */
export async function certificateBlastRadius(ctx: ReadContext, owner: PartyKey, id: bigint): Promise<CertificateBlastRadius> {
  requireKey(owner);
  requireExternalId(id, 'certificate id');
  const row = await findCertificateRow(ctx.tx, owner, id);
  if (row === null) throw certificateNotFound(owner, id);
  const cid = row.certificate_id;
  // Each dependent row is one index probe: parallel workers cost more to
  // start than they save, several times more on a busy server (this runs in
  // its own snapshot transaction, which the setting does not outlive).
  await ctx.tx.query('SET LOCAL max_parallel_workers_per_gather = 0');
  const { measurements, requisitions } = await pendingDependents(ctx, owner, cid);
  const signed = await ctx.tx.query<{ mc: bigint; m: bigint }>(
    `SELECT DISTINCT mp.external_id AS mc, m.external_measurement_id AS m, m.measurement_id
       FROM measurement_results mr JOIN measurements m ON m.measurement_id = mr.measurement_id
       JOIN parties mp ON mp.party_id = m.measurement_consumer_id
      WHERE mr.certificate_id = $1 AND m.state = 'SUCCEEDED'
      ORDER BY m.measurement_id`,
    [cid],
  );
  const keyRefs = await ctx.tx.query<{ n: bigint }>(
    'SELECT count(*)::bigint AS n FROM parties WHERE public_key_certificate_id = $1',
    [cid],
  );
  return {
    certificate: toCertificate(row),
    pendingMeasurements: measurements,
    pendingRequisitions: requisitions,
    signedResults: signed.map((x) => ({ measurementConsumerId: x.mc, externalMeasurementId: x.m })),
    publicKeyReferences: (keyRefs[0]?.n ?? 0n) > 0n,
  };
}

export const certificateOperations = {
  createCertificate: write(createCertificate),
  getCertificate: read(getCertificate),
  listCertificates: read(listCertificates),
  revokeCertificate: write(revokeCertificate),
  releaseCertificateHold: write(releaseCertificateHold),
  certificateBlastRadius: snapshot(certificateBlastRadius),
};
