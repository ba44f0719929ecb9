import type { Database, PartyKey, SqlKingdomStore } from '../../src/kingdom/store/index.js';
import { certificateFacts, publicKeyFacts, randomSkid } from './store-fixtures.js';

/**
 * A Kingdom store at volume, for the query-plan test and the paging bench.
 * Parties and certificates are made through the store; EventGroups,
 * measurements and their requisitions are inserted in bulk by SQL
 * (generate_series), as no API call could make a million of them in time.
 *
 * Row g (1-based) of each bulk insert:
 * - EventGroup: DataProvider B when g % 10 = 0, else A; MeasurementConsumer Y
 *   when g % 3 = 0, else X; DELETED when g % 50 = 0.
 * - Measurement (all of MeasurementConsumer X, one requisition each to
 *   DataProvider A): g <= hot are pending on MC certificate `mcHot`;
 *   hot < g <= 2 hot are pending on DataProvider certificate `dpHot`; beyond,
 *   even g are pending and odd g SUCCEEDED, on `mcCert` and `dpCert`.
 * External ids are g through a bijection of 1..2^31-2, so the index order is
 * not the insertion order, as with the random ids the store draws.
 */
export interface ScaleWorld {
  readonly store: SqlKingdomStore;
  readonly dpA: Party;
  readonly dpB: Party;
  readonly mcX: Party;
  readonly mcY: Party;
  /** Internal certificate ids. */
  readonly mcCert: bigint;
  readonly mcHot: Certificate;
  readonly dpCert: bigint;
  readonly dpHot: Certificate;
}

export interface Party {
  readonly key: PartyKey;
  readonly id: bigint;
  readonly partyId: bigint;
}

export interface Certificate {
  readonly owner: PartyKey;
  readonly externalId: bigint;
  readonly certificateId: bigint;
}

const ADMIN = 'admin';
const externalId = (g: string) => `((${g}) * 1103515245) % 2147483647 + 1`;

async function party(store: SqlKingdomStore, kind: 'DATA_PROVIDER' | 'MEASUREMENT_CONSUMER'): Promise<Party & { certificateId: bigint }> {
  const made = await store.createParty({
    actor: ADMIN,
    kind,
    rootCertificateDer: new Uint8Array([0x30, 1]),
    rootSubjectKeyIdentifier: randomSkid(),
    certificate: certificateFacts(),
    publicKey: publicKeyFacts(),
  });
  const id = made.party.key.id as bigint;
  const [row] = await store.database.query<{ party_id: bigint; certificate_id: bigint }>(
    `SELECT p.party_id, c.certificate_id FROM parties p JOIN certificates c ON c.party_id = p.party_id
      WHERE p.kind = $1 AND p.external_id = $2 AND c.external_certificate_id = $3`,
    [kind, id, made.certificate.externalCertificateId],
  );
  if (row === undefined) throw new Error('party just made is missing');
  return { key: made.party.key, id, partyId: row.party_id, certificateId: row.certificate_id };
}

async function certificate(store: SqlKingdomStore, owner: Party): Promise<Certificate> {
  const made = await store.createCertificate({ actor: ADMIN, owner: owner.key, certificate: certificateFacts() });
  const [row] = await store.database.query<{ certificate_id: bigint }>(
    'SELECT certificate_id FROM certificates WHERE party_id = $1 AND external_certificate_id = $2',
    [owner.partyId, made.externalCertificateId],
  );
  if (row === undefined) throw new Error('certificate just made is missing');
  return { owner: owner.key, externalId: made.externalCertificateId, certificateId: row.certificate_id };
}

/** Two DataProviders, two MeasurementConsumers and their certificates, no EventGroups or measurements yet. */
export async function scaleWorld(store: SqlKingdomStore): Promise<ScaleWorld> {
  const dpA = await party(store, 'DATA_PROVIDER');
  const dpB = await party(store, 'DATA_PROVIDER');
  const mcX = await party(store, 'MEASUREMENT_CONSUMER');
  const mcY = await party(store, 'MEASUREMENT_CONSUMER');
  return {
    store,
    dpA,
    dpB,
    mcX,
    mcY,
    mcCert: mcX.certificateId,
    mcHot: await certificate(store, mcX),
    dpCert: dpA.certificateId,
    dpHot: await certificate(store, dpA),
  };
}

/** Inserts EventGroups for rows `from`..`to` (see ScaleWorld). */
export async function insertEventGroups(db: Database, w: ScaleWorld, from: number, to: number): Promise<void> {
  await db.query(
    `INSERT INTO event_groups (data_provider_id, data_provider_external_id, external_event_group_id, measurement_consumer_id,
       event_group_reference_id, api_version, state, create_time, update_time)
     SELECT CASE WHEN g % 10 = 0 THEN $3::bigint ELSE $4::bigint END, CASE WHEN g % 10 = 0 THEN $5::bigint ELSE $6::bigint END,
       ${externalId('g')}, CASE WHEN g % 3 = 0 THEN $7::bigint ELSE $8::bigint END,
       'reference-' || g, 'v2alpha', CASE WHEN g % 50 = 0 THEN 'DELETED' ELSE 'ACTIVE' END, now(), now()
       FROM generate_series($1::bigint, $2::bigint) AS g`,
    [from, to, w.dpB.partyId, w.dpA.partyId, w.dpB.id, w.dpA.id, w.mcY.partyId, w.mcX.partyId],
  );
}

/** Inserts measurements and their requisitions for rows `from`..`to` (see ScaleWorld). */
export async function insertMeasurements(db: Database, w: ScaleWorld, from: number, to: number, hot: number): Promise<void> {
  await db.query(
    `WITH made AS (
       INSERT INTO measurements (measurement_consumer_id, external_measurement_id, measurement_consumer_certificate_id,
         measurement_spec, state, measurement_reference_id, api_version, create_time, update_time)
       SELECT $3::bigint, ${externalId('g')}, CASE WHEN g <= $4 THEN $5::bigint ELSE $6::bigint END,
         decode(repeat('5a', 300), 'hex'),
         CASE WHEN g <= 2 * $4 OR g % 2 = 0 THEN 'AWAITING_REQUISITION_FULFILLMENT' ELSE 'SUCCEEDED' END,
         CASE WHEN g > $4 AND g <= 2 * $4 THEN 'dp-hot' ELSE '' END, 'v2alpha', now(), now()
         FROM generate_series($1::bigint, $2::bigint) AS g
       RETURNING measurement_id, external_measurement_id, state, measurement_reference_id)
     INSERT INTO requisitions (measurement_id, data_provider_id, external_requisition_id, entry_index,
       data_provider_certificate_id, data_provider_public_key, encrypted_requisition_spec, nonce_hash, state,
       create_time, update_time)
     SELECT measurement_id, $7::bigint, external_measurement_id, 0,
       CASE WHEN measurement_reference_id = 'dp-hot' THEN $8::bigint ELSE $9::bigint END,
       decode(repeat('a1', 64), 'hex'), decode(repeat('b2', 200), 'hex'), decode(repeat('c3', 32), 'hex'),
       CASE WHEN state = 'SUCCEEDED' THEN 'FULFILLED' ELSE 'UNFULFILLED' END, now(), now()
       FROM made`,
    [from, to, w.mcX.partyId, hot, w.mcHot.certificateId, w.mcCert, w.dpA.partyId, w.dpHot.certificateId, w.dpCert],
  );
}

/** Fresh planner statistics for the bulk-filled tables. */
export async function analyze(db: Database): Promise<void> {
  for (const table of ['parties', 'certificates', 'event_groups', 'measurements', 'requisitions']) await db.query(`ANALYZE ${table}`);
}
