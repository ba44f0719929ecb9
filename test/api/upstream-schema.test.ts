/**
 * The project's schema against upstream's: `upstream-v2alpha.binpb` is the
 * descriptor set of cross-media-measurement-api compiled by buf (see its
 * README in ../shared/testdata/cmms-api). For every upstream service the
 * Kingdom routes, every method; for every message those methods reach
 * (through fields, nested declarations and the packed types of
 * src/api/any-types.ts), every field's number, type, label, oneof, JSON name
 * and deprecation, and every enum value, must be the project's too. What the
 * project leaves out on purpose is listed below with the reason; anything
 * else that differs fails.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  createFileRegistry,
  createRegistry,
  fromBinary,
  ScalarType,
  type DescEnum,
  type DescField,
  type DescFile,
  type DescMessage,
  type DescService,
  type Registry,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { createConnectRouter } from '@connectrpc/connect';
import { PACKED_MESSAGE_TYPES } from '../../src/api/any-types.js';
import type { KingdomServices } from '../../src/kingdom/service/context.js';
import { kingdomRoutes } from '../../src/kingdom/service/routes.js';

const UPSTREAM = fileURLToPath(new URL('../../../shared/testdata/cmms-api/upstream-v2alpha.binpb', import.meta.url));
const PACKAGE = 'wfa.measurement.api.v2alpha';

/** Upstream services the Kingdom does not serve, and why. */
const NOT_SERVED: Record<string, string> = {
  ClientAccounts: 'client accounts belong to the EDP aggregator deployment, not to this Kingdom',
  UnlinkedClientAccounts: 'client accounts belong to the EDP aggregator deployment, not to this Kingdom',
  EventGroupActivities: 'no per-day activity resources: a DataProvider states its activity in EventGroup.aggregated_activities on create and update',
  EventGroupMetadataDescriptors: 'metadata descriptors are not stored; EventGroup.Metadata names one as a string',
  Exchanges: 'panel exchanges are outside certificate and key lifecycle',
  ExchangeSteps: 'panel exchanges are outside certificate and key lifecycle',
  ExchangeStepAttempts: 'panel exchanges are outside certificate and key lifecycle',
  ModelLines: 'VID models are not served; MeasurementSpec.model_line is stored as given',
  ModelOutages: 'VID models are not served',
  ModelReleases: 'VID models are not served',
  ModelRollouts: 'VID models are not served',
  ModelShards: 'VID models are not served',
  ModelSuites: 'VID models are not served',
  Populations: 'populations are not served; population measurements name theirs in the RequisitionSpec',
  RequisitionFulfillment: 'a Duchy service (MPC fulfillment); the Kingdom serves direct fulfillment only',
};

/**
 * Fields, enum values, methods or messages (by full name) of served
 * services that the project leaves out on purpose, and why. Empty: the
 * project declares everything upstream declares for what it serves.
 */
const LEFT_OUT: Record<string, string> = {};

function loadUpstream(): Registry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(UPSTREAM)));
}

/** The project's public services, as the Kingdom routes them, and every file they and the packed types reach. */
function projectSchema(): { services: DescService[]; registry: Registry } {
  const router = createConnectRouter();
  // Building the routes only wraps handlers; no handler runs, so no services are needed.
  kingdomRoutes({} as KingdomServices)(router);
  const services = [...new Map(router.handlers.map((h) => [h.service.typeName, h.service])).values()].filter(
    (s) => s.typeName.startsWith(`${PACKAGE}.`),
  );
  const files = new Set<DescFile>();
  const addFile = (file: DescFile): void => {
    if (files.has(file)) return;
    files.add(file);
    file.dependencies.forEach(addFile);
  };
  services.forEach((s) => addFile(s.file));
  PACKED_MESSAGE_TYPES.forEach((m) => addFile(m.file));
  return { services, registry: createRegistry(...files) };
}

function typeOf(kind: 'scalar' | 'enum' | 'message', f: { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage }): string {
  if (kind === 'scalar') return ScalarType[f.scalar!].toLowerCase();
  return kind === 'enum' ? f.enum!.typeName : f.message!.typeName;
}

/** Number, label, type, oneof, JSON name and deprecation of a field, as one comparable line. */
function signature(f: DescField): string {
  let labelAndType: string;
  switch (f.fieldKind) {
    case 'scalar':
      labelAndType = `${f.proto.proto3Optional ? 'optional ' : ''}${typeOf('scalar', f)}`;
      break;
    case 'enum':
    case 'message':
      labelAndType = `${f.proto.proto3Optional ? 'optional ' : ''}${typeOf(f.fieldKind, f as { enum?: DescEnum; message?: DescMessage })}`;
      break;
    case 'list':
      labelAndType = `repeated ${typeOf(f.listKind, f as { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage })}`;
      break;
    case 'map':
      labelAndType = `map<${ScalarType[f.mapKey].toLowerCase()}, ${typeOf(f.mapKind, f as { scalar?: ScalarType; enum?: DescEnum; message?: DescMessage })}>`;
      break;
  }
  const oneof = f.oneof === undefined ? '' : ` oneof ${f.oneof.name}`;
  return `= ${f.number} ${labelAndType}${oneof} json=${f.jsonName}${f.deprecated ? ' deprecated' : ''}`;
}

interface Reached {
  messages: Map<string, DescMessage>;
  enums: Map<string, DescEnum>;
}

/** Messages and enums reachable from `roots` through fields and nested declarations (google.protobuf WKTs excluded). */
function reach(roots: DescMessage[]): Reached {
  const out: Reached = { messages: new Map(), enums: new Map() };
  const addEnum = (e: DescEnum): void => {
    if (!e.typeName.startsWith('google.protobuf.')) out.enums.set(e.typeName, e);
  };
  const visit = (m: DescMessage): void => {
    if (m.typeName.startsWith('google.protobuf.') || out.messages.has(m.typeName)) return;
    out.messages.set(m.typeName, m);
    m.nestedMessages.forEach(visit);
    m.nestedEnums.forEach(addEnum);
    for (const f of m.fields) {
      const t = f as { enum?: DescEnum; message?: DescMessage };
      if (t.message !== undefined) visit(t.message);
      if (t.enum !== undefined) addEnum(t.enum);
    }
  };
  roots.forEach(visit);
  return out;
}

interface Comparison {
  problems: string[];
  leftOutSeen: Set<string>;
  counts: { services: number; methods: number; messages: number; fields: number; enums: number; values: number };
}

function compare(upstream: Registry, project: { services: DescService[]; registry: Registry }): Comparison {
  const result: Comparison = {
    problems: [],
    leftOutSeen: new Set(),
    counts: { services: 0, methods: 0, messages: 0, fields: 0, enums: 0, values: 0 },
  };
  const { problems, leftOutSeen, counts } = result;
  const differs = (name: string, message: string): void => {
    if (name in LEFT_OUT) leftOutSeen.add(name);
    else problems.push(`${name}: ${message}`);
  };

  const served = new Map(project.services.map((s) => [s.name, s]));
  const roots: DescMessage[] = [];
  const upstreamServices: DescService[] = [];
  for (const t of upstream) if (t.kind === 'service' && t.typeName.startsWith(`${PACKAGE}.`)) upstreamServices.push(t);
  for (const up of upstreamServices) {
    const ours = served.get(up.name);
    if (ours === undefined) {
      if (!(up.name in NOT_SERVED)) problems.push(`${up.typeName}: upstream service neither served nor listed in NOT_SERVED`);
      continue;
    }
    counts.services++;
    for (const m of up.methods) {
      roots.push(m.input, m.output);
      const name = `${up.typeName}.${m.name}`;
      const mine = ours.methods.find((x) => x.name === m.name);
      counts.methods++;
      if (mine === undefined) differs(name, 'method missing');
      else if (mine.input.typeName !== m.input.typeName || mine.output.typeName !== m.output.typeName || mine.methodKind !== m.methodKind) {
        differs(name, `(${mine.input.typeName}) returns (${mine.output.typeName}) ${mine.methodKind}, upstream (${m.input.typeName}) returns (${m.output.typeName}) ${m.methodKind}`);
      }
    }
    for (const mine of ours.methods) {
      if (!up.methods.some((m) => m.name === mine.name)) problems.push(`${up.typeName}.${mine.name}: method not upstream`);
    }
  }
  for (const name of Object.keys(NOT_SERVED)) {
    if (served.has(name)) problems.push(`${PACKAGE}.${name}: served, yet listed in NOT_SERVED`);
    if (!upstreamServices.some((s) => s.name === name)) problems.push(`${PACKAGE}.${name}: listed in NOT_SERVED, not an upstream service`);
  }
  for (const packed of PACKED_MESSAGE_TYPES) {
    const up = upstream.getMessage(packed.typeName);
    if (up === undefined) problems.push(`${packed.typeName}: packed type not upstream`);
    else roots.push(up);
  }

  const reached = reach(roots);
  for (const up of reached.messages.values()) {
    counts.messages++;
    const mine = project.registry.getMessage(up.typeName);
    if (mine === undefined) {
      differs(up.typeName, 'message missing');
      continue;
    }
    for (const f of up.fields) {
      counts.fields++;
      const name = `${up.typeName}.${f.name}`;
      const ours = mine.fields.find((x) => x.name === f.name);
      if (ours === undefined) differs(name, `field missing (upstream ${signature(f)})`);
      else if (signature(ours) !== signature(f)) differs(name, `${signature(ours)}, upstream ${signature(f)}`);
    }
    for (const f of mine.fields) {
      if (!up.fields.some((x) => x.name === f.name)) problems.push(`${up.typeName}.${f.name}: field not upstream (${signature(f)})`);
    }
  }
  for (const up of reached.enums.values()) {
    counts.enums++;
    const mine = project.registry.getEnum(up.typeName);
    if (mine === undefined) {
      differs(up.typeName, 'enum missing');
      continue;
    }
    for (const v of up.values) {
      counts.values++;
      const ours = mine.values.find((x) => x.name === v.name);
      if (ours === undefined) differs(`${up.typeName}.${v.name}`, `enum value missing (upstream ${v.number})`);
      else if (ours.number !== v.number) differs(`${up.typeName}.${v.name}`, `= ${ours.number}, upstream ${v.number}`);
    }
    for (const v of mine.values) {
      if (!up.values.some((x) => x.name === v.name)) problems.push(`${up.typeName}.${v.name}: enum value not upstream`);
    }
  }
  return result;
}

test('every served service, method, message, field and enum value is upstream\'s', () => {
  const upstream = loadUpstream();
  const project = projectSchema();
  const { problems, leftOutSeen, counts } = compare(upstream, project);
  console.log(
    `upstream-schema: compared ${counts.services} services, ${counts.methods} methods, ${counts.messages} messages, ` +
      `${counts.fields} fields, ${counts.enums} enums, ${counts.values} enum values; ${problems.length} differences; ` +
      `${leftOutSeen.size} left out on purpose`,
  );
  for (const [name, reason] of Object.entries(LEFT_OUT)) console.log(`  left out: ${name}: ${reason}`);
  for (const [name, reason] of Object.entries(NOT_SERVED)) console.log(`  not served: ${PACKAGE}.${name}: ${reason}`);
  assert.deepEqual(problems, []);
  const stale = Object.keys(LEFT_OUT).filter((name) => !leftOutSeen.has(name));
  assert.deepEqual(stale, [], 'LEFT_OUT entries the project no longer leaves out');
  assert.ok(counts.services >= 9 && counts.fields > 300, `walk too small: ${JSON.stringify(counts)}`);
});

test('the comparison catches a changed field, a missing method and an extra enum value', () => {
  // Upstream against a copy of itself with three edits: the comparison must see each.
  const upstream = loadUpstream();
  const set = fromBinary(FileDescriptorSetSchema, readFileSync(UPSTREAM));
  for (const file of set.file) {
    for (const m of file.messageType) {
      if (m.name === 'Certificate') m.field.find((f) => f.name === 'x509_der')!.number = 7;
      if (m.name === 'EventGroup') m.enumType.find((e) => e.name === 'State')!.value.push({ ...m.enumType[0]!.value[0]!, name: 'ARCHIVED', number: 3 });
    }
    for (const s of file.service) if (s.name === 'Requisitions') s.method = s.method.filter((x) => x.name !== 'GetRequisition');
  }
  const edited = createFileRegistry(set);
  const services: DescService[] = [];
  for (const t of edited) if (t.kind === 'service' && !(t.name in NOT_SERVED) && t.typeName.startsWith(`${PACKAGE}.`)) services.push(t);
  const { problems } = compare(upstream, { services, registry: edited });
  assert.deepEqual(problems.sort(), [
    `${PACKAGE}.Certificate.x509_der: = 7 bytes json=x509Der, upstream = 2 bytes json=x509Der`,
    `${PACKAGE}.EventGroup.State.ARCHIVED: enum value not upstream`,
    `${PACKAGE}.Requisitions.GetRequisition: method missing`,
  ]);
});
