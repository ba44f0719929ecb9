import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_POLICY, parseDuration, parsePolicy, type RotationPolicy } from '../../src/rotation/config.js';
import { RotationError } from '../../src/rotation/errors.js';
import { jitterFraction, scheduleFor, urgency } from '../../src/rotation/policy.js';

const DAY = 86_400_000;
const base = { id: 'signing-x', createdAt: '2026-01-01T00:00:00.000Z' };
const noJitter = { everyMs: 90 * DAY, jitterMs: 0, minRemainingMs: 0 };

describe('rotation policy', () => {
  it('age: due `every` after creation', () => {
    const s = scheduleFor(base, noJitter);
    assert.equal(s.dueAt.toISOString(), '2026-04-01T00:00:00.000Z');
    assert.equal(s.basis, 'age');
  });

  it('fraction: due at 2/3 of the real validity, whatever the creation time', () => {
    const entry = { ...base, notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-01-31T00:00:00.000Z', createdAt: '2026-01-20T00:00:00.000Z' };
    const s = scheduleFor(entry, { ...noJitter, fraction: 2 / 3 });
    assert.equal(s.dueAt.toISOString(), '2026-01-21T00:00:00.000Z');
    assert.equal(s.basis, 'fraction');
  });

  it('jitter moves the date earlier by a fixed amount per key, never later, and differs between keys', () => {
    const policy = { ...noJitter, jitterMs: 4 * DAY };
    const a = scheduleFor({ ...base, skid: 'aa' }, policy);
    const again = scheduleFor({ ...base, skid: 'aa' }, policy);
    assert.equal(a.dueAt.getTime(), again.dueAt.getTime(), 'the same key gets the same date every run');
    assert.ok(a.dueAt <= a.scheduledAt && a.scheduledAt.getTime() - a.dueAt.getTime() < 4 * DAY);
    const dates = new Set(Array.from({ length: 50 }, (_, i) => scheduleFor({ ...base, skid: i.toString(16) }, policy).dueAt.getTime()));
    assert.ok(dates.size > 45, `50 keys spread over ${dates.size} dates`);
    // The fractions are spread over [0, 1).
    const fr = Array.from({ length: 1000 }, (_, i) => jitterFraction(`seed${i}`));
    assert.ok(fr.every((f) => f >= 0 && f < 1));
    const mean = fr.reduce((x, y) => x + y, 0) / fr.length;
    assert.ok(Math.abs(mean - 0.5) < 0.05, `mean ${mean}`);
  });

  it('minimum remaining validity wins over a later schedule', () => {
    const entry = { ...base, notBefore: '2026-01-01T00:00:00.000Z', notAfter: '2026-02-15T00:00:00.000Z' };
    const s = scheduleFor(entry, { ...noJitter, minRemainingMs: 14 * DAY });
    assert.equal(s.dueAt.toISOString(), '2026-02-01T00:00:00.000Z');
    assert.equal(s.basis, 'min-remaining');
  });

  it('urgency: ok, due, overdue after overdueAfter, expired past notAfter', () => {
    const policy: RotationPolicy = { ...DEFAULT_POLICY, signing: noJitter, overdueAfterMs: 7 * DAY };
    const entry = { ...base, notBefore: base.createdAt, notAfter: '2026-12-31T00:00:00.000Z' };
    const at = (iso: string) => urgency(entry, policy, 'signing', new Date(iso)).urgency;
    assert.equal(at('2026-03-31T23:59:59Z'), 'ok');
    assert.equal(at('2026-04-01T00:00:00Z'), 'due');
    assert.equal(at('2026-04-08T00:00:00Z'), 'overdue');
    assert.equal(at('2026-12-31T00:00:00Z'), 'expired');
  });

  it('defaults: certificates every 90 days, encryption keys every 30', () => {
    const p = parsePolicy(undefined);
    assert.equal(p.tls.everyMs, 90 * DAY);
    assert.equal(p.signing.everyMs, 90 * DAY);
    assert.equal(p.encryption.everyMs, 30 * DAY);
  });

  it('parses durations and refuses nonsense with the field named', () => {
    assert.equal(parseDuration('12h', 'x'), 12 * 3_600_000);
    assert.equal(parseDuration('2w', 'x'), 14 * DAY);
    assert.equal(parsePolicy({ signing: { fraction: 0.667, jitter: '6h' } }).signing.fraction, 0.667);
    for (const bad of [{ tls: { every: '-3d' } }, { tls: { fraction: 1.5 } }, { encryption: { fraction: 0.5 } }, { retiredCertificates: 'burn' }]) {
      assert.throws(() => parsePolicy(bad), (e: unknown) => e instanceof RotationError && e.code === 'CONFIG_INVALID');
    }
  });
});
