/**
 * Rotation against the real Kingdom services over an in-memory transport
 * (the service suites' fixture: real store, real handlers and interceptors);
 * the real server process is exercised in cli-e2e.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { parseKeyset, publicKeyset } from '../../src/crypto/keyset.js';
import { verifySignedMessage } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { parseRenderedManifests } from '../../src/k8s/rendered-secrets.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { RotationError } from '../../src/rotation/errors.js';
import { activeEntry, entriesOf, readKeyring } from '../../src/rotation/keyring.js';
import { planRotation } from '../../src/rotation/plan.js';
import { rotate } from '../../src/rotation/rotate.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { collectStatus } from '../../src/rotation/status.js';
import { NOW, openTestKingdom, type TestKingdom } from '../kingdom/fixtures.js';
import { DAY, ManualClock, PASSPHRASE, hashTree, newKeyring, portFor, registerDataProvider, scratch } from './fixtures.js';

let kingdom: TestKingdom;
const dirs: Array<{ remove(): void }> = [];
before(async () => {
  kingdom = await openTestKingdom();
});
after(async () => {
  await kingdom.close();
  dirs.forEach((d) => d.remove());
});

async function registeredKeyring(initAt: Date) {
  const s = scratch();
  dirs.push(s);
  const k8s = join(s.dir, 'k8s');
  const session = newKeyring(join(s.dir, 'state'), new ManualClock(initAt), {
    kustomization: { dir: k8s, secretName: 'edp-tls', apply: false },
    // The target is never dialled here: the tests pass the in-memory Kingdom as the port.
    kingdom: { target: 'localhost:1', trustedRoots: 'kingdom_root.pem' },
  });
  const name = await registerDataProvider(kingdom, session);
  return { session, name, k8s, root: s.dir };
}

function reopen(dir: string, at: Date): KeyringSession {
  return KeyringSession.open(dir, { clock: new ManualClock(at), passphrase: () => PASSPHRASE });
}

describe('rotate --all against the Kingdom services', () => {
  it('plans what is due: nothing at init, all three kinds 100 days later', async () => {
    const { session } = await registeredKeyring(new Date(NOW.getTime() - 100 * DAY));
    const early = reopen(session.dir, new Date(NOW.getTime() - 99 * DAY));
    assert.deepEqual(planRotation(early).kinds, []);
    const plan = planRotation(reopen(session.dir, NOW));
    assert.deepEqual(plan.kinds, ['tls', 'signing', 'encryption']);
    assert.deepEqual(
      plan.steps.map((s) => s.type),
      ['tls.issue', 'tls.write-secret', 'tls.activate', 'signing.issue', 'signing.register', 'encryption.add', 'encryption.promote', 'public-key.publish', 'signing.activate', 'encryption.activate', 'signing.retire'],
    );
  });

  it('rotates everything: new certificate and verifying public key at the Kingdom, old and new ciphertexts decrypt, Secret renders the new TLS certificate', async () => {
    const { session: first, name, k8s } = await registeredKeyring(new Date(NOW.getTime() - 100 * DAY));
    const oldKeyset = first.material.loadEncryptionKeyset(first.keyring.encryptionKeyset);
    const oldCiphertext = encrypt(publicKeyset(oldKeyset), Buffer.from('before rotation'));
    const oldSigning = activeEntry(first.keyring, 'signing')!;

    const session = reopen(first.dir, NOW);
    const result = await rotate(session, { kinds: ['tls', 'signing', 'encryption'], kingdom: () => portFor(kingdom, first) });
    assert.ok(result.steps.every((s) => s.status === 'done'), JSON.stringify(result.steps.map((s) => [s.type, s.status])));

    const k = readKeyring(session.dir);
    const signing = activeEntry(k, 'signing')!;
    assert.notEqual(signing.id, oldSigning.id);
    assert.ok(signing.kingdomCertificate?.startsWith(`${name}/certificates/`));
    // The Kingdom shows the new certificate and a public key that verifies against it.
    const port = portFor(kingdom, session);
    const dp = await port.getParticipant(name);
    assert.equal(dp.certificate, signing.kingdomCertificate);
    const certDer = (await port.getCertificate(dp.certificate)).der;
    assert.deepEqual(Buffer.from(certDer), Buffer.from(session.material.certificate(signing).der));
    const verified = verifySignedMessage(dp.publicKey!, certDer);
    const shownKeyset = parseKeyset(fromBinary(EncryptionPublicKeySchema, verified.data).data);
    assert.equal(shownKeyset.primaryKeyId, activeEntry(k, 'encryption')!.tinkKeyId);
    // Old and new ciphertexts decrypt with the rotated private keyset.
    const keyset = session.material.loadEncryptionKeyset(k.encryptionKeyset);
    assert.equal(Buffer.from(decrypt(keyset, oldCiphertext)).toString(), 'before rotation');
    assert.equal(Buffer.from(decrypt(keyset, encrypt(shownKeyset, Buffer.from('after rotation')))).toString(), 'after rotation');
    // The old signing certificate: nothing pending, so retired (left to expire by default policy).
    const old = k.entries.find((e) => e.id === oldSigning.id)!;
    assert.equal(old.state, 'retired');
    assert.equal((await port.getCertificate(old.kingdomCertificate!)).revocation, 'NONE');
    assert.equal(entriesOf(k, 'encryption', 'retiring').length, 1, 'the old encryption key keeps decrypting');
    assert.equal(entriesOf(k, 'tls', 'retired').length, 1);
    // The Kustomization renders into a TLS Secret holding the new certificate.
    const rendered = parseRenderedManifests(execFileSync('kubectl', ['kustomize', k8s], { encoding: 'utf8' }));
    const secret = rendered.secrets.find((x) => x.name.startsWith('edp-tls'))!;
    assert.equal(secret.type, 'kubernetes.io/tls');
    const served = parseCertificates(secret.data.get('tls.crt')!)[0]!;
    assert.equal(served.fingerprintSha256, activeEntry(k, 'tls')!.fingerprint);
    // A valid audit chain with every step.
    const v = session.audit.verify();
    assert.equal(v.ok, true, v.problems.join('; '));
    const actions = session.audit.entries().map((e) => e.action);
    for (const a of ['rotation.start', 'key.create', 'certificate.register', 'public-key.publish', 'key.activate', 'key.retire', 'rotation.done']) assert.ok(actions.includes(a), a);
    // Status afterwards: nothing due, Kingdom agrees.
    const status = await collectStatus(session, { kingdom: port });
    assert.equal(status.exitCode, 0, JSON.stringify(status.problems));
    assert.equal(status.kingdom, 'compared');
    // Running again rotates nothing.
    assert.equal((await rotate(reopen(session.dir, NOW), { kingdom: () => port })).steps.length, 0);
  });

  it('--dry-run changes nothing in the state directory, the Kustomization or the Kingdom', async () => {
    const { session: first, k8s, root } = await registeredKeyring(new Date(NOW.getTime() - 100 * DAY));
    const beforeTree = hashTree(root);
    const auditBefore = await kingdom.auditLength();
    const result = await rotate(reopen(first.dir, NOW), { kinds: ['tls', 'signing', 'encryption'], dryRun: true, kingdom: () => portFor(kingdom, first) });
    assert.equal(result.dryRun, true);
    assert.ok(result.previews!.length >= 10);
    assert.ok(result.previews!.some((p) => p.type === 'tls.write-secret' && p.change.includes(k8s)));
    assert.deepEqual(hashTree(root), beforeTree);
    assert.equal(await kingdom.auditLength(), auditBefore);
  });

  it('with kustomization.nameSuffixHash: false, the Kustomization it creates keeps the Secret name fixed (for RBAC by name)', async () => {
    const { session: first, k8s } = await registeredKeyring(new Date(NOW.getTime() - 100 * DAY));
    const configPath = join(first.dir, 'halo-keys.yaml');
    writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('secretName: edp-tls', 'secretName: edp-tls\n  nameSuffixHash: false'));
    const session = reopen(first.dir, NOW);
    assert.equal(session.config.kustomization?.nameSuffixHash, false);
    await rotate(session, { kinds: ['tls'], kingdom: () => portFor(kingdom, first) });
    const rendered = parseRenderedManifests(execFileSync('kubectl', ['kustomize', k8s], { encoding: 'utf8' }));
    assert.deepEqual(rendered.secrets.map((x) => x.name), ['edp-tls']);
  });

  it('refuses signing/encryption rotation before the participant is registered', async () => {
    const s = scratch();
    dirs.push(s);
    const session = newKeyring(s.dir, new ManualClock(NOW), { kingdom: { target: 'localhost:1', trustedRoots: 'roots.pem' } });
    await assert.rejects(rotate(session, { kinds: ['signing'] }), (e: unknown) => e instanceof RotationError && e.code === 'KINGDOM_NOT_CONFIGURED');
  });
});
