/**
 * A bad option value is a usage error in every binary: exit 2, nothing on
 * stdout, one line `error: <message> (see --help)`, found while parsing, so
 * nothing is created or contacted. Each case here exited 1 (or failed midway)
 * before values were checked at parse time.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { before, describe, it } from 'node:test';
import { assertUsage, buildIfStale, fixture, haloKeys, runBin, scratchDir } from './run-cli.js';

const { file } = scratchDir('usage-errors-');
const epk = (args: string[]) => runBin('bin/EncryptionPublicKeys.js', args);
const ms = (args: string[]) => runBin('bin/MeasurementSystem.js', args);
const caEnv = { HALO_KEYS_CA_PASSPHRASE: 'correct horse battery', HALO_KEYS_PASSPHRASE: 'correct horse battery' };

describe('usage errors exit 2 with one line', () => {
  before(() => buildIfStale('src/cli/option-values.ts'));

  it('halo-keys ca: subject, SAN, constraint, days and serial values', () => {
    const ca = file('ca');
    assertUsage(haloKeys(['ca', 'init', '--dir', ca, '--subject', 'Edp1 CA'], caEnv), /--subject <dn>.*subject must look like \/O=Org\/CN=Name/);
    assertUsage(haloKeys(['ca', 'init', '--dir', ca, '--subject', '/CN=x', '--host', 'bad host!'], caEnv), /--host <name>.*not a valid DNS name/);
    assertUsage(haloKeys(['ca', 'init', '--dir', ca, '--subject', '/CN=x', '--days', '99999'], caEnv), /--days <n>.*at most 36500/);
    assertUsage(haloKeys(['ca', 'init', '--dir', ca, '--subject', '/CN=x', '--not-before', 'tomorrow'], caEnv), /--not-before <iso>.*ISO 8601/);
    assert.equal(existsSync(ca), false, 'nothing was created');
    const issue = ['ca', 'issue', '--dir', ca, '--profile', 'tls', '--subject', '/CN=x', '--key-out', file('k'), '--out', file('c')];
    assertUsage(haloKeys([...issue, '--ip', '999.1.1.1'], caEnv), /--ip <addr>.*"999\.1\.1\.1" is not an IP address/);
    assertUsage(haloKeys([...issue, '--dns', 'a..b'], caEnv), /--dns <name>.*not a valid DNS name/);
    assertUsage(haloKeys([...issue, '--uri', 'no-scheme'], caEnv), /--uri <uri>.*not a URI/);
    assertUsage(haloKeys([...issue, '--email', 'nobody'], caEnv), /--email <addr>.*not an e-mail address/);
    assertUsage(
      haloKeys(['ca', 'intermediate', '--dir', ca, '--out-dir', file('i'), '--subject', '/CN=i', '--permit-dns', '.example.com'], caEnv),
      /--permit-dns <value>.*drop the leading dot/,
    );
    assertUsage(haloKeys(['ca', 'intermediate', '--dir', ca, '--out-dir', file('i'), '--subject', '/CN=i', '--exclude-ip', '10.0.0.0'], caEnv), /needs a prefix length/);
    assertUsage(haloKeys(['ca', 'revoke', '--dir', ca, '--serial', 'zz']), /--serial <hex>.*"zz" is not a hex serial number/);
    assertUsage(haloKeys(['ca', 'release-hold', '--dir', ca, '--serial', 'g1']), /not a hex serial number/);
  });

  it('halo-keys keyring commands: participant, subject, names, Kubernetes names, durations, times, SKIDs', () => {
    const dir = file('keyring');
    const init = ['init', '--dir', dir, '--create-ca'];
    assertUsage(haloKeys([...init, '--participant', 'edp1', '--subject', '/CN=x', '--dns', 'a'], caEnv), /--participant <name>.*must be dataProviders\/\{id\}/);
    assertUsage(haloKeys([...init, '--participant', 'dataProviders', '--subject', 'x', '--dns', 'a'], caEnv), /--subject <subject>.*subject must look like/);
    assertUsage(haloKeys([...init, '--participant', 'dataProviders', '--subject', '/CN=x', '--ip', '1.2.3'], caEnv), /--ip <address>.*not an IP address/);
    assertUsage(
      haloKeys([...init, '--participant', 'dataProviders', '--subject', '/CN=x', '--dns', 'a', '--kustomization-dir', file('k8s'), '--secret-name', 'Edp1_TLS'], caEnv),
      /kustomization\.secretName "Edp1_TLS" is not a Kubernetes object name/,
    );
    assertUsage(haloKeys(['import', '--dir', dir, '--participant', 'dataProviders/x!', '--dns', 'a'], caEnv), /--participant <name>/);
    assert.equal(existsSync(dir), false, 'nothing was created');
    assertUsage(haloKeys(['sync', '--dir', dir, '--participant', 'dataProviders/not a name']), /--participant <name>/);
    assertUsage(haloKeys(['agent', '--dir', dir, '--interval', '3600000']), /--interval <duration>.*a duration like 30s, 15m, 1h or 7d/);
    assertUsage(haloKeys(['agent', '--dir', dir, '--retry', '0s']), /--retry <duration>/);
    assertUsage(haloKeys(['status', '--dir', dir, '--at', 'yesterday']), /--at <iso-time>.*ISO 8601/);
    assertUsage(haloKeys(['audit', 'export', '--dir', dir, '--since', 'last week']), /--since <iso-time>.*ISO 8601/);
    assertUsage(haloKeys(['compromise', 'certificate', '--dir', dir, '--skid', 'zz:01']), /--skid <hex>.*must be hex bytes/);
    assertUsage(haloKeys(['compromise', 'encryption-key', '--dir', dir, '--key-id', 'x']), /--key-id <n>/);
  });

  it('halo-keys kingdom, keyset, cert: enums, resource names, templates', () => {
    const dataDir = file('kingdom');
    assertUsage(haloKeys(['kingdom', 'serve', '--data-dir', dataDir, '--mode', 'lax']), /--mode <mode>.*Allowed choices are strict, compatible/);
    assertUsage(haloKeys(['kingdom', 'serve', '--data-dir', dataDir, '--log-level', 'loud']), /--log-level <level>.*Allowed choices/);
    assertUsage(haloKeys(['kingdom', 'admin', '--data-dir', dataDir, '--mode', 'lax', 'akid', 'list']), /--mode <mode>/);
    assertUsage(haloKeys(['kingdom', 'admin', '--data-dir', dataDir, 'akid', 'set', '--akid', '01', '--principal', 'edp1']), /--principal <name>.*resource name/);
    assertUsage(haloKeys(['kingdom', 'admin', '--data-dir', dataDir, 'create-api-key', '--measurement-consumer', 'mc1']), /--measurement-consumer <name>/);
    assertUsage(haloKeys(['kingdom', 'admin', '--data-dir', dataDir, 'create-account', '--owned-measurement-consumer', 'mc1']), /--owned-measurement-consumer <name>/);
    assertUsage(haloKeys(['kingdom', 'admin', '--data-dir', dataDir, 'akid', 'set', '--akid', 'zz', '--principal', 'dataProviders/AAAAAAAAAHs']), /--akid must be hex/);
    assertUsage(haloKeys(['kingdom', 'audit', 'export', '--data-dir', dataDir, '--format', 'xml']), /--format must be json or csv/);
    assert.equal(existsSync(dataDir), false, 'no Kingdom data dir was created');
    assertUsage(haloKeys(['keyset', 'generate', '--template', 'ROT13', '--out', file('ks')]), /--template <name>.*unknown key template ROT13/);
    assertUsage(haloKeys(['cert', 'verify', fixture('edp1_tls.pem'), '--trust', fixture('edp1_root.pem'), '--max-depth', 'two']), /--max-depth <n>/);
    assertUsage(haloKeys(['sign', '--certificate', 'c', '--signing-key', 'k', '-i', 'i', '-o', 'o', '--signature-algorithm', 'MD5']), /unknown --signature-algorithm "MD5"/);
  });

  it('EncryptionPublicKeys and MeasurementSystem', () => {
    assertUsage(epk(['generate', '--private-out', file('p'), '--public-out', file('q'), '--template', 'ROT13']), /--template <name>.*unknown key template/);
    assertUsage(epk(['serialize', '--format', 'PEM', '--data', fixture('edp1_enc_public.tink'), '--out', file('o')]), /--format <format>' argument 'PEM' is invalid/);
    const offline = ['--kingdom-public-api-target', '127.0.0.1:1'];
    assertUsage(ms([...offline, 'certificates', 'list', '--parent', 'dataProviders/AAAAAAAAAHs', '--page-size', '5000']), /--page-size <n>.*from 0 to 1000/);
    assertUsage(ms([...offline, 'event-groups', 'list', '--parent', 'dataProviders/AAAAAAAAAHs', '--page-size', '-1']), /--page-size/);
    assertUsage(ms([...offline, 'certificates', 'list', '--parent', 'dataProviders/AAAAAAAAAHs', '--skid', 'xyz']), /--skid "xyz" is not hex/);
    assertUsage(
      ms([...offline, 'certificates', 'revoke', '--revocation-state', 'GONE', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']),
      /--revocation-state <revocationState>' argument 'GONE' is invalid\. Allowed choices are REVOCATION_STATE_UNSPECIFIED, HOLD, REVOKED\./,
    );
  });
});
