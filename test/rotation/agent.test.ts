/** The agent's rounds against the Kingdom services in memory (as rotate.test.ts), with a ManualClock. */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { RotationAgent } from '../../src/rotation/agent.js';
import { RotationError } from '../../src/rotation/errors.js';
import type { KingdomPort } from '../../src/rotation/kingdom-port.js';
import { LOCK_FILE } from '../../src/rotation/journal/lock.js';
import { NOW, openTestKingdom, type TestKingdom } from '../kingdom/fixtures.js';
import { DAY, ManualClock, PASSPHRASE, newKeyring, portFor, registerDataProvider, scratch } from './fixtures.js';

let kingdom: TestKingdom;
const dirs: Array<{ remove(): void }> = [];
before(async () => {
  kingdom = await openTestKingdom();
});
after(async () => {
  await kingdom.close();
  dirs.forEach((d) => d.remove());
});

async function keyring() {
  const s = scratch();
  dirs.push(s);
  const session = newKeyring(s.dir, new ManualClock(new Date(NOW.getTime() - 100 * DAY)), { kingdom: { target: 'localhost:1', trustedRoots: 'kingdom_root.pem' } });
  await registerDataProvider(kingdom, session);
  return session;
}

describe('rotation agent', () => {
  it('rotates what is due, then nothing, and exports expiry and next-due per key', async () => {
    const first = await keyring();
    const clock = new ManualClock(NOW);
    const agent = new RotationAgent({ dir: first.dir, clock, passphrase: () => PASSPHRASE, intervalMs: 3_600_000, kingdom: () => portFor(kingdom, first) });
    const r1 = await agent.tick();
    assert.equal(r1.outcome, 'rotated', r1.detail);
    assert.equal(r1.nextDelayMs, 3_600_000);
    const r2 = await agent.tick();
    assert.equal(r2.outcome, 'nothing-due', r2.detail);
    const text = await agent.registry.metrics();
    assert.match(text, /halo_keys_key_expiry_timestamp_seconds\{id="signing-[^"]+",kind="signing",state="active",participant="dataProviders[^"]*"\} \d+/);
    assert.match(text, /halo_keys_key_next_due_timestamp_seconds\{id="encryption-[^"]+",kind="encryption",participant="dataProviders[^"]*"\} \d+/);
    assert.match(text, /^halo_keys_audit_chain_valid 1$/m);
    assert.doesNotMatch(text, /halo_keys_journal_unfinished_since_timestamp_seconds\{/);
    assert.match(text, /halo_keys_rotation_last_result\{outcome="nothing-due"\} 1/);
    assert.match(text, /halo_keys_rotations_total 1/);
    // The next-due time exported is after the clock: nothing is due.
    const due = [...text.matchAll(/halo_keys_key_next_due_timestamp_seconds\{[^}]*\} (\d+(?:\.\d+)?)/g)].map((m) => Number(m[1]));
    assert.equal(due.length, 3);
    assert.ok(due.every((d) => d * 1000 > NOW.getTime()));
  });

  it('backs off after failures (doubling, capped at the interval) and counts them', async () => {
    const s = await keyring();
    // An outage stands in as the real port with CreateCertificate failing (nothing else can make the in-memory Kingdom fail on cue).
    const down: KingdomPort = { ...portFor(kingdom, s), createCertificate: () => Promise.reject(new RotationError('STEP_FAILED', 'Kingdom down')) };
    const agent = new RotationAgent({ dir: s.dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, intervalMs: 300_000, retryBaseMs: 60_000, kingdom: () => down });
    const delays = [];
    for (let i = 0; i < 4; i++) {
      const r = await agent.tick();
      assert.equal(r.outcome, 'failed');
      delays.push(r.nextDelayMs);
    }
    assert.deepEqual(delays, [60_000, 120_000, 240_000, 300_000]);
    const failing = await agent.registry.metrics();
    assert.match(failing, /halo_keys_rotation_failures_total 4/);
    // The rotation the failures interrupted is left as an unfinished journal, exported with its start.
    const journal = JSON.parse(readFileSync(join(s.dir, 'journal.json'), 'utf8')) as { id: string; createdAt: string };
    assert.ok(
      failing.includes(`halo_keys_journal_unfinished_since_timestamp_seconds{id="${journal.id}",procedure="rotation"} ${Date.parse(journal.createdAt) / 1000}`),
      failing,
    );
    // Once the Kingdom answers again the interrupted rotation is finished.
    const healthy = new RotationAgent({ dir: s.dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, intervalMs: 300_000, kingdom: () => portFor(kingdom, s) });
    const r = await healthy.tick();
    assert.equal(r.outcome, 'rotated');
    assert.match(r.detail, /^finished/);
    assert.doesNotMatch(await healthy.registry.metrics(), /halo_keys_journal_unfinished_since_timestamp_seconds\{/);
  });

  it('exports whether the audit chain verifies, each round', async () => {
    const s = await keyring();
    const agent = new RotationAgent({ dir: s.dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, intervalMs: 300_000, kingdom: () => portFor(kingdom, s) });
    await agent.tick();
    assert.match(await agent.registry.metrics(), /^halo_keys_audit_chain_valid 1$/m);
    // An edited entry: the next round reports the chain broken.
    const log = join(s.dir, 'audit.jsonl');
    writeFileSync(log, readFileSync(log, 'utf8').replace('"outcome":"ok"', '"outcome":"failed"'));
    await agent.tick();
    assert.match(await agent.registry.metrics(), /^halo_keys_audit_chain_valid 0$/m);
  });

  it('reports the audit chain from the start of a round, not only once it ends', async () => {
    const s = await keyring();
    // The round stalls in CreateCertificate until the test lets it fail.
    let fail: (err: Error) => void = () => {};
    let reached: () => void = () => {};
    const inRotation = new Promise<void>((resolve) => (reached = resolve));
    const stalled: KingdomPort = {
      ...portFor(kingdom, s),
      createCertificate: () => {
        reached();
        return new Promise((_, reject) => (fail = reject));
      },
    };
    const agent = new RotationAgent({ dir: s.dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, intervalMs: 300_000, kingdom: () => stalled });
    const round = agent.tick();
    await inRotation;
    assert.match(await agent.registry.metrics(), /^halo_keys_audit_chain_valid 1$/m);
    fail(new RotationError('STEP_FAILED', 'Kingdom down'));
    assert.equal((await round).outcome, 'failed');
  });

  it('skips a round while another live rotation holds the lock', async () => {
    const s = await keyring();
    // The parent process of this test runner is alive and on this host.
    writeFileSync(join(s.dir, LOCK_FILE), JSON.stringify({ pid: process.ppid, host: hostname(), startedAt: NOW.toISOString(), command: 'rotate' }));
    const agent = new RotationAgent({ dir: s.dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, intervalMs: 300_000, kingdom: () => portFor(kingdom, s) });
    assert.equal((await agent.tick()).outcome, 'locked');
    // A lock whose process is gone is stale and taken over.
    writeFileSync(join(s.dir, LOCK_FILE), JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), startedAt: NOW.toISOString(), command: 'rotate' }));
    assert.equal((await agent.tick()).outcome, 'rotated');
  });
});
