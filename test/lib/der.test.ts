import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  DerError,
  children,
  encode,
  parse,
  readBitString,
  readBoolean,
  readInteger,
  readOid,
  readTime,
} from '../../src/lib/der.js';

const hex = (s: string) => new Uint8Array(Buffer.from(s.replace(/\s/g, ''), 'hex'));

describe('der', () => {
  it('round-trips integers, including negatives and high-bit magnitudes', () => {
    for (const n of [0n, 1n, 127n, 128n, 255n, 256n, -1n, -128n, -129n, 2n ** 64n, -(2n ** 63n)]) {
      assert.equal(readInteger(parse(encode.integer(n))), n, `integer ${n}`);
    }
    assert.deepEqual(encode.integer(hex('00 00 80')), hex('02 02 00 80'));
  });

  it('rejects non-minimal integers, lengths and indefinite forms', () => {
    assert.throws(() => readInteger(parse(hex('02 02 00 01'))), DerError);
    assert.throws(() => readInteger(parse(hex('02 02 ff 80'))), DerError);
    assert.throws(() => parse(hex('04 81 01 00')), DerError);
    assert.throws(() => parse(hex('30 80 00 00')), DerError);
    assert.throws(() => parse(hex('04 05 00')), DerError);
    assert.throws(() => parse(hex('04 01 00 00')), /trailing/);
  });

  it('reads OIDs and writes them back', () => {
    for (const oid of ['1.2.840.10045.4.3.2', '2.5.29.14', '2.999.3', '1.3.6.1.4.1.11129.2.4.2']) {
      assert.equal(readOid(parse(encode.oid(oid))), oid);
    }
    assert.throws(() => readOid(parse(hex('06 02 80 01'))), DerError);
  });

  it('reads DER booleans strictly', () => {
    assert.equal(readBoolean(parse(hex('01 01 ff'))), true);
    assert.throws(() => readBoolean(parse(hex('01 01 01'))), DerError);
  });

  it('checks BIT STRING padding', () => {
    assert.deepEqual(readBitString(parse(hex('03 02 07 80'))).unusedBits, 7);
    assert.throws(() => readBitString(parse(hex('03 02 07 81'))), DerError);
  });

  it('reads and writes UTCTime and GeneralizedTime per RFC 5280', () => {
    const t = new Date('2032-07-26T12:34:56Z');
    assert.equal(readTime(parse(encode.time(t))).toISOString(), t.toISOString());
    const far = new Date('2051-01-01T00:00:00Z');
    assert.equal(parse(encode.time(far)).tag, 24);
    assert.equal(readTime(parse(encode.time(far))).toISOString(), far.toISOString());
    assert.equal(readTime(parse(encode.time(new Date('1999-12-31T23:59:59Z')))).getUTCFullYear(), 1999);
    assert.throws(() => readTime(parse(hex('17 0d 323330323330303030303030 5a'))), DerError); // Feb 30
  });

  it('walks nested sequences without copying', () => {
    const der = encode.sequence(encode.integer(5), encode.sequence(encode.boolean(true)));
    const [a, b] = children(parse(der));
    assert.equal(readInteger(a), 5n);
    assert.equal(readBoolean(children(b!)[0]), true);
    assert.equal(a!.bytes.buffer, der.buffer);
  });

  it('never throws anything but DerError on random input', () => {
    for (let i = 0; i < 2000; i++) {
      const buf = new Uint8Array(Math.floor(Math.random() * 40));
      crypto.getRandomValues(buf);
      try {
        const node = parse(buf);
        if (node.constructed) children(node);
      } catch (err) {
        assert.ok(err instanceof DerError, String(err));
      }
    }
  });
});
