import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createKingdomClient } from '../../src/client/index.js';
import { readCertificateInfo } from '../../src/crypto/certificate-info.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { loadKeyset } from '../../src/crypto/keyset-io.js';
import { parseKeyset } from '../../src/crypto/keyset.js';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { packedMessageRegistry } from '../../src/api/any-types.js';
import { fromTextFormat } from '../../src/api/text-format.js';
import { decryptMessage } from '../../src/crypto/encrypted-message.js';
import { verifyAndUnpack } from '../../src/crypto/signed-message.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { DataProviderSchema } from '../../src/gen/wfa/measurement/api/v2alpha/data_provider_pb.js';
import { MeasurementSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { RequisitionSpecSchema } from '../../src/gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { nonceHash, planMeasurement, prepareFulfillment, type Participant } from '../kingdom/measurement-fixtures.js';
import {
  assertOneLineFailure,
  ensureBuilt,
  fixture,
  runBin,
  startKingdom,
  type KingdomProcess,
  type RunResult,
} from './kingdom-process.js';
import { assertUsage } from './run-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'measurement-system-'));
const file = (name: string) => join(tmp, name);
after(() => rmSync(tmp, { recursive: true, force: true }));

const ms = (args: string[], env: Record<string, string> = {}) => runBin('MeasurementSystem.js', args, { env });
const epk = (args: string[]) => runBin('EncryptionPublicKeys.js', args);
const haloKeys = (args: string[]) => runBin('halo-keys.js', args);
const fails = (r: RunResult, code: number, pattern: RegExp) => assertOneLineFailure(r, 'MeasurementSystem', code, pattern);

const edp1Tls = ['--tls-cert-file', fixture('edp1_tls.pem'), '--tls-key-file', fixture('edp1_tls.key')];

/**
 * protobuf-java's TextFormatEscaper, written out here apart from the writer
 * under test: ten named escapes, printable ASCII as is, other bytes as octal.
 */
const NAMED: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r', 34: '\\"', 39: "\\'", 92: '\\\\' };
const javaEscaped = (bytes: Uint8Array): string =>
  Array.from(bytes, (b) => NAMED[b] ?? (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\${b.toString(8).padStart(3, '0')}`)).join('');

before(() =>
  ensureBuilt([
    'src/cli/measurement-system.ts',
    'src/cli/encryption-public-keys.ts',
    'src/cli/commands/measurement-system/connection.ts',
    'src/cli/commands/measurement-system/create-measurement.ts',
    'src/cli/commands/measurement-system/data-providers.ts',
    'src/api/text-format-writer.ts',
  ]),
);

describe('MeasurementSystem without a server', () => {
  const offline = [...edp1Tls, '--cert-collection-file', fixture('kingdom_root.pem'), '--kingdom-public-api-target', '127.0.0.1:1'];

  it('reports usage errors with exit 2', () => {
    assertUsage(ms(['certificates', 'get', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), /required option '--kingdom-public-api-target <target>'/);
    assertUsage(ms([...offline, 'certificates', 'frobnicate']), /unknown command 'frobnicate'/);
    assertUsage(ms([...offline, 'certificates', 'create', '--parent', 'dataProviders/AAAAAAAAAHs']), /required option '--certificate <certPath>'/);
    assertUsage(ms([...offline, 'data-providers', 'get']), /required option '--name <name>'/);
    assertUsage(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'HOLD']), /missing required argument 'name'/);
    // Enum values as upstream's picocli takes them: any name of the enum, case-sensitively.
    fails(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'LOST', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 2,
      /argument 'LOST' is invalid\. Allowed choices are REVOCATION_STATE_UNSPECIFIED, HOLD, REVOKED\./);
    fails(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'hold', 'dataProviders/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 2, /argument 'hold' is invalid/);
    fails(ms([...offline, 'certificates', 'create', '--parent', 'measurementConsumers/AAAAAAAAAHs', '--certificate', fixture('mc_cs_cert.der')]), 2,
      /API authentication key is required when parent type is MeasurementConsumer/);
    fails(ms([...offline, 'certificates', 'revoke', '--revocation-state', 'HOLD', 'measurementConsumers/AAAAAAAAAHs/certificates/AAAAAAAAAHs']), 2,
      /API authentication key is required/);
    fails(ms(['--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 2, /--cert-collection-file is required/);
    fails(ms(['--tls-cert-file', fixture('edp1_tls.pem'), '--cert-collection-file', fixture('kingdom_root.pem'), '--kingdom-public-api-target', '127.0.0.1:1',
      'certificates', 'get', 'x']), 2, /--tls-cert-file and --tls-key-file go together/);
    fails(ms([...offline, 'certificates', 'list', '--parent', 'dataProviders/AAAAAAAAAHs', '--skid', 'xyz']), 2, /--skid "xyz" is not hex/);
    fails(ms([...offline, 'public-keys', 'update', 'dataProviders/AAAAAAAAAHs/publicKey', '--certificate', 'c', '--public-key', fixture('edp1_enc_public.tink'),
      '--public-key-signature', fixture('edp1_cs_cert.der'), '--public-key-signature-algorithm', 'MD5']), 2, /argument 'MD5' is invalid/);
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
    fails(ms(['--cert-collection-file', file('not-pem.txt'), '--kingdom-public-api-target', '127.0.0.1:1', 'certificates', 'get', 'x']), 1,
      /--cert-collection-file .*not-pem\.txt: not a DER or PEM certificate$/);
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

describe('MeasurementSystem against a Kingdom process', () => {
  let kingdom: KingdomProcess;
  let dp = '';
  let mc = '';
  let apiKey = '';
  let edp1Certificate = '';
  let tls: string[] = [];

  before(async () => {
    kingdom = await startKingdom(file('kingdom-data'), ['--open-id-redirect-uri', 'https://kingdom.example/redirect']);
    tls = [...edp1Tls, '--cert-collection-file', kingdom.kingdomRoot, '--kingdom-public-api-target', kingdom.target];
    const register = (party: string, kind: string, extra: string[] = []) => {
      assert.equal(epk(['serialize', '--data', fixture(`${party}_enc_public.tink`), '--out', file(`${party}.pb`)]).code, 0);
      const s = epk(['sign', '--certificate', fixture(`${party}_cs_cert.der`), '--signing-key', fixture(`${party}_cs_private.der`), '--in', file(`${party}.pb`), '--out', file(`${party}.sig`)]);
      assert.equal(s.code, 0, s.stderr);
      const r = haloKeys(['kingdom', 'admin', '--data-dir', kingdom.dataDir, kind, '--root-cert', fixture(`${party}_root.pem`),
        '--certificate', fixture(`${party}_cs_cert.der`), '--public-key', file(`${party}.pb`), '--public-key-signature', file(`${party}.sig`), ...extra]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    dp = register('edp1', 'create-data-provider');
    mc = register('mc', 'create-measurement-consumer');
    const key = haloKeys(['kingdom', 'admin', '--data-dir', kingdom.dataDir, 'create-api-key', '--measurement-consumer', mc]);
    assert.equal(key.code, 0, key.stderr);
    apiKey = /API key \(shown once\): (\S+)/.exec(key.stdout)?.[1] ?? '';
    assert.notEqual(apiKey, '');
    const got = ms([...tls, 'data-providers', '--name', dp, 'get', '--json']);
    assert.equal(got.code, 0, got.stderr);
    edp1Certificate = (JSON.parse(got.stdout) as { certificate: string }).certificate;
  });
  after(() => kingdom?.stop());

  const unknownCertificate = () => `${dp}/certificates/AAAAAAAAAHs`;

  it('gets, lists, holds and releases certificates, with upstream text and --json', () => {
    const get = ms([...tls, 'certificates', 'get', edp1Certificate]);
    assert.equal(get.code, 0, get.stderr);
    const json = JSON.parse(ms([...tls, 'certificates', 'get', edp1Certificate, '--json']).stdout) as { x509Der: string; subjectKeyIdentifier: string };
    assert.deepEqual(Buffer.from(json.x509Der, 'base64'), readFileSync(fixture('edp1_cs_cert.der')));
    const skid = Buffer.from(json.subjectKeyIdentifier, 'base64').toString('hex').toUpperCase();
    const openssl = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', fixture('edp1_cs_cert.der'), '-noout', '-ext', 'subjectKeyIdentifier']).toString();
    assert.equal(skid, openssl.split('\n')[1]!.trim().replace(/:/g, ''));
    // Byte for byte what upstream's println(certificate) prints: octal escapes, then println's blank line.
    const certificateText = (state: string) =>
      `name: "${edp1Certificate}"\nx509_der: "${javaEscaped(readFileSync(fixture('edp1_cs_cert.der')))}"\n${state}` +
      `subject_key_identifier: "${javaEscaped(Buffer.from(skid, 'hex'))}"\n\n`;
    assert.equal(get.stdout, certificateText(''));

    const list = ms([...tls, 'certificates', 'list', '--parent', dp]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, `${edp1Certificate} REVOCATION_STATE_UNSPECIFIED skid=${skid} not_after=2032-07-26T${/not_after=2032-07-26T(\S+)/.exec(list.stdout)?.[1]}\n`);
    const bySkid = ms([...tls, 'certificates', 'list', '--parent', dp, `--skid=${skid.match(/../g)!.join(':')}`, '--json']);
    assert.equal(bySkid.code, 0, bySkid.stderr);
    assert.equal((JSON.parse(bySkid.stdout) as { certificates: unknown[] }).certificates.length, 1);
    const none = ms([...tls, 'certificates', 'list', '--parent', dp, '--skid', '00112233']);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, '');

    const hold = ms([...tls, 'certificates', 'revoke', '--revocation-state=HOLD', edp1Certificate]);
    assert.equal(hold.code, 0, hold.stderr);
    assert.equal(hold.stdout, certificateText('revocation_state: HOLD\n'));
    const release = ms([...tls, 'certificates', 'release-hold', edp1Certificate, '--json']);
    assert.equal(release.code, 0, release.stderr);
    assert.equal((JSON.parse(release.stdout) as { revocationState?: string }).revocationState, undefined);
    fails(ms([...tls, 'certificates', 'release-hold', edp1Certificate]), 1, /FAILED_PRECONDITION/);
    // Upstream's picocli passes REVOCATION_STATE_UNSPECIFIED through; the Kingdom answers it.
    fails(ms([...tls, 'certificates', 'revoke', '--revocation-state', 'REVOCATION_STATE_UNSPECIFIED', edp1Certificate]), 1, /INVALID_ARGUMENT/);
  });

  it('answers unknown resources, duplicates and foreign certificates with the Kingdom\'s code in one line', () => {
    fails(ms([...tls, 'certificates', 'get', unknownCertificate()]), 1, /^MeasurementSystem: NOT_FOUND/);
    fails(ms([...tls, 'certificates', 'revoke', '--revocation-state', 'REVOKED', unknownCertificate()]), 1, /NOT_FOUND/);
    fails(ms([...tls, 'certificates', 'release-hold', unknownCertificate()]), 1, /NOT_FOUND/);
    fails(ms([...tls, 'certificates', 'get', 'dataProviders/not-an-id/certificates/x']), 1, /INVALID_ARGUMENT/);
    fails(ms([...tls, 'certificates', 'create', '--parent', dp, '--certificate', fixture('edp1_cs_cert.der')]), 1, /ALREADY_EXISTS/);
    // Strict mode: a certificate must chain to the DataProvider's own registered root.
    fails(ms([...tls, 'certificates', 'create', '--parent', dp, '--certificate', fixture('edp2_cs_cert.der')]), 1, /INVALID_ARGUMENT|FAILED_PRECONDITION|PERMISSION_DENIED/);
    fails(ms([...tls, 'data-providers', '--name', 'dataProviders/AAAAAAAAAHs', 'get']), 1, /NOT_FOUND|PERMISSION_DENIED/);
    fails(ms([...tls, 'event-groups', 'get', `${dp}/eventGroups/AAAAAAAAAHs`]), 1, /NOT_FOUND/);
    const mcCalls = [...tls, 'measurements', '--api-key', apiKey];
    fails(ms([...mcCalls, 'get', `${mc}/measurements/AAAAAAAAAHs`]), 1, /NOT_FOUND/);
    fails(ms([...mcCalls, 'cancel', `${mc}/measurements/AAAAAAAAAHs`]), 1, /NOT_FOUND/);
  });

  it('refuses a client the Kingdom does not know, a bad API key, a wrong server name and an untrusted server', () => {
    const as = (cert: string, key: string) => ['--tls-cert-file', fixture(cert), '--tls-key-file', fixture(key), '--cert-collection-file', kingdom.kingdomRoot,
      '--kingdom-public-api-target', kingdom.target];
    fails(ms([...as('edp2_tls.pem', 'edp2_tls.key'), 'certificates', 'get', edp1Certificate]), 1, /the Kingdom refused the caller's credentials/);
    fails(ms([...as('edp2_tls.pem', 'edp2_tls.key'), 'data-providers', '--name', dp, 'get']), 1, /refused the caller's credentials/);
    fails(ms([...tls, 'measurement-consumers', '--name', mc, '--api-key', 'AAAAAAAAAHs', 'get']), 1, /refused the caller's credentials/);
    fails(ms([...tls, '--kingdom-public-api-cert-host', 'kingdom.example.org', 'certificates', 'get', edp1Certificate]), 1,
      /not valid for "kingdom\.example\.org".*--kingdom-public-api-cert-host/);
    fails(ms([...edp1Tls, '--cert-collection-file', fixture('kingdom_root.pem'), '--kingdom-public-api-target', kingdom.target, 'certificates', 'get', edp1Certificate]), 1,
      /not trusted.*--cert-collection-file/);
  });

  it('updates the public key with upstream output, checks the signature first and sends the algorithm OID', () => {
    const update = (signature: string, ...extra: string[]) =>
      ms([...tls, 'public-keys', 'update', `${dp}/publicKey`, '--certificate', edp1Certificate, '--public-key', file('edp1.pb'), '--public-key-signature', signature, ...extra]);
    // Signed with another party's key: refused locally, and by the strict Kingdom when the local check is skipped.
    const foreign = epk(['sign', '--certificate', fixture('edp2_cs_cert.der'), '--signing-key', fixture('edp2_cs_private.der'), '--in', file('edp1.pb'), '--out', file('edp2.sig')]);
    assert.equal(foreign.code, 0, foreign.stderr);
    fails(update(file('edp2.sig')), 1, /edp2\.sig is not a ECDSA_WITH_SHA256 signature of .*edp1\.pb by .*: sign with that certificate's key/);
    fails(update(file('edp2.sig'), '--skip-verify'), 1, /INVALID_ARGUMENT|FAILED_PRECONDITION/);
    fails(update(file('edp1.sig'), '--certificate', unknownCertificate()), 1, /NOT_FOUND/);

    const r = update(file('edp1.sig'), '--public-key-signature-algorithm', 'ECDSA_WITH_SHA256');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^name: "${dp}/publicKey"\npublic_key \\{\n`));
    assert.match(r.stdout, /\n  signature_algorithm_oid: "1\.2\.840\.10045\.4\.3\.2"\n/);
    const pb = readFileSync(file('edp1.pb'));
    const publicKeyText = [
      `name: "${dp}/publicKey"`,
      'public_key {',
      `  data: "${javaEscaped(pb)}"`,
      `  signature: "${javaEscaped(readFileSync(file('edp1.sig')))}"`,
      '  signature_algorithm_oid: "1.2.840.10045.4.3.2"',
      '  message {',
      '    type_url: "type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey"',
      `    value: "${javaEscaped(pb)}"`,
      '  }',
      '}',
      `certificate: "${edp1Certificate}"`,
      '',
      '',
    ].join('\n');
    assert.equal(r.stdout, publicKeyText);
    const got = JSON.parse(ms([...tls, 'data-providers', '--name', dp, 'get', '--json']).stdout) as { publicKey: { signatureAlgorithmOid: string } };
    assert.equal(got.publicKey.signatureAlgorithmOid, '1.2.840.10045.4.3.2');
  });

  it('gets the MeasurementConsumer and lists event groups and measurements', () => {
    const get = ms([...tls, 'measurement-consumers', '--name', mc, '--api-key', apiKey, 'get']);
    assert.equal(get.code, 0, get.stderr);
    assert.match(get.stdout, new RegExp(`^Measurement Consumer Resource: ${mc}\nname: "${mc}"\n`));
    const groups = ms([...tls, 'event-groups', 'list', '--parent', dp]);
    assert.equal(groups.code, 0, groups.stderr);
    assert.equal(groups.stdout, '');
    const groupsJson = ms([...tls, 'event-groups', 'list', '--parent', dp, '--json']);
    assert.deepEqual(JSON.parse(groupsJson.stdout), { eventGroups: [] });
    const list = ms([...tls, 'measurements', '--api-key', apiKey, 'list', '--measurement-consumer', mc, '--json']);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), { measurements: [] });
  });

  it('gets a SUCCEEDED measurement: decrypts and verifies the result, and reports whether its certificate is trusted', async () => {
    // The MC creates a direct reach measurement and EDP 1 fulfils it, both through our client over mTLS.
    const roots = readFileSync(kingdom.kingdomRoot, 'utf8');
    const clientAs = (party: string, extra: { apiKey?: string } = {}) =>
      createKingdomClient({ target: kingdom.target, trustedRoots: roots, clientCertificate: readFileSync(fixture(`${party}_tls.pem`), 'utf8'),
        clientKey: readFileSync(fixture(`${party}_tls.key`), 'utf8'), ...extra });
    const mcClient = clientAs('mc', { apiKey });
    const dpClient = clientAs('edp1');
    const mcGot = await mcClient.measurementConsumers.getMeasurementConsumer({ name: mc });
    const participant = (party: string, name: string, certificate: string) => {
      const publicBytes = readFileSync(file(`${party}.pb`));
      return {
        name,
        certificate: { name: certificate, der: readFileSync(fixture(`${party}_cs_cert.der`)), signingKey: loadPrivateKey(readFileSync(fixture(`${party}_cs_private.der`))) },
        encryptionPrivateKeyset: loadKeyset(fixture(`${party}_enc_private.tink`)).keyset,
        encryptionPublicKeyset: parseKeyset(readFileSync(fixture(`${party}_enc_public.tink`))),
        encryptionPublicKey: new Uint8Array(publicBytes),
      } as unknown as Participant;
    };
    const mcP = participant('mc', mc, mcGot.certificate);
    const dpP = participant('edp1', dp, edp1Certificate);
    const created = await mcClient.measurements.createMeasurement(planMeasurement(mcP, [dpP]).request);
    const requisitions = await dpClient.requisitions.listRequisitions({ parent: dp, pageSize: 1000 });
    const requisition = requisitions.requisitions.find((r) => r.measurement === created.name);
    assert.ok(requisition, 'the DataProvider sees the requisition');
    await dpClient.requisitions.fulfillDirectRequisition(prepareFulfillment(dpP, requisition, readCertificateInfo(readFileSync(fixture('mc_cs_cert.der'))).der, 1234n));

    // The collection trusts the Kingdom root (for TLS) and the EDP 1 root (for the result certificate).
    writeFileSync(file('collection.pem'), readFileSync(kingdom.kingdomRoot, 'utf8') + readFileSync(fixture('edp1_root.pem'), 'utf8'));
    const asMc = [...edp1Tls, '--cert-collection-file', file('collection.pem'), '--kingdom-public-api-target', kingdom.target, 'measurements', '--api-key', apiKey];
    const get = (...extra: string[]) => ms([...asMc, 'get', created.name, '--encryption-private-key-file', fixture('mc_enc_private.tink'), ...extra]);
    const ok = get();
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `State: SUCCEEDED\nResult certificate: ${edp1Certificate} REVOCATION_STATE_UNSPECIFIED - trusted\nReach - 1234\n`);
    const list = ms([...asMc, 'list', '--measurement-consumer', mc]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, new RegExp(`^${created.name} SUCCEEDED$`, 'm'));

    // Without the EDP 1 root the result cannot be verified: the command fails, as upstream's does.
    fails(ms([...edp1Tls, '--cert-collection-file', kingdom.kingdomRoot, '--kingdom-public-api-target', kingdom.target, 'measurements', '--api-key', apiKey,
      'get', created.name, '--encryption-private-key-file', fixture('mc_enc_private.tink')]), 1, /Certificate path of .* is invalid/);
    // The wrong private keyset cannot decrypt it.
    fails(get('--encryption-private-key-file', fixture('edp2_enc_private.tink')), 1, /decrypt|key/i);

    // Once the result certificate is held, the result is still shown but no longer trusted.
    assert.equal(ms([...tls, 'certificates', 'revoke', '--revocation-state', 'HOLD', edp1Certificate]).code, 0);
    const held = get('--json');
    assert.equal(held.code, 0, held.stderr);
    const heldJson = JSON.parse(held.stdout) as { state: string; trusted: boolean; results: { certificate: string; revocationState: string; trusted: boolean; result: { reach: { value: string } } }[] };
    assert.equal(heldJson.state, 'SUCCEEDED');
    assert.equal(heldJson.trusted, false);
    assert.deepEqual(heldJson.results.map((r) => [r.certificate, r.revocationState, r.trusted, r.result.reach.value]), [[edp1Certificate, 'HOLD', false, '1234']]);
    assert.match(get().stdout, /^Result certificate: .* HOLD - NOT TRUSTED$/m);
    assert.equal(ms([...tls, 'certificates', 'release-hold', edp1Certificate]).code, 0);

    // Cancel: upstream's "State: ..." line.
    const second = await mcClient.measurements.createMeasurement(planMeasurement(mcP, [dpP], { referenceId: 'to-cancel' }).request);
    const cancel = ms([...asMc, 'cancel', second.name]);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout, 'State: CANCELLED\n');
  });
  it('data-providers get prints the DataProvider as upstream does; the text reads back to the message --json shows', () => {
    const text = ms([...tls, 'data-providers', '--name', dp, 'get']);
    assert.equal(text.code, 0, text.stderr);
    const header = `Data Provider Resource: ${dp}\n`;
    assert.ok(text.stdout.startsWith(`${header}name: "${dp}"\ncertificate_der: "${javaEscaped(readFileSync(fixture('edp1_cs_cert.der')))}"\n`), text.stdout);
    assert.ok(text.stdout.endsWith('}\n\n'), 'the last field, then println\'s blank line');
    assert.doesNotMatch(text.stdout, /\\x/);
    const json = ms([...tls, 'data-providers', '--name', dp, 'get', '--json']);
    assert.deepEqual(fromTextFormat(DataProviderSchema, text.stdout.slice(header.length)), fromJson(DataProviderSchema, JSON.parse(json.stdout) as JsonValue, { registry: packedMessageRegistry }));
  });

  it('measurements create: a signed MeasurementSpec, and a RequisitionSpec only the DataProvider can open, as upstream builds them', async () => {
    const create = (...extra: string[]) =>
      ms([...tls, 'measurements', '--api-key', apiKey, 'create', '--measurement-consumer', mc, '--measurement-ref-id', 'cli-ref', '--request-id', 'cli-request-1',
        '--reach', '--reach-privacy-epsilon=0.0072', '--reach-privacy-delta=0', '--vid-sampling-start=0.1', '--vid-sampling-width=0.2',
        `--event-data-provider=${dp}`, '--event-filter=person.age_group == 1',
        '--event-group', `${dp}/eventGroups/AAAAAAAAAHs`, '--event-start-time', '2024-01-01T00:00:00Z', '--event-end-time', '2024-01-31T00:00:00.5Z', ...extra]);
    // The signing key must be the one of the MeasurementConsumer's certificate: nothing is created otherwise.
    fails(create('--private-key-der-file', fixture('edp1_cs_private.der')), 1, /--private-key-der-file .*edp1_cs_private\.der is not the key of measurementConsumers\//);
    const r = create('--private-key-der-file', fixture('mc_cs_private.der'));
    assert.equal(r.code, 0, r.stderr);
    const name = /^Measurement Name: (measurementConsumers\/\S+\/measurements\/\S+)\n$/.exec(r.stdout)?.[1];
    assert.ok(name, r.stdout);
    // The same --request-id names the same Measurement.
    assert.equal(create('--private-key-der-file', fixture('mc_cs_private.der')).stdout, r.stdout);

    const roots = readFileSync(kingdom.kingdomRoot, 'utf8');
    const edp1 = createKingdomClient({ target: kingdom.target, trustedRoots: roots, clientCertificate: readFileSync(fixture('edp1_tls.pem'), 'utf8'),
      clientKey: readFileSync(fixture('edp1_tls.key'), 'utf8') });
    const requisition = (await edp1.requisitions.listRequisitions({ parent: dp, pageSize: 1000 })).requisitions.find((q) => q.measurement === name);
    assert.ok(requisition?.encryptedRequisitionSpec && requisition.measurementSpec, 'EDP 1 sees the requisition');
    const mcDer = new Uint8Array(readFileSync(fixture('mc_cs_cert.der')));
    const signedSpec = decryptMessage(loadKeyset(fixture('edp1_enc_private.tink')).keyset, requisition.encryptedRequisitionSpec, SignedMessageSchema);
    const spec = verifyAndUnpack(RequisitionSpecSchema, signedSpec, mcDer);
    assert.equal(spec.requisitionType.case, 'events');
    const [entry] = spec.requisitionType.case === 'events' ? spec.requisitionType.value.eventGroups : [];
    assert.equal(entry?.key, `${dp}/eventGroups/AAAAAAAAAHs`);
    assert.equal(entry?.value?.filter?.expression, 'person.age_group == 1');
    assert.equal(entry?.value?.collectionInterval?.startTime?.seconds, BigInt(Date.parse('2024-01-01T00:00:00Z') / 1000));
    assert.equal(entry?.value?.collectionInterval?.endTime?.nanos, 500_000_000);
    const measurementSpec = verifyAndUnpack(MeasurementSpecSchema, requisition.measurementSpec, mcDer);
    assert.deepEqual(measurementSpec.nonceHashes, [nonceHash(spec.nonce)]);
    assert.deepEqual(measurementSpec.measurementPublicKey?.value, spec.measurementPublicKey?.value);
    assert.deepEqual(measurementSpec.serializedMeasurementPublicKey, measurementSpec.measurementPublicKey?.value);
    assert.deepEqual([measurementSpec.vidSamplingInterval?.start, measurementSpec.vidSamplingInterval?.width], [Math.fround(0.1), Math.fround(0.2)]);
    assert.equal(measurementSpec.measurementType.case === 'reach' && measurementSpec.measurementType.value.privacyParams?.epsilon, 0.0072);
    const mcClient = createKingdomClient({ target: kingdom.target, trustedRoots: roots, clientCertificate: readFileSync(fixture('mc_tls.pem'), 'utf8'),
      clientKey: readFileSync(fixture('mc_tls.key'), 'utf8'), apiKey });
    assert.equal((await mcClient.measurements.getMeasurement({ name })).measurementReferenceId, 'cli-ref');

    // A population measurement: no VID sampling interval, the population RequisitionSpec with its filter.
    const population = ms([...tls, 'measurements', '--api-key', apiKey, 'create', '--measurement-consumer', mc, '--private-key-der-file', fixture('mc_cs_private.der'),
      '--population', `--population-data-provider=${dp}`, '--population-filter=person.gender == 1',
      '--population-start-time=2024-01-01T00:00:00Z', '--population-end-time=2024-02-01T00:00:00Z']);
    assert.equal(population.code, 0, population.stderr);
    const populationName = /^Measurement Name: (\S+)\n$/.exec(population.stdout)?.[1];
    const populationRequisition = (await edp1.requisitions.listRequisitions({ parent: dp, pageSize: 1000 })).requisitions.find((q) => q.measurement === populationName);
    assert.ok(populationRequisition?.encryptedRequisitionSpec && populationRequisition.measurementSpec);
    const populationSpec = verifyAndUnpack(RequisitionSpecSchema,
      decryptMessage(loadKeyset(fixture('edp1_enc_private.tink')).keyset, populationRequisition.encryptedRequisitionSpec, SignedMessageSchema), mcDer);
    assert.equal(populationSpec.requisitionType.case === 'population' && populationSpec.requisitionType.value.filter?.expression, 'person.gender == 1');
    const populationMeasurementSpec = verifyAndUnpack(MeasurementSpecSchema, populationRequisition.measurementSpec, mcDer);
    assert.equal(populationMeasurementSpec.measurementType.case, 'population');
    assert.equal(populationMeasurementSpec.vidSamplingInterval, undefined);
  });

  it("the DataProvider commands print upstream's lines and the Capabilities", () => {
    for (const duchy of ['worker1', 'worker2']) {
      const r = haloKeys(['kingdom', 'admin', '--data-dir', kingdom.dataDir, 'create-duchy', '--duchy-id', duchy, '--root-cert', fixture(`${duchy}_root.pem`),
        '--certificate', fixture(`${duchy}_cs_cert.der`)]);
      assert.equal(r.code, 0, r.stderr);
    }
    const dpCalls = [...tls, 'data-providers', '--name', dp];
    const duchies = ms([...dpCalls, 'replace-required-duchies', '--required-duchies', 'duchies/worker1', '--required-duchies', 'duchies/worker2']);
    assert.equal(duchies.code, 0, duchies.stderr);
    assert.equal(duchies.stdout, `Data Provider ${dp} duchy list replaced with [duchies/worker1, duchies/worker2]\n`);
    const capabilities = ms([...dpCalls, 'update-capabilities', '--hmss-supported=true', '--trus-tee-supported']);
    assert.equal(capabilities.code, 0, capabilities.stderr);
    assert.equal(capabilities.stdout, 'honest_majority_share_shuffle_supported: true\ntrus_tee_supported: true\n\n');
    const off = ms([...dpCalls, 'update-capabilities', '--honest-majority-share-shuffle-supported=false']);
    assert.equal(off.stdout, 'trus_tee_supported: true\n\n', 'only the flag given changes');
    const interval = ms([...dpCalls, 'replace-data-availability-interval', '--interval', '2024-01-01T00:00:00Z/2024-02-01T00:00:00Z']);
    assert.equal(interval.code, 0, interval.stderr);
    assert.match(interval.stdout, /\ndata_availability_interval \{\n {2}start_time \{\n {4}seconds: 1704067200\n {2}\}\n {2}end_time \{\n {4}seconds: 1706745600\n {2}\}\n\}\n/);
    const mp = haloKeys(['kingdom', 'admin', '--data-dir', kingdom.dataDir, 'create-model-provider', '--root-cert', fixture('mp1_root.pem'),
      '--certificate', fixture('mp1_cs_cert.der')]);
    assert.equal(mp.code, 0, mp.stderr);
    const line = `${mp.stdout.trim()}/modelSuites/AAAAAAAAAHs/modelLines/AAAAAAAAAHs`;
    const intervals = ms([...dpCalls, 'replace-data-availability-intervals', '--model-line-interval', `${line}=2024-01-01T00:00:00Z/2024-02-01T00:00:00Z`]);
    assert.equal(intervals.code, 0, intervals.stderr);
    assert.match(intervals.stdout, new RegExp(`\ndata_availability_intervals \\{\n {2}key: "${line}"\n {2}value \\{\n`));
  });

  it('an Account authenticates with its self-issued key, activates, and creates a MeasurementConsumer', () => {
    const admin = (...args: string[]) => {
      const r = haloKeys(['kingdom', 'admin', '--data-dir', kingdom.dataDir, '--json', ...args]);
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Record<string, string>;
    };
    const account = admin('create-account');
    const idToken = () => {
      const r = ms([...tls, 'accounts', 'authenticate', '--siop-key', fixture('account1_siop_private.tink')]);
      assert.equal(r.code, 0, r.stderr);
      const token = /^ID Token: ([\w-]+\.[\w-]+\.[\w-]+)\n$/.exec(r.stdout)?.[1];
      assert.ok(token, r.stdout);
      return token;
    };
    const activated = ms([...tls, 'accounts', 'activate', account.name!, '--activation-token', account.activationToken!, '--id-token', idToken()]);
    assert.equal(activated.code, 0, activated.stderr);
    assert.match(activated.stdout, new RegExp(`^name: "${account.name}"\n[\\s\\S]*activation_state: ACTIVATED\n[\\s\\S]*\n\n$`));
    const token = admin('create-measurement-consumer-creation-token').measurementConsumerCreationToken!;
    // A certificate and key the Kingdom has not seen: EDP 3's family stands in for a new MeasurementConsumer's.
    assert.equal(epk(['serialize', '--data', fixture('edp3_enc_public.tink'), '--out', file('new-mc.pb')]).code, 0);
    assert.equal(epk(['sign', '--certificate', fixture('edp3_cs_cert.der'), '--signing-key', fixture('edp3_cs_private.der'), '--in', file('new-mc.pb'),
      '--out', file('new-mc.sig')]).code, 0);
    const newMc = ['--certificate', fixture('edp3_cs_cert.der'), '--public-key', file('new-mc.pb'), '--public-key-signature', file('new-mc.sig')];
    const created = ms([...tls, 'measurement-consumers', 'create', '--id-token', idToken(), '--creation-token', token, '--display-name', 'Café "CLI"', ...newMc]);
    assert.equal(created.code, 0, created.stderr);
    assert.ok(created.stdout.startsWith(`name: "measurementConsumers/`), created.stdout);
    assert.ok(created.stdout.includes(`\ncertificate_der: "${javaEscaped(readFileSync(fixture('edp3_cs_cert.der')))}"\n`), created.stdout);
    assert.match(created.stdout, /\ndisplay_name: "Caf\\303\\251 \\"CLI\\""\n/);
    // The token is spent.
    fails(ms([...tls, 'measurement-consumers', 'create', '--id-token', idToken(), '--creation-token', token, ...newMc]), 1,
      /PERMISSION_DENIED|INVALID_ARGUMENT|NOT_FOUND|FAILED_PRECONDITION/);

    // The owner makes the new MeasurementConsumer an API key; upstream's println prints it.
    const mcName = /^name: "(measurementConsumers\/[\w-]{11})"\n/.exec(created.stdout)![1]!;
    const key = ms([...tls, 'api-keys', '--id-token', idToken(), 'create', '--measurement-consumer', mcName, '--nickname', 'reporting',
      '--description', 'nightly']);
    assert.equal(key.code, 0, key.stderr);
    assert.match(key.stdout, new RegExp(`^name: "${mcName}/apiKeys/[\\w-]{11}"\nnickname: "reporting"\ndescription: "nightly"\nauthentication_key: "[\\w-]{11}"\n\n$`));
    const apiKey = /authentication_key: "([\w-]{11})"/.exec(key.stdout)![1]!;
    const got = ms([...tls, 'measurement-consumers', '--name', mcName, '--api-key', apiKey, 'get']);
    assert.equal(got.code, 0, got.stderr);
    assert.ok(got.stdout.startsWith(`Measurement Consumer Resource: ${mcName}\n`), got.stdout);
    // Only an owner: the admin-made MeasurementConsumer is not this Account's.
    fails(ms([...tls, 'api-keys', '--id-token', idToken(), 'create', '--measurement-consumer', mc, '--nickname', 'x']), 1, /PERMISSION_DENIED/);
  });

  it('refuses bad DataProvider, MeasurementConsumer and Account command lines before sending anything', () => {
    const dpCalls = [...tls, 'data-providers', '--name', dp];
    // Usage errors before anything is sent.
    fails(ms([...dpCalls, 'update-capabilities', '--hmss-supported=maybe']), 2, /argument 'maybe' is invalid\. must be 'true' or 'false'/);
    fails(ms([...dpCalls, 'replace-data-availability-interval', '--interval', '2024-01-01T00:00:00Z']), 2, /--interval <start\/end>/);
    fails(ms([...dpCalls, 'replace-data-availability-intervals', '--model-line-interval', '2024-01-01T00:00:00Z/2024-02-01T00:00:00Z']), 2,
      /must be MODEL_LINE=START\/END/);
    fails(ms([...tls, 'measurement-consumers', 'get']), 2, /required option '--name <name>'/);
    fails(ms([...tls, 'accounts', 'activate', 'accounts/AAAAAAAAAHs', '--activation-token', 'AAAAAAAAAHs']), 2, /--id-token is required when there is no terminal/);
    fails(ms([...tls, 'api-keys', 'create', '--measurement-consumer', mc, '--nickname', 'x']), 2, /--id-token is required when there is no terminal/);
    fails(ms([...tls, 'api-keys', '--id-token', 't', 'create', '--measurement-consumer', mc]), 2, /required option '--nickname <nickname>'/);
    fails(ms([...tls, 'measurement-consumers', 'create', '--id-token', 't', '--creation-token', 't', '--certificate', fixture('mc_cs_cert.der'),
      '--public-key', fixture('mc_enc_public.tink'), '--public-key-signature', file('mc.sig')]), 1, /mc_enc_public\.tink: /);
  });
});
