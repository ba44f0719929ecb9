/**
 * `wfa.measurement.api.v2alpha.Certificates` (cmms-reference §2.2-§2.6).
 *
 * Differences from upstream, on purpose:
 * - GetCertificate answers NOT_FOUND, not UNKNOWN, for a missing certificate.
 * - ListCertificates lists the parent's own certificates only, and its SKID
 *   filter holds on every page.
 * - In strict mode CreateCertificate requires a leaf, valid now, that chains
 *   to the parent's registered root (see certificate-checks.ts).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import type { ServiceImpl } from '@connectrpc/connect';
import {
  certificateParentTokenKey,
  decodePageTokenFor,
  encodePageToken,
  normalizePageSize,
  parseCertificateName,
  parseCertificateParentName,
} from '../../api/index.js';
import { Certificate_RevocationState, CertificateSchema } from '../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import {
  Certificates,
  ListCertificatesResponseSchema,
  type ListCertificatesRequest,
} from '../../gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import {
  ListCertificatesPageToken_PreviousPageEndSchema,
  ListCertificatesPageTokenSchema,
  type ListCertificatesPageToken,
} from '../../gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import type { CertificateCursor } from '../store/index.js';
import { canGetCertificate, requireAllowed, requireParent } from './authorization.js';
import { ParentRoots, parseRegisteredCertificate, requireIssuedByRoot } from './certificate-checks.js';
import type { KingdomServices } from './context.js';
import { invalidArgument } from './errors.js';
import { DEFAULT_RESPONSE_BYTES, fillPage, pageTokenBytes } from './page-budget.js';
import { actorOf } from './service-support.js';
import { requirePrincipal, toPartyKey } from './principal.js';
import { renderCertificate } from './render.js';
import { parseRequestName } from './request-names.js';

/** More SKIDs than any real filter needs; it bounds the page token too. */
const MAX_FILTER_SKIDS = 1000;

const NAME_INVALID = 'Resource name unspecified or invalid';
const PARENT_INVALID = 'Parent unspecified or invalid';

export function certificatesService(services: KingdomServices): ServiceImpl<typeof Certificates> {
  const { store } = services;
  const parentRoots = new ParentRoots(store);

  return {
    async getCertificate(req, ctx) {
      const key = parseRequestName(parseCertificateName, req.name, NAME_INVALID);
      const principal = requirePrincipal(ctx);
      requireAllowed(canGetCertificate(principal, key.parent), 'GET', req.name);
      return renderCertificate(await store.getCertificate(toPartyKey(key.parent), key.certificateId));
    },

    async createCertificate(req, ctx) {
      const parent = parseRequestName(parseCertificateParentName, req.parent, PARENT_INVALID);
      const principal = requirePrincipal(ctx);
      requireParent(principal, parent, 'CREATE', `${req.parent}/certificates`);
      const { certificate, input } = parseRegisteredCertificate(req.certificate?.x509Der ?? new Uint8Array(0));
      const owner = toPartyKey(parent);
      if (services.mode === 'strict') {
        await requireIssuedByRoot(certificate, await parentRoots.trustStoreOf(owner), services.clock.now());
      }
      const record = await store.createCertificate({ actor: actorOf(principal, ctx), owner, certificate: input });
      return renderCertificate(record);
    },

    async listCertificates(req, ctx) {
      const pageSize = normalizePageSize(req.pageSize);
      const parent = parseRequestName(parseCertificateParentName, req.parent, PARENT_INVALID);
      const principal = requirePrincipal(ctx);
      requireParent(principal, parent, 'LIST', `${req.parent}/certificates`);
      const skids = filterSkids(req);
      const tokenArguments = create(ListCertificatesPageTokenSchema, {
        parentKey: certificateParentTokenKey(parent),
        subjectKeyIdentifiers: skids ?? [],
      });
      const after = req.pageToken === '' ? undefined : cursorOf(req.pageToken, tokenArguments);
      const { items, next } = await fillPage(
        {
          fetch: (limit, from) =>
            store.listCertificates({
              owner: toPartyKey(parent),
              limit,
              ...(skids === undefined ? {} : { subjectKeyIdentifiers: skids }),
              ...(from === undefined ? {} : { after: from }),
            }),
          cursorOf: (c): CertificateCursor => ({ notValidBefore: c.notValidBefore, externalCertificateId: c.externalCertificateId }),
        },
        renderCertificate,
        {
          schema: CertificateSchema,
          pageSize,
          limitBytes: services.maxResponseBytes ?? DEFAULT_RESPONSE_BYTES,
          tokenBytes: pageTokenBytes(toBinary(ListCertificatesPageTokenSchema, tokenArguments).length),
          ...(after === undefined ? {} : { after }),
        },
      );
      let nextPageToken = '';
      if (next !== null) {
        tokenArguments.lastCertificate = create(ListCertificatesPageToken_PreviousPageEndSchema, {
          notValidBefore: timestampFromDate(next.notValidBefore),
          externalCertificateId: next.externalCertificateId,
          parentKey: certificateParentTokenKey(parent),
        });
        nextPageToken = encodePageToken(ListCertificatesPageTokenSchema, tokenArguments);
      }
      return create(ListCertificatesResponseSchema, { certificates: items, nextPageToken });
    },

    async revokeCertificate(req, ctx) {
      const key = parseRequestName(parseCertificateName, req.name, NAME_INVALID);
      const principal = requirePrincipal(ctx);
      // Permission before state, as upstream: a stranger learns nothing.
      requireParent(principal, key.parent, 'REVOKE', req.name);
      const state = req.revocationState;
      if (state === Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED) {
        throw invalidArgument('REQUIRED_FIELD_NOT_SET', 'Revocation State unspecified');
      }
      if (state !== Certificate_RevocationState.HOLD && state !== Certificate_RevocationState.REVOKED) {
        throw invalidArgument('INVALID_FIELD_VALUE', `unknown revocation_state ${String(state)}`);
      }
      const result = await store.revokeCertificate({
        actor: actorOf(principal, ctx),
        owner: toPartyKey(key.parent),
        externalCertificateId: key.certificateId,
        revocationState: state,
      });
      return renderCertificate(result.certificate);
    },

    async releaseCertificateHold(req, ctx) {
      const key = parseRequestName(parseCertificateName, req.name, NAME_INVALID);
      const principal = requirePrincipal(ctx);
      requireParent(principal, key.parent, 'RELEASE_HOLD', req.name);
      const record = await store.releaseCertificateHold({
        actor: actorOf(principal, ctx),
        owner: toPartyKey(key.parent),
        externalCertificateId: key.certificateId,
      });
      return renderCertificate(record);
    },
  };
}

/** The SKID filter; an empty list filters nothing, as upstream. */
function filterSkids(req: ListCertificatesRequest): Uint8Array[] | undefined {
  const skids = req.filter?.subjectKeyIdentifiers ?? [];
  if (skids.length === 0) return undefined;
  if (skids.length > MAX_FILTER_SKIDS) {
    throw invalidArgument('INVALID_FIELD_VALUE', `filter.subject_key_identifiers has more than ${MAX_FILTER_SKIDS} entries`);
  }
  if (skids.some((s) => s.length === 0)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'filter.subject_key_identifiers holds an empty entry');
  }
  return skids;
}

/** The keyset cursor of a page token issued for the same parent and filter. */
function cursorOf(pageToken: string, tokenArguments: ListCertificatesPageToken): CertificateCursor {
  const token = decodePageTokenFor(ListCertificatesPageTokenSchema, pageToken, tokenArguments, ['lastCertificate']);
  const last = token.lastCertificate;
  if (last?.notValidBefore === undefined || last.externalCertificateId <= 0n || last.externalCertificateId >= 1n << 63n) {
    throw invalidArgument('INVALID_PAGE_TOKEN', 'page_token is not a token from this server');
  }
  return { notValidBefore: timestampDate(last.notValidBefore), externalCertificateId: last.externalCertificateId };
}
