import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesEqual, concatBytes } from '../../src/lib/bytes.js';
import { concat } from '../../src/lib/der.js';

test('concatBytes joins parts in order, empty parts included', () => {
  assert.deepEqual(concatBytes(), new Uint8Array(0));
  assert.deepEqual(concatBytes(Uint8Array.of(1, 2), new Uint8Array(0), Uint8Array.of(3)), Uint8Array.of(1, 2, 3));
  // The DER writer's array form is the same operation.
  assert.deepEqual(concat([Uint8Array.of(9), Uint8Array.of(8, 7)]), Uint8Array.of(9, 8, 7));
});

test('bytesEqual compares length and every byte', () => {
  assert.ok(bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3)));
  assert.ok(bytesEqual(new Uint8Array(0), new Uint8Array(0)));
  assert.ok(!bytesEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4)));
  assert.ok(!bytesEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 0)));
});
