/** Parties (DataProviders, MeasurementConsumers, ModelProviders, Duchies) and their encryption public keys. */
import type { AuditActor, JsonValue } from './audit.js';
import { mapNewRoot } from './auth.js';
import { certificateInvalid, certificateNotFound, findCertificateRow, toCertificate } from './certificate-rows.js';
import { insertCertificate, validateCertificateInput } from './certificates.js';
import {
  type PartyRow,
  type ReadContext,
  type WriteContext,
  hex,
  invalidArgument,
  partyKeyOf,
  partyNotFound,
  partyWhere,
  requireBytes,
  requireExternalId,
  requireKey,
  sha256Hex,
} from './context.js';
import { insertWithExternalId } from './ids.js';
import { certificateName, partyName, publicKeyName } from './names.js';
import { read, write } from './operations.js';
import {
  type CertificateInput,
  type CertificateRecord,
  type PartyKey,
  type PartyKind,
  type PartyRecord,
  type PublicKeyInput,
  isCertificateValidAt,
} from './records.js';

interface PartyFullRow extends PartyRow {
  party_id: bigint;
  display_name: string;
  root_certificate_der: Uint8Array;
  root_subject_key_identifier: Uint8Array;
  public_key: Uint8Array | null;
  public_key_signature: Uint8Array | null;
  public_key_signature_algorithm_oid: string | null;
  public_key_api_version: string | null;
  pk_external_certificate_id: bigint | null;
  create_time: Date;
  update_time: Date;
}

const PARTY_SELECT = `SELECT p.party_id, p.kind, p.external_id, p.duchy_id, p.display_name, p.root_certificate_der,
  p.root_subject_key_identifier, p.public_key, p.public_key_signature, p.public_key_signature_algorithm_oid,
  p.public_key_api_version, pkc.external_certificate_id AS pk_external_certificate_id, p.create_time, p.update_time
  FROM parties p LEFT JOIN certificates pkc ON pkc.certificate_id = p.public_key_certificate_id`;

function toParty(r: PartyFullRow): PartyRecord {
  const publicKey =
    r.public_key !== null && r.pk_external_certificate_id !== null
      ? {
          publicKey: r.public_key,
          signature: r.public_key_signature ?? new Uint8Array(),
          signatureAlgorithmOid: r.public_key_signature_algorithm_oid ?? '',
          apiVersion: r.public_key_api_version ?? '',
          certificateId: r.pk_external_certificate_id,
        }
      : null;
  return {
    key: partyKeyOf(r),
    displayName: r.display_name,
    rootCertificateDer: r.root_certificate_der,
    rootSubjectKeyIdentifier: r.root_subject_key_identifier,
    publicKey,
    createTime: r.create_time,
    updateTime: r.update_time,
  };
}

function publicKeyJson(owner: PartyKey, certificateId: bigint | null, k: PublicKeyInput | null): JsonValue {
  if (k === null || certificateId === null) return null;
  return {
    certificate: certificateName(owner, certificateId),
    publicKeySha256: sha256Hex(k.publicKey),
    signatureSha256: sha256Hex(k.signature),
    signatureAlgorithmOid: k.signatureAlgorithmOid,
    apiVersion: k.apiVersion,
  };
}

const HAS_PUBLIC_KEY: Record<PartyKind, boolean> = {
  DATA_PROVIDER: true,
  MEASUREMENT_CONSUMER: true,
  MODEL_PROVIDER: false,
  DUCHY: false,
};

/** Upstream's resource-id shape for configured Duchy ids (`aggregator`, `worker1`). */
const DUCHY_ID = /^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$/;

function validatePublicKey(k: PublicKeyInput): void {
  requireBytes(k?.publicKey, 'public_key');
  requireBytes(k.signature, 'public_key_signature');
  if (typeof k.signatureAlgorithmOid !== 'string') throw invalidArgument('signature_algorithm_oid must be a string');
  if (typeof k.apiVersion !== 'string' || k.apiVersion.length === 0) {
    throw invalidArgument('api_version is not specified', 'REQUIRED_FIELD_NOT_SET');
  }
}

export interface CreatePartyInput {
  readonly actor: AuditActor;
  readonly kind: PartyKind;
  /** Required for a Duchy, from configuration; other kinds get a random external id. */
  readonly duchyId?: string;
  readonly displayName?: string;
  readonly rootCertificateDer: Uint8Array;
  readonly rootSubjectKeyIdentifier: Uint8Array;
  /** The first certificate, registered in the same transaction. */
  readonly certificate: CertificateInput;
  /** Required for DataProviders and MeasurementConsumers, refused for the others. */
  readonly publicKey?: PublicKeyInput;
  /**
   * Map the root's SKID to the new party for mTLS authentication, in the same
   * transaction (ALREADY_EXISTS if the root already authenticates someone).
   * Duchies are found by their root SKID instead.
   */
  readonly mapRootToParty?: boolean;
}

const CREATE_ACTION: Record<PartyKind, string> = {
  DATA_PROVIDER: 'CreateDataProvider',
  MEASUREMENT_CONSUMER: 'CreateMeasurementConsumer',
  MODEL_PROVIDER: 'CreateModelProvider',
  DUCHY: 'CreateDuchy',
};

export async function createParty(
  ctx: WriteContext,
  input: CreatePartyInput,
): Promise<{ party: PartyRecord; certificate: CertificateRecord }> {
  const kind = input.kind;
  if (!Object.hasOwn(HAS_PUBLIC_KEY, kind)) throw invalidArgument('unknown party kind');
  const displayName = input.displayName ?? '';
  if (typeof displayName !== 'string') throw invalidArgument('display_name must be a string');
  requireBytes(input.rootCertificateDer, 'root_certificate_der');
  requireBytes(input.rootSubjectKeyIdentifier, 'root_subject_key_identifier');
  validateCertificateInput(input.certificate);
  if (HAS_PUBLIC_KEY[kind]) {
    if (input.publicKey === undefined) throw invalidArgument('public_key is not specified', 'REQUIRED_FIELD_NOT_SET');
    validatePublicKey(input.publicKey);
  } else if (input.publicKey !== undefined) {
    throw invalidArgument(`a ${kind} has no encryption public key`);
  }
  if (kind === 'DUCHY' && (typeof input.duchyId !== 'string' || !DUCHY_ID.test(input.duchyId))) {
    throw invalidArgument('duchy id must be 1-63 lowercase letters, digits or hyphens, starting with a letter');
  }
  if (kind !== 'DUCHY' && input.duchyId !== undefined) throw invalidArgument('only a Duchy takes a configured id');

  // A Duchy has no external id; a duplicate Duchy id or Duchy root SKID raises
  // its unique violation (mapped to ALREADY_EXISTS): only an external-id
  // collision draws again.
  const { externalId, inserted: partyId } = await insertWithExternalId(ctx.now, async (externalId) => {
    const rows = await ctx.tx.query<{ party_id: bigint }>(
      `INSERT INTO parties (kind, external_id, duchy_id, display_name, root_certificate_der, root_subject_key_identifier,
         create_time, update_time)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
       ON CONFLICT (kind, external_id) WHERE external_id IS NOT NULL DO NOTHING
       RETURNING party_id`,
      [kind, kind === 'DUCHY' ? null : externalId, kind === 'DUCHY' ? input.duchyId : null, displayName,
        input.rootCertificateDer, input.rootSubjectKeyIdentifier, ctx.now],
    );
    return rows[0]?.party_id;
  });
  const key: PartyKey = kind === 'DUCHY' ? { kind, id: input.duchyId ?? '' } : { kind, id: externalId };
  const name = partyName(key);
  ctx.audit(input.actor, CREATE_ACTION[kind], name, null, {
    displayName,
    rootSubjectKeyIdentifier: hex(input.rootSubjectKeyIdentifier),
    rootCertificateDerSha256: sha256Hex(input.rootCertificateDer),
  });
  if (input.mapRootToParty) await mapNewRoot(ctx, input.actor, input.rootSubjectKeyIdentifier, name);
  const { record: certificate, certificateId } = await insertCertificate(
    ctx,
    partyId,
    key,
    input.certificate,
    input.actor,
    'CreateCertificate',
  );
  if (input.publicKey !== undefined) {
    const k = input.publicKey;
    await ctx.tx.query(
      `UPDATE parties SET public_key = $2, public_key_signature = $3, public_key_signature_algorithm_oid = $4,
         public_key_api_version = $5, public_key_certificate_id = $6 WHERE party_id = $1`,
      [partyId, k.publicKey, k.signature, k.signatureAlgorithmOid, k.apiVersion, certificateId],
    );
    ctx.audit(input.actor, 'UpdatePublicKey', publicKeyName(key), null, publicKeyJson(key, certificate.externalCertificateId, k));
  }
  return {
    party: {
      key,
      displayName,
      rootCertificateDer: input.rootCertificateDer,
      rootSubjectKeyIdentifier: input.rootSubjectKeyIdentifier,
      publicKey:
        input.publicKey === undefined ? null : { ...input.publicKey, certificateId: certificate.externalCertificateId },
      createTime: ctx.now,
      updateTime: ctx.now,
    },
    certificate,
  };
}

export async function getParty(ctx: ReadContext, key: PartyKey): Promise<PartyRecord> {
  requireKey(key);
  const w = partyWhere(key, 1);
  const rows = await ctx.tx.query<PartyFullRow>(`${PARTY_SELECT} WHERE ${w.sql}`, w.params);
  const row = rows[0];
  if (row === undefined) throw partyNotFound(key);
  return toParty(row);
}

/** The Duchy whose root certificate has this SKID (a client certificate's AKID), if any. */
export async function findDuchyByRootSkid(ctx: ReadContext, skid: Uint8Array): Promise<PartyRecord | null> {
  requireBytes(skid, 'subject_key_identifier');
  const rows = await ctx.tx.query<PartyFullRow>(
    `${PARTY_SELECT} WHERE p.kind = 'DUCHY' AND p.root_subject_key_identifier = $1`,
    [skid],
  );
  const row = rows[0];
  return row === undefined ? null : toParty(row);
}

/** Every participant's root certificate, once each: the client roots the TLS layer trusts. */
export async function listParticipantRoots(ctx: ReadContext): Promise<Uint8Array[]> {
  const rows = await ctx.tx.query<{ root_certificate_der: Uint8Array }>('SELECT DISTINCT root_certificate_der FROM parties');
  return rows.map((r) => r.root_certificate_der);
}

export interface UpdatePublicKeyInput {
  readonly actor: AuditActor;
  readonly owner: PartyKey;
  /** External id of a certificate of the same owner. */
  readonly certificateId: bigint;
  readonly publicKey: PublicKeyInput;
  /**
   * Strict mode: refuse a certificate that is on hold, revoked, expired or
   * not yet valid, checked under a lock so a concurrent revocation cannot
   * slip between the check and the write.
   */
  readonly requireValidCertificate?: boolean;
}

/** §2.7: overwrites the key and re-points it at the named certificate of the same owner. */
export async function updatePublicKey(ctx: WriteContext, input: UpdatePublicKeyInput): Promise<PartyRecord> {
  const owner = requireKey(input.owner);
  if (!HAS_PUBLIC_KEY[owner.kind]) throw invalidArgument(`a ${owner.kind} has no encryption public key`);
  requireExternalId(input.certificateId, 'certificate id');
  validatePublicKey(input.publicKey);
  const w = partyWhere(owner, 1);
  const rows = await ctx.tx.query<PartyFullRow>(`${PARTY_SELECT} WHERE ${w.sql} FOR UPDATE OF p`, w.params);
  const row = rows[0];
  if (row === undefined) throw partyNotFound(owner);
  const before = toParty(row);
  const cert = await findCertificateRow(
    ctx.tx,
    owner,
    input.certificateId,
    input.requireValidCertificate === true ? 'FOR SHARE OF c' : '',
  );
  if (cert === null) throw certificateNotFound(owner, input.certificateId, 'FAILED_PRECONDITION');
  if (input.requireValidCertificate === true && !isCertificateValidAt(toCertificate(cert), ctx.now)) {
    throw certificateInvalid(owner, input.certificateId);
  }
  const k = input.publicKey;
  await ctx.tx.query(
    `UPDATE parties SET public_key = $2, public_key_signature = $3, public_key_signature_algorithm_oid = $4,
       public_key_api_version = $5, public_key_certificate_id = $6, update_time = $7 WHERE party_id = $1`,
    [row.party_id, k.publicKey, k.signature, k.signatureAlgorithmOid, k.apiVersion, cert.certificate_id, ctx.now],
  );
  ctx.audit(
    input.actor,
    'UpdatePublicKey',
    publicKeyName(owner),
    publicKeyJson(owner, before.publicKey?.certificateId ?? null, before.publicKey),
    publicKeyJson(owner, input.certificateId, k),
  );
  return {
    ...before,
    publicKey: {
      publicKey: k.publicKey,
      signature: k.signature,
      signatureAlgorithmOid: k.signatureAlgorithmOid,
      apiVersion: k.apiVersion,
      certificateId: input.certificateId,
    },
    updateTime: ctx.now,
  };
}

export const partyOperations = {
  createParty: write(createParty),
  getParty: read(getParty),
  findDuchyByRootSkid: read(findDuchyByRootSkid),
  listParticipantRoots: read(listParticipantRoots),
  updatePublicKey: write(updatePublicKey),
};
