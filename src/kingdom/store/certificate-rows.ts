/** Reading certificate rows, shared by the certificate, party, measurement and requisition operations. */
import type { JsonValue } from './audit.js';
import type { Queryable } from './database.js';
import { type PartyRow, hex, partyKeyOf, partyWhere, sha256Hex } from './context.js';
import { StoreError } from './errors.js';
import { apiId } from './ids.js';
import { certificateName } from './names.js';
import { type CertificateRecord, type PartyKey, type RevocationState, revocationStateName } from './records.js';

export const CERTIFICATE_COLUMNS = `c.certificate_id, c.external_certificate_id, c.subject_key_identifier,
  c.not_valid_before, c.not_valid_after, c.revocation_state, c.x509_der, c.create_time, c.update_time,
  p.kind, p.external_id, p.duchy_id`;

export interface CertificateRow extends PartyRow {
  certificate_id: bigint;
  external_certificate_id: bigint;
  subject_key_identifier: Uint8Array;
  not_valid_before: Date;
  not_valid_after: Date;
  revocation_state: number;
  x509_der: Uint8Array;
  create_time: Date;
  update_time: Date;
}

export function toCertificate(r: CertificateRow): CertificateRecord {
  return {
    owner: partyKeyOf(r),
    externalCertificateId: r.external_certificate_id,
    subjectKeyIdentifier: r.subject_key_identifier,
    notValidBefore: r.not_valid_before,
    notValidAfter: r.not_valid_after,
    revocationState: Number(r.revocation_state) as RevocationState,
    x509Der: r.x509_der,
    createTime: r.create_time,
    updateTime: r.update_time,
  };
}

/** The audit view of a certificate: identifying facts, not the DER itself. */
export function certificateJson(c: CertificateRecord): JsonValue {
  return {
    subjectKeyIdentifier: hex(c.subjectKeyIdentifier),
    notValidBefore: c.notValidBefore.toISOString(),
    notValidAfter: c.notValidAfter.toISOString(),
    revocationState: revocationStateName(c.revocationState),
    x509DerSha256: sha256Hex(c.x509Der),
  };
}

export function certificateNotFound(owner: PartyKey, id: bigint, code: 'NOT_FOUND' | 'FAILED_PRECONDITION' = 'NOT_FOUND') {
  return new StoreError(code, 'CERTIFICATE_NOT_FOUND', 'Certificate not found.', {
    metadata: { certificate: certificateName(owner, id), externalCertificateId: apiId(id) },
  });
}

/** Selects one certificate of `owner` (optionally locking it); null if absent. */
export async function findCertificateRow(
  tx: Queryable,
  owner: PartyKey,
  id: bigint,
  lock: '' | 'FOR UPDATE OF c' | 'FOR SHARE OF c' = '',
): Promise<CertificateRow | null> {
  const w = partyWhere(owner, 2);
  const rows = await tx.query<CertificateRow>(
    `SELECT ${CERTIFICATE_COLUMNS} FROM certificates c JOIN parties p ON p.party_id = c.party_id
      WHERE c.external_certificate_id = $1 AND ${w.sql} ${lock}`,
    [id, ...w.params],
  );
  return rows[0] ?? null;
}

/** A certificate on hold, revoked, expired or not yet valid where a valid one is required. */
export function certificateInvalid(owner: PartyKey, id: bigint): StoreError {
  return new StoreError('FAILED_PRECONDITION', 'CERTIFICATE_IS_INVALID', 'Certificate is invalid.', {
    metadata: { certificate: certificateName(owner, id), externalCertificateId: apiId(id) },
  });
}
