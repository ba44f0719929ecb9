import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../../src/lib/duration.js';
import { DEFAULT_POLICY } from '../../src/rotation/config.js';

const H = 3_600_000;
const D = 24 * H;

describe('durations', () => {
  it('print in their two largest units, as policies are written', () => {
    assert.equal(formatDuration(H), '1h');
    assert.equal(formatDuration(30 * D), '30d');
    assert.equal(formatDuration(90 * D), '90d');
    assert.equal(formatDuration(60_000), '1m');
    assert.equal(formatDuration(45_000), '45s');
    assert.equal(formatDuration(36 * H), '1d12h');
    assert.equal(formatDuration(90_000), '1m30s');
    // Parts below the second unit are dropped, and a zero second unit ends it.
    assert.equal(formatDuration(D + 30 * 60_000), '1d');
    assert.equal(formatDuration(2 * D + 3 * H + 59 * 60_000), '2d3h');
    assert.equal(formatDuration(250), '250ms');
    assert.equal(formatDuration(0), '0s');
    assert.equal(formatDuration(-2 * D), '-2d');
  });

  it('print one unit when asked (status columns)', () => {
    assert.equal(formatDuration(45 * D + 3 * H, 1), '45d');
    assert.equal(formatDuration(5 * H + 59 * 60_000, 1), '5h');
    assert.equal(formatDuration(-(3 * D), 1), '-3d');
  });

  it('read back what they print, and the default policy prints as the YAML writes it', () => {
    for (const text of ['1h', '30d', '90d', '45s', '2m', '7d']) assert.equal(formatDuration(parseDuration(text)!), text);
    assert.equal(parseDuration('2w'), 14 * D);
    assert.equal(parseDuration('1.5h'), 1.5 * H);
    for (const bad of ['', '3600000', '1 hour', 'h', '-1h', '1y']) assert.equal(parseDuration(bad), undefined, bad);
    assert.deepEqual(
      [DEFAULT_POLICY.tls.everyMs, DEFAULT_POLICY.encryption.everyMs, DEFAULT_POLICY.overdueAfterMs].map((ms) => formatDuration(ms)),
      ['90d', '30d', '7d'],
    );
  });
});
