/**
 * The CMMS rotation procedure, run as a new user would: the README's
 * quickstart block, verbatim, with the package binaries on PATH (what `npm
 * link` gives), against a real `halo-keys kingdom serve` process over mTLS.
 * Then the result is checked through the same binaries and openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureBuilt, fixture, repo, runBin, secretfiles, startKingdom, type KingdomProcess } from './kingdom-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'rotation-procedure-'));
const file = (name: string) => join(tmp, name);
let kingdom: KingdomProcess | undefined;

/** The shell block after `<!-- rotation-quickstart -->` in README.md. */
function quickstartBlock(): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const match = /<!-- rotation-quickstart -->\n```sh\n([\s\S]*?)\n```/.exec(readme);
  assert.ok(match, 'README.md has the rotation quickstart block');
  return match[1]!;
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

/** Runs the quickstart block as a user would, against the running Kingdom. */
function runQuickstart() {
  // What `npm link` puts on PATH: the bin entries of package.json under their names.
  const bin = file('bin');
  if (!existsSync(bin)) {
    mkdirSync(bin);
    const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    for (const name of ['halo-keys', 'EncryptionPublicKeys', 'MeasurementSystem']) {
      assert.ok(pkg.bin[name], `package.json bin has ${name}`);
      symlinkSync(join(repo, pkg.bin[name]!), join(bin, name));
    }
  }
  return spawnSync('bash', ['-c', quickstartBlock()], {
    cwd: repo,
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH ?? ''}`,
      SECRETS: secretfiles.replace(/\/$/, ''),
      KINGDOM_DIR: kingdom!.dataDir,
      KINGDOM: kingdom!.target,
      HALO_KEYS_PASSPHRASE: '',
    },
    encoding: 'utf8',
    timeout: 180_000,
  });
}

describe('the CMMS rotation procedure with EncryptionPublicKeys and MeasurementSystem (README quickstart)', () => {
  before(async () => {
    ensureBuilt(['src/cli/measurement-system.ts', 'src/cli/encryption-public-keys.ts', 'src/cli/halo-keys.ts']);
    kingdom = await startKingdom(file('kingdom-data'));
  });
  after(async () => {
    await kingdom?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('runs as written and leaves the DataProvider on the new certificate and key, the old one revoked', () => {
    const run = runQuickstart();
    assert.equal(run.status, 0, `quickstart failed:\n${run.stdout}\n${run.stderr}`);
    const out = run.stdout;

    // Upstream's output lines.
    assert.equal(out.match(/^Signature algorithm: ECDSA_WITH_SHA256 \(1\.2\.840\.10045\.4\.3\.2\)$/gm)?.length, 2, out);
    const dp = /^Data Provider Resource: (dataProviders\/[A-Za-z0-9_-]{11})$/m.exec(out)?.[1];
    assert.ok(dp, out);
    const revoked = /^name: "(dataProviders\/[A-Za-z0-9_-]{11}\/certificates\/[A-Za-z0-9_-]{11})"\nx509_der: .*\nrevocation_state: REVOKED$/m.exec(out)?.[1];
    assert.ok(revoked, `revoke printed the Certificate in text format:\n${out}`);
    const updated = /^name: "(.*)\/publicKey"\npublic_key \{[\s\S]*?\n\}\ncertificate: "(.*)"$/m.exec(out);
    assert.ok(updated, `public-keys update printed the PublicKey:\n${out}`);
    assert.equal(updated[1], dp);
    const newCertificate = updated[2]!;
    assert.notEqual(newCertificate, revoked);
    const finalGet = out.slice(out.indexOf('Data Provider Resource:'));
    assert.match(finalGet, new RegExp(`^certificate: "${newCertificate}"$`, 'm'));

    // The same state through the binaries' --json: new certificate DER, new key bytes, a signature openssl accepts.
    const tls = [
      `--tls-cert-file=${fixture('edp1_tls.pem')}`, `--tls-key-file=${fixture('edp1_tls.key')}`,
      `--cert-collection-file=${kingdom!.kingdomRoot}`, `--kingdom-public-api-target=${kingdom!.target}`,
    ];
    const get = runBin('MeasurementSystem.js', [...tls, 'data-providers', '--name', dp, 'get', '--json']);
    assert.equal(get.code, 0, get.stderr);
    const json = JSON.parse(get.stdout) as {
      name: string;
      certificate: string;
      certificateDer: string;
      publicKey: { message: { '@type': string; format: string; data: string }; signature: string; data: string };
    };
    assert.equal(json.name, dp);
    assert.equal(json.certificate, newCertificate);
    assert.deepEqual(Buffer.from(json.certificateDer, 'base64'), readFileSync(fixture('edp1_cs_cert.der')));
    assert.equal(json.publicKey.message['@type'], 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    assert.equal(json.publicKey.message.format, 'TINK_KEYSET');
    const keyset = readFileSync(fixture('edp1_enc_public.tink'));
    assert.deepEqual(Buffer.from(json.publicKey.message.data, 'base64'), keyset);
    const serialized = Buffer.concat([Buffer.from([0x08, 0x01, 0x12, ...varint(keyset.length)]), keyset]);
    assert.deepEqual(Buffer.from(json.publicKey.data, 'base64'), serialized, 'legacy data holds the exact signed bytes');
    writeFileSync(file('registered.pb'), serialized);
    writeFileSync(file('registered.sig'), Buffer.from(json.publicKey.signature, 'base64'));
    writeFileSync(file('edp1_cs_pub.pem'), execFileSync('openssl', ['x509', '-inform', 'DER', '-in', fixture('edp1_cs_cert.der'), '-pubkey', '-noout']));
    const verified = execFileSync('openssl', ['dgst', '-sha256', '-verify', file('edp1_cs_pub.pem'), '-signature', file('registered.sig'), file('registered.pb')]);
    assert.match(verified.toString(), /Verified OK/);

    // Both certificates are listed under the DataProvider: the new one valid, the old one REVOKED.
    const list = runBin('MeasurementSystem.js', [...tls, 'certificates', 'list', '--parent', dp, '--json']);
    assert.equal(list.code, 0, list.stderr);
    const listed = (JSON.parse(list.stdout) as { certificates: { name: string; revocationState?: string }[] }).certificates;
    assert.deepEqual(
      new Map(listed.map((c) => [c.name, c.revocationState ?? 'REVOCATION_STATE_UNSPECIFIED'])),
      new Map([
        [newCertificate, 'REVOCATION_STATE_UNSPECIFIED'],
        [revoked, 'REVOKED'],
      ]),
    );
    // A REVOKED certificate cannot be put back on hold (upstream's state machine), and says so in one line.
    const again = runBin('MeasurementSystem.js', [...tls, 'certificates', 'revoke', '--revocation-state', 'HOLD', revoked]);
    assert.equal(again.code, 1);
    assert.equal(again.stdout, '');
    assert.match(again.stderr, /^MeasurementSystem: FAILED_PRECONDITION .*\n$/);
  });

  it('run twice: the second run against the same Kingdom stops at the operator step, and runs again after starting over as the README says', async () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    assert.match(quickstartBlock(), /KINGDOM_DIR=\$\{KINGDOM_DIR:-\$PWD\/\.data\/quickstart-kingdom\}/);
    assert.match(readme, /halo-keys kingdom serve --data-dir \.data\/quickstart-kingdom --listen 127\.0\.0\.1:8443/);
    // Its data dir is one git ignores.
    const ignored = spawnSync('git', ['check-ignore', '-q', '.data/quickstart-kingdom/admin-token'], { cwd: repo });
    assert.equal(ignored.status, 0, '.data/quickstart-kingdom is git-ignored');
    assert.match(readme, /To run it again, start over with a fresh Kingdom: stop the server \(Ctrl-C\),\s+`rm -rf \.data\/quickstart-kingdom`, and start it as above/);

    const second = runQuickstart();
    assert.equal(second.status, 1, second.stdout);
    assert.match(second.stderr, /^halo-keys: ALREADY_EXISTS \(ROOT_CERTIFICATE_ALREADY_REGISTERED\): .*$/m);
    assert.doesNotMatch(second.stdout, /Data Provider Resource:/, 'nothing after the operator step ran');

    // Start over: stop the server, remove its data dir, start it again at the same place.
    await kingdom!.stop();
    rmSync(kingdom!.dataDir, { recursive: true, force: true });
    kingdom = await startKingdom(file('kingdom-data'));
    const third = runQuickstart();
    assert.equal(third.status, 0, `quickstart after starting over failed:\n${third.stdout}\n${third.stderr}`);
    assert.match(third.stdout, /^Data Provider Resource: dataProviders\/[A-Za-z0-9_-]{11}$/m);
    assert.match(third.stdout, /^revocation_state: REVOKED$/m);
  });
});
