import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError } from '../../src/api/errors.js';
import {
  formatResourceName,
  parseCertificateName,
  parseCertificateParentName,
  parseDataProviderName,
  parseDuchyName,
  parseEventGroupName,
  parseEventGroupParentName,
  parseMeasurementName,
  parsePublicKeyName,
  parseRequisitionName,
  parseRequisitionParentName,
  parseResourceName,
  requireName,
  type ResourceKey,
} from '../../src/api/resource-names.js';

// Three API ids and their values (checked with Python's base64.urlsafe_b64decode).
const A = 'OljiQHRz-E4';
const A_ID = 0x3a58e2407473f84en;
const B = 'AAAAAAAAAAE';
const B_ID = 1n;
const C = 'f_________8';
const C_ID = (1n << 63n) - 1n;

const dp = { kind: 'dataProvider', dataProviderId: A_ID } as const;
const mc = { kind: 'measurementConsumer', measurementConsumerId: B_ID } as const;
const mp = { kind: 'modelProvider', modelProviderId: C_ID } as const;
const duchy = { kind: 'duchy', duchyId: 'worker1' } as const;
const measurement = { kind: 'measurement', parent: mc, measurementId: A_ID } as const;

// Every pattern of cmms-reference §1.1 (plus the admin apiKeys extension).
const patterns: Array<[string, ResourceKey]> = [
  [`dataProviders/${A}`, dp],
  [`measurementConsumers/${B}`, mc],
  [`modelProviders/${C}`, mp],
  ['duchies/worker1', duchy],
  ['duchies/aggregator', { kind: 'duchy', duchyId: 'aggregator' }],
  [`dataProviders/${A}/certificates/${B}`, { kind: 'certificate', parent: dp, certificateId: B_ID }],
  [`measurementConsumers/${B}/certificates/${C}`, { kind: 'certificate', parent: mc, certificateId: C_ID }],
  [`modelProviders/${C}/certificates/${A}`, { kind: 'certificate', parent: mp, certificateId: A_ID }],
  [`duchies/worker1/certificates/${A}`, { kind: 'certificate', parent: duchy, certificateId: A_ID }],
  [`dataProviders/${A}/publicKey`, { kind: 'publicKey', parent: dp }],
  [`measurementConsumers/${B}/publicKey`, { kind: 'publicKey', parent: mc }],
  [`dataProviders/${A}/eventGroups/${C}`, { kind: 'eventGroup', parent: dp, eventGroupId: C_ID }],
  [`measurementConsumers/${B}/eventGroups/${C}`, { kind: 'eventGroup', parent: mc, eventGroupId: C_ID }],
  [`measurementConsumers/${B}/measurements/${A}`, measurement],
  [`dataProviders/${A}/requisitions/${B}`, { kind: 'requisition', parent: dp, requisitionId: B_ID }],
  [
    `measurementConsumers/${B}/measurements/${A}/requisitions/${C}`,
    { kind: 'requisition', parent: measurement, requisitionId: C_ID },
  ],
  [`measurementConsumers/${B}/apiKeys/${A}`, { kind: 'apiKey', parent: mc, apiKeyId: A_ID }],
];

test('every name pattern parses to its typed key and formats back', () => {
  for (const [name, key] of patterns) {
    assert.deepEqual(parseResourceName(name), key, name);
    assert.equal(formatResourceName(key), name);
  }
  console.log(`resource names: ${patterns.length} patterns round-tripped`);
});

test('typed parsers accept only their kinds', () => {
  assert.deepEqual(parseDataProviderName(`dataProviders/${A}`), dp);
  assert.equal(parseDataProviderName(`measurementConsumers/${B}`), undefined);
  assert.equal(parseDuchyName('duchies/worker1')?.duchyId, 'worker1');
  assert.equal(parseCertificateName(`duchies/worker1/certificates/${A}`)?.certificateId, A_ID);
  assert.equal(parseCertificateName(`dataProviders/${A}`), undefined);
  for (const parent of [`dataProviders/${A}`, `measurementConsumers/${B}`, `modelProviders/${C}`, 'duchies/aggregator']) {
    assert.ok(parseCertificateParentName(parent), parent);
  }
  assert.equal(parseCertificateParentName(`dataProviders/${A}/publicKey`), undefined);
  assert.equal(parsePublicKeyName(`dataProviders/${A}/publicKey`)?.parent.kind, 'dataProvider');
  assert.equal(parseEventGroupName(`measurementConsumers/${B}/eventGroups/${A}`)?.parent.kind, 'measurementConsumer');
  assert.ok(parseEventGroupParentName(`measurementConsumers/${B}`));
  assert.equal(parseEventGroupParentName(`modelProviders/${C}`), undefined);
  assert.equal(parseMeasurementName(`measurementConsumers/${B}/measurements/${A}`)?.measurementId, A_ID);
  assert.equal(parseRequisitionName(`dataProviders/${A}/requisitions/${B}`)?.requisitionId, B_ID);
  assert.ok(parseRequisitionParentName(`measurementConsumers/${B}/measurements/${A}`));
  assert.equal(parseRequisitionParentName(`measurementConsumers/${B}`), undefined);
});

test('wrong names are rejected', () => {
  const bad = [
    '',
    '/',
    `dataProviders`,
    `dataProviders/`,
    `dataProviders/${A}/`,
    `/dataProviders/${A}`,
    `dataProviders//${A}`,
    `DataProviders/${A}`,
    `dataProvider/${A}`,
    `dataProviders/${A}=`,
    `dataProviders/AAAAAAAAAAA`, // zero
    `dataProviders/gAAAAAAAAAE`, // negative
    `dataProviders/preferred`,
    `dataProviders/${A}/certificates/preferred`, // upstream's unimplemented alias
    `dataProviders/${A}/certificates`,
    `dataProviders/${A}/certificates/${B}/extra`,
    `dataProviders/${A}/publicKey/${B}`,
    `dataProviders/${A}/publicKeys`,
    `modelProviders/${C}/publicKey`, // ModelProviders have no PublicKey
    `duchies/worker1/publicKey`,
    `duchies/worker1/eventGroups/${A}`,
    `dataProviders/${A}/measurements/${B}`,
    `measurementConsumers/${B}/requisitions/${A}`,
    `dataProviders/${A}/measurements/${B}/requisitions/${C}`,
    `measurementConsumers/${B}/measurements/${A}/requisitions`,
    `measurementConsumers/${B}/measurements/${A}/certificates/${C}`,
    'duchies/Worker1',
    'duchies/1worker',
    'duchies/worker_1',
    'duchies/',
    `duchies/${'a'.repeat(64)}`,
    `dataProviders/${A}?x=1`,
    `dataProviders/${A}`.repeat(40),
  ];
  for (const name of bad) {
    assert.equal(parseResourceName(name), undefined, name);
    assert.throws(
      () => requireName(parseResourceName, name),
      (err) => err instanceof ApiError && err.code === 'INVALID_RESOURCE_NAME',
      name,
    );
  }
  assert.equal(parseResourceName(undefined as unknown as string), undefined);
  console.log(`resource names: ${bad.length} malformed names rejected`);
});

test('requireName returns the key and its message quotes the bad name', () => {
  assert.deepEqual(requireName(parseDataProviderName, `dataProviders/${A}`), dp);
  assert.throws(() => requireName(parseMeasurementName, 'nope', 'measurement name'), /invalid measurement name: "nope"/);
});

test('formatting refuses keys that could not be parsed back', () => {
  const isApiError = (err: unknown) => err instanceof ApiError;
  assert.throws(() => formatResourceName({ kind: 'dataProvider', dataProviderId: 0n }), isApiError);
  assert.throws(() => formatResourceName({ kind: 'duchy', duchyId: 'Bad/Id' }), isApiError);
  assert.throws(
    () => formatResourceName({ kind: 'certificate', parent: dp, certificateId: -5n }),
    isApiError,
  );
});
