/**
 * Accounts and what they own: upstream's account flow. An Account is
 * created (by the operator, or by an activated Account) with a one-time
 * activation token, activated once with an OpenID Connect identity, and
 * then owns MeasurementConsumers: the one it was created to own, those it
 * creates with a creation token the operator issued, and those an owner adds
 * it to. Tokens are kept as SHA-256 only.
 */
import { createHash } from 'node:crypto';
import type { AuditActor } from './audit.js';
import { type ReadContext, type WriteContext, partyNotFound, requireExternalId } from './context.js';
import { StoreError } from './errors.js';
import { apiId, generateExternalId, generateRandomPositiveInt64, int64Bytes } from './ids.js';
import { partyName } from './names.js';
import { read, snapshot, write } from './operations.js';
import { createParty } from './parties.js';
import { type CertificateInput, type CertificateRecord, type PartyRecord, type PublicKeyInput, measurementConsumer } from './records.js';

export type AccountActivationState = 'UNACTIVATED' | 'ACTIVATED';

export interface OpenIdConnectIdentity {
  readonly issuer: string;
  readonly subject: string;
}

export interface AccountRecord {
  readonly externalAccountId: bigint;
  readonly externalCreatorAccountId: bigint | null;
  readonly activationState: AccountActivationState;
  /** The MeasurementConsumer activation makes it an owner of. */
  readonly externalOwnedMeasurementConsumerId: bigint | null;
  /** Every MeasurementConsumer it owns now, sorted. */
  readonly ownedMeasurementConsumerIds: readonly bigint[];
  readonly identity: OpenIdConnectIdentity | null;
}

/** One-time tokens (activation, MeasurementConsumer creation) are 8 random bytes kept as this hash. */
const tokenHash = (token: bigint): Uint8Array => new Uint8Array(createHash('sha256').update(int64Bytes(token)).digest());

const accountName = (id: bigint) => `accounts/${apiId(id)}`;

const accountNotFound = (id: bigint, code: 'NOT_FOUND' | 'FAILED_PRECONDITION' = 'NOT_FOUND') =>
  new StoreError(code, 'ACCOUNT_NOT_FOUND', 'Account not found.', { metadata: { account: accountName(id) } });

const permissionDenied = (message: string, code: 'PERMISSION_DENIED' | 'FAILED_PRECONDITION' = 'PERMISSION_DENIED') =>
  new StoreError(code, 'PERMISSION_DENIED', message);

interface AccountRow {
  account_id: bigint;
  external_account_id: bigint;
  creator: bigint | null;
  owned: bigint | null;
  activation_state: AccountActivationState;
  activation_token_hash: Uint8Array;
  open_id_issuer: string | null;
  open_id_subject: string | null;
}

const ACCOUNT_SELECT = `SELECT a.account_id, a.external_account_id, c.external_account_id AS creator, mc.external_id AS owned,
  a.activation_state, a.activation_token_hash, a.open_id_issuer, a.open_id_subject
  FROM accounts a LEFT JOIN accounts c ON c.account_id = a.creator_account_id
  LEFT JOIN parties mc ON mc.party_id = a.owned_measurement_consumer_id`;

async function findAccount(ctx: ReadContext, where: string, params: unknown[], lock = ''): Promise<AccountRow | undefined> {
  const rows = await ctx.tx.query<AccountRow>(`${ACCOUNT_SELECT} WHERE ${where} ${lock}`, params);
  return rows[0];
}

async function toAccount(ctx: ReadContext, r: AccountRow): Promise<AccountRecord> {
  const owned = await ctx.tx.query<{ external_id: bigint }>(
    `SELECT p.external_id FROM measurement_consumer_owners o JOIN parties p ON p.party_id = o.measurement_consumer_id
      WHERE o.account_id = $1 ORDER BY p.external_id`,
    [r.account_id],
  );
  return {
    externalAccountId: r.external_account_id,
    externalCreatorAccountId: r.creator,
    activationState: r.activation_state,
    externalOwnedMeasurementConsumerId: r.owned,
    ownedMeasurementConsumerIds: owned.map((o) => o.external_id),
    identity: r.open_id_issuer !== null && r.open_id_subject !== null ? { issuer: r.open_id_issuer, subject: r.open_id_subject } : null,
  };
}

async function requireAccount(ctx: ReadContext, externalAccountId: bigint, code?: 'FAILED_PRECONDITION', lock = ''): Promise<AccountRow> {
  requireExternalId(externalAccountId, 'account id');
  const row = await findAccount(ctx, 'a.external_account_id = $1', [externalAccountId], lock);
  if (row === undefined) throw accountNotFound(externalAccountId, code);
  return row;
}

async function requireMeasurementConsumerId(ctx: ReadContext, id: bigint, lock = ''): Promise<bigint> {
  requireExternalId(id, 'measurement consumer id');
  const rows = await ctx.tx.query<{ party_id: bigint }>(
    `SELECT party_id FROM parties WHERE kind = 'MEASUREMENT_CONSUMER' AND external_id = $1 ${lock}`,
    [id],
  );
  if (rows[0] === undefined) throw partyNotFound(measurementConsumer(id));
  return rows[0].party_id;
}

async function owns(ctx: ReadContext, accountId: bigint, mcPartyId: bigint): Promise<boolean> {
  const rows = await ctx.tx.query('SELECT 1 FROM measurement_consumer_owners WHERE account_id = $1 AND measurement_consumer_id = $2', [
    accountId,
    mcPartyId,
  ]);
  return rows.length > 0;
}

export interface CreateAccountInput {
  readonly actor: AuditActor;
  /** The activated Account that creates it; absent when the operator does. */
  readonly externalCreatorAccountId?: bigint;
  /** A MeasurementConsumer the creator owns (any, for the operator) that the new Account will own once activated. */
  readonly externalOwnedMeasurementConsumerId?: bigint;
}

/** Returns the activation token once; only its hash is kept. */
export async function createAccount(ctx: WriteContext, input: CreateAccountInput): Promise<{ account: AccountRecord; activationToken: bigint }> {
  let creatorId: bigint | null = null;
  if (input.externalCreatorAccountId !== undefined) creatorId = (await requireAccount(ctx, input.externalCreatorAccountId)).account_id;
  let ownedId: bigint | null = null;
  if (input.externalOwnedMeasurementConsumerId !== undefined) {
    ownedId = await requireMeasurementConsumerId(ctx, input.externalOwnedMeasurementConsumerId);
    if (creatorId !== null && !(await owns(ctx, creatorId, ownedId))) {
      throw permissionDenied("The creating Account doesn't own that MeasurementConsumer");
    }
  }
  const activationToken = generateRandomPositiveInt64();
  for (;;) {
    const id = generateExternalId(ctx.now);
    const rows = await ctx.tx.query<{ account_id: bigint }>(
      `INSERT INTO accounts (external_account_id, creator_account_id, owned_measurement_consumer_id, activation_state,
         activation_token_hash, create_time, update_time)
       VALUES ($1, $2, $3, 'UNACTIVATED', $4, $5, $5)
       ON CONFLICT ON CONSTRAINT accounts_external_id DO NOTHING RETURNING account_id`,
      [id, creatorId, ownedId, tokenHash(activationToken), ctx.now],
    );
    if (rows[0] === undefined) continue;
    const owned = input.externalOwnedMeasurementConsumerId;
    ctx.audit(input.actor, 'CreateAccount', accountName(id), null, {
      creator: input.externalCreatorAccountId === undefined ? null : accountName(input.externalCreatorAccountId),
      ownedMeasurementConsumer: owned === undefined ? null : partyName(measurementConsumer(owned)),
    });
    return {
      account: {
        externalAccountId: id,
        externalCreatorAccountId: input.externalCreatorAccountId ?? null,
        activationState: 'UNACTIVATED',
        externalOwnedMeasurementConsumerId: owned ?? null,
        ownedMeasurementConsumerIds: [],
        identity: null,
      },
      activationToken,
    };
  }
}

export interface ActivateAccountInput {
  readonly actor: AuditActor;
  readonly externalAccountId: bigint;
  readonly activationToken: bigint;
  readonly identity: OpenIdConnectIdentity;
}

/**
 * Binds the identity to the account, once: a wrong token is PERMISSION_DENIED,
 * an identity already bound or an account already activated FAILED_PRECONDITION.
 */
export async function activateAccount(ctx: WriteContext, input: ActivateAccountInput): Promise<AccountRecord> {
  const { issuer, subject } = input.identity;
  const taken = await findAccount(ctx, 'a.open_id_issuer = $1 AND a.open_id_subject = $2', [issuer, subject]);
  if (taken !== undefined) {
    throw new StoreError('FAILED_PRECONDITION', 'DUPLICATE_ACCOUNT_IDENTITY', 'This identity already authenticates an Account');
  }
  const row = await requireAccount(ctx, input.externalAccountId, undefined, 'FOR UPDATE OF a');
  if (!Buffer.from(row.activation_token_hash).equals(tokenHash(input.activationToken))) {
    throw permissionDenied('Activation token is not valid for this Account');
  }
  if (row.activation_state === 'ACTIVATED') {
    throw new StoreError('FAILED_PRECONDITION', 'ACCOUNT_ACTIVATION_STATE_ILLEGAL', 'Account has already been activated', {
      metadata: { account: accountName(input.externalAccountId), state: row.activation_state },
    });
  }
  await ctx.tx.query(
    `UPDATE accounts SET activation_state = 'ACTIVATED', open_id_issuer = $2, open_id_subject = $3, update_time = $4 WHERE account_id = $1`,
    [row.account_id, issuer, subject, ctx.now],
  );
  if (row.owned !== null) {
    const mc = await requireMeasurementConsumerId(ctx, row.owned);
    await ctx.tx.query('INSERT INTO measurement_consumer_owners (account_id, measurement_consumer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [
      row.account_id,
      mc,
    ]);
  }
  ctx.audit(input.actor, 'ActivateAccount', accountName(input.externalAccountId), { activationState: 'UNACTIVATED' }, {
    activationState: 'ACTIVATED',
    issuer,
    subject,
  });
  return toAccount(ctx, { ...row, activation_state: 'ACTIVATED', open_id_issuer: issuer, open_id_subject: subject });
}

/** Moves an activated Account to a new identity, which no Account may have yet. */
export async function replaceAccountIdentity(
  ctx: WriteContext,
  input: { actor: AuditActor; externalAccountId: bigint; identity: OpenIdConnectIdentity },
): Promise<AccountRecord> {
  const { issuer, subject } = input.identity;
  if ((await findAccount(ctx, 'a.open_id_issuer = $1 AND a.open_id_subject = $2', [issuer, subject])) !== undefined) {
    throw new StoreError('FAILED_PRECONDITION', 'DUPLICATE_ACCOUNT_IDENTITY', 'This identity already authenticates an Account');
  }
  const row = await requireAccount(ctx, input.externalAccountId, undefined, 'FOR UPDATE OF a');
  if (row.activation_state !== 'ACTIVATED') {
    throw new StoreError('FAILED_PRECONDITION', 'ACCOUNT_ACTIVATION_STATE_ILLEGAL', 'Account has not been activated yet', {
      metadata: { account: accountName(input.externalAccountId), state: row.activation_state },
    });
  }
  await ctx.tx.query('UPDATE accounts SET open_id_issuer = $2, open_id_subject = $3, update_time = $4 WHERE account_id = $1', [
    row.account_id,
    issuer,
    subject,
    ctx.now,
  ]);
  ctx.audit(input.actor, 'ReplaceAccountIdentity', accountName(input.externalAccountId), { issuer: row.open_id_issuer, subject: row.open_id_subject }, {
    issuer,
    subject,
  });
  return toAccount(ctx, { ...row, open_id_issuer: issuer, open_id_subject: subject });
}

/** The activated Account this identity authenticates, or null. */
export async function authenticateAccount(ctx: ReadContext, identity: OpenIdConnectIdentity): Promise<AccountRecord | null> {
  const row = await findAccount(ctx, 'a.open_id_issuer = $1 AND a.open_id_subject = $2', [identity.issuer, identity.subject]);
  return row === undefined ? null : toAccount(ctx, row);
}

/** Returns the token once; only its hash is kept. */
export async function createMeasurementConsumerCreationToken(ctx: WriteContext, { actor }: { actor: AuditActor }): Promise<bigint> {
  const token = generateRandomPositiveInt64();
  const hash = tokenHash(token);
  await ctx.tx.query('INSERT INTO measurement_consumer_creation_tokens (token_hash, create_time) VALUES ($1, $2)', [hash, ctx.now]);
  ctx.audit(actor, 'CreateMeasurementConsumerCreationToken', `measurementConsumerCreationTokens/${Buffer.from(hash).toString('hex').slice(0, 16)}`, null, {});
  return token;
}

export interface CreateMeasurementConsumerForAccountInput {
  readonly actor: AuditActor;
  readonly externalAccountId: bigint;
  readonly creationToken: bigint;
  readonly displayName?: string;
  readonly certificate: CertificateInput;
  readonly publicKey: PublicKeyInput;
}

/**
 * Consumes the creation token (an unknown or used one is PERMISSION_DENIED),
 * requires the Account to be activated (FAILED_PRECONDITION otherwise),
 * creates the MeasurementConsumer without a root and makes the Account its
 * owner, all in one transaction: a refusal consumes nothing.
 */
export async function createMeasurementConsumerForAccount(
  ctx: WriteContext,
  input: CreateMeasurementConsumerForAccountInput,
): Promise<{ party: PartyRecord; certificate: CertificateRecord }> {
  const deleted = await ctx.tx.query('DELETE FROM measurement_consumer_creation_tokens WHERE token_hash = $1 RETURNING 1', [
    tokenHash(input.creationToken),
  ]);
  if (deleted.length === 0) throw permissionDenied('measurement_consumer_creation_token is not valid');
  const account = await requireAccount(ctx, input.externalAccountId, 'FAILED_PRECONDITION');
  if (account.activation_state !== 'ACTIVATED') {
    throw new StoreError('FAILED_PRECONDITION', 'ACCOUNT_ACTIVATION_STATE_ILLEGAL', 'Account has not been activated yet', {
      metadata: { account: accountName(input.externalAccountId), state: account.activation_state },
    });
  }
  const created = await createParty(ctx, {
    actor: input.actor,
    kind: 'MEASUREMENT_CONSUMER',
    rootCertificateDer: null,
    rootSubjectKeyIdentifier: null,
    certificate: input.certificate,
    publicKey: input.publicKey,
    ...(input.displayName === undefined ? {} : { displayName: input.displayName }),
  });
  const mc = created.party.key.id as bigint;
  await ctx.tx.query('INSERT INTO measurement_consumer_owners (account_id, measurement_consumer_id) VALUES ($1, $2)', [
    account.account_id,
    await requireMeasurementConsumerId(ctx, mc),
  ]);
  ctx.audit(input.actor, 'AddMeasurementConsumerOwner', partyName(measurementConsumer(mc)), null, { owner: accountName(input.externalAccountId) });
  return created;
}

export interface ChangeOwnerInput {
  readonly actor: AuditActor;
  /** The Account that calls: it must own the MeasurementConsumer (PERMISSION_DENIED otherwise). */
  readonly externalCallerAccountId: bigint;
  readonly externalMeasurementConsumerId: bigint;
  readonly externalAccountId: bigint;
}

/** Adds an owner; adding one twice changes nothing. */
export async function addMeasurementConsumerOwner(ctx: WriteContext, input: ChangeOwnerInput): Promise<void> {
  const { account, mc } = await ownerChange(ctx, input);
  const added = await ctx.tx.query(
    'INSERT INTO measurement_consumer_owners (account_id, measurement_consumer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1',
    [account, mc],
  );
  if (added.length > 0) {
    ctx.audit(input.actor, 'AddMeasurementConsumerOwner', partyName(measurementConsumer(input.externalMeasurementConsumerId)), null, {
      owner: accountName(input.externalAccountId),
    });
  }
}

/** Removes an owner; an account that is not one is FAILED_PRECONDITION. */
export async function removeMeasurementConsumerOwner(ctx: WriteContext, input: ChangeOwnerInput): Promise<void> {
  const { account, mc } = await ownerChange(ctx, input);
  const removed = await ctx.tx.query(
    'DELETE FROM measurement_consumer_owners WHERE account_id = $1 AND measurement_consumer_id = $2 RETURNING 1',
    [account, mc],
  );
  if (removed.length === 0) throw permissionDenied("That Account doesn't own the MeasurementConsumer", 'FAILED_PRECONDITION');
  ctx.audit(input.actor, 'RemoveMeasurementConsumerOwner', partyName(measurementConsumer(input.externalMeasurementConsumerId)), {
    owner: accountName(input.externalAccountId),
  }, null);
}

/** Checks, with the MeasurementConsumer's row locked, that the caller owns it; finds the other account. */
async function ownerChange(ctx: WriteContext, input: ChangeOwnerInput): Promise<{ account: bigint; mc: bigint }> {
  const mc = await requireMeasurementConsumerId(ctx, input.externalMeasurementConsumerId, 'FOR UPDATE');
  const caller = await requireAccount(ctx, input.externalCallerAccountId);
  if (!(await owns(ctx, caller.account_id, mc))) throw permissionDenied("Account doesn't own MeasurementConsumer");
  const account = await requireAccount(ctx, input.externalAccountId, 'FAILED_PRECONDITION');
  return { account: account.account_id, mc };
}

/** The external ids of the Accounts that own a MeasurementConsumer, ascending (MeasurementConsumer.owners). */
export async function listMeasurementConsumerOwners(ctx: ReadContext, externalMeasurementConsumerId: bigint): Promise<bigint[]> {
  const rows = await ctx.tx.query<{ external_account_id: bigint }>(
    `SELECT a.external_account_id FROM measurement_consumer_owners o
       JOIN accounts a ON a.account_id = o.account_id
       JOIN parties mc ON mc.party_id = o.measurement_consumer_id
      WHERE mc.kind = 'MEASUREMENT_CONSUMER' AND mc.external_id = $1
      ORDER BY a.external_account_id`,
    [externalMeasurementConsumerId],
  );
  return rows.map((r) => r.external_account_id);
}

/**
 * Anyone may start an OpenID request, so nothing is audited; rows past
 * their expiry are deleted as new ones come, so unanswered requests cannot
 * pile up.
 */
export async function createOpenIdRequestParams(
  ctx: WriteContext,
  { validForMs }: { actor: AuditActor; validForMs: number },
): Promise<{ state: bigint; nonce: bigint }> {
  await ctx.tx.query('DELETE FROM open_id_request_params WHERE expire_time < $1', [ctx.now]);
  const nonce = generateRandomPositiveInt64();
  for (;;) {
    const state = generateRandomPositiveInt64();
    const rows = await ctx.tx.query(
      'INSERT INTO open_id_request_params (state, nonce, expire_time) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1',
      [state, nonce, new Date(ctx.now.getTime() + validForMs)],
    );
    if (rows.length > 0) return { state, nonce };
  }
}

/** The nonce issued with `state` while it is unexpired, or null. */
export async function findOpenIdNonce(ctx: ReadContext, state: bigint): Promise<bigint | null> {
  const rows = await ctx.tx.query<{ nonce: bigint }>('SELECT nonce FROM open_id_request_params WHERE state = $1 AND expire_time > $2', [
    state,
    ctx.now,
  ]);
  return rows[0]?.nonce ?? null;
}

export const accountOperations = {
  createAccount: write(createAccount),
  activateAccount: write(activateAccount),
  replaceAccountIdentity: write(replaceAccountIdentity),
  authenticateAccount: snapshot(authenticateAccount),
  createMeasurementConsumerCreationToken: write(createMeasurementConsumerCreationToken),
  createMeasurementConsumerForAccount: write(createMeasurementConsumerForAccount),
  addMeasurementConsumerOwner: write(addMeasurementConsumerOwner),
  removeMeasurementConsumerOwner: write(removeMeasurementConsumerOwner),
  listMeasurementConsumerOwners: read(listMeasurementConsumerOwners),
  createOpenIdRequestParams: write(createOpenIdRequestParams),
  findOpenIdNonce: read(findOpenIdNonce),
};
