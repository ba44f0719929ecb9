/**
 * End to end through the compiled binary against a real `halo-keys kingdom
 * serve` process over mTLS: init a DataProvider keyring 100 days in the past,
 * register it with the operator's admin command, then `rotate --all` now.
 * Then the same rotation SIGKILLed after every step in turn (the
 * HALO_KEYS_FAULT_* test hooks), finished by a second run each time.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fromBinary } from '@bufbuild/protobuf';
import { createKingdomClient } from '../../src/client/index.js';
import { decrypt, encrypt } from '../../src/crypto/hybrid.js';
import { parseKeyset } from '../../src/crypto/keyset.js';
import { verifySignedMessage } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { parseRenderedManifests } from '../../src/k8s/rendered-secrets.js';
import { readCaState } from '../../src/pki/ca-store.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { systemClock } from '../../src/lib/clock.js';
import { ensureBuilt, repo, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { DAY, PASSPHRASE, scratch } from './fixtures.js';

const work = scratch('halo-rotation-e2e-');
let kingdom: KingdomProcess;
let template: string;
let dataProvider: string;
let oldCiphertext: Uint8Array;

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function hk(args: string[], env: Record<string, string> = {}): Run {
  const r = spawnSync(process.execPath, [join(repo, 'bin/halo-keys.js'), ...args], {
    cwd: repo,
    env: { ...process.env, HALO_KEYS_PASSPHRASE: PASSPHRASE, HALO_KEYS_NOW: '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function ok(r: Run, what: string): Run {
  assert.equal(r.code, 0, `${what}: exit ${r.code} ${r.signal ?? ''}\n${r.stderr}${r.stdout}`);
  return r;
}

/** A copy of the registered template keyring (same participant), with its own Kustomization dir. */
function copyKeyring(name: string): { root: string; state: string; k8s: string } {
  const root = join(work.dir, name);
  cpSync(template, root, { recursive: true });
  const config = join(root, 'state/halo-keys.yaml');
  writeFileSync(config, readFileSync(config, 'utf8').replaceAll(template, root));
  return { root, state: join(root, 'state'), k8s: join(root, 'k8s') };
}

function session(state: string): KeyringSession {
  return KeyringSession.open(state, { clock: systemClock, passphrase: () => PASSPHRASE });
}

/** A raw client as this keyring's participant (its active TLS certificate). */
function clientFor(state: string) {
  const s = session(state);
  const tls = activeEntry(s.keyring, 'tls')!;
  return createKingdomClient({
    target: kingdom.target,
    trustedRoots: readFileSync(kingdom.kingdomRoot),
    clientCertificate: readFileSync(join(state, tls.certificateFile!)),
    clientKey: s.material.privateKeyPem(tls),
  });
}

async function kingdomCertificates(state: string): Promise<Array<{ name: string; skid: string }>> {
  const res = await clientFor(state).certificates.listCertificates({ parent: dataProvider, pageSize: 1000 });
  return res.certificates.map((c) => ({ name: c.name, skid: Buffer.from(c.subjectKeyIdentifier).toString('hex') }));
}

before(async () => {
  ensureBuilt(['src/cli/commands/rotate.ts', 'src/cli/commands/keyring.ts', 'src/rotation/rotate.ts', 'src/rotation/journal/run.ts', 'src/rotation/journal/steps.ts', 'src/rotation/plan.ts', 'src/rotation/steps/publish-step.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
  template = join(work.dir, 'template');
  const initAt = new Date(Date.now() - 100 * DAY).toISOString();
  ok(
    hk([
      'init', '--dir', join(template, 'state'), '--participant', 'dataProviders', '--subject', '/O=Halo Test/CN=edp e2e',
      '--dns', 'localhost', '--ip', '127.0.0.1', '--create-ca', '--at', initAt,
      '--kingdom-target', kingdom.target, '--kingdom-roots', kingdom.kingdomRoot,
      '--kustomization-dir', join(template, 'k8s'), '--secret-name', 'edp-tls', '--no-apply',
    ]),
    'init',
  );
  const reg = JSON.parse(ok(hk(['registration', '--dir', join(template, 'state'), '--out-dir', join(template, 'reg'), '--json', '--at', initAt]), 'registration').stdout);
  const created = ok(
    hk(['kingdom', 'admin', '--data-dir', kingdom.dataDir, '--json', 'create-data-provider', '--root-cert', reg.files.rootCert, '--certificate', reg.files.certificate, '--public-key', reg.files.publicKey, '--public-key-signature', reg.files.publicKeySignature, '--display-name', 'EDP e2e']),
    'create-data-provider',
  );
  dataProvider = JSON.parse(created.stdout).name;
  ok(hk(['sync', '--dir', join(template, 'state'), '--participant', dataProvider]), 'sync');
  // A ciphertext encrypted to the key as first published, before any rotation.
  const published = fromBinary(EncryptionPublicKeySchema, readFileSync(reg.files.publicKey));
  oldCiphertext = encrypt(parseKeyset(published.data), Buffer.from('encrypted before the rotation'));
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

describe('halo-keys rotate against a real Kingdom server process', () => {
  it('status says everything is overdue before, in order after; rotate --all leaves the Kingdom, the keys and the Secret consistent', async () => {
    const k = copyKeyring('full');
    const before = hk(['status', '--dir', k.state, '--json']);
    assert.equal(before.code, 3, before.stderr);
    const report = JSON.parse(before.stdout);
    assert.equal(report.kingdom, 'compared');
    assert.deepEqual(report.problems.filter((p: { code: string }) => p.code === 'overdue').length, 3);

    const r = ok(hk(['rotate', '--dir', k.state, '--all', '--json']), 'rotate --all');
    const result = JSON.parse(r.stdout);
    assert.ok(result.steps.every((s: { status: string }) => s.status === 'done'));

    const s = session(k.state);
    const signing = activeEntry(s.keyring, 'signing')!;
    const client = clientFor(k.state);
    const dp = await client.dataProviders.getDataProvider({ name: dataProvider });
    assert.equal(dp.certificate, signing.kingdomCertificate, 'the Kingdom names the new certificate');
    const cert = await client.certificates.getCertificate({ name: dp.certificate });
    assert.equal(Buffer.from(cert.subjectKeyIdentifier).toString('hex'), signing.skid);
    const verified = verifySignedMessage(dp.publicKey!, cert.x509Der);
    const newPublic = parseKeyset(fromBinary(EncryptionPublicKeySchema, verified.data).data);
    assert.equal(newPublic.primaryKeyId, activeEntry(s.keyring, 'encryption')!.tinkKeyId);
    const keyset = s.material.loadEncryptionKeyset(s.keyring.encryptionKeyset);
    assert.equal(Buffer.from(decrypt(keyset, oldCiphertext)).toString(), 'encrypted before the rotation');
    assert.equal(Buffer.from(decrypt(keyset, encrypt(newPublic, Buffer.from('after')))).toString(), 'after');

    const rendered = parseRenderedManifests(execFileSync('kubectl', ['kustomize', k.k8s], { encoding: 'utf8' }));
    const secret = rendered.secrets.find((x) => x.name.startsWith('edp-tls'))!;
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.equal(parseCertificates(secret.data.get('tls.crt')!)[0]!.fingerprintSha256, activeEntry(s.keyring, 'tls')!.fingerprint);

    ok(hk(['audit', 'verify', '--dir', k.state]), 'audit verify');
    const after = hk(['status', '--dir', k.state, '--json']);
    assert.equal(after.code, 0, after.stdout);
  });

  it('a dry run through the binary changes nothing and prints each change', () => {
    const k = copyKeyring('dry');
    const snapshot = () => execFileSync('bash', ['-c', `cd ${k.root} && find . -type f | sort | xargs sha256sum`], { encoding: 'utf8' });
    const before = snapshot();
    const r = ok(hk(['rotate', '--dir', k.state, '--all', '--dry-run']), 'dry run');
    assert.match(r.stdout, /^dry run: nothing was changed/);
    assert.match(r.stdout, /CreateCertificate/);
    assert.match(r.stdout, /UpdatePublicKey/);
    assert.equal(snapshot(), before);
  });

  for (const hook of ['HALO_KEYS_FAULT_AFTER_STEP', 'HALO_KEYS_FAULT_BEFORE_RECORD'] as const) {
    it(`SIGKILL at every step (${hook}): a second run finishes, nothing lost, nothing registered twice, no orphan, valid audit chain`, async (t) => {
      const plan = JSON.parse(ok(hk(['plan', '--dir', copyKeyring(`plan-${hook}`).state, '--all', '--json']), 'plan').stdout);
      const steps = plan.steps.length as number;
      assert.ok(steps >= 10, `plan has ${steps} steps`);
      // After each step in turn; before recording, the steps with effects outside the journal
      // (where a repeat could duplicate something) are the ones worth the extra runs.
      const effectful = new Set(['tls.issue', 'tls.write-secret', 'signing.issue', 'signing.register', 'encryption.add', 'public-key.publish', 'signing.retire']);
      const points = (plan.steps as Array<{ n: number; type: string }>).filter((s) => hook === 'HALO_KEYS_FAULT_AFTER_STEP' || effectful.has(s.type)).map((s) => s.n);
      let finished = 0;
      for (const n of points) {
        const k = copyKeyring(`${hook}-${n}`);
        const certsBefore = await kingdomCertificates(k.state);
        const killed = hk(['rotate', '--dir', k.state, '--all'], { [hook]: String(n) });
        assert.equal(killed.signal, 'SIGKILL', `step ${n}: ${killed.stderr}`);
        assert.ok(existsSync(join(k.state, 'journal.json')), `step ${n}: the journal survives the crash`);
        const second = ok(hk(['rotate', '--dir', k.state]), `step ${n}: second run`);
        assert.match(second.stdout, /finished rotation/);

        const keyring = readKeyring(k.state);
        assert.ok(!existsSync(join(k.state, 'journal.json')), `step ${n}: journal archived`);
        const archived = JSON.parse(readFileSync(join(k.state, 'journals', readdirSync(join(k.state, 'journals'))[0]!), 'utf8'));
        assert.ok(archived.steps.every((s: { status: string }) => s.status === 'done'));
        // Exactly one active entry per kind, three of each kind's history.
        for (const kind of ['tls', 'signing', 'encryption'] as const) {
          assert.equal(keyring.entries.filter((e) => e.kind === kind && e.state === 'active').length, 1, `step ${n}: one active ${kind}`);
          assert.equal(keyring.entries.filter((e) => e.kind === kind).length, 2, `step ${n}: old and new ${kind}`);
        }
        // No key material lost: every key file decrypts, the old encryption key still decrypts.
        const s = session(k.state);
        for (const e of keyring.entries.filter((x) => x.kind !== 'encryption')) s.material.privateKey(e);
        const keyset = s.material.loadEncryptionKeyset(keyring.encryptionKeyset);
        assert.equal(Buffer.from(decrypt(keyset, oldCiphertext)).toString(), 'encrypted before the rotation');
        // No orphan: every key file and every Tink key is in the inventory; the CA issued only what it lists.
        const referenced = new Set(keyring.entries.flatMap((e) => [e.certificateFile, e.privateKeyFile]).filter(Boolean));
        referenced.add(keyring.encryptionKeyset);
        for (const f of readdirSync(join(k.state, 'keys'))) assert.ok(referenced.has(`keys/${f}`), `step ${n}: untracked keys/${f}`);
        const tinkIds = new Set(keyring.entries.map((e) => e.tinkKeyId));
        for (const key of keyset.key) assert.ok(tinkIds.has(key.keyId), `step ${n}: untracked Tink key ${key.keyId}`);
        const serials = new Set(keyring.entries.map((e) => e.serialHex));
        for (const r of readCaState(join(k.state, 'ca')).issued.filter((x) => x.kind !== 'root')) assert.ok(serials.has(r.serialHex), `step ${n}: CA issued untracked ${r.serialHex}`);
        // The Kingdom got exactly one new certificate, the new signing one, once.
        const certsAfter = await kingdomCertificates(k.state);
        const added = certsAfter.filter((c) => !certsBefore.some((b) => b.name === c.name));
        const signing = activeEntry(keyring, 'signing')!;
        assert.deepEqual(added.map((c) => c.skid), [signing.skid], `step ${n}: registered once`);
        assert.equal(added[0]!.name, signing.kingdomCertificate);
        ok(hk(['audit', 'verify', '--dir', k.state]), `step ${n}: audit verify`);
        finished++;
      }
      t.diagnostic(`${hook}: ${finished}/${points.length} crashed rotations finished by a second run (steps ${points.join(', ')} of ${steps})`);
      assert.equal(finished, points.length);
      assert.ok(points.length >= 6);
    });
  }
});
