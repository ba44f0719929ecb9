/**
 * `wfa.measurement.api.v2alpha.Requisitions` for direct measurements: a
 * DataProvider gets and lists its requisitions, fulfills them with a result signed
 * and encrypted for the MeasurementConsumer, or refuses them.
 *
 * Beyond upstream (§2.8), the certificate a result is attributed to must be
 * a certificate of that DataProvider that exists and is valid now (the store
 * enforces it), and in strict mode the nonce must hash to the requisition's
 * nonce hash: proof that the DataProvider decrypted the requisition spec.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import type { ConnectRouter, HandlerContext } from '@connectrpc/connect';
import {
  decodePageTokenFor,
  encodePageToken,
  normalizePageSize,
  parseCertificateName,
  parseRequisitionName,
  parseRequisitionParentName,
  requireName,
} from '../../api/index.js';
import { SignedMessageSchema } from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  ListRequisitionsPageTokenSchema,
  ListRequisitionsPageToken_PreviousPageEndSchema,
} from '../../gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import {
  Requisition_FulfillmentContextSchema,
  Requisition_Refusal_Justification,
  RequisitionSchema,
} from '../../gen/wfa/measurement/api/v2alpha/requisition_pb.js';
import {
  FulfillDirectRequisitionResponseSchema,
  ListRequisitionsResponseSchema,
  Requisitions,
  type FulfillDirectRequisitionRequest,
  type GetRequisitionRequest,
  type ListRequisitionsRequest,
  type RefuseRequisitionRequest,
} from '../../gen/wfa/measurement/api/v2alpha/requisitions_service_pb.js';
import type { DataProviderKey, RequisitionKey } from '../../api/index.js';
import { nonceHash } from '../../api/index.js';
import type { MeasurementState, RequisitionRecord, RequisitionState } from '../store/index.js';
import type { KingdomServices } from './context.js';
import { invalidArgument, permissionDenied } from './errors.js';
import { DEFAULT_RESPONSE_BYTES, fillPage, pageTokenBytes } from './page-budget.js';
import { requirePrincipal, samePrincipal, type Principal } from './principal.js';
import {
  REQUISITION_STATE_TO_API,
  measurementStateFromApi,
  renderRequisition,
  requisitionStateFromApi,
} from './render-measurement.js';
import { actorOf, requireTypeUrl, requiredField } from './service-support.js';
import { bytesEqual } from '../../lib/bytes.js';

function filterStates(req: ListRequisitionsRequest): { states: RequisitionState[]; measurementStates: MeasurementState[] } {
  const states: RequisitionState[] = [];
  for (const s of req.filter?.states ?? []) {
    const state = requisitionStateFromApi(s);
    if (state === undefined) throw invalidArgument('INVALID_FIELD_VALUE', `filter.states has an invalid state ${s}`);
    states.push(state);
  }
  const measurementStates: MeasurementState[] = [];
  for (const s of req.filter?.measurementStates ?? []) {
    const state = measurementStateFromApi(s);
    if (state === undefined) throw invalidArgument('INVALID_FIELD_VALUE', `filter.measurement_states has an invalid state ${s}`);
    measurementStates.push(state);
  }
  return { states, measurementStates };
}

/** A canonical `dataProviders/{dp}/requisitions/{r}` name whose DataProvider is the caller. */
function requireOwnRequisition(ctx: HandlerContext, name: string, permission: string): { key: RequisitionKey; dp: DataProviderKey; principal: Principal } {
  const principal = requirePrincipal(ctx);
  const key = requireName(parseRequisitionName, name, 'name');
  if (key.parent.kind !== 'dataProvider') {
    throw invalidArgument('INVALID_RESOURCE_NAME', 'name must be a canonical dataProviders/*/requisitions/* name');
  }
  if (!samePrincipal(principal, key.parent)) throw permissionDenied(permission, name);
  return { key, dp: key.parent, principal };
}

export function requisitionsService(services: KingdomServices) {
  const { store } = services;

  /** The MC's view: every requisition of one of its measurements, in one page. */
  async function listForMeasurement(mc: bigint, m: bigint, req: ListRequisitionsRequest) {
    const { states, measurementStates } = filterStates(req);
    if (req.pageToken !== '') throw invalidArgument('INVALID_PAGE_TOKEN', 'page_token is not a token from this server');
    normalizePageSize(req.pageSize);
    const measurement = await store.getMeasurement(mc, m);
    if (measurementStates.length > 0 && !measurementStates.includes(measurement.state)) {
      return create(ListRequisitionsResponseSchema);
    }
    const requisitions: RequisitionRecord[] = [];
    for (const e of measurement.dataProviders) {
      if (states.length > 0 && !states.includes(e.requisitionState)) continue;
      requisitions.push(await store.getRequisition(e.dataProviderId, e.externalRequisitionId));
    }
    return create(ListRequisitionsResponseSchema, { requisitions: requisitions.map(renderRequisition) });
  }

  return {
    async listRequisitions(req: ListRequisitionsRequest, ctx: HandlerContext) {
      const principal = requirePrincipal(ctx);
      const parent = requireName(parseRequisitionParentName, req.parent, 'parent');
      if (parent.kind === 'measurement') {
        if (!samePrincipal(principal, parent.parent)) throw permissionDenied('LIST', req.parent);
        return listForMeasurement(parent.parent.measurementConsumerId, parent.measurementId, req);
      }
      if (!samePrincipal(principal, parent)) throw permissionDenied('LIST', req.parent);
      const pageSize = normalizePageSize(req.pageSize);
      const { states, measurementStates } = filterStates(req);
      const args = create(ListRequisitionsPageTokenSchema, {
        externalDataProviderId: parent.dataProviderId,
        states: req.filter?.states ?? [],
        measurementStates: req.filter?.measurementStates ?? [],
      });
      let after: bigint | undefined;
      if (req.pageToken !== '') {
        const token = decodePageTokenFor(ListRequisitionsPageTokenSchema, req.pageToken, args, ['pageSize', 'lastRequisition']);
        after = token.lastRequisition?.externalRequisitionId;
      }
      const { items, next } = await fillPage(
        {
          fetch: (limit, from) =>
            store.listRequisitions({ dataProviderId: parent.dataProviderId, states, measurementStates, limit, ...(from !== undefined ? { after: from } : {}) }),
          cursorOf: (r) => r.externalRequisitionId,
        },
        renderRequisition,
        {
          schema: RequisitionSchema,
          pageSize,
          limitBytes: services.maxResponseBytes ?? DEFAULT_RESPONSE_BYTES,
          tokenBytes: pageTokenBytes(toBinary(ListRequisitionsPageTokenSchema, args).length),
          ...(after !== undefined ? { after } : {}),
        },
      );
      const response = create(ListRequisitionsResponseSchema, { requisitions: items });
      if (next !== null) {
        args.pageSize = pageSize;
        args.lastRequisition = create(ListRequisitionsPageToken_PreviousPageEndSchema, {
          externalDataProviderId: parent.dataProviderId,
          externalRequisitionId: next,
        });
        response.nextPageToken = encodePageToken(ListRequisitionsPageTokenSchema, args);
      }
      return response;
    },

    /** Only the DataProvider named in the canonical name, as upstream. */
    async getRequisition(req: GetRequisitionRequest, ctx: HandlerContext) {
      const { key, dp } = requireOwnRequisition(ctx, req.name, 'GET');
      return renderRequisition(await store.getRequisition(dp.dataProviderId, key.requisitionId));
    },

    async fulfillDirectRequisition(req: FulfillDirectRequisitionRequest, ctx: HandlerContext) {
      const { key, dp, principal } = requireOwnRequisition(ctx, req.name, 'FULFILL');
      let ciphertext: Uint8Array;
      if (req.encryptedResult !== undefined) {
        requireTypeUrl(req.encryptedResult.typeUrl, SignedMessageSchema, 'encrypted_result.type_url');
        ciphertext = req.encryptedResult.ciphertext;
        if (ciphertext.length === 0) requiredField('encrypted_result.ciphertext');
      } else {
        ciphertext = req.encryptedResultCiphertext;
        if (ciphertext.length === 0) requiredField('encrypted_result');
      }
      if (req.nonce === 0n) requiredField('nonce');
      let certificateId: bigint | undefined;
      if (req.certificate !== '') {
        const cert = requireName(parseCertificateName, req.certificate, 'certificate');
        if (cert.parent.kind !== 'dataProvider' || cert.parent.dataProviderId !== dp.dataProviderId) {
          throw invalidArgument('CERTIFICATE_PARENT_MISMATCH', 'certificate must be a Certificate of the requisition\'s DataProvider', {
            certificate: req.certificate,
          });
        }
        certificateId = cert.certificateId;
      }
      if (services.mode === 'strict') {
        const requisition = await store.getRequisition(dp.dataProviderId, key.requisitionId);
        if (!bytesEqual(nonceHash(req.nonce), requisition.nonceHash)) {
          throw invalidArgument('NONCE_MISMATCH', 'nonce does not match the requisition\'s nonce hash');
        }
      }
      const done = await store.fulfillDirectRequisition({
        actor: actorOf(principal, ctx),
        dataProviderId: dp.dataProviderId,
        externalRequisitionId: key.requisitionId,
        encryptedResult: ciphertext,
        nonce: req.nonce,
        etag: req.etag,
        ...(certificateId !== undefined ? { certificateId } : {}),
        ...(req.fulfillmentContext !== undefined
          ? { fulfillmentContext: toBinary(Requisition_FulfillmentContextSchema, req.fulfillmentContext) }
          : {}),
      });
      return create(FulfillDirectRequisitionResponseSchema, { state: REQUISITION_STATE_TO_API[done.state] });
    },

    async refuseRequisition(req: RefuseRequisitionRequest, ctx: HandlerContext) {
      const { key, dp, principal } = requireOwnRequisition(ctx, req.name, 'REFUSE');
      const refusal = req.refusal ?? requiredField('refusal');
      if (refusal.justification === Requisition_Refusal_Justification.JUSTIFICATION_UNSPECIFIED) {
        requiredField('refusal.justification');
      }
      if (!(refusal.justification in Requisition_Refusal_Justification)) {
        throw invalidArgument('INVALID_FIELD_VALUE', `refusal.justification ${refusal.justification} is not a known justification`);
      }
      const done = await store.refuseRequisition({
        actor: actorOf(principal, ctx),
        dataProviderId: dp.dataProviderId,
        externalRequisitionId: key.requisitionId,
        justification: refusal.justification,
        message: refusal.message,
        etag: req.etag,
      });
      return renderRequisition(done);
    },
  };
}

export function registerRequisitionsService(router: ConnectRouter, services: KingdomServices): void {
  router.service(Requisitions, requisitionsService(services));
}
