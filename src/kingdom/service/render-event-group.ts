/**
 * EventGroups between the API and the store. The store keeps the metadata
 * ciphertext and the MC key bytes in their own columns (re-encryption after a
 * key compromise finds groups by that key); the remaining fields travel as
 * `details`, a serialized EventGroup holding only them. On reads both the
 * current and the deprecated fields are filled, as upstream does (§1.7).
 */
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { formatResourceName, typeUrlOf } from '../../api/index.js';
import {
  EncryptedMessageSchema,
  EncryptionPublicKeySchema,
  SignedMessageSchema,
} from '../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  EventGroupSchema,
  EventGroup_MetadataSchema,
  EventGroup_State,
  EventGroup_View,
  type EventGroup,
} from '../../gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import type { DateInterval } from '../../gen/wfa/measurement/api/v2alpha/date_interval_pb.js';
import { MediaType } from '../../gen/wfa/measurement/api/v2alpha/media_type_pb.js';
import type { EventGroupFields, EventGroupRecord } from '../store/index.js';
import type { KingdomMode } from './context.js';
import { API_VERSION } from './context.js';
import { invalidArgument } from './errors.js';
import { encryptionPublicKeyAny } from './render-measurement.js';
import {
  checkEncryptionPublicKey,
  parseField,
  requireTypeUrl,
  requiredField,
  unpackField,
} from './service-support.js';
import { bytesEqual } from '../../lib/bytes.js';

export const eventGroupName = (dp: bigint, eg: bigint): string =>
  formatResourceName({ kind: 'eventGroup', parent: { kind: 'dataProvider', dataProviderId: dp }, eventGroupId: eg });

/** The MC key of a request: bytes of the EncryptionPublicKey, and the deprecated form's signature if it came that way. */
interface KeyInput {
  readonly bytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly signatureAlgorithmOid: string;
}

/**
 * The last key a batch checked and passed: a DataProvider's page of answers
 * repeats its MeasurementConsumer's key in each, and checking it means parsing
 * the Tink keyset. It is kept by its form (type URL) and exact bytes, so a key
 * that differs in a single byte is checked in full.
 */
export class CheckedKeys {
  #last: { form: string; bytes: Uint8Array } | undefined;

  has(form: string, bytes: Uint8Array): boolean {
    return this.#last !== undefined && this.#last.form === form && bytesEqual(this.#last.bytes, bytes);
  }

  add(form: string, bytes: Uint8Array): void {
    this.#last = { form, bytes };
  }
}

/** An EncryptionPublicKey packed in an Any, checked unless `checked` passed the same Any before. */
function checkKeyAny(any: Any, field: string, mode: KingdomMode, checked?: CheckedKeys): void {
  const form = `any ${any.typeUrl}`;
  if (checked?.has(form, any.value)) return;
  checkEncryptionPublicKey(unpackField(EncryptionPublicKeySchema, any, field), field, mode);
  checked?.add(form, any.value);
}

/** A serialized EncryptionPublicKey, checked unless `checked` passed the same bytes before. */
function checkKeyData(data: Uint8Array, field: string, mode: KingdomMode, checked?: CheckedKeys): void {
  if (checked?.has('data', data)) return;
  checkEncryptionPublicKey(parseField(EncryptionPublicKeySchema, data, field), field, mode);
  checked?.add('data', data);
}

function keyInput(eg: EventGroup, mode: KingdomMode, prefix = 'event_group', checked?: CheckedKeys): KeyInput | null {
  let current: Uint8Array | null = null;
  if (eg.measurementConsumerPublicKey !== undefined) {
    const field = `${prefix}.measurement_consumer_public_key`;
    checkKeyAny(eg.measurementConsumerPublicKey, field, mode, checked);
    current = eg.measurementConsumerPublicKey.value;
  }
  const signed = eg.signedMeasurementConsumerPublicKey;
  if (signed === undefined) return current === null ? null : { bytes: current, signature: new Uint8Array(), signatureAlgorithmOid: '' };
  const field = `${prefix}.signed_measurement_consumer_public_key`;
  let legacy: Uint8Array;
  if (signed.message !== undefined) {
    checkKeyAny(signed.message, `${field}.message`, mode, checked);
    legacy = signed.message.value;
  } else if (signed.data.length > 0) {
    checkKeyData(signed.data, `${field}.data`, mode, checked);
    legacy = signed.data;
  } else {
    return requiredField(`${field}.message`);
  }
  if (current !== null && !bytesEqual(current, legacy)) {
    throw invalidArgument('INVALID_FIELD_VALUE', 'measurement_consumer_public_key and signed_measurement_consumer_public_key hold different keys');
  }
  return { bytes: legacy, signature: signed.signature, signatureAlgorithmOid: signed.signatureAlgorithmOid };
}

function metadataInput(eg: EventGroup, prefix = 'event_group'): Uint8Array | null {
  let ciphertext: Uint8Array | null = null;
  if (eg.encryptedMetadata !== undefined) {
    requireTypeUrl(eg.encryptedMetadata.typeUrl, EventGroup_MetadataSchema, `${prefix}.encrypted_metadata.type_url`);
    if (eg.encryptedMetadata.ciphertext.length === 0) requiredField(`${prefix}.encrypted_metadata.ciphertext`);
    ciphertext = eg.encryptedMetadata.ciphertext;
  }
  if (eg.serializedEncryptedMetadata.length > 0) {
    if (ciphertext === null) ciphertext = eg.serializedEncryptedMetadata;
    else if (!bytesEqual(ciphertext, eg.serializedEncryptedMetadata)) {
      throw invalidArgument('INVALID_FIELD_VALUE', 'encrypted_metadata and serialized_encrypted_metadata hold different ciphertexts');
    }
  }
  return ciphertext;
}

const isDateSet = (d: { year: number; month: number; day: number } | undefined): boolean =>
  d !== undefined && d.year > 0 && d.month >= 1 && d.month <= 12 && d.day >= 1 && d.day <= 31;

function checkDateInterval(interval: DateInterval | undefined, field: string): void {
  if (!isDateSet(interval?.startDate)) requiredField(`${field}.start_date`);
  if (!isDateSet(interval?.endDate)) requiredField(`${field}.end_date`);
  if (compareDates(interval!.startDate!, interval!.endDate!) > 0) {
    throw invalidArgument('INVALID_FIELD_VALUE', `${field}.start_date is after ${field}.end_date`, { field });
  }
}

export function compareDates(a: { year: number; month: number; day: number }, b: { year: number; month: number; day: number }): number {
  return a.year - b.year || a.month - b.month || a.day - b.day;
}

/** media_types, entity_key and aggregated_activities: the checks their meaning needs. */
function checkDescriptiveFields(eg: EventGroup): void {
  for (const t of eg.mediaTypes) {
    if (t === MediaType.MEDIA_TYPE_UNSPECIFIED || MediaType[t] === undefined) {
      throw invalidArgument('INVALID_FIELD_VALUE', `event_group.media_types holds unknown value ${t}`, { field: 'event_group.media_types' });
    }
  }
  if (eg.entityKey !== undefined) {
    if (eg.entityKey.entityType === '') requiredField('event_group.entity_key.entity_type');
    if (eg.entityKey.entityId === '') requiredField('event_group.entity_key.entity_id');
  }
  eg.aggregatedActivities.forEach((a, i) => checkDateInterval(a.interval, `event_group.aggregated_activities[${i}].interval`));
}

/** The store's fields for a Create or Update request's EventGroup (all INVALID_ARGUMENT checks). */
export function eventGroupFields(eg: EventGroup, mode: KingdomMode): EventGroupFields {
  const key = keyInput(eg, mode);
  const metadata = metadataInput(eg);
  if (metadata !== null && key === null) {
    throw invalidArgument(
      'REQUIRED_FIELD_NOT_SET',
      'measurement_consumer_public_key must be specified if encrypted_metadata is specified',
      { field: 'event_group.measurement_consumer_public_key' },
    );
  }
  checkDescriptiveFields(eg);
  const details = create(EventGroupSchema, {
    eventTemplates: eg.eventTemplates,
    vidModelLines: eg.vidModelLines,
    mediaTypes: eg.mediaTypes,
    aggregatedActivities: eg.aggregatedActivities,
    ...(eg.dataAvailabilityInterval !== undefined ? { dataAvailabilityInterval: eg.dataAvailabilityInterval } : {}),
    ...(eg.eventGroupMetadata !== undefined ? { eventGroupMetadata: eg.eventGroupMetadata } : {}),
    ...(eg.entityKey !== undefined ? { entityKey: eg.entityKey } : {}),
  });
  if (key !== null && key.signature.length > 0) {
    details.signedMeasurementConsumerPublicKey = create(SignedMessageSchema, {
      signature: key.signature,
      signatureAlgorithmOid: key.signatureAlgorithmOid,
    });
  }
  return {
    eventGroupReferenceId: eg.eventGroupReferenceId,
    encryptedMetadata: metadata,
    measurementConsumerPublicKey: key?.bytes ?? null,
    apiVersion: API_VERSION,
    details: toBinary(EventGroupSchema, details),
  };
}

/**
 * An answer's new ciphertext and key, checked as UpdateEventGroup checks
 * them, or null for an answer that only closes. The key's signature, when it
 * came signed, replaces the one kept in the group's `details`; the rest of
 * `details` stays.
 */
export function reencryptionFields(
  answer: { encryptedMetadata?: EventGroup['encryptedMetadata']; measurementConsumerPublicKey?: EventGroup['measurementConsumerPublicKey']; signedMeasurementConsumerPublicKey?: EventGroup['signedMeasurementConsumerPublicKey'] },
  mode: KingdomMode,
  field: string,
  checked?: CheckedKeys,
): { encryptedMetadata: Uint8Array; measurementConsumerPublicKey: Uint8Array; details: (current: Uint8Array) => Uint8Array } | null {
  const eg = create(EventGroupSchema, answer);
  const key = keyInput(eg, mode, field, checked);
  const metadata = metadataInput(eg, field);
  if (metadata === null) {
    if (key !== null) throw invalidArgument('INVALID_FIELD_VALUE', `${field} has a key without encrypted_metadata: set both, or neither to only close the request`);
    return null;
  }
  if (key === null) requiredField(`${field}.measurement_consumer_public_key`);
  return {
    encryptedMetadata: metadata,
    measurementConsumerPublicKey: key.bytes,
    details: (current) => {
      const details = eventGroupDetails({ details: current });
      details.signedMeasurementConsumerPublicKey =
        key.signature.length > 0 ? create(SignedMessageSchema, { signature: key.signature, signatureAlgorithmOid: key.signatureAlgorithmOid }) : undefined;
      return toBinary(EventGroupSchema, details);
    },
  };
}

/** The fields kept in `details` (an EventGroup holding only them). */
export function eventGroupDetails(r: Pick<EventGroupRecord, 'details'>): EventGroup {
  try {
    return fromBinary(EventGroupSchema, r.details);
  } catch {
    // Written by this service; unreadable details leave only the columns to show.
    return create(EventGroupSchema);
  }
}

/** The EventGroup as the API shows it; aggregated_activities only in the WITH_ACTIVITY_SUMMARY view, as upstream. */
export function renderEventGroup(r: EventGroupRecord, view: EventGroup_View = EventGroup_View.BASIC): EventGroup {
  const details = eventGroupDetails(r);
  const out = create(EventGroupSchema, {
    name: eventGroupName(r.dataProviderId, r.externalEventGroupId),
    measurementConsumer: formatResourceName({ kind: 'measurementConsumer', measurementConsumerId: r.measurementConsumerId }),
    eventGroupReferenceId: r.eventGroupReferenceId,
    eventTemplates: details.eventTemplates,
    vidModelLines: details.vidModelLines,
    mediaTypes: details.mediaTypes,
    state: r.state === 'DELETED' ? EventGroup_State.DELETED : EventGroup_State.ACTIVE,
  });
  if (details.dataAvailabilityInterval !== undefined) out.dataAvailabilityInterval = details.dataAvailabilityInterval;
  if (details.eventGroupMetadata !== undefined) out.eventGroupMetadata = details.eventGroupMetadata;
  if (details.entityKey !== undefined) out.entityKey = details.entityKey;
  if (view === EventGroup_View.WITH_ACTIVITY_SUMMARY) out.aggregatedActivities = details.aggregatedActivities;
  if (r.measurementConsumerPublicKey !== null) {
    const any = encryptionPublicKeyAny(r.measurementConsumerPublicKey);
    out.measurementConsumerPublicKey = any;
    out.signedMeasurementConsumerPublicKey = create(SignedMessageSchema, {
      message: any,
      data: r.measurementConsumerPublicKey,
      signature: details.signedMeasurementConsumerPublicKey?.signature ?? new Uint8Array(),
      signatureAlgorithmOid: details.signedMeasurementConsumerPublicKey?.signatureAlgorithmOid ?? '',
    });
  }
  if (r.encryptedMetadata !== null) {
    out.encryptedMetadata = create(EncryptedMessageSchema, {
      ciphertext: r.encryptedMetadata,
      typeUrl: typeUrlOf(EventGroup_MetadataSchema),
    });
    out.serializedEncryptedMetadata = r.encryptedMetadata;
  }
  return out;
}
