/**
 * `halo-keys compromise certificate` end to end: the compiled binary against
 * a real `halo-keys kingdom serve` process over mTLS, with one
 * MeasurementConsumer and two DataProviders doing real measurements. A
 * DataProvider's signing certificate leaks: its pending measurement fails
 * with CERTIFICATE_REVOKED, the succeeded one is reported untrusted, new
 * measurements succeed with the new certificate; a suspected compromise is
 * held and released; a TLS certificate is revoked in the CRL only; and the
 * procedure SIGKILLed at every step is finished by running it again.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code } from '@connectrpc/connect';
import { KingdomClientError } from '../../src/client/errors.js';
import { decryptMessage } from '../../src/crypto/encrypted-message.js';
import { verifyAndUnpack, verifySignedMessage } from '../../src/crypto/signed-message.js';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { Measurement_Failure_Reason, Measurement_ResultSchema, Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { readCaState } from '../../src/pki/ca-store.js';
import { activeEntry, readKeyring } from '../../src/rotation/keyring.js';
import { assertOneLineFailure, ensureBuilt, startKingdom, type KingdomProcess } from '../cli/kingdom-process.js';
import { createMeasurement, fulfill, hk, newParty, ok, type Party } from './compromise-fixtures.js';
import { hashTree, scratch } from './fixtures.js';

const work = scratch('halo-compromise-cert-');
let kingdom: KingdomProcess;
let mc: Party;
let dp1: Party;
let dp2: Party;

async function measurementState(name: string) {
  return mc.client().measurements.getMeasurement({ name });
}

async function certificateNames(party: Party): Promise<string[]> {
  return (await party.client().certificates.listCertificates({ parent: party.name, pageSize: 1000 })).certificates.map((c) => c.name);
}

before(async () => {
  ensureBuilt(['src/cli/commands/compromise.ts', 'src/rotation/compromise/procedure.ts', 'src/rotation/compromise/certificate-steps.ts', 'src/rotation/journal/run.ts', 'src/rotation/journal/steps.ts', 'src/kingdom/service/routes.ts']);
  kingdom = await startKingdom(join(work.dir, 'kingdom'));
  mc = await newParty(kingdom, work.dir, 'measurementConsumer', 'mc');
  dp1 = await newParty(kingdom, work.dir, 'dataProvider', 'edp1');
  dp2 = await newParty(kingdom, work.dir, 'dataProvider', 'edp2');
});

after(async () => {
  await kingdom?.stop();
  work.remove();
});

describe('halo-keys compromise certificate against a real Kingdom server process', () => {
  it('reports the blast radius, rotates, revokes: pending fails with CERTIFICATE_REVOKED, succeeded is untrusted, new work succeeds; a second run duplicates nothing', async () => {
    const succeeded = await createMeasurement(mc, [dp1, dp2], 'before');
    await fulfill(dp1, succeeded.name);
    await fulfill(dp2, succeeded.name);
    assert.equal((await measurementState(succeeded.name)).state, Measurement_State.SUCCEEDED);
    const pending = await createMeasurement(mc, [dp1, dp2], 'pending');
    await fulfill(dp2, pending.name);
    const old = activeEntry(dp1.session().keyring, 'signing')!;
    const oldName = old.kingdomCertificate!;

    // The blast radius is the owner's to ask for.
    const radius = await dp1.client().certificateBlastRadius.getCertificateBlastRadius({ certificate: oldName });
    assert.deepEqual(radius.pendingMeasurements, [pending.name]);
    assert.deepEqual(radius.signedResultMeasurements, [succeeded.name]);
    assert.equal(radius.publicKeyReferences, true);
    await assert.rejects(mc.client().certificateBlastRadius.getCertificateBlastRadius({ certificate: oldName }), (e: unknown) => e instanceof KingdomClientError && e.grpcCode === Code.PermissionDenied);

    // Rehearsal: prints the blast radius and the steps, changes nothing.
    const tree = hashTree(dp1.dir);
    const dry = ok(hk(['compromise', 'certificate', oldName, '--dir', dp1.dir, '--dry-run']), 'dry run');
    assert.match(dry.stdout, /^dry run: nothing was changed/);
    assert.match(dry.stdout, /1 pending measurement\(s\) and 1 requisition\(s\) will fail; 1 succeeded measurement/);
    assert.match(dry.stdout, /RevokeCertificate REVOKED/);
    assert.deepEqual(hashTree(dp1.dir), tree);
    assert.equal((await measurementState(pending.name)).state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);

    const reportBase = join(work.dir, 'incident');
    const r = ok(hk(['compromise', 'certificate', oldName, '--dir', dp1.dir, '--report', reportBase, '--json']), 'compromise');
    const result = JSON.parse(r.stdout);
    assert.ok(result.steps.every((s: { status: string }) => s.status === 'done'));
    assert.equal(result.steps[0].type, 'compromise.assess-certificate', 'the blast radius comes first');

    // What failed, what is untrusted.
    const failed = await measurementState(pending.name);
    assert.equal(failed.state, Measurement_State.FAILED);
    assert.equal(failed.failure?.reason, Measurement_Failure_Reason.CERTIFICATE_REVOKED);
    assert.equal((await measurementState(succeeded.name)).state, Measurement_State.SUCCEEDED);
    const trust = await mc.client().measurementTrust.getMeasurementTrust({ measurement: succeeded.name });
    assert.equal(trust.trusted, false);
    assert.deepEqual(trust.untrustedResultCertificates, [oldName]);

    // The report, JSON and text, in the workspace and where asked.
    const report = JSON.parse(readFileSync(`${reportBase}.json`, 'utf8'));
    assert.deepEqual(report.failed.measurements, [pending.name]);
    assert.equal(report.failed.requisitions.length, 1);
    assert.deepEqual(report.untrusted.measurements, [succeeded.name]);
    assert.deepEqual(report.rerun.map((x: { resource: string }) => x.resource).sort(), [pending.name, succeeded.name].sort());
    assert.deepEqual(report.revocation, { kingdom: 'REVOKED', crl: 'keyCompromise', keyMaterial: 'destroyed' });
    const text = readFileSync(`${reportBase}.txt`, 'utf8');
    assert.ok(text.includes(pending.name) && text.includes(succeeded.name));
    assert.ok(existsSync(report.files.json) && existsSync(report.files.text));

    // The Kingdom, the keyring, the CA.
    const keyring = readKeyring(dp1.dir);
    const now = activeEntry(keyring, 'signing')!;
    assert.notEqual(now.id, old.id);
    assert.equal(report.replacement.kingdomCertificate, now.kingdomCertificate);
    const client = dp1.client();
    assert.equal((await client.certificates.getCertificate({ name: oldName })).revocationState, Certificate_RevocationState.REVOKED);
    const shown = await client.dataProviders.getDataProvider({ name: dp1.name });
    assert.equal(shown.certificate, now.kingdomCertificate);
    verifySignedMessage(shown.publicKey!, (await client.certificates.getCertificate({ name: now.kingdomCertificate! })).x509Der);
    const compromised = keyring.entries.find((e) => e.id === old.id)!;
    assert.equal(compromised.state, 'compromised');
    assert.equal(compromised.kingdomRevocation, 'REVOKED');
    assert.ok(compromised.destroyedAt);
    assert.equal(existsSync(join(dp1.dir, compromised.privateKeyFile!)), false, 'private key destroyed');
    assert.deepEqual(readCaState(join(dp1.dir, 'ca')).revoked.map((x) => [x.serialHex, x.reason]), [[old.serialHex, 'keyCompromise']]);
    const crl = execFileSync('openssl', ['crl', '-in', join(dp1.dir, 'crl.pem'), '-noout', '-text'], { encoding: 'utf8' });
    assert.match(crl, new RegExp(`Serial Number: ${old.serialHex!.toUpperCase()}`));
    assert.match(crl, /Key Compromise/);

    // New work flows with the new certificate.
    const fresh = await createMeasurement(mc, [dp1, dp2], 'after');
    await fulfill(dp1, fresh.name, 4242n);
    await fulfill(dp2, fresh.name);
    const done = await measurementState(fresh.name);
    assert.equal(done.state, Measurement_State.SUCCEEDED);
    const mine = done.results.find((x) => x.certificate === now.kingdomCertificate);
    assert.ok(mine, 'a result signed with the new certificate');
    const mcKeys = mc.session();
    const signed = decryptMessage(mcKeys.material.loadEncryptionKeyset(mcKeys.keyring.encryptionKeyset), mine.encryptedResult!, SignedMessageSchema);
    const newDer = (await mc.client().certificates.getCertificate({ name: now.kingdomCertificate! })).x509Der;
    assert.equal(verifyAndUnpack(Measurement_ResultSchema, signed, newDer).reach?.value, 4242n);

    ok(hk(['audit', 'verify', '--dir', dp1.dir]), 'audit verify');
    const audit = readFileSync(join(dp1.dir, 'audit.jsonl'), 'utf8');
    for (const action of ['compromise.blast-radius', 'certificate.register', 'public-key.publish', 'certificate.revoke', 'key.compromise', 'key.destroy', 'ca.revoke', 'compromise.report', 'compromise.certificate.done']) {
      assert.ok(audit.includes(`"action":"${action}"`), `audit has ${action}`);
    }

    // Twice: nothing registered, revoked or rotated again.
    const certsBefore = await certificateNames(dp1);
    const entriesBefore = readKeyring(dp1.dir).entries.length;
    const again = JSON.parse(ok(hk(['compromise', 'certificate', oldName, '--dir', dp1.dir, '--json']), 'second run').stdout);
    assert.ok(!again.steps.some((s: { type: string }) => s.type.startsWith('signing.')), 'no second rotation');
    assert.deepEqual(await certificateNames(dp1), certsBefore);
    assert.equal(readKeyring(dp1.dir).entries.length, entriesBefore);
    assert.equal(activeEntry(readKeyring(dp1.dir), 'signing')!.id, now.id);
    assert.equal(readCaState(join(dp1.dir, 'ca')).revoked.length, 1);
    ok(hk(['audit', 'verify', '--dir', dp1.dir]), 'audit verify after the second run');
  });

  it('--hold --keep-key-material for a suspected compromise, then release-hold: the certificate and the CRL come back, failed work stays failed', async () => {
    const held = await createMeasurement(mc, [dp2], 'held');
    const old = activeEntry(dp2.session().keyring, 'signing')!;
    ok(hk(['compromise', 'certificate', '--skid', old.skid!.replace(/(..)(?!$)/g, '$1:'), '--hold', '--keep-key-material', '--dir', dp2.dir]), 'hold');
    const failed = await measurementState(held.name);
    assert.equal(failed.failure?.reason, Measurement_Failure_Reason.CERTIFICATE_REVOKED);
    const client = dp2.client();
    assert.equal((await client.certificates.getCertificate({ name: old.kingdomCertificate! })).revocationState, Certificate_RevocationState.HOLD);
    let entry = readKeyring(dp2.dir).entries.find((e) => e.id === old.id)!;
    assert.equal(entry.state, 'compromised');
    assert.ok(existsSync(join(dp2.dir, entry.privateKeyFile!)), 'key kept');
    assert.deepEqual(readCaState(join(dp2.dir, 'ca')).revoked.map((x) => x.reason), ['certificateHold']);

    const released = ok(hk(['compromise', 'release-hold', old.kingdomCertificate!, '--dir', dp2.dir]), 'release-hold');
    assert.match(released.stdout, /completed compromise.release-hold/);
    assert.equal((await client.certificates.getCertificate({ name: old.kingdomCertificate! })).revocationState, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED);
    entry = readKeyring(dp2.dir).entries.find((e) => e.id === old.id)!;
    assert.equal(entry.state, 'retiring', 'replaced, so retiring rather than active');
    assert.equal(entry.kingdomRevocation, undefined);
    assert.deepEqual(readCaState(join(dp2.dir, 'ca')).revoked, []);
    assert.doesNotMatch(execFileSync('openssl', ['crl', '-in', join(dp2.dir, 'crl.pem'), '-noout', '-text'], { encoding: 'utf8' }), /Serial Number/);
    assert.equal((await measurementState(held.name)).state, Measurement_State.FAILED);
    ok(hk(['audit', 'verify', '--dir', dp2.dir]), 'audit verify');
  });

  it('a leaked TLS certificate: rotated and revoked in the CRL only; the Kingdom is reached with the new one', async () => {
    const tls = activeEntry(dp2.session().keyring, 'tls')!;
    const certsBefore = await certificateNames(dp2);
    const r = JSON.parse(ok(hk(['compromise', 'certificate', '--skid', tls.skid!, '--dir', dp2.dir, '--json']), 'tls compromise').stdout);
    assert.ok(!r.steps.some((s: { type: string }) => s.type === 'compromise.revoke-kingdom'));
    const keyring = readKeyring(dp2.dir);
    assert.notEqual(activeEntry(keyring, 'tls')!.id, tls.id);
    assert.equal(keyring.entries.find((e) => e.id === tls.id)!.state, 'compromised');
    assert.ok(readCaState(join(dp2.dir, 'ca')).revoked.some((x) => x.serialHex === tls.serialHex && x.reason === 'keyCompromise'));
    assert.deepEqual(await certificateNames(dp2), certsBefore, 'nothing registered or revoked at the Kingdom');
    assert.equal((await dp2.client().dataProviders.getDataProvider({ name: dp2.name })).name, dp2.name);
  });

  it('bad targets and misuse: one line on stderr, non-zero exit, nothing changed; the blast radius RPC answers NOT_FOUND and INVALID_ARGUMENT', async () => {
    const rpc = dp1.client().certificateBlastRadius;
    const code = (c: Code) => (e: unknown) => e instanceof KingdomClientError && e.grpcCode === c;
    await assert.rejects(rpc.getCertificateBlastRadius({ certificate: `${dp1.name}/certificates/AAAAAAAAAHs` }), code(Code.NotFound));
    await assert.rejects(rpc.getCertificateBlastRadius({ certificate: 'certificates/nonsense' }), code(Code.InvalidArgument));
    await assert.rejects(rpc.getCertificateBlastRadius({ certificate: '' }), code(Code.InvalidArgument));
    const tree = hashTree(dp1.dir);
    assertOneLineFailure(hk(['compromise', 'certificate', '--dir', dp1.dir]), 'halo-keys', 2, /Kingdom name or by --skid/);
    assertOneLineFailure(hk(['compromise', 'certificate', `${dp1.name}/certificates/AAAAAAAAAHs`, '--dir', dp1.dir]), 'halo-keys', 1, /no certificate in the keyring registered as/);
    assertOneLineFailure(hk(['compromise', 'certificate', '--skid', 'zz:01', '--dir', dp1.dir]), 'halo-keys', 2, /--skid <hex>.*must be hex bytes/);
    assertOneLineFailure(hk(['compromise', 'certificate', '--skid', '0102', '--dir', dp1.dir]), 'halo-keys', 1, /no certificate in the keyring with SKID 0102/);
    assertOneLineFailure(hk(['compromise', 'encryption-key', '--key-id', '12', '--dir', dp1.dir]), 'halo-keys', 1, /no encryption key with Tink key id 12/);
    const badId = hk(['compromise', 'encryption-key', '--key-id', 'x', '--dir', dp1.dir]);
    assert.equal(badId.code, 2);
    assert.match(badId.stderr.trim(), /^error: option '--key-id <n>' argument 'x' is invalid\. must be a Tink key id[^\n]*$/);
    assertOneLineFailure(hk(['compromise', 'certificate', '--resume', '--dir', dp1.dir]), 'halo-keys', 1, /no unfinished compromise.certificate to resume/);
    assertOneLineFailure(hk(['reencrypt', 'event-groups', '--dir', mc.dir]), 'halo-keys', 1, /re-encrypted by the DataProvider/);
    assert.deepEqual(hashTree(dp1.dir), tree);
  });

  for (const hook of ['HALO_KEYS_FAULT_AFTER_STEP', 'HALO_KEYS_FAULT_BEFORE_RECORD'] as const) {
    it(`SIGKILL at every step (${hook}): running it again finishes, nothing registered twice, valid audit chain`, async (t) => {
      const probe = await newParty(kingdom, work.dir, 'dataProvider', `probe-${hook}`);
      const plan = JSON.parse(ok(hk(['compromise', 'certificate', activeEntry(probe.session().keyring, 'signing')!.kingdomCertificate!, '--dir', probe.dir, '--dry-run', '--json']), 'plan').stdout);
      const effectful = new Set(['signing.issue', 'signing.register', 'public-key.publish', 'compromise.revoke-kingdom', 'compromise.destroy-private-key', 'compromise.revoke-crl', 'compromise.report']);
      const points = (plan.steps as Array<{ n: number; type: string }>).filter((s) => hook === 'HALO_KEYS_FAULT_AFTER_STEP' || effectful.has(s.type)).map((s) => s.n);
      let finished = 0;
      for (const n of points) {
        const dp = await newParty(kingdom, work.dir, 'dataProvider', `kill-${hook === 'HALO_KEYS_FAULT_AFTER_STEP' ? 'after' : 'before'}-${n}`);
        const pending = await createMeasurement(mc, [dp], `kill-${n}`);
        const old = activeEntry(dp.session().keyring, 'signing')!;
        const killed = hk(['compromise', 'certificate', old.kingdomCertificate!, '--dir', dp.dir], { [hook]: String(n) });
        assert.equal(killed.signal, 'SIGKILL', `step ${n}: ${killed.stderr}`);
        assert.ok(existsSync(join(dp.dir, 'journal.json')), `step ${n}: the journal survives`);
        const second = ok(hk(['compromise', 'certificate', old.kingdomCertificate!, '--dir', dp.dir, '--json']), `step ${n}: second run`);
        assert.equal(JSON.parse(second.stdout).resumed, true, `step ${n}: resumed the same procedure`);

        const keyring = readKeyring(dp.dir);
        assert.equal(keyring.entries.filter((e) => e.kind === 'signing').length, 2, `step ${n}: one new signing certificate`);
        assert.equal(keyring.entries.find((e) => e.id === old.id)!.state, 'compromised');
        const certs = await dp.client().certificates.listCertificates({ parent: dp.name, pageSize: 100 });
        assert.equal(certs.certificates.length, 2, `step ${n}: registered once`);
        assert.deepEqual(
          certs.certificates.map((c) => [c.name, c.revocationState]).sort(),
          [[old.kingdomCertificate!, Certificate_RevocationState.REVOKED], [activeEntry(keyring, 'signing')!.kingdomCertificate!, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED]].sort(),
        );
        assert.equal((await measurementState(pending.name)).failure?.reason, Measurement_Failure_Reason.CERTIFICATE_REVOKED);
        assert.ok(!existsSync(join(dp.dir, 'journal.json')));
        const archived = readdirSync(join(dp.dir, 'journals'));
        assert.equal(archived.length, 1, `step ${n}: one procedure`);
        const journal = JSON.parse(readFileSync(join(dp.dir, 'journals', archived[0]!), 'utf8'));
        assert.ok(journal.steps.every((s: { status: string }) => s.status === 'done'));
        const report = JSON.parse(readFileSync(join(dp.dir, 'compromise', journal.id, 'report.json'), 'utf8'));
        assert.deepEqual(report.failed.measurements, [pending.name], `step ${n}: the report keeps the blast radius from before the crash`);
        assert.equal(readCaState(join(dp.dir, 'ca')).revoked.length, 1);
        ok(hk(['audit', 'verify', '--dir', dp.dir]), `step ${n}: audit verify`);
        finished++;
      }
      t.diagnostic(`${hook}: ${finished}/${points.length} crashed procedures finished by a second run (steps ${points.join(', ')} of ${plan.steps.length})`);
      assert.equal(finished, points.length);
      assert.ok(points.length >= 6);
    });
  }
});
