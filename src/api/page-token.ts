import { clone, create, equals, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { reflect } from '@bufbuild/protobuf/reflect';
import {
  ListCertificatesPageToken_ParentKeySchema,
  type ListCertificatesPageToken_ParentKey,
} from '../gen/wfa/measurement/api/v2alpha/page_token_pb.js';
import { ApiError } from './errors.js';
import type { CertificateParentKey } from './resource-names.js';
import { parseAs } from './type-url.js';

/**
 * Page sizes and page tokens of the List RPCs.
 *
 * A page token is the unpadded base64url of one of the messages in
 * `page_token.proto`. It carries the request's arguments beside the cursor, so
 * the next call can be refused when an argument other than page_size changed
 * (upstream: INVALID_ARGUMENT "Arguments other than page_size must remain the
 * same for subsequent page requests"). Tokens are not signed, as upstream:
 * the server re-applies authorization to the request's own arguments, so an
 * edited cursor can only move within data the caller may already list.
 */

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;
/** Far above any token this server writes (a SKID filter of 1000 entries). */
const MAX_TOKEN_LENGTH = 64 * 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** 0 → 50, above 1000 → 1000, negative → INVALID_PAGE_SIZE. */
export function normalizePageSize(pageSize: number): number {
  if (!Number.isInteger(pageSize) || pageSize < 0) {
    throw new ApiError('INVALID_PAGE_SIZE', 'page_size cannot be negative');
  }
  if (pageSize === 0) return DEFAULT_PAGE_SIZE;
  return Math.min(pageSize, MAX_PAGE_SIZE);
}

/** The page_token text for a token message. */
export function encodePageToken<Desc extends DescMessage>(schema: Desc, token: MessageShape<Desc>): string {
  return Buffer.from(toBinary(schema, token)).toString('base64url');
}

/** Decodes a page token; throws INVALID_PAGE_TOKEN unless it is canonical base64url of `schema`. */
export function decodePageToken<Desc extends DescMessage>(schema: Desc, pageToken: string): MessageShape<Desc> {
  if (typeof pageToken !== 'string' || pageToken.length > MAX_TOKEN_LENGTH || !BASE64URL.test(pageToken)) {
    throw new ApiError('INVALID_PAGE_TOKEN', 'page_token is not a token from this server');
  }
  const bytes = Buffer.from(pageToken, 'base64url');
  // Node's decoder skips what it cannot use; re-encoding catches that.
  if (bytes.toString('base64url') !== pageToken) {
    throw new ApiError('INVALID_PAGE_TOKEN', 'page_token is not a token from this server');
  }
  try {
    return parseAs(schema, new Uint8Array(bytes));
  } catch (cause) {
    throw new ApiError('INVALID_PAGE_TOKEN', 'page_token is not a token from this server', { cause });
  }
}

/**
 * Decodes `pageToken` and checks that it was issued for the same arguments.
 *
 * `requestArguments` is a token of the same type built from the current
 * request. Fields named in `ignore` (by their TypeScript `localName`: the
 * cursor, and `pageSize`) are left out of the comparison. Throws
 * INVALID_PAGE_TOKEN or PAGE_TOKEN_MISMATCH; returns the decoded token.
 */
export function decodePageTokenFor<Desc extends DescMessage>(
  schema: Desc,
  pageToken: string,
  requestArguments: MessageShape<Desc>,
  ignore: readonly string[],
): MessageShape<Desc> {
  const token = decodePageToken(schema, pageToken);
  if (!equals(schema, withoutFields(schema, token, ignore), withoutFields(schema, requestArguments, ignore))) {
    throw new ApiError(
      'PAGE_TOKEN_MISMATCH',
      'Arguments other than page_size must remain the same for subsequent page requests',
    );
  }
  return token;
}

function withoutFields<Desc extends DescMessage>(
  schema: Desc,
  message: MessageShape<Desc>,
  names: readonly string[],
): MessageShape<Desc> {
  const copy = clone(schema, message);
  const r = reflect(schema, copy);
  for (const field of schema.fields) {
    if (names.includes(field.localName)) r.clear(field);
  }
  return copy;
}

/** The ParentKey of ListCertificatesPageToken for a Certificate parent. */
export function certificateParentTokenKey(parent: CertificateParentKey): ListCertificatesPageToken_ParentKey {
  switch (parent.kind) {
    case 'dataProvider':
      return create(ListCertificatesPageToken_ParentKeySchema, {
        externalParentId: { case: 'externalDataProviderId', value: parent.dataProviderId },
      });
    case 'measurementConsumer':
      return create(ListCertificatesPageToken_ParentKeySchema, {
        externalParentId: { case: 'externalMeasurementConsumerId', value: parent.measurementConsumerId },
      });
    case 'modelProvider':
      return create(ListCertificatesPageToken_ParentKeySchema, {
        externalParentId: { case: 'externalModelProviderId', value: parent.modelProviderId },
      });
    case 'duchy':
      return create(ListCertificatesPageToken_ParentKeySchema, {
        externalParentId: { case: 'externalDuchyId', value: parent.duchyId },
      });
  }
}
