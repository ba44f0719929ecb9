import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  assertOneLineFailure,
  ensureBuilt,
  fixture,
  runBin,
  startKingdom,
  type KingdomProcess,
  type RunResult,
} from './kingdom-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'measurement-system-'));
const file = (name: string) => join(tmp, name);
after(() => rmSync(tmp, { recursive: true, force: true }));

const ms = (args: string[], env: Record<string, string> = {}) => runBin('MeasurementSystem.js', args, { env });
const epk = (args: string[]) => runBin('EncryptionPublicKeys.js', args);
const haloKeys = (args: string[]) => runBin('halo-keys.js', args);
const fails = (r: RunResult, code: number, pattern: RegExp) => assertOneLineFailure(r, 'MeasurementSystem', code, pattern);

/** Commander's own usage errors (exit 2): its message first, then a "run with --help" hint. */
function assertUsage(r: RunResult, pattern: RegExp) {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr.split('\n')[0]!, pattern);
}

const edp1Tls = ['--tls-cert-file', fixture('edp1_tls.pem'), '--tls-key-file', fixture('edp1_tls.key')];

before(() =>
  ensureBuilt(['src/cli/measurement-system.ts', 'src/cli/encryption-public-keys.ts', 'src/cli/commands/measurement-system/connection.ts']),
);

describe('MeasurementSystem without a server', () => {
  const offline = [...edp1Tls, '--cert-collection-file', fixture('kingdom_root.pem'), '--kingdom-public-api-target', '127.0.0.1:1'];

  it('reports usage errors with exit 2', () => {
    assertUsage(ms(['certificates', 'get', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), /required option '--kingdom-public-api-target <target>'/);
    assertUsage(ms([...offline, 'certificates', 'frobnicate']), /unknown command 'frobnicate'/);
    assertUsage(ms([...offline, 'certificates', 'create', '--parent', 'dataProviders/AAAAAAAAAHs']), /required option '--certificate <certPath>'/);
    assertUsage(ms([...offline, 'data-providers', 'get']), /required option '--name <name>'/);
    assertUsage(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'HOLD']), /missing required argument 'name'/);
    fails(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'LOST', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 2, /unknown --revocation-state "LOST" \(one of HOLD, REVOKED\)/);
    fails(ms([...offline, 'certificates', 'create', '--parent', 'measurementConsumers/AAAAAAAAAHs', '--certificate', fixture('mc_cs_cert.der')]), 2,
      /API authentication key is required when parent type is MeasurementConsumer/);
    fails(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'HOLD', 'measurementConsumers/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 2,
      /API authentication key is required/);
    fails(ms(['--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 2, /--cert-collection-file is required/);
    fails(ms(['--tls-cert-file', fixture('edp1_tls.pem'), '--cert-collection-file', fixture('kingdom_root.pem'), '--kingdom-public-api-target', '127.0.0.1:1',
      'certificates', 'get', 'x']), 2, /--tls-cert-file and --tls-key-file go together/);
    fails(ms([...offline, 'certificates', 'list', '--parent', 'dataProviders/AAAAAAAAAHs', '--skid', 'xyz']), 2, /--skid "xyz" is not hex/);
    fails(ms([...offline, 'public-keys', 'update', 'dataProviders/AAAAAAAAAHs/publicKey', '--certificate', 'c', '--public-key', fixture('edp1_enc_public.tink'),
      '--public-key-signature', fixture('edp1_cs_cert.der'), '--public-key-signature-algorithm', 'MD5']), 2, /unknown --signature-algorithm "MD5"/);
    fails(ms([...offline, 'measurements', 'list']), 2, /--measurement-consumer \(or --parent\) is required/);
  });

  it('names the missing or wrong file before connecting', () => {
    fails(ms(['--cert-collection-file', file('missing.pem'), '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1,
      /certificate collection not found: .*missing\.pem/);
    fails(ms(['--tls-cert-file', file('missing.pem'), '--tls-key-file', fixture('edp1_tls.key'), '--cert-collection-file', fixture('kingdom_root.pem'),
      '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1, /TLS certificate not found: .*missing\.pem/);
    fails(ms(['--tls-cert-file', fixture('edp1_tls.pem'), '--tls-key-file', fixture('edp2_tls.key'), '--cert-collection-file', fixture('kingdom_root.pem'),
      '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1, /--tls-key-file .*edp2_tls\.key is not the key of --tls-cert-file .*edp1_tls\.pem/);
    fails(ms(['--tls-cert-file', fixture('edp1_tls.key'), '--tls-key-file', fixture('edp1_tls.key'), '--cert-collection-file', fixture('kingdom_root.pem'),
      '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1, /--tls-cert-file .*edp1_tls\.key: /);
    fails(ms(['--tls-cert-file', fixture('edp1_tls.pem'), '--tls-key-file', fixture('edp1_tls.pem'), '--cert-collection-file', fixture('kingdom_root.pem'),
      '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1, /--tls-key-file .*edp1_tls\.pem: /);
    writeFileSync(file('not-pem.txt'), 'hello');
    fails(ms(['--cert-collection-file', file('not-pem.txt'), '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 2,
      /--cert-collection-file .*not-pem\.txt/);
    fails(ms([...offline, 'certificates', 'create', '--parent', 'dataProviders/AAAAAAAAAHs', '--certificate', file('missing.der')]), 1, /certificate not found: .*missing\.der/);
    fails(ms([...offline, 'certificates', 'create', '--parent', 'dataProviders/AAAAAAAAAHs', '--certificate', fixture('edp1_enc_public.tink')]), 1,
      /edp1_enc_public\.tink: /);
    const update = (publicKey: string, signature: string) =>
      ms([...offline, 'public-keys', 'update', 'dataProviders/AAAAAAAAAHs/publicKey', '--certificate', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs',
        '--public-key', publicKey, '--public-key-signature', signature]);
    fails(update(file('missing.pb'), fixture('edp1_cs_cert.der')), 1, /public key not found: .*missing\.pb/);
    // Upstream's own check: the file must be a serialized EncryptionPublicKey (a bare keyset is not).
    fails(update(fixture('edp1_enc_public.tink'), fixture('edp1_cs_cert.der')), 1, /edp1_enc_public\.tink: /);
    assert.equal(epk(['serialize', '--data', fixture('edp1_enc_public.tink'), '--out', file('edp1.pb')]).code, 0);
    fails(update(file('edp1.pb'), file('missing.sig')), 1, /public key signature not found: .*missing\.sig/);
    writeFileSync(file('empty.sig'), '');
    fails(update(file('edp1.pb'), file('empty.sig')), 2, /empty\.sig is empty/);
    fails(ms([...offline, 'measurements', 'get', 'measurementConsumers/AAAAAAAAAHs/measurements/AAAAAAAAAHs', '--encryption-private-key-file', file('missing.tink')]), 1,
      /keyset not found: .*missing\.tink/);
  });

  it('says when the Kingdom is unreachable', () => {
    fails(ms([...offline, 'certificates', 'get', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 1, /cannot reach the Kingdom at 127\.0\.0\.1:1 \(ECONNREFUSED\)/);
    fails(ms([...offline, 'data-providers', '--name', 'dataProviders/AAAAAAAAAHs', 'get', '--json']), 1, /cannot reach the Kingdom/);
    fails(ms([...offline, 'measurements', 'cancel', 'measurementConsumers/AAAAAAAAAHs/measurements/AAAAAAAAAHs']), 1, /cannot reach the Kingdom/);
  });
});
