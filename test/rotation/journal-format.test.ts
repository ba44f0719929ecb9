/**
 * Journals written by an older release resume: each fixture is a keyring
 * whose rotation, certificate compromise or abort was killed halfway by the
 * code of an earlier commit (fixtures/journal-format-1/README.md). The run
 * finishes the same journal, not a new one, and the keyring, Secret, CA and
 * audit chain end where an uninterrupted run would have left them.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { readSecretFiles } from '../../src/k8s/secret-files.js';
import { parseCrls } from '../../src/pki/crl.js';
import { abortJournal } from '../../src/rotation/abort.js';
import { runProcedure } from '../../src/rotation/compromise/procedure.js';
import { RotationError } from '../../src/rotation/errors.js';
import { journalPath, readJournal, type Journal } from '../../src/rotation/journal/journal.js';
import { activeEntry, findEntry, readKeyring } from '../../src/rotation/keyring.js';
import { rotate } from '../../src/rotation/rotate.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { ManualClock, PASSPHRASE, scratch } from './fixtures.js';

const FIXTURES = new URL('./fixtures/journal-format-1/', import.meta.url).pathname;
const RESUMED_AT = new Date('2026-04-15T01:00:00Z');
const work = scratch('halo-journal-format-');
after(() => work.remove());

/** A fresh copy of a fixture keyring, with its unfinished journal as the old code left it. */
function copyOf(name: string, label = name): { dir: string; left: Journal } {
  const dir = join(work.dir, label);
  cpSync(join(FIXTURES, name), dir, { recursive: true });
  const left = readJournal(dir)!;
  assert.ok(left && left.status === 'running', `${name} holds an unfinished journal`);
  return { dir, left };
}

const open = (dir: string) => KeyringSession.open(dir, { clock: new ManualClock(RESUMED_AT), passphrase: () => PASSPHRASE });

function assertFinished(dir: string, left: Journal, archived: string | undefined): void {
  assert.equal(readJournal(dir), undefined, 'journal.json is gone');
  assert.equal(archived, join(dir, 'journals', `${left.id}.json`));
  const done = JSON.parse(readFileSync(archived!, 'utf8')) as Journal;
  assert.equal(done.status, 'done');
  assert.deepEqual(done.steps.map((s) => [s.n, s.type, s.status]), left.steps.map((s) => [s.n, s.type, 'done']));
  // Steps done before the crash are not run again.
  for (const s of left.steps.filter((s) => s.status === 'done')) assert.equal(done.steps[s.n - 1]!.attempts, s.attempts, `step ${s.n}`);
  const audit = open(dir).audit.verify();
  assert.equal(audit.ok, true, audit.problems.join('; '));
}

describe('journals written in format 1 resume', () => {
  it('a TLS rotation killed after writing the Secret: rotate finishes it and the new certificate is active', async () => {
    const { dir, left } = copyOf('rotation');
    const fresh = left.steps.find((s) => s.type === 'tls.issue')!.entry!;
    const result = await rotate(open(dir));
    assert.equal(result.resumed, true);
    assert.equal(result.journalId, left.id);
    assertFinished(dir, left, result.archived);
    const keyring = readKeyring(dir);
    assert.equal(activeEntry(keyring, 'tls')!.id, fresh);
    assert.equal(findEntry(keyring, left.steps.find((s) => s.type === 'tls.activate')!.previous!)!.state, 'retired');
    assert.equal(readSecretFiles(join(dir, 'k8s'), { name: 'edp-tls' }).certificate?.fingerprintSha256, findEntry(keyring, fresh)!.fingerprint);
  });

  it('a certificate compromise killed after marking the certificate: --resume destroys its key, revokes it in the CRL and writes the report', async () => {
    const { dir, left } = copyOf('compromise');
    const target = left.steps.find((s) => s.type === 'compromise.mark-certificate')!.entry!;
    const result = await runProcedure(open(dir), 'compromise.certificate', async () => assert.fail('a resumed procedure is not planned again'), { resume: true });
    assert.equal(result.resumed, true);
    assert.equal(result.journalId, left.id);
    assertFinished(dir, left, result.archived);
    const entry = findEntry(readKeyring(dir), target)!;
    assert.equal(entry.state, 'compromised');
    assert.ok(entry.destroyedAt);
    assert.equal(existsSync(join(dir, 'keys', `${target}.key.pem`)), false, 'the private key file is gone');
    const crl = parseCrls(readFileSync(join(dir, 'crl.pem')))[0]!;
    assert.equal(crl.revoked.get(BigInt(`0x${entry.serialHex}`))?.reason, 'keyCompromise');
    assert.equal(result.report?.journal, left.id);
    assert.equal(result.report?.replacement?.entry, activeEntry(readKeyring(dir), 'tls')!.id);
  });

  it('the same compromise journal is finished by a plain rotate (as the agent runs it), with the compromise steps', async () => {
    const { dir, left } = copyOf('compromise', 'compromise-by-rotate');
    const result = await rotate(open(dir));
    assert.equal(result.journalId, left.id);
    assertFinished(dir, left, result.archived);
    assert.equal(existsSync(join(dir, 'crl.pem')), true);
  });

  it('an abort killed after putting the previous certificate back: rotate --abort finishes it and the new certificate is retired', async () => {
    const { dir, left } = copyOf('abort');
    assert.equal(left.procedure, 'rotation.abort');
    const result = await abortJournal(open(dir));
    assert.equal(result.journalId, left.id);
    assert.equal(result.aborted, left.aborts);
    assertFinished(dir, left, result.archived);
    const keyring = readKeyring(dir);
    const discarded = left.steps.find((s) => s.type === 'abort.discard')!.entry!;
    assert.equal(findEntry(keyring, discarded)!.state, 'retired');
    const previous = activeEntry(keyring, 'tls')!;
    assert.notEqual(previous.id, discarded);
    assert.equal(readSecretFiles(join(dir, 'k8s'), { name: 'edp-tls' }).certificate?.fingerprintSha256, previous.fingerprint);
    assert.equal(JSON.parse(readFileSync(join(dir, 'journals', `${left.aborts}.json`), 'utf8')).status, 'aborted');
  });

  it('a journal this version cannot run (an unknown procedure, a step its procedure does not have) is refused before any step and left as it is', async () => {
    for (const [label, edit] of [
      ['unknown-procedure', (j: Journal) => void (j.procedure = 'rotation.someday')],
      ['foreign-step', (j: Journal) => void (j.steps[2]!.type = 'compromise.revoke-crl')],
    ] as const) {
      const { dir, left } = copyOf('rotation', label);
      edit(left);
      writeFileSync(journalPath(dir), JSON.stringify(left));
      const before = readFileSync(journalPath(dir));
      const audited = open(dir).audit.entries().length;
      await assert.rejects(rotate(open(dir)), (e: unknown) => e instanceof RotationError && e.code === 'JOURNAL_CORRUPT', label);
      assert.deepEqual(readFileSync(journalPath(dir)), before, `${label}: journal.json unchanged`);
      assert.equal(open(dir).audit.entries().length, audited, `${label}: nothing audited`);
    }
  });
});
