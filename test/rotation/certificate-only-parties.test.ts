/**
 * Parties without an EncryptionPublicKey (ModelProviders and Duchies) rotate
 * and replace their signing certificates through the compiled binary against
 * a real `halo-keys kingdom serve` process over mTLS: the plan registers the
 * new certificate with CreateCertificate and never calls UpdatePublicKey; the
 * old certificate retires per policy (left to expire, or revoked); and a
 * leaked ModelProvider signing certificate is revoked after its replacement
 * is registered.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKingdomClient } from '../../src/client/index.js';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { systemClock } from '../../src/lib/clock.js';
import { readCaState } from '../../src/pki/ca-store.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { hk, ok } from './compromise-fixtures.js';
import { PASSPHRASE, hashTree, scratch } from './fixtures.js';

const work = scratch('halo-rotation-no-public-key-');
let kingdom: KingdomProcess;

interface Registered {
  dir: string;
  name: string;
}

/** `init`, `registration`, the operator's `kingdom admin create-...`, then `sync`: as an operator does it. */
function registerParty(label: string, collection: 'modelProviders' | 'duchies', admin: string[]): Registered {
  const dir = join(work.dir, label);
  ok(
    hk([
      'init', '--dir', dir, '--participant', collection, '--subject', `/O=Halo Test/CN=${label}`,
      '--dns', 'localhost', '--ip', '127.0.0.1', '--create-ca',
      '--kingdom-target', kingdom.target, '--kingdom-roots', kingdom.kingdomRoot,
    ]),
    `${label} init`,
  );
  const reg = JSON.parse(ok(hk(['registration', '--dir', dir, '--out-dir', join(dir, 'reg'), '--json']), `${label} registration`).stdout);
  assert.equal(reg.files.publicKey, undefined, 'no public key to register');
  const created = ok(
    hk(['kingdom', 'admin', '--data-dir', kingdom.dataDir, '--json', ...admin, '--root-cert', reg.files.rootCert, '--certificate', reg.files.certificate]),
    `${label} ${admin[0]}`,
  );
  const name = JSON.parse(created.stdout).name as string;
  ok(hk(['sync', '--dir', dir, '--participant', name]), `${label} sync`);
  return { dir, name };
}

/** A client as the party itself (its active TLS certificate). */
function clientOf(party: Registered) {
  const s = KeyringSession.open(party.dir, { clock: systemClock, passphrase: () => PASSPHRASE });
  const tls = activeEntry(s.keyring, 'tls')!;
  return createKingdomClient({
    target: kingdom.target,
    trustedRoots: readFileSync(kingdom.kingdomRoot),
    clientCertificate: readFileSync(join(party.dir, tls.certificateFile!)),
    clientKey: s.material.privateKeyPem(tls),
  });
}

async function kingdomCertificates(party: Registered): Promise<Map<string, { skid: string; revocation: Certificate_RevocationState; der: Buffer }>> {
  const res = await clientOf(party).certificates.listCertificates({ parent: party.name, pageSize: 1000 });
  return new Map(res.certificates.map((c) => [c.name, { skid: Buffer.from(c.subjectKeyIdentifier).toString('hex'), revocation: c.revocationState, der: Buffer.from(c.x509Der) }]));
}

before(async () => {
  ensureBuilt(['src/cli/commands/rotate.ts', 'src/rotation/plan.ts', 'src/rotation/steps/signing-steps.ts', 'src/rotation/kingdom-port.ts', 'src/rotation/compromise/plans.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

describe('signing certificates of parties without a public key, against a real Kingdom server process', () => {
  it('a ModelProvider rotates its signing certificate: CreateCertificate, no UpdatePublicKey, the old one retired and left to expire', async () => {
    const mp = registerParty('mp', 'modelProviders', ['create-model-provider', '--display-name', 'MP rotation']);
    const old = activeEntry(readKeyring(mp.dir), 'signing')!;
    assert.ok(old.kingdomCertificate?.startsWith(`${mp.name}/certificates/`), 'sync recorded the first certificate');

    const tree = hashTree(mp.dir);
    const dry = ok(hk(['rotate', '--dir', mp.dir, '--signing', '--dry-run']), 'dry run');
    assert.match(dry.stdout, /CreateCertificate/);
    assert.doesNotMatch(dry.stdout, /UpdatePublicKey/);
    assert.deepEqual(hashTree(mp.dir), tree, 'the dry run wrote nothing');

    const result = JSON.parse(ok(hk(['rotate', '--dir', mp.dir, '--signing', '--json']), 'rotate --signing').stdout);
    const types = (result.steps as Array<{ type: string; status: string }>).map((s) => s.type);
    assert.deepEqual(types, ['signing.issue', 'signing.register', 'signing.activate', 'signing.retire']);
    assert.ok(result.steps.every((s: { status: string }) => s.status === 'done'));

    const keyring = readKeyring(mp.dir);
    const now = activeEntry(keyring, 'signing')!;
    assert.notEqual(now.id, old.id);
    assert.equal(keyring.entries.find((e) => e.id === old.id)!.state, 'retired');
    assert.equal(keyring.publication, undefined);
    const certs = await kingdomCertificates(mp);
    assert.equal(certs.size, 2);
    const registered = certs.get(now.kingdomCertificate!);
    assert.ok(registered, 'the new certificate is at the Kingdom under the name the keyring recorded');
    assert.equal(registered.skid, now.skid);
    assert.deepEqual(registered.der, Buffer.from(KeyringSession.open(mp.dir, { clock: systemClock, passphrase: () => PASSPHRASE }).material.certificate(now).der));
    assert.equal(certs.get(old.kingdomCertificate!)?.revocation, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED, 'policy expire: not revoked');
    // Still the ModelProvider to the Kingdom (its TLS client certificate chains to the same root).
    assert.equal((await clientOf(mp).modelProviders.getModelProvider({ name: mp.name })).name, mp.name);

    ok(hk(['audit', 'verify', '--dir', mp.dir]), 'audit verify');
    const status = hk(['status', '--dir', mp.dir, '--json']);
    assert.equal(status.code, 0, status.stdout);
    assert.equal(JSON.parse(status.stdout).kingdom, 'compared');
  });

  it('a Duchy rotates its signing certificate and, by policy, revokes the old one at the Kingdom and in its CA', async () => {
    const duchy = registerParty('duchy', 'duchies', ['create-duchy', '--duchy-id', 'worker1']);
    assert.equal(duchy.name, 'duchies/worker1');
    const config = readFileSync(join(duchy.dir, 'halo-keys.yaml'), 'utf8');
    assert.match(config, /retiredCertificates: expire/);
    writeFileSync(join(duchy.dir, 'halo-keys.yaml'), config.replace('retiredCertificates: expire', 'retiredCertificates: revoke'));
    const old = activeEntry(readKeyring(duchy.dir), 'signing')!;
    assert.ok(old.kingdomCertificate?.startsWith('duchies/worker1/certificates/'));

    const result = JSON.parse(ok(hk(['rotate', '--dir', duchy.dir, '--signing', '--json']), 'rotate --signing').stdout);
    assert.deepEqual(result.steps.map((s: { type: string }) => s.type), ['signing.issue', 'signing.register', 'signing.activate', 'signing.retire']);
    assert.match(result.steps[3].result, /retired and revoked/);

    const keyring = readKeyring(duchy.dir);
    const now = activeEntry(keyring, 'signing')!;
    const certs = await kingdomCertificates(duchy);
    assert.equal(certs.get(now.kingdomCertificate!)?.skid, now.skid);
    assert.equal(certs.get(now.kingdomCertificate!)?.revocation, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED);
    assert.equal(certs.get(old.kingdomCertificate!)?.revocation, Certificate_RevocationState.REVOKED);
    const retired = keyring.entries.find((e) => e.id === old.id)!;
    assert.equal(retired.state, 'retired');
    assert.equal(retired.kingdomRevocation, 'REVOKED');
    assert.deepEqual(readCaState(join(duchy.dir, 'ca')).revoked.map((r) => [r.serialHex, r.reason]), [[old.serialHex, 'superseded']]);
    ok(hk(['audit', 'verify', '--dir', duchy.dir]), 'audit verify');
    // A second run has nothing left to do.
    const again = JSON.parse(ok(hk(['rotate', '--dir', duchy.dir, '--json']), 'second rotate').stdout);
    assert.deepEqual(again.steps, []);
  });

  it('a leaked ModelProvider signing certificate is replaced, revoked at the Kingdom and in the CRL, and its key destroyed', async () => {
    const mp = registerParty('mp-leak', 'modelProviders', ['create-model-provider', '--display-name', 'MP compromise']);
    const old = activeEntry(readKeyring(mp.dir), 'signing')!;
    const oldName = old.kingdomCertificate!;

    const result = JSON.parse(ok(hk(['compromise', 'certificate', oldName, '--dir', mp.dir, '--json']), 'compromise certificate').stdout);
    const types = (result.steps as Array<{ type: string }>).map((s) => s.type);
    assert.equal(types[0], 'compromise.assess-certificate');
    assert.ok(!types.includes('public-key.publish'), types.join(' '));
    assert.ok(types.indexOf('signing.register') < types.indexOf('compromise.revoke-kingdom'), 'the replacement is registered before the revocation');
    assert.ok(result.steps.every((s: { status: string }) => s.status === 'done'));

    const keyring = readKeyring(mp.dir);
    const now = activeEntry(keyring, 'signing')!;
    assert.notEqual(now.id, old.id);
    const compromised = keyring.entries.find((e) => e.id === old.id)!;
    assert.equal(compromised.state, 'compromised');
    assert.equal(compromised.kingdomRevocation, 'REVOKED');
    assert.ok(!existsSync(join(mp.dir, compromised.privateKeyFile!)), 'the leaked private key is destroyed');
    const certs = await kingdomCertificates(mp);
    assert.equal(certs.get(oldName)?.revocation, Certificate_RevocationState.REVOKED);
    assert.equal(certs.get(now.kingdomCertificate!)?.skid, now.skid);
    assert.equal(certs.get(now.kingdomCertificate!)?.revocation, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED);
    assert.deepEqual(readCaState(join(mp.dir, 'ca')).revoked.map((r) => [r.serialHex, r.reason]), [[old.serialHex, 'keyCompromise']]);
    ok(hk(['audit', 'verify', '--dir', mp.dir]), 'audit verify');
  });
});
