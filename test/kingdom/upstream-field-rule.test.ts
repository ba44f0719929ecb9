/**
 * The rule of the served API, checked mechanically: every upstream field of
 * a written resource is stored and returned, or refused with
 * INVALID_ARGUMENT/UNIMPLEMENTED naming it; never silently dropped. For each
 * field of the resource message (upstream's list, read from
 * upstream-v2alpha.binpb, with its google.api.field_behavior), a request is
 * made from a valid baseline with that one field set to a non-default value
 * (the baseline's own value where it has one), and the answer must carry
 * that value or refuse naming the field. OUTPUT_ONLY and IDENTIFIER fields
 * are the server's to set (AIP-203) and are only counted.
 *
 * Mechanical for the messages whose one valid baseline can be varied field
 * by field: EventGroup (create, update), Measurement (create) and
 * DataProvider.Capabilities (ReplaceDataProviderCapabilities). The other
 * written messages carry signed or single-use inputs (a new certificate, a
 * creation token, an Account's ID token) and are covered field by field in
 * their own suites.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import {
  clone,
  create,
  createFileRegistry,
  equals,
  fromBinary,
  ScalarType,
  type DescField,
  type DescMessage,
  type Message,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ConnectError, Code } from '@connectrpc/connect';
import { encryptMessage } from '../../src/crypto/encrypted-message.js';
import { EventGroup_MetadataSchema, EventGroupSchema, type EventGroup } from '../../src/gen/wfa/measurement/api/v2alpha/event_group_pb.js';
import { DataProvider_CapabilitiesSchema, type DataProvider_Capabilities } from '../../src/gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { EventGroups } from '../../src/gen/wfa/measurement/api/v2alpha/event_groups_service_pb.js';
import { MeasurementSchema, type Measurement } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { Measurements } from '../../src/gen/wfa/measurement/api/v2alpha/measurements_service_pb.js';
import {
  encryptionPublicKeyAny,
  encryptionPublicKeyBytes,
  freshDataProvider,
  freshMeasurementConsumer,
  openTestKingdom,
  planMeasurement,
  type MeasurementConsumerParticipant,
  type Participant,
  type TestKingdom,
} from './measurement-fixtures.js';

const UPSTREAM = fileURLToPath(new URL('../../../shared/testdata/cmms-api/upstream-v2alpha.binpb', import.meta.url));
const upstream = createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(UPSTREAM)));

/** google.api.field_behavior (extension 1052 of FieldOptions): OUTPUT_ONLY = 3, IDENTIFIER = 8. */
const FIELD_BEHAVIOR = 1052;
const SERVER_SET = new Set([3, 8]);

function behaviours(field: DescField): number[] {
  const out: number[] = [];
  for (const u of field.proto.options?.$unknown ?? []) {
    if (u.no !== FIELD_BEHAVIOR) continue;
    // Packed (length-prefixed) or one varint; every value is below 128.
    const data = u.data;
    if (u.wireType === 2) out.push(...data.subarray(1));
    else out.push(data[0]!);
  }
  return out;
}

/** A value for `field` that is not its default: the last enum value, 1, true, "x", one element, a message with its own fields set. */
function nonDefault(field: DescField, depth = 0): unknown {
  const one = (kind: 'scalar' | 'enum' | 'message', f: DescField): unknown => {
    const t = f as { scalar?: ScalarType; enum?: { values: { number: number }[] }; message?: DescMessage };
    if (kind === 'enum') return t.enum!.values.at(-1)!.number;
    if (kind === 'message') return filled(t.message!, depth + 1);
    switch (t.scalar!) {
      case ScalarType.STRING:
        return `x-${f.name}`;
      case ScalarType.BOOL:
        return true;
      case ScalarType.BYTES:
        return new Uint8Array([1, 2, 3]);
      case ScalarType.INT64:
      case ScalarType.UINT64:
      case ScalarType.SINT64:
      case ScalarType.FIXED64:
      case ScalarType.SFIXED64:
        return 1n;
      default:
        return 1;
    }
  };
  switch (field.fieldKind) {
    case 'scalar':
    case 'enum':
    case 'message':
      return one(field.fieldKind, field);
    case 'list':
      return [one(field.listKind, field)];
    case 'map':
      return { k: one(field.mapKind, field) };
  }
}

function filled(schema: DescMessage, depth: number): Message {
  const m = create(schema) as Record<string, unknown>;
  if (depth > 3) return m as Message;
  for (const f of schema.fields) {
    if (f.oneof !== undefined) {
      if (f.oneof.fields[0] !== f) continue;
      m[f.oneof.localName] = { case: f.localName, value: nonDefault(f, depth) };
    } else {
      m[f.localName] = nonDefault(f, depth);
    }
  }
  return m as Message;
}

function get(message: Message, field: DescField): unknown {
  const m = message as unknown as Record<string, unknown>;
  if (field.oneof === undefined) return m[field.localName];
  const o = m[field.oneof.localName] as { case?: string; value?: unknown };
  return o.case === field.localName ? o.value : undefined;
}

function set(message: Message, field: DescField, value: unknown): void {
  const m = message as unknown as Record<string, unknown>;
  if (field.oneof === undefined) m[field.localName] = value;
  else m[field.oneof.localName] = { case: field.localName, value };
}

function isSet(value: unknown): boolean {
  if (value === undefined || value === '' || value === 0 || value === 0n || value === false) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (value instanceof Uint8Array) return value.length > 0;
  return true;
}

function same(field: DescField, a: unknown, b: unknown): boolean {
  const message = (field as { message?: DescMessage }).message;
  if (message !== undefined && field.fieldKind === 'message') return a !== undefined && equals(message, a as Message, b as Message);
  if (message !== undefined && field.fieldKind === 'list') {
    const [x, y] = [a as Message[], b as Message[]];
    return x.length === y.length && x.every((v, i) => equals(message, v, y[i]!));
  }
  return JSON.stringify(a, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? [...v] : v)) ===
    JSON.stringify(b, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? [...v] : v));
}

interface Outcome {
  returned: string[];
  refused: string[];
  serverSet: string[];
  dropped: string[];
}

/**
 * For each upstream field of `resource`, one call with it set; the answer's
 * copy of the resource must carry it, or the call be refused naming it.
 */
async function checkEveryField(
  resource: DescMessage,
  baseline: Message,
  call: (resource: Message) => Promise<Message>,
): Promise<Outcome> {
  const outcome: Outcome = { returned: [], refused: [], serverSet: [], dropped: [] };
  const up = upstream.getMessage(resource.typeName);
  assert.ok(up, `${resource.typeName} is upstream`);
  for (const upField of up.fields) {
    const field = resource.fields.find((f) => f.name === upField.name);
    assert.ok(field, `${resource.typeName}.${upField.name} is declared (upstream-schema.test.ts checks the rest)`);
    if (behaviours(upField).some((b) => SERVER_SET.has(b))) {
      outcome.serverSet.push(field.name);
      continue;
    }
    const request = clone(resource, baseline);
    const base = get(baseline, field);
    const value = isSet(base) ? base : nonDefault(field);
    set(request, field, value);
    let answer: Message;
    try {
      answer = await call(request);
    } catch (err) {
      const e = ConnectError.from(err);
      assert.ok(
        (e.code === Code.InvalidArgument || e.code === Code.Unimplemented) && (e.rawMessage.includes(field.name) || e.rawMessage.includes(field.jsonName)),
        `${resource.typeName}.${field.name}: refused without naming it: ${Code[e.code]} ${e.rawMessage}`,
      );
      outcome.refused.push(field.name);
      continue;
    }
    if (same(field, get(answer, field), value)) outcome.returned.push(field.name);
    else outcome.dropped.push(field.name);
  }
  return outcome;
}

function report(method: string, o: Outcome): void {
  console.log(
    `field-rule ${method}: ${o.returned.length} returned, ${o.refused.length} refused naming the field (${o.refused.join(', ')}), ` +
      `${o.serverSet.length} server-set (${o.serverSet.join(', ')}), ` +
      `${o.dropped.length} dropped`,
  );
}

describe('every upstream field of a written resource is returned or refused naming it', () => {
  let kingdom: TestKingdom;
  let mc: MeasurementConsumerParticipant;
  let dp: Participant;
  let baseline: EventGroup;

  before(async () => {
    kingdom = await openTestKingdom('strict');
    mc = await freshMeasurementConsumer(kingdom);
    dp = await freshDataProvider(kingdom);
    baseline = create(EventGroupSchema, {
      measurementConsumer: mc.name,
      measurementConsumerPublicKey: encryptionPublicKeyAny(encryptionPublicKeyBytes(mc.encryptionPublicKeyset)),
      encryptedMetadata: encryptMessage(mc.encryptionPublicKeyset, EventGroup_MetadataSchema, create(EventGroup_MetadataSchema, {})),
    });
  });
  after(async () => {
    await kingdom.close();
  });

  it('EventGroups.CreateEventGroup', async () => {
    const client = kingdom.client(EventGroups);
    let n = 0;
    const o = await checkEveryField(
      EventGroupSchema,
      baseline,
      // A fresh reference id each call (unless the field under test sets it), so no call meets an earlier group.
      (eventGroup) =>
        client.createEventGroup(
          { parent: dp.name, eventGroup: { ...(eventGroup as EventGroup), eventGroupReferenceId: (eventGroup as EventGroup).eventGroupReferenceId || `ref-${n++}` } },
          dp.mtls,
        ),
    );
    report('CreateEventGroup', o);
    assert.deepEqual(o.dropped, []);
    assert.ok(o.returned.length >= 8, `too few fields returned: ${o.returned.join(', ')}`);
  });

  it('EventGroups.UpdateEventGroup', async () => {
    const client = kingdom.client(EventGroups);
    const created = await client.createEventGroup({ parent: dp.name, eventGroup: { ...baseline, eventGroupReferenceId: 'update-base' } }, dp.mtls);
    const o = await checkEveryField(
      EventGroupSchema,
      created,
      (eventGroup) => client.updateEventGroup({ eventGroup: eventGroup as EventGroup }, dp.mtls),
    );
    report('UpdateEventGroup', o);
    assert.deepEqual(o.dropped, []);
    assert.ok(o.returned.length >= 8, `too few fields returned: ${o.returned.join(', ')}`);
  });

  it('Measurements.CreateMeasurement', async () => {
    const client = kingdom.client(Measurements);
    let n = 0;
    const o = await checkEveryField(MeasurementSchema, planMeasurement(mc, [dp]).request.measurement!, (measurement) =>
      // A fresh request id each call, so none is answered with an earlier measurement.
      client.createMeasurement({ parent: mc.name, measurement: measurement as Measurement, requestId: `field-rule-${n++}` }, mc.mtls),
    );
    report('CreateMeasurement', o);
    assert.deepEqual(o.dropped, []);
    assert.ok(o.returned.length >= 4, `too few fields returned: ${o.returned.join(', ')}`);
  });

  it('DataProviders.ReplaceDataProviderCapabilities', async () => {
    const client = kingdom.client(DataProviders);
    const o = await checkEveryField(DataProvider_CapabilitiesSchema, create(DataProvider_CapabilitiesSchema), async (capabilities) =>
      (await client.replaceDataProviderCapabilities({ name: dp.name, capabilities: capabilities as DataProvider_Capabilities }, dp.mtls)).capabilities!,
    );
    report('ReplaceDataProviderCapabilities', o);
    assert.deepEqual(o.dropped, []);
    assert.equal(o.returned.length, DataProvider_CapabilitiesSchema.fields.length);
  });
});
