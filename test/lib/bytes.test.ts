import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bytesEqual, concatBytes, hex } from '../../src/lib/bytes.js';
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

test('bytesEqual compares views by their own bytes, not their buffers', () => {
  const buffer = Uint8Array.of(0, 1, 2, 3, 1, 2, 3);
  assert.ok(bytesEqual(buffer.subarray(1, 4), buffer.subarray(4, 7)));
  assert.ok(!bytesEqual(buffer.subarray(0, 3), buffer.subarray(4, 7)));
});

test('hex is lower case without separators, for views too', () => {
  assert.equal(hex(Uint8Array.of(0x00, 0xab, 0x0f)), '00ab0f');
  assert.equal(hex(Uint8Array.of(9, 0xfe, 0xff, 7).subarray(1, 3)), 'feff');
  assert.equal(hex(new Uint8Array(0)), '');
});
