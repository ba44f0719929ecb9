import { type Clock, systemClock } from '../../lib/clock.js';
import {
  type AuditActor,
  type AuditChainVerification,
  type AuditEntry,
  type AuditEvent,
  type AuditExportOptions,
  type PreparedAuditEvent,
  exportAudit,
  verifyAuditChain,
} from './audit.js';
import {
  type AccountRecord,
  type ActivateAccountInput,
  type ChangeOwnerInput,
  type CreateAccountInput,
  type CreateMeasurementConsumerForAccountInput,
  type OpenIdConnectIdentity,
  activateAccount,
  addMeasurementConsumerOwner,
  authenticateAccount,
  createAccount,
  createMeasurementConsumerCreationToken,
  createMeasurementConsumerForAccount,
  createOpenIdRequestParams,
  findOpenIdNonce,
  getAccount,
  removeMeasurementConsumerOwner,
} from './accounts.js';
import { CertificateCache, isCertificateName } from './certificate-cache.js';
import {
  type CreateApiKeyInput,
  type SetAkidPrincipalInput,
  authenticateApiKey,
  createApiKey,
  deleteApiKey,
  listAkidPrincipals,
  lookupAkidPrincipal,
  removeAkidPrincipal,
  setAkidPrincipal,
} from './auth.js';
import {
  type ListCertificatesOptions,
  type RevokeCertificateResult,
  certificateBlastRadius,
  createCertificate,
  getCertificate,
  listCertificates,
  releaseCertificateHold,
  revokeCertificate,
} from './certificates.js';
import { type ReadContext, type WriteContext, requireActor, requireExternalId, requireKey } from './context.js';
import {
  type DataAvailabilityEntry,
  type DataProviderSettings,
  getDataProviderSettings,
  replaceDataAvailabilityIntervals,
  replaceDataProviderSetting,
  replaceRequiredDuchies,
} from './data-provider-settings.js';
import { type Database, openDatabase } from './database.js';
import { translateDatabaseError } from './driver-errors.js';
import {
  type CreateEventGroupInput,
  type CreateReencryptionRequestInput,
  type ListEventGroupsOptions,
  type UpdateEventGroupInput,
  closeMetadataReencryptionRequest,
  createEventGroup,
  createMetadataReencryptionRequest,
  deleteEventGroup,
  getEventGroup,
  listEventGroups,
  listOpenMetadataReencryptionRequests,
  updateEventGroup,
} from './event-groups.js';
import {
  type CreateMeasurementInput,
  type FulfillDirectRequisitionInput,
  type ListMeasurementsOptions,
  type ListRequisitionsOptions,
  type RefuseRequisitionInput,
  cancelMeasurement,
  createMeasurement,
  fulfillDirectRequisition,
  getMeasurement,
  getRequisition,
  listMeasurements,
  listRequisitions,
  listUntrustedResults,
  refuseRequisition,
} from './measurements.js';
import { migrate } from './migrations.js';
import { certificateName } from './names.js';
import { WriteBatcher, type WriteBatchStats, type WriteBatchingOptions } from './write-batcher.js';
import {
  type CreatePartyInput,
  type UpdatePublicKeyInput,
  createParty,
  findDuchyByRootSkid,
  getParty,
  listParties,
  listParticipantRoots,
  updatePublicKey,
} from './parties.js';
import type {
  AkidPrincipalRecord,
  ApiKeyRecord,
  CertificateBlastRadius,
  CertificateCursor,
  CertificateInput,
  CertificateRecord,
  EventGroupCursor,
  EventGroupRecord,
  MeasurementRecord,
  MetadataReencryptionRequestRecord,
  Page,
  PartyKey,
  PartyKind,
  PartyRecord,
  RequisitionRecord,
  RevocationState,
  UntrustedResult,
} from './records.js';

/**
 * The Kingdom's storage: domain operations, each one transaction. Every
 * state change appends its audit entries in that same transaction. Errors are
 * `StoreError`s with upstream reason names.
 */
export interface KingdomStore {
  readonly dialect: Database['dialect'];

  // parties and public keys
  createParty(input: CreatePartyInput): Promise<{ party: PartyRecord; certificate: CertificateRecord }>;
  getParty(key: PartyKey): Promise<PartyRecord>;
  findDuchyByRootSkid(rootSubjectKeyIdentifier: Uint8Array): Promise<PartyRecord | null>;
  listParticipantRoots(): Promise<Uint8Array[]>;
  listParties(options: { kind: Exclude<PartyKind, 'DUCHY'>; limit?: number; after?: bigint }): Promise<Page<PartyRecord, bigint>>;
  updatePublicKey(input: UpdatePublicKeyInput): Promise<PartyRecord>;

  // DataProvider settings
  getDataProviderSettings(dataProviderId: bigint): Promise<DataProviderSettings>;
  replaceRequiredDuchies(input: { actor: AuditActor; dataProviderId: bigint; duchyIds: readonly string[] }): Promise<void>;
  replaceDataAvailabilityIntervals(input: { actor: AuditActor; dataProviderId: bigint; entries: readonly DataAvailabilityEntry[] }): Promise<void>;
  replaceDataProviderSetting(input: {
    actor: AuditActor;
    dataProviderId: bigint;
    setting: 'dataAvailabilityInterval' | 'capabilities';
    value: Uint8Array;
  }): Promise<void>;

  // accounts and MeasurementConsumer owners
  createAccount(input: CreateAccountInput): Promise<{ account: AccountRecord; activationToken: bigint }>;
  activateAccount(input: ActivateAccountInput): Promise<AccountRecord>;
  authenticateAccount(identity: OpenIdConnectIdentity): Promise<AccountRecord | null>;
  getAccount(externalAccountId: bigint): Promise<AccountRecord>;
  createMeasurementConsumerCreationToken(actor: AuditActor): Promise<bigint>;
  createMeasurementConsumerForAccount(
    input: CreateMeasurementConsumerForAccountInput,
  ): Promise<{ party: PartyRecord; certificate: CertificateRecord }>;
  addMeasurementConsumerOwner(input: ChangeOwnerInput): Promise<void>;
  removeMeasurementConsumerOwner(input: ChangeOwnerInput): Promise<void>;
  createOpenIdRequestParams(validForMs: number): Promise<{ state: bigint; nonce: bigint }>;
  findOpenIdNonce(state: bigint): Promise<bigint | null>;

  // certificates
  createCertificate(input: { actor: AuditActor; owner: PartyKey; certificate: CertificateInput }): Promise<CertificateRecord>;
  getCertificate(owner: PartyKey, externalCertificateId: bigint): Promise<CertificateRecord>;
  listCertificates(options: ListCertificatesOptions): Promise<Page<CertificateRecord, CertificateCursor>>;
  revokeCertificate(input: {
    actor: AuditActor;
    owner: PartyKey;
    externalCertificateId: bigint;
    revocationState: RevocationState;
  }): Promise<RevokeCertificateResult>;
  releaseCertificateHold(input: { actor: AuditActor; owner: PartyKey; externalCertificateId: bigint }): Promise<CertificateRecord>;
  certificateBlastRadius(owner: PartyKey, externalCertificateId: bigint): Promise<CertificateBlastRadius>;

  // event groups
  createEventGroup(input: CreateEventGroupInput): Promise<EventGroupRecord>;
  /** All in one transaction: every group is created, or none. */
  batchCreateEventGroups(input: { actor: AuditActor; inputs: readonly Omit<CreateEventGroupInput, 'actor'>[] }): Promise<EventGroupRecord[]>;
  getEventGroup(dataProviderId: bigint, externalEventGroupId: bigint): Promise<EventGroupRecord>;
  listEventGroups(options: ListEventGroupsOptions): Promise<Page<EventGroupRecord, EventGroupCursor>>;
  updateEventGroup(input: UpdateEventGroupInput): Promise<EventGroupRecord>;
  /** All in one transaction: every group is updated, or none. */
  batchUpdateEventGroups(input: { actor: AuditActor; inputs: readonly Omit<UpdateEventGroupInput, 'actor'>[] }): Promise<EventGroupRecord[]>;
  deleteEventGroup(input: {
    actor: AuditActor;
    dataProviderId: bigint;
    externalEventGroupId: bigint;
    expectedRevision?: bigint;
  }): Promise<EventGroupRecord>;
  createMetadataReencryptionRequest(input: CreateReencryptionRequestInput): Promise<MetadataReencryptionRequestRecord>;
  listOpenMetadataReencryptionRequests(dataProviderId: bigint): Promise<MetadataReencryptionRequestRecord[]>;
  closeMetadataReencryptionRequest(input: {
    actor: AuditActor;
    dataProviderId: bigint;
    externalRequestId: bigint;
  }): Promise<MetadataReencryptionRequestRecord>;

  // measurements and requisitions
  createMeasurement(input: CreateMeasurementInput): Promise<MeasurementRecord>;
  getMeasurement(measurementConsumerId: bigint, externalMeasurementId: bigint): Promise<MeasurementRecord>;
  listMeasurements(options: ListMeasurementsOptions): Promise<Page<MeasurementRecord, bigint>>;
  cancelMeasurement(input: {
    actor: AuditActor;
    measurementConsumerId: bigint;
    externalMeasurementId: bigint;
  }): Promise<MeasurementRecord>;
  getRequisition(dataProviderId: bigint, externalRequisitionId: bigint): Promise<RequisitionRecord>;
  listRequisitions(options: ListRequisitionsOptions): Promise<Page<RequisitionRecord, bigint>>;
  fulfillDirectRequisition(input: FulfillDirectRequisitionInput): Promise<RequisitionRecord>;
  refuseRequisition(input: RefuseRequisitionInput): Promise<RequisitionRecord>;
  listUntrustedResults(options?: { measurementConsumerId?: bigint; limit?: number }): Promise<UntrustedResult[]>;

  // authentication data
  createApiKey(input: CreateApiKeyInput): Promise<{ apiKey: ApiKeyRecord; authenticationKey: bigint }>;
  authenticateApiKey(authenticationKey: bigint): Promise<ApiKeyRecord | null>;
  deleteApiKey(input: { actor: AuditActor; measurementConsumerId: bigint; externalApiKeyId: bigint }): Promise<void>;
  setAkidPrincipal(input: SetAkidPrincipalInput): Promise<AkidPrincipalRecord>;
  removeAkidPrincipal(input: { actor: AuditActor; authorityKeyIdentifier: Uint8Array }): Promise<void>;
  listAkidPrincipals(): Promise<AkidPrincipalRecord[]>;
  lookupAkidPrincipal(authorityKeyIdentifier: Uint8Array): Promise<string | null>;

  // audit
  verifyAuditChain(): Promise<AuditChainVerification>;
  exportAudit(options?: AuditExportOptions): Promise<AuditEntry[]>;
  /** Records an operator action that changes no table (the admin token rotated). */
  recordAuditEvent(event: AuditEvent): Promise<void>;

  close(): Promise<void>;
}

export interface OpenKingdomStoreOptions {
  /** PGlite data directory (created if missing). Ignored when `databaseUrl` is set. */
  readonly dataDir?: string;
  /** `postgres://...`: use a PostgreSQL server (shared by replicas). */
  readonly databaseUrl?: string;
  readonly poolSize?: number;
  readonly clock?: Clock;
  /** How concurrent writes share transactions (group commit). */
  readonly writeBatching?: WriteBatchingOptions;
  /** Named in the PGlite directory's lock, for the message another process gets. */
  readonly holder?: string;
}

/** Opens the database, runs pending migrations, and returns the store. */
export async function openKingdomStore(options: OpenKingdomStoreOptions = {}): Promise<SqlKingdomStore> {
  const db = await openDatabase({ url: options.databaseUrl, dataDir: options.dataDir, poolSize: options.poolSize, holder: options.holder });
  try {
    await migrate(db);
  } catch (err) {
    await db.close().catch(() => {});
    throw translateDatabaseError(err);
  }
  const store = new SqlKingdomStore(db, options.clock ?? systemClock, options.writeBatching);
  await store.listenForCertificateChanges();
  return store;
}

/** The channel on which replicas tell each other which certificates changed. */
const CERTIFICATE_CHANGES_CHANNEL = 'halo_kingdom_certificate_changes';
/** Under PostgreSQL's 8000-byte NOTIFY payload limit. */
const MAX_NOTIFY_PAYLOAD = 7000;

/** Newline-joined names, in as few payloads as fit the limit. */
function notifyPayloads(names: readonly string[]): string[] {
  const payloads: string[] = [];
  let current = '';
  for (const name of names) {
    if (current && current.length + 1 + name.length > MAX_NOTIFY_PAYLOAD) {
      payloads.push(current);
      current = '';
    }
    current = current ? `${current}\n${name}` : name;
  }
  if (current) payloads.push(current);
  return payloads;
}

function changedCertificates(events: readonly PreparedAuditEvent[], existingOnly: boolean): string[] {
  return events.filter((e) => isCertificateName(e.resource) && (!existingOnly || e.before !== null)).map((e) => e.resource);
}

export class SqlKingdomStore implements KingdomStore {
  private readonly writes: WriteBatcher;
  /** Nothing is cached until `listenForCertificateChanges` hears other replicas. */
  readonly certificateCache = new CertificateCache({ enabled: false });

  constructor(
    /** The underlying database, for maintenance tools and tests. */
    readonly database: Database,
    private readonly clock: Clock,
    writeBatching?: WriteBatchingOptions,
  ) {
    this.writes = new WriteBatcher(database, clock, writeBatching, {
      // Other replicas only need to hear of certificates that existed before.
      beforeCommit: async (tx, events) => {
        if (database.dialect !== 'postgres') return;
        const payloads = notifyPayloads(changedCertificates(events, true));
        if (payloads.length > 0) {
          await tx.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [CERTIFICATE_CHANGES_CHANNEL, payloads]);
        }
      },
      afterCommit: (events) => {
        const names = changedCertificates(events, false);
        if (names.length > 0) this.certificateCache.invalidate(names);
      },
    });
  }

  /** Starts hearing other replicas' certificate changes; certificates are cached while it listens. */
  async listenForCertificateChanges(): Promise<void> {
    await this.database
      .listen(
        CERTIFICATE_CHANGES_CHANNEL,
        (payload) => this.certificateCache.invalidate(payload.split('\n')),
        (listening) => this.certificateCache.reset(listening),
      )
      // The listener keeps retrying; until it connects nothing is cached.
      .catch(() => {});
  }

  /** How writes have been grouped into transactions so far. */
  get writeStats(): Readonly<WriteBatchStats> {
    return { ...this.writes.stats };
  }

  get dialect(): Database['dialect'] {
    return this.database.dialect;
  }

  private async write<T>(actor: AuditActor, fn: (ctx: WriteContext) => Promise<T>): Promise<T> {
    requireActor(actor);
    try {
      return await this.writes.submit(fn);
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  /** A read of one query needs no transaction. */
  private async read<T>(fn: (ctx: ReadContext) => Promise<T>): Promise<T> {
    try {
      return await fn({ tx: this.database, now: this.clock.now() });
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  /** A read that assembles one answer from several queries sees a single snapshot. */
  private async readSnapshot<T>(fn: (ctx: ReadContext) => Promise<T>): Promise<T> {
    try {
      return await this.database.snapshot((tx) => fn({ tx, now: this.clock.now() }));
    } catch (err) {
      throw translateDatabaseError(err);
    }
  }

  createParty(input: CreatePartyInput) {
    return this.write(input.actor, (ctx) => createParty(ctx, input));
  }
  getParty(key: PartyKey) {
    return this.read((ctx) => getParty(ctx, key));
  }
  findDuchyByRootSkid(skid: Uint8Array) {
    return this.read((ctx) => findDuchyByRootSkid(ctx, skid));
  }
  listParticipantRoots() {
    return this.read(listParticipantRoots);
  }
  updatePublicKey(input: UpdatePublicKeyInput) {
    return this.write(input.actor, (ctx) => updatePublicKey(ctx, input));
  }
  listParties(options: { kind: Exclude<PartyKind, 'DUCHY'>; limit?: number; after?: bigint }) {
    return this.read((ctx) => listParties(ctx, options));
  }

  getDataProviderSettings(dp: bigint) {
    return this.readSnapshot((ctx) => getDataProviderSettings(ctx, dp));
  }
  replaceRequiredDuchies(input: { actor: AuditActor; dataProviderId: bigint; duchyIds: readonly string[] }) {
    return this.write(input.actor, (ctx) => replaceRequiredDuchies(ctx, input));
  }
  replaceDataAvailabilityIntervals(input: { actor: AuditActor; dataProviderId: bigint; entries: readonly DataAvailabilityEntry[] }) {
    return this.write(input.actor, (ctx) => replaceDataAvailabilityIntervals(ctx, input));
  }
  replaceDataProviderSetting(input: {
    actor: AuditActor;
    dataProviderId: bigint;
    setting: 'dataAvailabilityInterval' | 'capabilities';
    value: Uint8Array;
  }) {
    return this.write(input.actor, (ctx) => replaceDataProviderSetting(ctx, input));
  }

  createAccount(input: CreateAccountInput) {
    return this.write(input.actor, (ctx) => createAccount(ctx, input));
  }
  activateAccount(input: ActivateAccountInput) {
    return this.write(input.actor, (ctx) => activateAccount(ctx, input));
  }
  authenticateAccount(identity: OpenIdConnectIdentity) {
    return this.readSnapshot((ctx) => authenticateAccount(ctx, identity));
  }
  getAccount(id: bigint) {
    return this.readSnapshot((ctx) => getAccount(ctx, id));
  }
  createMeasurementConsumerCreationToken(actor: AuditActor) {
    return this.write(actor, (ctx) => createMeasurementConsumerCreationToken(ctx, actor));
  }
  createMeasurementConsumerForAccount(input: CreateMeasurementConsumerForAccountInput) {
    return this.write(input.actor, (ctx) => createMeasurementConsumerForAccount(ctx, input));
  }
  addMeasurementConsumerOwner(input: ChangeOwnerInput) {
    return this.write(input.actor, (ctx) => addMeasurementConsumerOwner(ctx, input));
  }
  removeMeasurementConsumerOwner(input: ChangeOwnerInput) {
    return this.write(input.actor, (ctx) => removeMeasurementConsumerOwner(ctx, input));
  }
  /** Anyone may start an OpenID request: the write names no principal and is not audited. */
  createOpenIdRequestParams(validForMs: number) {
    return this.write('openid-request', (ctx) => createOpenIdRequestParams(ctx, validForMs));
  }
  findOpenIdNonce(state: bigint) {
    return this.read((ctx) => findOpenIdNonce(ctx, state));
  }

  createCertificate(input: { actor: AuditActor; owner: PartyKey; certificate: CertificateInput }) {
    return this.write(input.actor, (ctx) => createCertificate(ctx, input.actor, input.owner, input.certificate));
  }
  async getCertificate(owner: PartyKey, id: bigint) {
    requireKey(owner);
    requireExternalId(id, 'certificate id');
    const name = certificateName(owner, id);
    const cached = this.certificateCache.get(name);
    if (cached) return cached;
    const generation = this.certificateCache.generation;
    const record = await this.read((ctx) => getCertificate(ctx, owner, id));
    this.certificateCache.fill(name, generation, record);
    return record;
  }
  listCertificates(options: ListCertificatesOptions) {
    return this.read((ctx) => listCertificates(ctx, options));
  }
  revokeCertificate(input: { actor: AuditActor; owner: PartyKey; externalCertificateId: bigint; revocationState: RevocationState }) {
    return this.write(input.actor, (ctx) =>
      revokeCertificate(ctx, input.actor, input.owner, input.externalCertificateId, input.revocationState),
    );
  }
  releaseCertificateHold(input: { actor: AuditActor; owner: PartyKey; externalCertificateId: bigint }) {
    return this.write(input.actor, (ctx) => releaseCertificateHold(ctx, input.actor, input.owner, input.externalCertificateId));
  }
  certificateBlastRadius(owner: PartyKey, id: bigint) {
    return this.readSnapshot((ctx) => certificateBlastRadius(ctx, owner, id));
  }

  createEventGroup(input: CreateEventGroupInput) {
    return this.write(input.actor, (ctx) => createEventGroup(ctx, input));
  }
  batchCreateEventGroups(input: { actor: AuditActor; inputs: readonly Omit<CreateEventGroupInput, 'actor'>[] }) {
    return this.write(input.actor, async (ctx) => {
      const created: EventGroupRecord[] = [];
      for (const one of input.inputs) created.push(await createEventGroup(ctx, { ...one, actor: input.actor }));
      return created;
    });
  }
  getEventGroup(dp: bigint, eg: bigint) {
    return this.read((ctx) => getEventGroup(ctx, dp, eg));
  }
  listEventGroups(options: ListEventGroupsOptions) {
    return this.read((ctx) => listEventGroups(ctx, options));
  }
  updateEventGroup(input: UpdateEventGroupInput) {
    return this.write(input.actor, (ctx) => updateEventGroup(ctx, input));
  }
  batchUpdateEventGroups(input: { actor: AuditActor; inputs: readonly Omit<UpdateEventGroupInput, 'actor'>[] }) {
    return this.write(input.actor, async (ctx) => {
      const updated: EventGroupRecord[] = [];
      for (const one of input.inputs) updated.push(await updateEventGroup(ctx, { ...one, actor: input.actor }));
      return updated;
    });
  }
  deleteEventGroup(input: { actor: AuditActor; dataProviderId: bigint; externalEventGroupId: bigint; expectedRevision?: bigint }) {
    return this.write(input.actor, (ctx) =>
      deleteEventGroup(ctx, input.actor, input.dataProviderId, input.externalEventGroupId, input.expectedRevision),
    );
  }
  createMetadataReencryptionRequest(input: CreateReencryptionRequestInput) {
    return this.write(input.actor, (ctx) => createMetadataReencryptionRequest(ctx, input));
  }
  listOpenMetadataReencryptionRequests(dp: bigint) {
    return this.read((ctx) => listOpenMetadataReencryptionRequests(ctx, dp));
  }
  closeMetadataReencryptionRequest(input: { actor: AuditActor; dataProviderId: bigint; externalRequestId: bigint }) {
    return this.write(input.actor, (ctx) =>
      closeMetadataReencryptionRequest(ctx, input.actor, input.dataProviderId, input.externalRequestId),
    );
  }

  createMeasurement(input: CreateMeasurementInput) {
    return this.write(input.actor, (ctx) => createMeasurement(ctx, input));
  }
  getMeasurement(mc: bigint, m: bigint) {
    return this.readSnapshot((ctx) => getMeasurement(ctx, mc, m));
  }
  listMeasurements(options: ListMeasurementsOptions) {
    return this.readSnapshot((ctx) => listMeasurements(ctx, options));
  }
  cancelMeasurement(input: { actor: AuditActor; measurementConsumerId: bigint; externalMeasurementId: bigint }) {
    return this.write(input.actor, (ctx) =>
      cancelMeasurement(ctx, input.actor, input.measurementConsumerId, input.externalMeasurementId),
    );
  }
  getRequisition(dp: bigint, r: bigint) {
    return this.read((ctx) => getRequisition(ctx, dp, r));
  }
  listRequisitions(options: ListRequisitionsOptions) {
    return this.read((ctx) => listRequisitions(ctx, options));
  }
  fulfillDirectRequisition(input: FulfillDirectRequisitionInput) {
    return this.write(input.actor, (ctx) => fulfillDirectRequisition(ctx, input));
  }
  refuseRequisition(input: RefuseRequisitionInput) {
    return this.write(input.actor, (ctx) => refuseRequisition(ctx, input));
  }
  listUntrustedResults(options: { measurementConsumerId?: bigint; limit?: number } = {}) {
    return this.read((ctx) => listUntrustedResults(ctx, options));
  }

  createApiKey(input: CreateApiKeyInput) {
    return this.write(input.actor, (ctx) => createApiKey(ctx, input));
  }
  authenticateApiKey(key: bigint) {
    return this.read((ctx) => authenticateApiKey(ctx, key));
  }
  deleteApiKey(input: { actor: AuditActor; measurementConsumerId: bigint; externalApiKeyId: bigint }) {
    return this.write(input.actor, (ctx) => deleteApiKey(ctx, input.actor, input.measurementConsumerId, input.externalApiKeyId));
  }
  setAkidPrincipal(input: SetAkidPrincipalInput) {
    return this.write(input.actor, (ctx) => setAkidPrincipal(ctx, input));
  }
  removeAkidPrincipal(input: { actor: AuditActor; authorityKeyIdentifier: Uint8Array }) {
    return this.write(input.actor, (ctx) => removeAkidPrincipal(ctx, input.actor, input.authorityKeyIdentifier));
  }
  listAkidPrincipals() {
    return this.read((ctx) => listAkidPrincipals(ctx));
  }
  lookupAkidPrincipal(akid: Uint8Array) {
    return this.read((ctx) => lookupAkidPrincipal(ctx, akid));
  }

  verifyAuditChain() {
    return this.readSnapshot((ctx) => verifyAuditChain(ctx.tx));
  }
  exportAudit(options: AuditExportOptions = {}) {
    return this.read((ctx) => exportAudit(ctx.tx, options));
  }
  recordAuditEvent(event: AuditEvent) {
    return this.write(event.actor, async (ctx) => ctx.audit(event.actor, event.action, event.resource, event.before, event.after));
  }

  async close(): Promise<void> {
    await this.writes.idle();
    await this.database.close();
  }
}
