import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ApiError } from '../../src/api/errors.js';
import {
  apiIdToExternalId,
  externalIdToApiId,
  generateExternalId,
  parseApiId,
} from '../../src/api/api-id.js';
import { ManualClock } from '../../src/lib/clock.js';

const MAX = (1n << 63n) - 1n;

function isInvalidApiId(err: unknown): boolean {
  return err instanceof ApiError && err.code === 'INVALID_API_ID';
}

test('the reference example decodes to the positive int64 its 8 bytes spell', () => {
  // 3a 58 e2 40 74 73 f8 4e, checked with Python's base64.urlsafe_b64decode.
  assert.equal(apiIdToExternalId('OljiQHRz-E4'), 0x3a58e2407473f84en);
  assert.equal(externalIdToApiId(0x3a58e2407473f84en), 'OljiQHRz-E4');
});

test('agrees with openssl base64 on random ids', () => {
  for (let i = 0; i < 20; i++) {
    const id = generateExternalId();
    const apiId = externalIdToApiId(id);
    assert.equal(apiId.length, 11);
    // Independent decoder: openssl base64 -d on the standard alphabet with padding.
    const std = apiId.replaceAll('-', '+').replaceAll('_', '/') + '=';
    const hex = execFileSync('openssl', ['base64', '-d', '-A'], { input: std }).toString('hex');
    assert.equal(BigInt(`0x${hex}`), id);
    assert.equal(apiIdToExternalId(apiId), id);
  }
});

test('round trips the edges of the range', () => {
  for (const id of [1n, 2n, 255n, 256n, 1n << 32n, MAX - 1n, MAX]) {
    const apiId = externalIdToApiId(id);
    assert.equal(apiId.length, 11);
    assert.equal(apiIdToExternalId(apiId), id);
  }
});

test('refuses to write zero, negative or over-wide ids', () => {
  for (const id of [0n, -1n, MAX + 1n, 1n << 64n]) {
    assert.throws(() => externalIdToApiId(id), isInvalidApiId, String(id));
  }
});

test('rejects every non-canonical or out-of-range spelling', () => {
  const b64url = (bytes: number[]) => Buffer.from(bytes).toString('base64url');
  const cases: Record<string, string> = {
    sevenBytes: b64url([1, 2, 3, 4, 5, 6, 7]),
    nineBytes: b64url([0, 1, 2, 3, 4, 5, 6, 7, 8]),
    zero: b64url([0, 0, 0, 0, 0, 0, 0, 0]),
    negative: b64url([0x80, 0, 0, 0, 0, 0, 0, 1]),
    minusOne: b64url([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
    padded: 'OljiQHRz-E4=',
    standardAlphabet: Buffer.from([0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf0]).toString('base64').replace(/=+$/, ''),
    trailingBitsSet: 'OljiQHRz-E5',
    empty: '',
    whitespace: ' OljiQHRz-E4',
    tooLong: 'OljiQHRz-E4A',
    nonAscii: 'OljiQHRz-Eé',
  };
  assert.match(cases.standardAlphabet!, /[+/]/); // the case really uses the standard alphabet
  for (const [label, text] of Object.entries(cases)) {
    assert.equal(parseApiId(text), undefined, label);
    assert.throws(() => apiIdToExternalId(text), isInvalidApiId, label);
  }
  // Not a string at all (e.g. from untyped JSON).
  assert.equal(parseApiId(42 as unknown as string), undefined);
});

test('generateExternalId: random high half, epoch millis low half, always positive', () => {
  const clock = new ManualClock(Date.UTC(2026, 7, 1, 12, 0, 0, 123));
  const millisLow = BigInt(clock.now().getTime()) & 0xffff_ffffn;

  const allOnes = generateExternalId({ clock, random: (n) => new Uint8Array(n).fill(0xff) });
  assert.equal(allOnes, (0x7fff_ffffn << 32n) | millisLow);
  assert.ok(allOnes > 0n && allOnes <= MAX);

  const fixed = generateExternalId({ clock, random: () => Uint8Array.of(0x12, 0x34, 0x56, 0x78) });
  assert.equal(fixed >> 32n, 0x12345678n);
  assert.equal(fixed & 0xffff_ffffn, millisLow);

  // A zero high half with a zero low half would be 0: it draws again.
  const zeroClock = new ManualClock(0);
  const draws = [Uint8Array.of(0, 0, 0, 0), Uint8Array.of(0, 0, 0, 9)];
  const id = generateExternalId({ clock: zeroClock, random: () => draws.shift()! });
  assert.equal(id, 9n << 32n);

  const seen = new Set<bigint>();
  for (let i = 0; i < 1000; i++) {
    const next = generateExternalId();
    assert.ok(next > 0n && next <= MAX);
    seen.add(next);
  }
  assert.ok(seen.size > 990, `only ${seen.size} distinct ids in 1000`);
});
