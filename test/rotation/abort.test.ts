/**
 * `rotate --abort` against the real Kingdom services over an in-memory
 * transport (the service suites' fixture): a TLS rotation stuck at the
 * rollout check is walked back to the previous certificate in the Secret; a
 * rotation whose UpdatePublicKey reached the Kingdom but whose answer was
 * lost is walked back by publishing the previous key again, the new
 * encryption key destroyed and the registered certificate left retiring for
 * the next rotation to retire.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { KeyStatusType, parseKeyset, publicKeyset } from '../../src/crypto/keyset.js';
import { EncryptionPublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readSecretFiles } from '../../src/k8s/secret-files.js';
import { abortJournal } from '../../src/rotation/abort.js';
import { readJournal } from '../../src/rotation/journal/journal.js';
import { activeEntry, findEntry, readKeyring } from '../../src/rotation/keyring.js';
import type { KingdomPort } from '../../src/rotation/kingdom-port.js';
import { planRotation } from '../../src/rotation/plan.js';
import { rotate } from '../../src/rotation/rotate.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { collectStatus } from '../../src/rotation/status.js';
import { NOW, openTestKingdom, type TestKingdom } from '../kingdom/fixtures.js';
import { DAY, ManualClock, PASSPHRASE, newKeyring, portFor, registerDataProvider, scratch } from './fixtures.js';

const work = scratch('halo-abort-');
let kingdom: TestKingdom;
before(async () => (kingdom = await openTestKingdom()));
after(async () => {
  await kingdom.close();
  work.remove();
});

async function registeredKeyring(label: string, endpoint?: string) {
  const k8s = join(work.dir, label, 'k8s');
  const session = newKeyring(join(work.dir, label, 'state'), new ManualClock(new Date(NOW.getTime() - DAY)), {
    kustomization: { dir: k8s, secretName: 'edp-tls', apply: false },
    // The target is never dialled: the tests pass the in-memory Kingdom as the port.
    kingdom: { target: 'localhost:1', trustedRoots: 'kingdom_root.pem' },
    ...(endpoint ? { endpoint } : {}),
  });
  const name = await registerDataProvider(kingdom, session);
  return { session, name, k8s };
}

const reopen = (dir: string) => KeyringSession.open(dir, { clock: new ManualClock(NOW), passphrase: () => PASSPHRASE });

describe('rotate --abort', () => {
  it('a TLS rotation stuck at the rollout check: the previous certificate goes back into the Secret, the new one is retired', async () => {
    // Nothing listens on port 1: the rollout check cannot succeed.
    const { session: first, k8s } = await registeredKeyring('tls', '127.0.0.1:1');
    const config = join(first.dir, 'halo-keys.yaml');
    const doc = parseYaml(readFileSync(config, 'utf8')) as { tls: Record<string, unknown> };
    doc.tls.rolloutTimeout = '1s';
    writeFileSync(config, stringifyYaml(doc));
    const old = activeEntry(first.keyring, 'tls')!;
    const port = () => portFor(kingdom, first);

    await assert.rejects(rotate(reopen(first.dir), { kinds: ['tls'], kingdom: port, rolloutDelayMs: 10 }), /does not serve the new certificate/);
    const stuck = readJournal(first.dir)!;
    assert.equal(stuck.status, 'failed');
    const fresh = stuck.steps[0]!.entry!;
    assert.equal(readSecretFiles(k8s, { name: 'edp-tls' }).certificate?.fingerprintSha256, findEntry(readKeyring(first.dir), fresh)!.fingerprint);
    assert.equal((await collectStatus(reopen(first.dir))).exitCode, 3);

    const result = await abortJournal(reopen(first.dir), { kingdom: port });
    assert.deepEqual(result.steps.map((s) => s.type), ['tls.write-secret', 'abort.discard']);
    assert.equal(result.aborted, stuck.id);
    assert.equal(readSecretFiles(k8s, { name: 'edp-tls' }).certificate?.fingerprintSha256, old.fingerprint, 'the Secret holds the previous certificate again');
    const keyring = readKeyring(first.dir);
    assert.equal(activeEntry(keyring, 'tls')!.id, old.id);
    assert.equal(findEntry(keyring, fresh)!.state, 'retired');
    assert.equal(readJournal(first.dir), undefined);
    const status = await collectStatus(reopen(first.dir));
    assert.equal(status.exitCode, 0, JSON.stringify(status.problems));
    assert.equal(reopen(first.dir).audit.verify().ok, true);
    await assert.rejects(abortJournal(reopen(first.dir), { kingdom: port }), /no unfinished journal to abort/);
  });

  it('UpdatePublicKey reached the Kingdom but its answer was lost: the previous key is published again, the new one destroyed, the registered certificate left retiring', async () => {
    const { session: first, name } = await registeredKeyring('publish');
    const oldSigning = activeEntry(first.keyring, 'signing')!;
    const oldEncryption = activeEntry(first.keyring, 'encryption')!;
    const oldCiphertext = encrypt(publicKeyset(first.material.loadEncryptionKeyset(first.keyring.encryptionKeyset)), Buffer.from('before'));
    const real = () => portFor(kingdom, first);
    // The call goes through; the reply does not (a connection reset after the Kingdom committed).
    const lossy = (): KingdomPort => {
      const port = real();
      return { ...port, updatePublicKey: async (...args) => { await port.updatePublicKey(...args); throw new Error('connection reset'); } };
    };
    await assert.rejects(rotate(reopen(first.dir), { kinds: ['signing', 'encryption'], kingdom: lossy }), /connection reset/);
    const stuck = readJournal(first.dir)!;
    const newSigning = stuck.steps.find((s) => s.type === 'signing.issue')!.entry!;
    const newEncryption = stuck.steps.find((s) => s.type === 'encryption.add')!.entry!;
    assert.notEqual((await real().getParticipant(name)).certificate, oldSigning.kingdomCertificate, 'the Kingdom publishes the new pair');

    const result = await abortJournal(reopen(first.dir), { kingdom: real });
    assert.deepEqual(result.steps.map((s) => s.type), ['encryption.promote', 'public-key.publish', 'abort.discard', 'abort.discard']);
    assert.match(result.notes.join('\n'), /UpdatePublicKey\) did not finish: the previous public key is published again/);
    assert.match(result.notes.join('\n'), /is registered at the Kingdom, which cannot delete a certificate: it is left retiring/);

    const shown = await real().getParticipant(name);
    assert.equal(shown.certificate, oldSigning.kingdomCertificate, 'the Kingdom names the previous certificate again');
    const published = parseKeyset(fromBinary(EncryptionPublicKeySchema, shown.publicKey!.message!.value).data);
    assert.equal(published.primaryKeyId, oldEncryption.tinkKeyId);
    const session = reopen(first.dir);
    const keyring = session.keyring;
    assert.equal(activeEntry(keyring, 'signing')!.id, oldSigning.id);
    assert.equal(findEntry(keyring, newSigning)!.state, 'retiring');
    assert.ok(findEntry(keyring, newSigning)!.kingdomCertificate);
    const discarded = findEntry(keyring, newEncryption)!;
    assert.equal(discarded.state, 'retired');
    const keyset = session.material.loadEncryptionKeyset(keyring.encryptionKeyset);
    assert.equal(keyset.primaryKeyId, oldEncryption.tinkKeyId);
    assert.equal(keyset.key.find((k) => k.keyId === discarded.tinkKeyId)!.status, KeyStatusType.DESTROYED);
    assert.equal(Buffer.from(decrypt(keyset, oldCiphertext)).toString(), 'before');
    assert.equal(session.audit.verify().ok, true);

    // The next rotation retires the certificate the abort could not delete.
    const plan = planRotation(session);
    assert.ok(plan.steps.some((s) => s.type === 'signing.retire' && s.entry === newSigning));
    await rotate(session, { kingdom: real });
    assert.equal(findEntry(readKeyring(first.dir), newSigning)!.state, 'retired');
    assert.equal((await collectStatus(reopen(first.dir), { kingdom: real() })).exitCode, 0);
  });
});
