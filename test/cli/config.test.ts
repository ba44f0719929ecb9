/**
 * `halo-keys config show | set | unset` on a real keyring: values checked as
 * every command reads halo-keys.yaml (a bad one changes nothing), written
 * atomically with the file's comments kept, refused while a rotation holds
 * the lock, and each change in the hash-chained audit log.
 */
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { assertFails, assertUsage, buildIfStale, haloKeys, scratchDir } from './run-cli.js';

const { file } = scratchDir('config-');
const dir = file('edp1');
const env = { HALO_KEYS_PASSPHRASE: 'correct horse battery' };
const yaml = () => readFileSync(join(dir, 'halo-keys.yaml'), 'utf8');
const hk = (args: string[]) => haloKeys([...args, '--dir', dir], env);

describe('halo-keys config', () => {
  before(() => {
    buildIfStale('src/cli/commands/config.ts');
    const r = hk(['init', '--participant', 'dataProviders', '--subject', '/O=EDP 1/CN=edp1.example.com', '--dns', 'edp1.example.com', '--create-ca']);
    assert.equal(r.code, 0, r.stderr);
  });

  it('show prints every setting and the policy as it applies, durations as written (text and --json)', () => {
    const text = hk(['config', 'show']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^participant: dataProviders$/m);
    assert.match(text.stdout, /^tls\.dnsNames: edp1\.example\.com$/m);
    assert.match(text.stdout, /^policy\.tls\.every: 90d$/m);
    assert.match(text.stdout, /^policy\.encryption\.every: 30d$/m);
    assert.match(text.stdout, /^policy\.encryption\.minRemaining: 0s$/m);
    assert.doesNotMatch(text.stdout, /\d{7,}/, 'no durations in milliseconds');
    const json = hk(['config', 'show', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const shown = JSON.parse(json.stdout) as { file: string; settings: { subject: string; policy: { signing: { every: string }; encryptionGrace: string } } };
    assert.equal(shown.file, join(dir, 'halo-keys.yaml'));
    assert.equal(shown.settings.subject, '/O=EDP 1/CN=edp1.example.com');
    assert.equal(shown.settings.policy.signing.every, '90d');
    assert.equal(shown.settings.policy.encryptionGrace, '7d');
  });

  it('refuses what init would refuse, and then changes nothing', () => {
    const original = yaml();
    assertUsage(hk(['config', 'set', 'kingdom.target=127.0.0.1:8443']), /halo-keys\.yaml: kingdom\.trustedRoots is required/);
    assertUsage(hk(['config', 'set', 'policy.tls.every=3600000']), /policy\.tls\.every: "3600000" is not a duration like 90d/);
    assertUsage(hk(['config', 'set', 'policy.encryption.fraction=0.5']), /policy\.encryption\.fraction applies to certificates only/);
    assertUsage(hk(['config', 'set', 'policy.retiredCertificates=delete']), /retiredCertificates must be "expire" or "revoke"/);
    assertUsage(hk(['config', 'set', 'tls.ipAddresses=10.0.0.300']), /"10\.0\.0\.300" is not an IP address/);
    assertUsage(hk(['config', 'set', 'kustomization.dir=k8s', 'kustomization.secretName=Edp1_TLS']), /not a Kubernetes object name/);
    assertUsage(hk(['config', 'set', 'participant=dataProviders/AAAAAAAAAHs']), /participant is not a setting config set changes/);
    assertUsage(hk(['config', 'set', 'kingdom.target']), /"kingdom\.target" is not KEY=VALUE/);
    assert.equal(yaml(), original);
  });

  it('sets several keys at once, atomically, keeping comments; paths are taken from the current directory', () => {
    const before = yaml();
    const r = hk(['config', 'set', 'kingdom.target=kingdom.example.com:8443', 'kingdom.trustedRoots=kingdom_root.pem', 'policy.encryption.every=14d', 'tls.dnsNames=edp1.example.com,edp1.internal']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^kingdom\.target: \(unset\) -> kingdom\.example\.com:8443$/m);
    assert.match(r.stdout, /^policy\.encryption\.every: 30d -> 14d$/m);
    const after = yaml();
    assert.equal(after.split('\n')[0], before.split('\n')[0], 'the header comment stays');
    const shown = JSON.parse(hk(['config', 'show', '--json']).stdout) as {
      settings: { kingdom: { target: string; trustedRoots: string }; tls: { dnsNames: string[] }; policy: { encryption: { every: string } } };
    };
    assert.equal(shown.settings.kingdom.target, 'kingdom.example.com:8443');
    // halo-keys runs with the repository as its working directory (run-cli).
    assert.match(shown.settings.kingdom.trustedRoots, /^\/.*\/kingdom_root\.pem$/);
    assert.deepEqual(shown.settings.tls.dnsNames, ['edp1.example.com', 'edp1.internal']);
    assert.equal(shown.settings.policy.encryption.every, '14d');
    // Every command reads the result: status uses the new policy.
    const status = hk(['status', '--no-kingdom', '--json']);
    assert.ok(status.code === 0 || status.code === 3, status.stderr);

    const unset = hk(['config', 'unset', 'kingdom.serverName', 'policy.encryption.every', '--json']);
    assert.equal(unset.code, 0, unset.stderr);
    assert.deepEqual(JSON.parse(unset.stdout), {
      changed: [
        { key: 'kingdom.serverName', before: null, after: null },
        { key: 'policy.encryption.every', before: '14d', after: null },
      ],
    });
    assert.match(hk(['config', 'show']).stdout, /^policy\.encryption\.every: 30d$/m, 'the default applies again');
  });

  it('waits for no rotation: a held lock refuses the change', () => {
    const lock = join(dir, 'rotation.lock');
    writeFileSync(lock, `${JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString(), command: 'rotate' })}\n`);
    try {
      const original = yaml();
      assertFails(hk(['config', 'set', 'policy.tls.every=60d']), 1, /another rotation holds .*rotation\.lock/);
      assert.equal(yaml(), original);
    } finally {
      rmSync(lock, { force: true });
    }
  });

  it('each change is an audited config.set entry in an intact chain', () => {
    const verify = hk(['audit', 'verify']);
    assert.equal(verify.code, 0, verify.stdout);
    const entries = JSON.parse(hk(['audit', 'export']).stdout) as Array<{ action: string; before?: Record<string, unknown>; after?: Record<string, unknown> }>;
    const changes = entries.filter((e) => e.action === 'config.set');
    assert.equal(changes.length, 2);
    assert.deepEqual(changes[0]!.before, { 'kingdom.target': null, 'kingdom.trustedRoots': null, 'policy.encryption.every': '30d', 'tls.dnsNames': ['edp1.example.com'] });
    assert.equal(changes[0]!.after!['kingdom.target'], 'kingdom.example.com:8443');
    assert.deepEqual(changes[1]!.after, { 'kingdom.serverName': null, 'policy.encryption.every': null });
  });
});
