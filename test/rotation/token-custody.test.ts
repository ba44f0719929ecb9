/**
 * A keyring whose signing keys live on a real SoftHSM2 token (made here),
 * rotated against the real Kingdom services over the in-memory transport:
 * every generation is a new never-extractable key on the token, its
 * certificate carries that key, and the EncryptionPublicKey signed on the
 * token verifies with the project's verifier, with `openssl` and at the
 * Kingdom. A run SIGKILLed inside the issue step is finished by reusing the
 * key it generated (or aborted, deleting it); the compromise procedure deletes the leaked key from the
 * token.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kingdomClientOver } from '../../src/client/index.js';
import { verifySignedMessage } from '../../src/crypto/signed-message.js';
import { planCertificateCompromise } from '../../src/rotation/compromise/plans.js';
import { runProcedure } from '../../src/rotation/compromise/procedure.js';
import { parseConfig, renderConfig } from '../../src/rotation/config.js';
import { readJournal } from '../../src/rotation/journal/journal.js';
import { initKeyring } from '../../src/rotation/keyring-init.js';
import { activeEntry, readKeyring, writeKeyring, type KeyEntry } from '../../src/rotation/keyring.js';
import { abortJournal } from '../../src/rotation/abort.js';
import { RotationAgent } from '../../src/rotation/agent.js';
import { rotate } from '../../src/rotation/rotate.js';
import { KeyringSession } from '../../src/rotation/session.js';
import { collectStatus } from '../../src/rotation/status.js';
import { tokenObjectUri } from '../../src/rotation/token-keys.js';
import { NOW, openTestKingdom, type TestKingdom } from '../kingdom/fixtures.js';
import { DAY, ManualClock, PASSPHRASE, newKeyring, portFor, registerDataProvider, repoRoot, scratch } from './fixtures.js';
import { MODULE, PIN, softhsmToken } from './softhsm.js';

const work = scratch('halo-token-custody-');
const token = softhsmToken(work.dir, 'edp-signing');
// The library spawns pkcs11-tool and openssl, which find the token through this.
process.env.SOFTHSM2_CONF = token.env.SOFTHSM2_CONF;
// init (newKeyring) takes the PIN from the environment, as the CLI does without --pin-file.
process.env.HALO_KEYS_PKCS11_PIN = PIN;
const signingToken = { uri: `pkcs11:token=${token.label};object=edp1`, module: MODULE };

let kingdom: TestKingdom;
before(async () => {
  kingdom = await openTestKingdom();
});
after(async () => {
  await kingdom.close();
  work.remove();
});

const open = (dir: string, at: Date) => KeyringSession.open(dir, { clock: new ManualClock(at), passphrase: () => PASSPHRASE, pin: () => PIN });

async function tokenKeyring(name: string) {
  const session = newKeyring(join(work.dir, name), new ManualClock(new Date(NOW.getTime() - 100 * DAY)), {
    kingdom: { target: 'localhost:1', trustedRoots: 'kingdom_root.pem' },
    signingToken,
  });
  const participant = await registerDataProvider(kingdom, open(session.dir, new Date(NOW.getTime() - 100 * DAY)));
  return { dir: session.dir, participant };
}

function openssl(args: string[]) {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The entry's certificate passes `openssl verify` against the keyring's CA, and its key is the token object's. */
function assertTokenCertificate(session: KeyringSession, entry: KeyEntry): void {
  assert.match(entry.privateKeyUri!, new RegExp(`^pkcs11:token=${token.label};object=edp1-${entry.id}$`));
  assert.equal(entry.privateKeyFile, undefined);
  const cert = session.material.path(entry.certificateFile!);
  const verified = openssl(['verify', '-CAfile', join(session.config.ca, 'ca.pem'), cert]);
  assert.equal(verified.code, 0, verified.out);
  const label = `edp1-${entry.id}`;
  const pub = spawnSync('pkcs11-tool', ['--module', MODULE, '--token-label', token.label, '--read-object', '--type', 'pubkey', '--label', label], { env: process.env }).stdout;
  const spki = openssl(['x509', '-in', cert, '-noout', '-pubkey']).out.replace(/-----[^-]+-----|\s/g, '');
  assert.equal(spki, Buffer.from(pub).toString('base64'));
  assert.match(token.tool(['--list-objects', '--type', 'privkey', '--label', label]).out, /never extractable/);
}

/** What the Kingdom publishes verifies with our verifier and with openssl against the entry's certificate. */
async function assertPublishedBy(session: KeyringSession, participant: string, entry: KeyEntry): Promise<void> {
  const port = portFor(kingdom, session);
  const shown = await port.getParticipant(participant);
  assert.equal(shown.certificate, entry.kingdomCertificate);
  const certDer = session.material.certificate(entry).der;
  verifySignedMessage(shown.publicKey!, certDer);
  const data = join(work.dir, 'message.bin');
  const signature = join(work.dir, 'message.sig');
  const pubkey = join(work.dir, 'signer.pem');
  writeFileSync(data, shown.publicKey!.message!.value);
  writeFileSync(signature, shown.publicKey!.signature);
  writeFileSync(pubkey, openssl(['x509', '-in', session.material.path(entry.certificateFile!), '-noout', '-pubkey']).out);
  const checked = openssl(['dgst', '-sha256', '-verify', pubkey, '-signature', signature, data]);
  assert.equal(checked.code, 0, checked.out);
  assert.match(checked.out, /Verified OK/);
}

/**
 * Rotates the signing key in a child process SIGKILLed once the issue step
 * has run, then takes the keyring back to the instant right after
 * C_GenerateKeyPair: the key is on the token, its entry and certificate not
 * yet recorded (the journal names the object, as it did before the step ran).
 */
function killAfterTokenKeygen(dir: string): { entry: string; uri: string; label: string } {
  const child = join(work.dir, 'crash.mts');
  writeFileSync(
    child,
    `import { rotate } from ${JSON.stringify(join(repoRoot, 'src/rotation/rotate.ts'))};
import { KeyringSession } from ${JSON.stringify(join(repoRoot, 'src/rotation/session.ts'))};
const session = KeyringSession.open(process.argv[2]!, { clock: { now: () => new Date(${NOW.getTime()}) }, passphrase: () => ${JSON.stringify(PASSPHRASE)}, pin: () => ${JSON.stringify(PIN)} });
await rotate(session, { kinds: ['signing'], faultBeforeRecord: 1, kingdom: () => { throw new Error('no Kingdom in the child'); } });
`,
  );
  const killed = spawnSync(process.execPath, ['--import', 'tsx', child, dir], { cwd: repoRoot, env: process.env, encoding: 'utf8' });
  assert.equal(killed.signal, 'SIGKILL', killed.stderr);
  const issue = readJournal(dir)!.steps[0]!;
  assert.equal(issue.type, 'signing.issue');
  assert.equal(issue.status, 'started');
  const uri = String(issue.args!.tokenObject);
  const label = `edp1-${issue.entry}`;
  assert.ok(token.privateKeyLabels().includes(label));
  const keyring = readKeyring(dir);
  const made = keyring.entries.find((e) => e.id === issue.entry)!;
  rmSync(join(dir, made.certificateFile!));
  keyring.entries = keyring.entries.filter((e) => e.id !== issue.entry);
  writeKeyring(dir, keyring);
  return { entry: issue.entry!, uri, label };
}

describe('signing keys on a PKCS#11 token (SoftHSM2)', () => {
  it('init, registration and rotate --signing generate each key on the token; what it signs verifies; status shows where each key lives', async () => {
    const { dir, participant } = await tokenKeyring('rotating');
    const first = activeEntry(readKeyring(dir), 'signing')!;
    const session = open(dir, NOW);
    assertTokenCertificate(session, first);
    await assertPublishedBy(session, participant, first);

    const result = await rotate(session, { kinds: ['signing'], kingdom: () => portFor(kingdom, session) });
    assert.ok(result.steps.every((s) => s.status === 'done'), JSON.stringify(result.steps.map((s) => [s.type, s.status, s.lastError])));
    const issue = result.steps.find((s) => s.type === 'signing.issue')!;
    const keyring = readKeyring(dir);
    const second = activeEntry(keyring, 'signing')!;
    assert.notEqual(second.id, first.id);
    assert.equal(issue.args?.tokenObject, second.privateKeyUri, 'the journal named the token object before it was made');
    assertTokenCertificate(session, second);
    await assertPublishedBy(session, participant, second);
    // The old generation stays on the token, as the file form keeps a retired key file.
    assert.deepEqual(token.privateKeyLabels().filter((l) => l.startsWith('edp1-')).sort(), [`edp1-${first.id}`, `edp1-${second.id}`].sort());

    const status = await collectStatus(open(dir, NOW));
    const rowOf = (id: string) => status.rows.find((r) => r.id === id)!;
    assert.equal(rowOf(second.id).key, second.privateKeyUri);
    assert.equal(rowOf(activeEntry(keyring, 'tls')!.id).key, activeEntry(keyring, 'tls')!.privateKeyFile);
    assert.equal(rowOf(activeEntry(keyring, 'encryption')!.id).key, keyring.encryptionKeyset);
    // Nothing the keyring wrote holds the PIN.
    for (const f of ['halo-keys.yaml', 'keyring.json', 'audit.jsonl']) assert.doesNotMatch(readFileSync(join(dir, f), 'utf8'), new RegExp(PIN), f);
  });

  it('the agent rotates what is due on schedule the same way: the new signing key is generated on the token', async () => {
    const { dir, participant } = await tokenKeyring('scheduled');
    const before = activeEntry(readKeyring(dir), 'signing')!;
    const agent = new RotationAgent({ dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, pin: () => PIN, intervalMs: DAY, kingdom: (s) => portFor(kingdom, s) });
    const tick = await agent.tick();
    assert.equal(tick.outcome, 'rotated', tick.detail);
    const after = activeEntry(readKeyring(dir), 'signing')!;
    assert.notEqual(after.id, before.id);
    const session = open(dir, NOW);
    assertTokenCertificate(session, after);
    await assertPublishedBy(session, participant, after);
  });

  it('a run SIGKILLed after generating the token key is finished with that key: no second key on the token', async () => {
    const { dir, participant } = await tokenKeyring('crashing');
    const { entry, uri, label } = killAfterTokenKeygen(dir);
    const session = open(dir, NOW);
    const result = await rotate(session, { kingdom: () => portFor(kingdom, session) });
    assert.equal(result.resumed, true);
    assert.match(result.steps[0]!.result!, new RegExp(`key at ${uri.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(generated by an earlier attempt\\)`));
    assert.equal(token.privateKeyLabels().filter((l) => l === label).length, 1);
    const active = activeEntry(readKeyring(dir), 'signing')!;
    assert.equal(active.id, entry);
    assertTokenCertificate(session, active);
    await assertPublishedBy(session, participant, active);
  });

  it('rotate --abort after such a crash deletes the unrecorded token key, as it removes unrecorded key files', async () => {
    const { dir } = await tokenKeyring('aborting');
    const { label } = killAfterTokenKeygen(dir);
    const others = token.privateKeyLabels().filter((l) => l !== label);
    const session = open(dir, NOW);
    const result = await abortJournal(session, { kingdom: () => portFor(kingdom, session) });
    const discard = result.steps.find((s) => s.type === 'abort.discard')!;
    assert.match(discard.result!, new RegExp(`deleted the unrecorded token key .*object=${label}`));
    assert.deepEqual(token.privateKeyLabels().sort(), others.sort());
    assert.equal(readJournal(dir), undefined);
  });

  it('a key of another type under the recorded label is refused, not used', async () => {
    const { dir } = await tokenKeyring('mismatch');
    const session = open(dir, NOW);
    const uri = `pkcs11:token=${token.label};object=edp1-intruder`;
    assert.equal(token.tool(['--keypairgen', '--key-type', 'EC:secp384r1', '--label', 'edp1-intruder', '--id', 'c1']).code, 0);
    assert.throws(() => session.tokens.generateOrReuse(uri, 'p256'), /"edp1-intruder" on token "edp-signing" is a p384 key; the keyring's keyType is p256/);
  });

  it('the compromise procedure for a token signing certificate rotates on the token and deletes the leaked key there', async () => {
    const { dir, participant } = await tokenKeyring('leaked');
    const session = open(dir, NOW);
    const leaked = activeEntry(session.keyring, 'signing')!;
    const tlsDer = session.material.certificate(activeEntry(session.keyring, 'tls')!).der;
    const result = await runProcedure(session, 'compromise.certificate', async () => planCertificateCompromise(session, { target: leaked, hold: false, keepKeyMaterial: false }), {
      kingdom: () => portFor(kingdom, session),
      client: () => kingdomClientOver(kingdom.transport({ peer: { clientCertificate: tlsDer } })),
    });
    assert.ok(result.steps.every((s) => s.status === 'done'), JSON.stringify(result.steps.map((s) => [s.type, s.status, s.lastError])));
    const keyring = readKeyring(dir);
    const replacement = activeEntry(keyring, 'signing')!;
    assert.notEqual(replacement.id, leaked.id);
    assertTokenCertificate(session, replacement);
    await assertPublishedBy(session, participant, replacement);
    assert.equal(token.privateKeyLabels().includes(`edp1-${leaked.id}`), false, 'the leaked key is gone from the token');
    assert.equal(keyring.entries.find((e) => e.id === leaked.id)!.state, 'compromised');
  });

  it('an init that fails after generating its token key deletes that key: nothing on the token, no keyring', () => {
    const before = token.privateKeyLabels();
    const dir = join(work.dir, 'failed-init');
    mkdirSync(dir);
    // An encryption template no one knows: init fails after the signing key was made on the token.
    const yaml = renderConfig({ participant: 'dataProviders', subject: '/CN=failed', dnsNames: ['localhost'], signingToken });
    writeFileSync(join(dir, 'halo-keys.yaml'), yaml.replace('ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM', 'NO_SUCH_TEMPLATE'));
    assert.throws(() => initKeyring({ dir, clock: new ManualClock(NOW), passphrase: () => PASSPHRASE, pin: () => PIN, createCa: { subject: '/CN=failed root' } }), /NO_SUCH_TEMPLATE/);
    assert.deepEqual(token.privateKeyLabels().sort(), [...before].sort());
    assert.deepEqual(readdirSync(dir), ['halo-keys.yaml']);
  });

  it('halo-keys.yaml refuses a TLS key on a token and a key type the token cannot hold', () => {
    const base = 'participant: dataProviders\nsubject: /CN=x\ntls:\n  dnsNames: [x.example]\n';
    assert.throws(() => parseConfig(`${base}  pkcs11: { uri: "pkcs11:token=t;object=o" }\n`, work.dir), /tls\.pkcs11: the TLS key stays in a key file/);
    assert.throws(() => parseConfig(`${base}keyType: ed25519\nsigning:\n  pkcs11: { uri: "pkcs11:token=t;object=o" }\n`, work.dir), /keyType ed25519 cannot be kept on a token/);
    assert.throws(() => parseConfig(`${base}signing:\n  pkcs11: { uri: "pkcs11:token=t;object=o", pin: "1234" }\n`, work.dir), /takes uri and module only/);
    const fromUri = parseConfig(`${base}signing:\n  pkcs11: { uri: "pkcs11:object=o;token=t?module-path=/opt/hsm.so" }\n`, work.dir).signingToken!;
    assert.deepEqual(fromUri, { uri: 'pkcs11:object=o;token=t?module-path=/opt/hsm.so', module: '/opt/hsm.so' });
    assert.equal(tokenObjectUri(fromUri, 'signing-1'), 'pkcs11:object=o-signing-1;token=t');
  });
});
