import { ApiError } from './errors.js';
import { externalIdToApiId, parseApiId } from './api-id.js';

/**
 * Resource names of the CMMS public API (cmms-reference §1.1) as typed keys.
 *
 * Convention: every `parse*` function returns `undefined` for a name that does
 * not match (wrong collection, extra or empty segment, bad API ID), like
 * upstream's `fromName` returning null. Callers that want an error use
 * `requireName(parse, name)`, which throws ApiError('INVALID_RESOURCE_NAME').
 * `formatResourceName` is the inverse of `parseResourceName`.
 */

export interface DataProviderKey {
  readonly kind: 'dataProvider';
  readonly dataProviderId: bigint;
}
export interface MeasurementConsumerKey {
  readonly kind: 'measurementConsumer';
  readonly measurementConsumerId: bigint;
}
export interface ModelProviderKey {
  readonly kind: 'modelProvider';
  readonly modelProviderId: bigint;
}
/** Duchy IDs are configured strings (`aggregator`, `worker1`), not API IDs. */
export interface DuchyKey {
  readonly kind: 'duchy';
  readonly duchyId: string;
}
/** The parties that own Certificates. */
export type CertificateParentKey = DataProviderKey | MeasurementConsumerKey | ModelProviderKey | DuchyKey;
/** The parties that own a PublicKey singleton. */
export type PublicKeyParentKey = DataProviderKey | MeasurementConsumerKey;

export interface CertificateKey {
  readonly kind: 'certificate';
  readonly parent: CertificateParentKey;
  readonly certificateId: bigint;
}
export interface PublicKeyKey {
  readonly kind: 'publicKey';
  readonly parent: PublicKeyParentKey;
}
/** `dataProviders/{dp}/eventGroups/{eg}` is canonical; the MC form is an alias. */
export interface EventGroupKey {
  readonly kind: 'eventGroup';
  readonly parent: DataProviderKey | MeasurementConsumerKey;
  readonly eventGroupId: bigint;
}
export interface MeasurementKey {
  readonly kind: 'measurement';
  readonly parent: MeasurementConsumerKey;
  readonly measurementId: bigint;
}
/** `dataProviders/{dp}/requisitions/{r}` is canonical; the Measurement form is an alias. */
export interface RequisitionKey {
  readonly kind: 'requisition';
  readonly parent: DataProviderKey | MeasurementKey;
  readonly requisitionId: bigint;
}
/** halo-keys admin extension: `measurementConsumers/{mc}/apiKeys/{key}` (upstream's ApiKey pattern). */
export interface ApiKeyKey {
  readonly kind: 'apiKey';
  readonly parent: MeasurementConsumerKey;
  readonly apiKeyId: bigint;
}

export type ResourceKey =
  | DataProviderKey
  | MeasurementConsumerKey
  | ModelProviderKey
  | DuchyKey
  | CertificateKey
  | PublicKeyKey
  | EventGroupKey
  | MeasurementKey
  | RequisitionKey
  | ApiKeyKey;

export type ResourceKind = ResourceKey['kind'];

/** `[a-z][a-z0-9-]*`, at most 63 characters (a DNS label, as in Kubernetes config). */
const DUCHY_ID = /^[a-z][a-z0-9-]{0,62}$/;
/** Longest valid name is a requisition under a measurement: 4 collections + 3 IDs, ~100 chars. */
const MAX_NAME_LENGTH = 256;

export function isDuchyId(id: string): boolean {
  return typeof id === 'string' && DUCHY_ID.test(id);
}

// --- parsing ---------------------------------------------------------------

/** Parses any name of §1.1; undefined when it matches no pattern. */
export function parseResourceName(name: string): ResourceKey | undefined {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) return undefined;
  const s = name.split('/');
  const top = parseTop(s[0], s[1]);
  if (top === undefined) return undefined;
  if (s.length === 2) return top;
  const collection = s[2];

  if (s.length === 3) {
    if (collection === 'publicKey' && (top.kind === 'dataProvider' || top.kind === 'measurementConsumer')) {
      return { kind: 'publicKey', parent: top };
    }
    return undefined;
  }

  const id = parseApiId(s[3] ?? '');
  if (id === undefined) return undefined;

  if (s.length === 4) {
    switch (collection) {
      case 'certificates':
        return { kind: 'certificate', parent: top, certificateId: id };
      case 'eventGroups':
        return top.kind === 'dataProvider' || top.kind === 'measurementConsumer'
          ? { kind: 'eventGroup', parent: top, eventGroupId: id }
          : undefined;
      case 'measurements':
        return top.kind === 'measurementConsumer' ? { kind: 'measurement', parent: top, measurementId: id } : undefined;
      case 'requisitions':
        return top.kind === 'dataProvider' ? { kind: 'requisition', parent: top, requisitionId: id } : undefined;
      case 'apiKeys':
        return top.kind === 'measurementConsumer' ? { kind: 'apiKey', parent: top, apiKeyId: id } : undefined;
      default:
        return undefined;
    }
  }

  if (s.length === 6 && top.kind === 'measurementConsumer' && collection === 'measurements' && s[4] === 'requisitions') {
    const requisitionId = parseApiId(s[5] ?? '');
    if (requisitionId === undefined) return undefined;
    return {
      kind: 'requisition',
      parent: { kind: 'measurement', parent: top, measurementId: id },
      requisitionId,
    };
  }
  return undefined;
}

function parseTop(collection: string | undefined, id: string | undefined): CertificateParentKey | undefined {
  if (id === undefined) return undefined;
  if (collection === 'duchies') return isDuchyId(id) ? { kind: 'duchy', duchyId: id } : undefined;
  const value = parseApiId(id);
  if (value === undefined) return undefined;
  switch (collection) {
    case 'dataProviders':
      return { kind: 'dataProvider', dataProviderId: value };
    case 'measurementConsumers':
      return { kind: 'measurementConsumer', measurementConsumerId: value };
    case 'modelProviders':
      return { kind: 'modelProvider', modelProviderId: value };
    default:
      return undefined;
  }
}

function parseKind<K extends ResourceKind>(...kinds: K[]) {
  return (name: string): Extract<ResourceKey, { kind: K }> | undefined => {
    const key = parseResourceName(name);
    return key !== undefined && (kinds as string[]).includes(key.kind)
      ? (key as Extract<ResourceKey, { kind: K }>)
      : undefined;
  };
}

export const parseDataProviderName = parseKind('dataProvider');
export const parseMeasurementConsumerName = parseKind('measurementConsumer');
export const parseModelProviderName = parseKind('modelProvider');
export const parseDuchyName = parseKind('duchy');
/** A Certificate parent: `dataProviders/*`, `measurementConsumers/*`, `modelProviders/*` or `duchies/*`. */
export const parseCertificateParentName = parseKind('dataProvider', 'measurementConsumer', 'modelProvider', 'duchy');
export const parseCertificateName = parseKind('certificate');
export const parsePublicKeyName = parseKind('publicKey');
export const parseEventGroupName = parseKind('eventGroup');
/** An EventGroup list parent: `dataProviders/*` or `measurementConsumers/*`. */
export const parseEventGroupParentName = parseKind('dataProvider', 'measurementConsumer');
export const parseMeasurementName = parseKind('measurement');
export const parseRequisitionName = parseKind('requisition');
/** A Requisition list parent: `dataProviders/*` or `measurementConsumers/{mc}/measurements/{m}`. */
export const parseRequisitionParentName = parseKind('dataProvider', 'measurement');
export const parseApiKeyName = parseKind('apiKey');

/** Runs `parse`; throws ApiError('INVALID_RESOURCE_NAME') when it gives undefined. */
export function requireName<T>(parse: (name: string) => T | undefined, name: string, what = 'resource name'): T {
  const key = parse(name);
  if (key === undefined) {
    const shown = typeof name === 'string' ? JSON.stringify(name.length > 120 ? `${name.slice(0, 120)}...` : name) : '(none)';
    throw new ApiError('INVALID_RESOURCE_NAME', `invalid ${what}: ${shown}`);
  }
  return key;
}

// --- formatting ------------------------------------------------------------

/** The resource name of `key`; throws ApiError for an ID that cannot be written. */
export function formatResourceName(key: ResourceKey): string {
  switch (key.kind) {
    case 'dataProvider':
      return `dataProviders/${externalIdToApiId(key.dataProviderId)}`;
    case 'measurementConsumer':
      return `measurementConsumers/${externalIdToApiId(key.measurementConsumerId)}`;
    case 'modelProvider':
      return `modelProviders/${externalIdToApiId(key.modelProviderId)}`;
    case 'duchy':
      if (!isDuchyId(key.duchyId)) {
        throw new ApiError('INVALID_RESOURCE_NAME', `invalid Duchy ID: ${JSON.stringify(key.duchyId)}`);
      }
      return `duchies/${key.duchyId}`;
    case 'certificate':
      return `${formatResourceName(key.parent)}/certificates/${externalIdToApiId(key.certificateId)}`;
    case 'publicKey':
      return `${formatResourceName(key.parent)}/publicKey`;
    case 'eventGroup':
      return `${formatResourceName(key.parent)}/eventGroups/${externalIdToApiId(key.eventGroupId)}`;
    case 'measurement':
      return `${formatResourceName(key.parent)}/measurements/${externalIdToApiId(key.measurementId)}`;
    case 'requisition':
      return `${formatResourceName(key.parent)}/requisitions/${externalIdToApiId(key.requisitionId)}`;
    case 'apiKey':
      return `${formatResourceName(key.parent)}/apiKeys/${externalIdToApiId(key.apiKeyId)}`;
  }
}

// --- constructors (short forms for the common cases) -------------------------

export const dataProviderKey = (dataProviderId: bigint): DataProviderKey => ({ kind: 'dataProvider', dataProviderId });
export const measurementConsumerKey = (measurementConsumerId: bigint): MeasurementConsumerKey => ({
  kind: 'measurementConsumer',
  measurementConsumerId,
});
export const modelProviderKey = (modelProviderId: bigint): ModelProviderKey => ({ kind: 'modelProvider', modelProviderId });
export const duchyKey = (duchyId: string): DuchyKey => ({ kind: 'duchy', duchyId });
export const certificateKey = (parent: CertificateParentKey, certificateId: bigint): CertificateKey => ({
  kind: 'certificate',
  parent,
  certificateId,
});
export const measurementKey = (measurementConsumerId: bigint, measurementId: bigint): MeasurementKey => ({
  kind: 'measurement',
  parent: measurementConsumerKey(measurementConsumerId),
  measurementId,
});
