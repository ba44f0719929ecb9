/** Authentication data: MeasurementConsumer API keys, and the map from a client certificate's AKID to its principal. */
import { createHash } from 'node:crypto';
import type { AuditActor } from './audit.js';
import { type ReadContext, type WriteContext, invalidArgument, partyNotFound, requireBytes, requireExternalId } from './context.js';
import { StoreError } from './errors.js';
import { generateRandomPositiveInt64, insertWithExternalId, int64Bytes } from './ids.js';
import { hex } from '../../lib/bytes.js';
import { akidName, apiKeyName, partyName } from './names.js';
import { read, write } from './operations.js';
import { type AkidPrincipalRecord, type ApiKeyRecord, duchy, measurementConsumer } from './records.js';

/** Upstream hashes the 8-byte big-endian key, so the key itself is never stored. */
export const apiKeyHash = (authenticationKey: bigint): Uint8Array =>
  new Uint8Array(createHash('sha256').update(int64Bytes(authenticationKey)).digest());

export interface CreateApiKeyInput {
  readonly actor: AuditActor;
  readonly measurementConsumerId: bigint;
  readonly nickname?: string;
  readonly description?: string;
}

/** Returns the authentication key once; only its hash is kept. */
export async function createApiKey(
  ctx: WriteContext,
  input: CreateApiKeyInput,
): Promise<{ apiKey: ApiKeyRecord; authenticationKey: bigint }> {
  const mc = requireExternalId(input.measurementConsumerId, 'measurement consumer id');
  const nickname = input.nickname ?? '';
  const description = input.description ?? '';
  if (typeof nickname !== 'string' || typeof description !== 'string') throw invalidArgument('INVALID_FIELD_VALUE', 'nickname and description are strings');
  const parties = await ctx.tx.query<{ party_id: bigint }>(
    `SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1`,
    [mc],
  );
  const partyId = parties[0]?.party_id;
  if (partyId === undefined) throw partyNotFound(measurementConsumer(mc));
  // A repeated hash among 2^63 random keys would be a broken generator; the
  // unique violation surfaces rather than being retried.
  const { externalId: id, inserted: key } = await insertWithExternalId(ctx.now, async (id) => {
    const key = generateRandomPositiveInt64();
    const rows = await ctx.tx.query<{ api_key_id: bigint }>(
      `INSERT INTO api_keys (measurement_consumer_id, external_api_key_id, nickname, description, authentication_key_hash,
         create_time)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT ON CONSTRAINT api_keys_external_id DO NOTHING RETURNING api_key_id`,
      [partyId, id, nickname, description, apiKeyHash(key), ctx.now],
    );
    return rows[0] === undefined ? undefined : key;
  });
  ctx.audit(input.actor, 'CreateApiKey', apiKeyName(mc, id), null, { nickname, description });
  return {
    apiKey: { measurementConsumerId: mc, externalApiKeyId: id, nickname, description, createTime: ctx.now },
    authenticationKey: key,
  };
}

/** The API key (and its MeasurementConsumer) for an `x-api-key` value; null when unknown. */
export async function authenticateApiKey(ctx: ReadContext, authenticationKey: bigint): Promise<ApiKeyRecord | null> {
  if (typeof authenticationKey !== 'bigint' || authenticationKey <= 0n || authenticationKey >= 1n << 64n) return null;
  const rows = await ctx.tx.query<{
    mc: bigint;
    external_api_key_id: bigint;
    nickname: string;
    description: string;
    create_time: Date;
  }>(
    `SELECT mc.external_id AS mc, k.external_api_key_id, k.nickname, k.description, k.create_time
       FROM api_keys k JOIN parties mc ON mc.party_id = k.measurement_consumer_id
      WHERE k.authentication_key_hash = $1`,
    [apiKeyHash(authenticationKey)],
  );
  const r = rows[0];
  if (r === undefined) return null;
  return {
    measurementConsumerId: r.mc,
    externalApiKeyId: r.external_api_key_id,
    nickname: r.nickname,
    description: r.description,
    createTime: r.create_time,
  };
}

export async function deleteApiKey(
  ctx: WriteContext,
  input: { actor: AuditActor; measurementConsumerId: bigint; externalApiKeyId: bigint },
): Promise<void> {
  const { actor, measurementConsumerId: mc, externalApiKeyId: id } = input;
  requireExternalId(mc, 'measurement consumer id');
  requireExternalId(id, 'api key id');
  const rows = await ctx.tx.query<{ nickname: string }>(
    `DELETE FROM api_keys k USING parties mc
      WHERE mc.party_id = k.measurement_consumer_id AND mc.kind = 'MEASUREMENT_CONSUMER' AND mc.external_id = $1
        AND k.external_api_key_id = $2
      RETURNING k.nickname`,
    [mc, id],
  );
  if (rows[0] === undefined) throw new StoreError('NOT_FOUND', 'API_KEY_NOT_FOUND', 'ApiKey not found.');
  ctx.audit(actor, 'DeleteApiKey', apiKeyName(mc, id), { nickname: rows[0].nickname }, null);
}

// ---------------------------------------------------------------- AKID → principal

/** First path segments of the principals upstream's AKID map can name. */
const PRINCIPAL_NAME = /^(dataProviders|modelProviders|measurementConsumers|accounts|duchies)\/[A-Za-z0-9_-]+$/;

export interface SetAkidPrincipalInput {
  readonly actor: AuditActor;
  readonly authorityKeyIdentifier: Uint8Array;
  readonly principalResourceName: string;
}

/** Adds or replaces the principal a client certificate with this AKID authenticates as. */
export async function setAkidPrincipal(ctx: WriteContext, input: SetAkidPrincipalInput): Promise<AkidPrincipalRecord> {
  const akid = requireBytes(input.authorityKeyIdentifier, 'authority_key_identifier');
  if (typeof input.principalResourceName !== 'string' || !PRINCIPAL_NAME.test(input.principalResourceName)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'principal_resource_name is not a principal resource name');
  }
  const before = await ctx.tx.query<{ principal_resource_name: string }>(
    'SELECT principal_resource_name FROM akid_principals WHERE authority_key_identifier = $1 FOR UPDATE',
    [akid],
  );
  await ctx.tx.query(
    `INSERT INTO akid_principals (authority_key_identifier, principal_resource_name, create_time) VALUES ($1, $2, $3)
     ON CONFLICT (authority_key_identifier) DO UPDATE SET principal_resource_name = EXCLUDED.principal_resource_name,
       create_time = EXCLUDED.create_time`,
    [akid, input.principalResourceName, ctx.now],
  );
  const prev = before[0]?.principal_resource_name;
  ctx.audit(
    input.actor,
    'SetAkidPrincipal',
    akidName(akid),
    prev === undefined ? null : { principal: prev },
    { principal: input.principalResourceName },
  );
  return { authorityKeyIdentifier: akid, principalResourceName: input.principalResourceName, createTime: ctx.now };
}

/**
 * Maps a newly registered root to its party, refusing a root that already
 * authenticates someone: unlike `setAkidPrincipal`, never a replacement.
 */
export async function mapNewRoot(ctx: WriteContext, actor: AuditActor, rootSkid: Uint8Array, principalResourceName: string): Promise<void> {
  const inserted = await ctx.tx.query(
    `INSERT INTO akid_principals (authority_key_identifier, principal_resource_name, create_time) VALUES ($1, $2, $3)
     ON CONFLICT (authority_key_identifier) DO NOTHING RETURNING 1`,
    [rootSkid, principalResourceName, ctx.now],
  );
  if (inserted.length === 0) {
    const existing = await ctx.tx.query<{ principal_resource_name: string }>(
      'SELECT principal_resource_name FROM akid_principals WHERE authority_key_identifier = $1',
      [rootSkid],
    );
    throw new StoreError('ALREADY_EXISTS', 'ROOT_CERTIFICATE_ALREADY_REGISTERED', 'This root certificate already authenticates another principal', {
      metadata: { principal: existing[0]?.principal_resource_name ?? '', rootSubjectKeyIdentifier: hex(rootSkid) },
    });
  }
  ctx.audit(actor, 'SetAkidPrincipal', akidName(rootSkid), null, { principal: principalResourceName });
}

export async function removeAkidPrincipal(
  ctx: WriteContext,
  input: { actor: AuditActor; authorityKeyIdentifier: Uint8Array },
): Promise<void> {
  const { actor, authorityKeyIdentifier: akid } = input;
  requireBytes(akid, 'authority_key_identifier');
  const rows = await ctx.tx.query<{ principal_resource_name: string }>(
    'DELETE FROM akid_principals WHERE authority_key_identifier = $1 RETURNING principal_resource_name',
    [akid],
  );
  if (rows[0] === undefined) {
    throw new StoreError('NOT_FOUND', 'AKID_PRINCIPAL_NOT_FOUND', 'No principal is mapped to that authority key identifier.', {
      metadata: { authorityKeyIdentifier: hex(akid) },
    });
  }
  ctx.audit(actor, 'RemoveAkidPrincipal', akidName(akid), { principal: rows[0].principal_resource_name }, null);
}

export async function listAkidPrincipals(ctx: ReadContext): Promise<AkidPrincipalRecord[]> {
  const rows = await ctx.tx.query<{ authority_key_identifier: Uint8Array; principal_resource_name: string; create_time: Date }>(
    'SELECT authority_key_identifier, principal_resource_name, create_time FROM akid_principals ORDER BY authority_key_identifier',
  );
  return rows.map((r) => ({
    authorityKeyIdentifier: r.authority_key_identifier,
    principalResourceName: r.principal_resource_name,
    createTime: r.create_time,
  }));
}

/**
 * Upstream's `AkidPrincipalLookup`: the configured map first, then a Duchy
 * whose root SKID equals the AKID. Returns the principal resource name or null.
 */
export async function lookupAkidPrincipal(ctx: ReadContext, akid: Uint8Array): Promise<string | null> {
  if (!(akid instanceof Uint8Array) || akid.length === 0) return null;
  const rows = await ctx.tx.query<{ name: string | null; duchy_id: string | null }>(
    `SELECT (SELECT principal_resource_name FROM akid_principals WHERE authority_key_identifier = $1) AS name,
            (SELECT duchy_id FROM parties WHERE kind = 'DUCHY' AND root_subject_key_identifier = $1) AS duchy_id`,
    [akid],
  );
  const r = rows[0];
  if (r?.name != null) return r.name;
  if (r?.duchy_id != null) return partyName(duchy(r.duchy_id));
  return null;
}

export const authOperations = {
  createApiKey: write(createApiKey),
  authenticateApiKey: read(authenticateApiKey),
  deleteApiKey: write(deleteApiKey),
  setAkidPrincipal: write(setAkidPrincipal),
  removeAkidPrincipal: write(removeAkidPrincipal),
  listAkidPrincipals: read(listAkidPrincipals),
  lookupAkidPrincipal: read(lookupAkidPrincipal),
};
