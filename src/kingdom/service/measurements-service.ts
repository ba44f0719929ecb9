/**
 * `wfa.measurement.api.v2alpha.Measurements` for direct measurements
 * (cmms-reference §1.8, §2.8). Only the MeasurementConsumer itself (API key
 * or mTLS) may create, read, list or cancel its measurements.
 *
 * Like upstream, the Kingdom checks the shape of what it relays (type URLs,
 * keys, nonce-hash count) and the validity of the MC certificate and of each
 * DataProvider's current public-key certificate. In strict mode it also
 * verifies the MeasurementSpec signature against the named MC certificate,
 * that every entry's nonce hash is listed in the spec, and that keys are
 * public Tink keysets.
 *
 * CreateMeasurementRequest's `parent` must be the calling MeasurementConsumer
 * (PERMISSION_DENIED otherwise); older clients leave it empty and mean the
 * caller. A `measurement_consumer_certificate` of another MC is
 * INVALID_ARGUMENT. `request_id` makes the creation idempotent per MC (the
 * store keeps it with the measurement and returns the first one created).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampDate } from '@bufbuild/protobuf/wkt';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  decodePageTokenFor,
  encodePageToken,
  formatResourceName,
  normalizePageSize,
  parseCertificateName,
  parseDataProviderName,
  parseMeasurementConsumerName,
  parseMeasurementName,
  requireName,
} from '../../api/index.js';
import { CryptoError, verifySignedMessage } from '../../crypto/index.js';
import { EncryptionPublicKeySchema, SignedMessageSchema, type SignedMessage } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSpecSchema, type MeasurementSpec } from '../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { MeasurementSchema, type Measurement } from '../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import {
  ListMeasurementsPageTokenSchema,
  ListMeasurementsPageToken_PreviousPageEndSchema,
} from '../../gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import {
  BatchCreateMeasurementsResponseSchema,
  BatchGetMeasurementsResponseSchema,
  ListMeasurementsResponseSchema,
  Measurements,
  type BatchCreateMeasurementsRequest,
  type BatchGetMeasurementsRequest,
  type CancelMeasurementRequest,
  type CreateMeasurementRequest,
  type GetMeasurementRequest,
  type ListMeasurementsRequest,
} from '../../gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import {
  StoreError,
  isCertificateValidAt,
  type CreateMeasurementInput,
  type DataProviderEntryInput,
  type MeasurementState,
} from '../store/index.js';
import type { KingdomServices } from './context.js';
import { API_VERSION } from './context.js';
import { failedPrecondition, invalidArgument, permissionDenied } from './errors.js';
import { DEFAULT_RESPONSE_BYTES, fillPage, pageTokenBytes } from './page-budget.js';
import { requirePrincipal, samePrincipal, type Principal } from './principal.js';
import { measurementStateFromApi, renderMeasurement, serializeSignedMessage } from './render-measurement.js';
import {
  actorOf,
  checkEncryptionPublicKey,
  parseField,
  requireTypeUrl,
  requiredField,
  unpackField,
} from './service-support.js';
import { bytesEqual } from '../../lib/bytes.js';

/** The MeasurementSpec a SignedMessage carries (`message`, or legacy `data`). */
function unpackMeasurementSpec(sm: SignedMessage | undefined): MeasurementSpec {
  if (sm === undefined) requiredField('measurement.measurement_spec');
  if (sm.signature.length === 0) requiredField('measurement.measurement_spec.signature');
  if (sm.message !== undefined) return unpackField(MeasurementSpecSchema, sm.message, 'measurement.measurement_spec.message');
  if (sm.data.length === 0) requiredField('measurement.measurement_spec.message');
  return parseField(MeasurementSpecSchema, sm.data, 'measurement.measurement_spec.data');
}

/** The MC principal that owns `mcName`'s resources, or PERMISSION_DENIED. */
function requireOwner(ctx: HandlerContext, owner: Principal, permission: string, resource: string): Principal {
  const principal = requirePrincipal(ctx);
  if (!samePrincipal(principal, owner)) throw permissionDenied(permission, resource);
  return principal;
}

interface ValidatedMeasurement {
  readonly certificateId: bigint;
  readonly measurementSpec: SignedMessage;
  readonly spec: MeasurementSpec;
  readonly entries: DataProviderEntryInput[];
}

/** Every INVALID_ARGUMENT check of CreateMeasurement, before anything is read or written. */
function validateMeasurement(m: Measurement | undefined, mcId: bigint, services: KingdomServices): ValidatedMeasurement {
  if (m === undefined) requiredField('measurement');
  if (m.measurementConsumerCertificate === '') requiredField('measurement.measurement_consumer_certificate');
  const certKey = requireName(parseCertificateName, m.measurementConsumerCertificate, 'measurement_consumer_certificate');
  if (certKey.parent.kind !== 'measurementConsumer' || certKey.parent.measurementConsumerId !== mcId) {
    throw invalidArgument(
      'CERTIFICATE_PARENT_MISMATCH',
      'measurement_consumer_certificate must be a Certificate of the parent MeasurementConsumer',
      { measurementConsumerCertificate: m.measurementConsumerCertificate },
    );
  }
  const spec = unpackMeasurementSpec(m.measurementSpec);
  const measurementSpec = m.measurementSpec!;
  const measurementKey =
    spec.measurementPublicKey !== undefined
      ? unpackField(EncryptionPublicKeySchema, spec.measurementPublicKey, 'measurement_spec.measurement_public_key')
      : spec.serializedMeasurementPublicKey.length > 0
        ? parseField(EncryptionPublicKeySchema, spec.serializedMeasurementPublicKey, 'measurement_spec.serialized_measurement_public_key')
        : requiredField('measurement_spec.measurement_public_key');
  checkEncryptionPublicKey(measurementKey, 'measurement_spec.measurement_public_key', services.mode);

  if (m.dataProviders.length === 0) requiredField('measurement.data_providers');
  if (spec.nonceHashes.length !== m.dataProviders.length) {
    throw invalidArgument(
      'NONCE_HASH_COUNT_MISMATCH',
      `measurement_spec has ${spec.nonceHashes.length} nonce_hashes for ${m.dataProviders.length} data_providers`,
    );
  }
  const entries = m.dataProviders.map((entry, i): DataProviderEntryInput => {
    const field = `measurement.data_providers[${i}]`;
    const dpKey = requireName(parseDataProviderName, entry.key, `${field}.key`);
    const value = entry.value ?? requiredField(`${field}.value`);
    if (value.dataProviderCertificate === '') requiredField(`${field}.value.data_provider_certificate`);
    const dpCert = requireName(parseCertificateName, value.dataProviderCertificate, `${field}.value.data_provider_certificate`);
    if (dpCert.parent.kind !== 'dataProvider' || dpCert.parent.dataProviderId !== dpKey.dataProviderId) {
      throw invalidArgument('CERTIFICATE_PARENT_MISMATCH', `${field}.value.data_provider_certificate is not a Certificate of ${entry.key}`, {
        dataProviderCertificate: value.dataProviderCertificate,
      });
    }
    const dpPublicKey = value.dataProviderPublicKey ?? requiredField(`${field}.value.data_provider_public_key`);
    checkEncryptionPublicKey(
      unpackField(EncryptionPublicKeySchema, dpPublicKey, `${field}.value.data_provider_public_key`),
      `${field}.value.data_provider_public_key`,
      services.mode,
    );
    const ers = value.encryptedRequisitionSpec ?? requiredField(`${field}.value.encrypted_requisition_spec`);
    requireTypeUrl(ers.typeUrl, SignedMessageSchema, `${field}.value.encrypted_requisition_spec.type_url`);
    if (ers.ciphertext.length === 0) requiredField(`${field}.value.encrypted_requisition_spec.ciphertext`);
    if (value.nonceHash.length === 0) requiredField(`${field}.value.nonce_hash`);
    if (services.mode === 'strict' && !spec.nonceHashes.some((h) => bytesEqual(h, value.nonceHash))) {
      throw invalidArgument('NONCE_HASH_MISMATCH', `${field}.value.nonce_hash is not among measurement_spec.nonce_hashes`);
    }
    return {
      dataProviderId: dpKey.dataProviderId,
      dataProviderPublicKey: dpPublicKey.value,
      encryptedRequisitionSpec: ers.ciphertext,
      nonceHash: value.nonceHash,
    };
  });
  return { certificateId: certKey.certificateId, measurementSpec, spec, entries };
}

/**
 * Strict mode: the spec must be signed by the named MC certificate. The
 * certificate must exist and be valid first (the store checks both again
 * inside its transaction), so those failures keep upstream's codes.
 */
async function verifyMeasurementSpecSignature(services: KingdomServices, mcId: bigint, v: ValidatedMeasurement): Promise<void> {
  let certificate;
  try {
    certificate = await services.store.getCertificate({ kind: 'MEASUREMENT_CONSUMER', id: mcId }, v.certificateId);
  } catch (err) {
    if (err instanceof StoreError && err.reason === 'CERTIFICATE_NOT_FOUND') {
      throw failedPrecondition('CERTIFICATE_NOT_FOUND', 'Certificate not found.', { ...err.metadata });
    }
    throw err;
  }
  if (!isCertificateValidAt(certificate, services.clock.now())) {
    throw failedPrecondition('CERTIFICATE_IS_INVALID', 'Certificate is invalid.', {
      certificate: formatResourceName({ kind: 'certificate', parent: { kind: 'measurementConsumer', measurementConsumerId: mcId }, certificateId: v.certificateId }),
    });
  }
  try {
    verifySignedMessage(v.measurementSpec, certificate.x509Der);
  } catch (err) {
    if (err instanceof CryptoError) {
      throw invalidArgument('MEASUREMENT_SPEC_SIGNATURE_INVALID', `measurement_spec does not verify with measurement_consumer_certificate: ${err.message}`);
    }
    throw err;
  }
}

/** Upstream's MAX_BATCH_SIZE of BatchCreateMeasurements and BatchGetMeasurements. */
const MAX_BATCH = 50;

export function measurementsService(services: KingdomServices) {
  const { store } = services;

  /** Every check of a CreateMeasurementRequest whose caller is MeasurementConsumer `mcId`; nothing is written. */
  async function creationInput(req: CreateMeasurementRequest, mcId: bigint): Promise<Omit<CreateMeasurementInput, 'actor'>> {
    const v = validateMeasurement(req.measurement, mcId, services);
    if (services.mode === 'strict') await verifyMeasurementSpecSignature(services, mcId, v);
    return {
      measurementConsumerId: mcId,
      measurementConsumerCertificateId: v.certificateId,
      measurementSpec: serializeSignedMessage(v.measurementSpec),
      dataProviders: v.entries,
      measurementReferenceId: req.measurement?.measurementReferenceId ?? '',
      apiVersion: API_VERSION,
      ...(req.requestId !== '' ? { requestId: req.requestId } : {}),
    };
  }

  return {
    async createMeasurement(req: CreateMeasurementRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      // A malformed parent is INVALID_ARGUMENT whoever asks; a well-formed one must be the caller.
      const parent = req.parent === '' ? undefined : requireName(parseMeasurementConsumerName, req.parent, 'parent');
      if (principal.kind !== 'measurementConsumer') throw permissionDenied('CREATE', parent ? `${req.parent}/measurements` : 'measurements');
      if (parent && !samePrincipal(principal, parent)) throw permissionDenied('CREATE', `${req.parent}/measurements`);
      const input = await creationInput(req, principal.measurementConsumerId);
      return renderMeasurement(await store.createMeasurement({ actor: actorOf(principal, ctx), ...input }));
    },

    /** Upstream's: at most MAX_BATCH of the caller's own, each checked as CreateMeasurement checks it, then all in one transaction. */
    async batchCreateMeasurements(req: BatchCreateMeasurementsRequest, ctx: HandlerContext) {
      requirePrincipal(ctx);
      const parent = requireName(parseMeasurementConsumerName, req.parent, 'parent');
      const principal = requireOwner(ctx, parent, 'CREATE', `${req.parent}/measurements`);
      if (req.requests.length === 0) requiredField('requests');
      if (req.requests.length > MAX_BATCH) {
        throw invalidArgument('INVALID_FIELD_VALUE', `requests has ${req.requests.length} elements; at most ${MAX_BATCH}`, { field: 'requests' });
      }
      const inputs = [];
      for (const [i, child] of req.requests.entries()) {
        if (child.parent !== '' && child.parent !== req.parent) {
          throw invalidArgument('INVALID_FIELD_VALUE', `requests[${i}].parent is not ${req.parent}`, { field: `requests[${i}].parent` });
        }
        inputs.push(await creationInput(child, parent.measurementConsumerId));
      }
      const records = await store.createMeasurements({ actor: actorOf(principal, ctx), measurements: inputs });
      return create(BatchCreateMeasurementsResponseSchema, { measurements: records.map(renderMeasurement) });
    },

    async getMeasurement(req: GetMeasurementRequest, ctx: HandlerContext) {
      requirePrincipal(ctx);
      const key = requireName(parseMeasurementName, req.name, 'name');
      requireOwner(ctx, key.parent, 'GET', req.name);
      return renderMeasurement(await store.getMeasurement(key.parent.measurementConsumerId, key.measurementId));
    },

    /** Upstream's: the caller's own measurements only, at most MAX_BATCH; one unknown name makes it NOT_FOUND. */
    async batchGetMeasurements(req: BatchGetMeasurementsRequest, ctx: HandlerContext) {
      requirePrincipal(ctx);
      const parent = requireName(parseMeasurementConsumerName, req.parent, 'parent');
      requireOwner(ctx, parent, 'GET', `${req.parent}/measurements`);
      if (req.names.length === 0) requiredField('names');
      if (req.names.length > MAX_BATCH) {
        throw invalidArgument('INVALID_FIELD_VALUE', `names has ${req.names.length} elements; at most ${MAX_BATCH}`, { field: 'names' });
      }
      const keys = req.names.map((name) => {
        const key = requireName(parseMeasurementName, name, 'names');
        if (key.parent.measurementConsumerId !== parent.measurementConsumerId) {
          throw invalidArgument('INVALID_FIELD_VALUE', `names: ${name} is not a Measurement of ${req.parent}`, { field: 'names' });
        }
        return key;
      });
      const measurements = [];
      for (const key of keys) measurements.push(renderMeasurement(await store.getMeasurement(key.parent.measurementConsumerId, key.measurementId)));
      return create(BatchGetMeasurementsResponseSchema, { measurements });
    },

    async listMeasurements(req: ListMeasurementsRequest, ctx: HandlerContext) {
      requirePrincipal(ctx);
      const parent = requireName(parseMeasurementConsumerName, req.parent, 'parent');
      requireOwner(ctx, parent, 'LIST', req.parent);
      const pageSize = normalizePageSize(req.pageSize);
      const states: MeasurementState[] = [];
      for (const s of req.filter?.states ?? []) {
        const state = measurementStateFromApi(s);
        if (state === undefined) throw invalidArgument('INVALID_FIELD_VALUE', `filter.states has an invalid state ${s}`);
        states.push(state);
      }
      const times = {
        ...(req.filter?.createdAfter !== undefined ? { createdAfter: timestampDate(req.filter.createdAfter) } : {}),
        ...(req.filter?.createdBefore !== undefined ? { createdBefore: timestampDate(req.filter.createdBefore) } : {}),
        ...(req.filter?.updatedAfter !== undefined ? { updatedAfter: timestampDate(req.filter.updatedAfter) } : {}),
        ...(req.filter?.updatedBefore !== undefined ? { updatedBefore: timestampDate(req.filter.updatedBefore) } : {}),
      };
      const args = create(ListMeasurementsPageTokenSchema, {
        externalMeasurementConsumerId: parent.measurementConsumerId,
        states: req.filter?.states ?? [],
        ...(req.filter !== undefined ? { filter: req.filter } : {}),
      });
      let after: bigint | undefined;
      if (req.pageToken !== '') {
        const token = decodePageTokenFor(ListMeasurementsPageTokenSchema, req.pageToken, args, ['pageSize', 'lastMeasurement']);
        after = token.lastMeasurement?.externalMeasurementId;
      }
      const { items, next } = await fillPage(
        {
          fetch: (limit, from) =>
            store.listMeasurements({
              measurementConsumerId: parent.measurementConsumerId,
              states,
              ...times,
              limit,
              ...(from !== undefined ? { after: from } : {}),
            }),
          cursorOf: (m) => m.externalMeasurementId,
        },
        renderMeasurement,
        {
          schema: MeasurementSchema,
          pageSize,
          limitBytes: services.maxResponseBytes ?? DEFAULT_RESPONSE_BYTES,
          tokenBytes: pageTokenBytes(toBinary(ListMeasurementsPageTokenSchema, args).length),
          ...(after !== undefined ? { after } : {}),
        },
      );
      const response = create(ListMeasurementsResponseSchema, { measurements: items });
      if (next !== null) {
        args.pageSize = pageSize;
        args.lastMeasurement = create(ListMeasurementsPageToken_PreviousPageEndSchema, { externalMeasurementId: next });
        response.nextPageToken = encodePageToken(ListMeasurementsPageTokenSchema, args);
      }
      return response;
    },

    async cancelMeasurement(req: CancelMeasurementRequest, ctx: HandlerContext) {
      requirePrincipal(ctx);
      const key = requireName(parseMeasurementName, req.name, 'name');
      const principal = requireOwner(ctx, key.parent, 'CANCEL', req.name);
      const record = await store.cancelMeasurement({
        actor: actorOf(principal, ctx),
        measurementConsumerId: key.parent.measurementConsumerId,
        externalMeasurementId: key.measurementId,
      });
      return renderMeasurement(record);
    },
  };
}

export function registerMeasurementsService(router: ConnectRouter, services: KingdomServices): void {
  router.service(Measurements, measurementsService(services));
}
