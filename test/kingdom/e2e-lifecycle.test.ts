/**
 * The real server process (`halo-keys kingdom serve` on the embedded
 * database) called over real mTLS sockets by our client and by @grpc/grpc-js
 * speaking plain gRPC with our .proto files: the participant lifecycle, who
 * is refused, garbage input without a state change, the admin CLI against
 * the running server, and a SIGTERM that drains and exits 0.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { KingdomClientError, type KingdomClient } from '../../src/client/index.js';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { publicKeyset } from '../../src/crypto/keyset.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { EncryptionPublicKeySchema, EncryptionPublicKey_Format } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { Measurement_Failure_Reason, Measurement_State } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { keysetBytes } from '../../src/crypto/keyset.js';
import { encryptionPublicKeyBytes, planMeasurement, type Participant } from './measurement-fixtures.js';
import {
  grpc,
  grpcCall,
  grpcClient,
  grpcRaw,
  participantPki,
  runCli,
  scratchDir,
  startServerProcess,
  type ParticipantPki,
  type ServerProcess,
} from './server-fixtures.js';

interface Party {
  readonly pki: ParticipantPki;
  readonly name: string;
  readonly certificateName: string;
  readonly signing: ReturnType<ParticipantPki['signingLeaf']>;
  readonly keyset: ReturnType<typeof generateKeyset>;
  client(): KingdomClient;
}

function signedKey(signingKey: Parameters<typeof signMessage>[2], keyset = generateKeyset()) {
  const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(publicKeyset(keyset)) });
  return { signed: signMessage(EncryptionPublicKeySchema, message, signingKey), keyset };
}

/** What the measurement fixtures need of a participant. */
function asParticipant(p: Party, certificate: { name: string; der: Uint8Array; signingKey: Party['signing']['privateKey'] }): Participant {
  return {
    name: p.name,
    certificate: { id: 0n, name: certificate.name, der: certificate.der, signingKey: certificate.signingKey },
    encryptionPrivateKeyset: p.keyset,
    encryptionPublicKeyset: publicKeyset(p.keyset),
    encryptionPublicKey: encryptionPublicKeyBytes(publicKeyset(p.keyset)),
  } as unknown as Participant;
}

describe('Kingdom server process, end to end (embedded database)', () => {
  const scratch = scratchDir('halo-e2e-');
  const dataDir = scratch.path('kingdom');
  let server: ServerProcess;
  let dp: Party;
  let mc: Party;
  let mcApiKey: string;
  let measurementName = '';
  let dpSecondCertificate: { name: string; der: Uint8Array; privateKey: Party['signing']['privateKey'] };

  before(async () => {
    server = await startServerProcess({ dataDir });
  });

  after(async () => {
    await server.stop('SIGKILL');
    scratch.remove();
  });

  test('serve prints how to connect and writes the data dir', () => {
    assert.match(server.stdout(), /Trust the Kingdom root: .*kingdom_root\.pem \(server name localhost\)/);
    assert.match(server.stdout(), /Admin token \(shown once; .*\): hk_admin_/);
    assert.ok(server.stdout().includes(server.adminToken));
  });

  test('the admin CLI creates a DataProvider on the running server; our client creates a MeasurementConsumer', async () => {
    const pki = participantPki('EDP e2e');
    const signing = pki.signingLeaf();
    const key = signedKey(signing.privateKey);
    writeFileSync(scratch.path('dp_root.pem'), pki.rootPem);
    writeFileSync(scratch.path('dp_cs_cert.der'), signing.der);
    writeFileSync(scratch.path('dp_enc_public.bin'), key.signed.message!.value);
    writeFileSync(scratch.path('dp_enc_public.sig'), key.signed.signature);
    const r = runCli([
      'kingdom', 'admin', '--data-dir', dataDir, '--json', 'create-data-provider',
      '--root-cert', scratch.path('dp_root.pem'),
      '--certificate', scratch.path('dp_cs_cert.der'),
      '--public-key', scratch.path('dp_enc_public.bin'),
      '--public-key-signature', scratch.path('dp_enc_public.sig'),
      '--display-name', 'EDP e2e',
    ]);
    assert.equal(r.status, 0, r.stderr);
    const created = JSON.parse(r.stdout) as { name: string; certificate: string };
    assert.match(created.name, /^dataProviders\/[A-Za-z0-9_-]{11}$/);
    assert.ok(created.certificate.startsWith(`${created.name}/certificates/`));
    dp = { pki, name: created.name, certificateName: created.certificate, signing, keyset: key.keyset, client: () => server.client({ tls: pki.tls }) };

    const mcPki = participantPki('MC e2e');
    const mcSigning = mcPki.signingLeaf();
    const mcKey = signedKey(mcSigning.privateKey);
    const admin = server.client({ adminToken: server.adminToken });
    const m = await admin.admin.createMeasurementConsumer({
      registration: { rootCertificateDer: mcPki.root.der, certificateDer: mcSigning.der, publicKey: mcKey.signed, displayName: 'MC e2e' },
    });
    mc = { pki: mcPki, name: m.name, certificateName: m.certificate, signing: mcSigning, keyset: mcKey.keyset, client: () => server.client({ tls: mcPki.tls }) };

    const k = runCli(['kingdom', 'admin', '--data-dir', dataDir, 'create-api-key', '--measurement-consumer', mc.name]);
    assert.equal(k.status, 0, k.stderr);
    const apiKey = /API key \(shown once\): (\S+)/.exec(k.stdout)?.[1];
    assert.ok(apiKey);
    mcApiKey = apiKey;

    const list = runCli(['kingdom', 'admin', '--data-dir', dataDir, '--json', 'akid', 'list']);
    assert.equal(list.status, 0, list.stderr);
    const principals = (JSON.parse(list.stdout) as { principal: string }[]).map((e) => e.principal).sort();
    assert.deepEqual(principals, [dp.name, mc.name].sort());
  });

  test('a new participant is trusted for mTLS on the running server at once', async () => {
    const got = await dp.client().dataProviders.getDataProvider({ name: dp.name });
    assert.equal(got.name, dp.name);
    assert.equal(got.certificate, dp.certificateName);
    assert.deepEqual(Buffer.from(got.certificateDer), Buffer.from(dp.signing.der));
  });

  test('grpc-js (plain gRPC): the DataProvider registers a certificate and reads it back', async () => {
    const leaf = dp.pki.signingLeaf();
    const certs = grpcClient(server, 'Certificates', dp.pki.tls);
    const created = await grpcCall<{ name: string; x509Der: Buffer }>(certs, 'createCertificate', { parent: dp.name, certificate: { x509Der: Buffer.from(leaf.der) } });
    assert.equal(created.error, undefined, created.error?.details);
    assert.ok(created.response!.name.startsWith(`${dp.name}/certificates/`));
    const got = await grpcCall<{ name: string; x509Der: Buffer; revocationState: string }>(certs, 'getCertificate', { name: created.response!.name });
    assert.equal(got.response?.name, created.response!.name);
    assert.deepEqual(got.response?.x509Der, Buffer.from(leaf.der));
    assert.equal(got.response?.revocationState, 'REVOCATION_STATE_UNSPECIFIED');
    certs.close();
    dpSecondCertificate = { name: created.response!.name, der: leaf.der, privateKey: leaf.privateKey };
  });

  test('our client: the DataProvider publishes a new public key signed with the new certificate', async () => {
    const key = signedKey(dpSecondCertificate.privateKey);
    const res = await dp.client().publicKeys.updatePublicKey({
      publicKey: { name: `${dp.name}/publicKey`, publicKey: key.signed, certificate: dpSecondCertificate.name },
    });
    assert.equal(res.certificate, dpSecondCertificate.name);
    dp = { ...dp, keyset: key.keyset, certificateName: dpSecondCertificate.name };
    const got = await dp.client().dataProviders.getDataProvider({ name: dp.name });
    assert.equal(got.certificate, dpSecondCertificate.name);
  });

  test('the MeasurementConsumer (API key) creates a measurement; revoking the DP key certificate fails it with CERTIFICATE_REVOKED', async () => {
    const planned = planMeasurement(
      asParticipant(mc, { name: mc.certificateName, der: mc.signing.der, signingKey: mc.signing.privateKey }),
      [asParticipant(dp, { name: dpSecondCertificate.name, der: dpSecondCertificate.der, signingKey: dpSecondCertificate.privateKey })],
    );
    const mcClient = server.client({ apiKey: mcApiKey });
    const measurement = await mcClient.measurements.createMeasurement(planned.request);
    assert.ok(measurement.name.startsWith(`${mc.name}/measurements/`));
    assert.equal(measurement.state, Measurement_State.AWAITING_REQUISITION_FULFILLMENT);
    measurementName = measurement.name;

    const certs = grpcClient(server, 'Certificates', dp.pki.tls);
    const revoked = await grpcCall<{ revocationState: string }>(certs, 'revokeCertificate', { name: dpSecondCertificate.name, revocationState: 'REVOKED' });
    certs.close();
    assert.equal(revoked.error, undefined, revoked.error?.details);
    assert.equal(revoked.response?.revocationState, 'REVOKED');

    const after = await mcClient.measurements.getMeasurement({ name: measurementName });
    assert.equal(after.state, Measurement_State.FAILED);
    assert.equal(after.failure?.reason, Measurement_Failure_Reason.CERTIFICATE_REVOKED);
  });

  test('a revoked certificate cannot be used again: a new measurement naming it is FAILED_PRECONDITION', async () => {
    const planned = planMeasurement(
      asParticipant(mc, { name: mc.certificateName, der: mc.signing.der, signingKey: mc.signing.privateKey }),
      [asParticipant(dp, { name: dpSecondCertificate.name, der: dpSecondCertificate.der, signingKey: dpSecondCertificate.privateKey })],
    );
    await assert.rejects(server.client({ apiKey: mcApiKey }).measurements.createMeasurement(planned.request), (err: unknown) => {
      assert.ok(err instanceof KingdomClientError, String(err));
      assert.equal(err.grpcCode, Code.FailedPrecondition, err.message);
      return true;
    });
  });

  test('no client certificate, an untrusted one, or an unknown API key: UNAUTHENTICATED (both clients)', async () => {
    const stranger = participantPki('Stranger');
    for (const client of [server.client(), server.client({ tls: stranger.tls }), server.client({ apiKey: 'AAAAAAAAAAE' })]) {
      await assert.rejects(client.certificates.getCertificate({ name: dp.certificateName }), (err: unknown) => {
        assert.ok(err instanceof KingdomClientError, String(err));
        assert.equal(err.code, 'UNAUTHENTICATED');
        return true;
      });
    }
    for (const tls of [undefined, stranger.tls]) {
      const c = grpcClient(server, 'Certificates', tls);
      const r = await grpcCall(c, 'getCertificate', { name: dp.certificateName });
      c.close();
      assert.equal(r.error?.code, grpc.status.UNAUTHENTICATED, r.error?.details);
    }
    // The MC may not revoke the DP's certificate: authenticated, but PERMISSION_DENIED.
    await assert.rejects(
      server.client({ apiKey: mcApiKey }).certificates.revokeCertificate({ name: dp.certificateName, revocationState: Certificate_RevocationState.HOLD }),
      (err: unknown) => err instanceof KingdomClientError && err.grpcCode === Code.PermissionDenied,
    );
  });

  test('the admin service refuses a wrong admin token and participants', async () => {
    for (const client of [server.client({ adminToken: 'hk_admin_wrong' }), dp.client()]) {
      await assert.rejects(client.admin.listAkidPrincipals({}), (err: unknown) => err instanceof KingdomClientError && err.code === 'UNAUTHENTICATED');
    }
  });

  test('a TLS 1.2 client is refused at the handshake', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: server.port, maxVersion: 'TLSv1.2', ca: server.kingdomRootPem, servername: 'localhost' });
      socket.once('secureConnect', () => {
        resolve('connected');
        socket.destroy();
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.match(outcome, /^ERR_SSL_/);
  });

  test('garbage input is INVALID_ARGUMENT (or RESOURCE_EXHAUSTED) and changes nothing', async () => {
    const before = await dp.client().certificates.listCertificates({ parent: dp.name, pageSize: 100 });
    const certs = grpcClient(server, 'Certificates', dp.pki.tls);
    const expectCode = async (p: Promise<{ error?: grpc.ServiceError }>, code: grpc.status, what: string) => {
      const r = await p;
      assert.equal(r.error?.code, code, `${what}: ${r.error?.details ?? 'no error'}`);
    };
    // Random bytes as DER, and a truncated real certificate.
    await expectCode(grpcCall(certs, 'createCertificate', { parent: dp.name, certificate: { x509Der: randomBytes(300) } }), grpc.status.INVALID_ARGUMENT, 'random DER');
    await expectCode(
      grpcCall(certs, 'createCertificate', { parent: dp.name, certificate: { x509Der: Buffer.from(dp.signing.der.subarray(0, 100)) } }),
      grpc.status.INVALID_ARGUMENT,
      'truncated DER',
    );
    // Wrong resource names.
    for (const name of ['', 'dataProviders/', 'dataProviders/!!!/certificates/x', 'foo/bar', `${dp.name}/certificates/AAAAAAAAAAA`.replace('AAAAAAAAAAA', 'short')]) {
      await expectCode(grpcCall(certs, 'getCertificate', { name }), grpc.status.INVALID_ARGUMENT, `name "${name}"`);
    }
    await expectCode(grpcCall(certs, 'createCertificate', { parent: 'measurementConsumers/nope', certificate: { x509Der: Buffer.from(dp.signing.der) } }), grpc.status.INVALID_ARGUMENT, 'bad parent');
    // Malformed protobuf bodies sent raw.
    for (const body of [Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), Buffer.from([0xff]), Buffer.from([0x12, 0x05, 0x0a])]) {
      await expectCode(grpcRaw(certs, '/wfa.measurement.api.v2alpha.Certificates/CreateCertificate', body), grpc.status.INVALID_ARGUMENT, `raw ${body.toString('hex')}`);
    }
    // Oversized message: above the 4 MiB limit.
    await expectCode(
      grpcCall(certs, 'createCertificate', { parent: dp.name, certificate: { x509Der: Buffer.alloc(5 * 1024 * 1024, 0x30) } }),
      grpc.status.RESOURCE_EXHAUSTED,
      'oversized',
    );
    certs.close();
    const afterList = await dp.client().certificates.listCertificates({ parent: dp.name, pageSize: 100 });
    assert.deepEqual(afterList.certificates.map((c) => c.name), before.certificates.map((c) => c.name));
  });

  test('SIGTERM drains and exits 0; the audit chain of everything above verifies', async () => {
    const code = await server.stop('SIGTERM');
    assert.equal(code, 0, server.stderr());
    const verify = runCli(['kingdom', 'audit', '--data-dir', dataDir, '--json', 'verify']);
    assert.equal(verify.status, 0, verify.stderr);
    const v = JSON.parse(verify.stdout) as { ok: boolean; count: string };
    assert.equal(v.ok, true);
    const exported = runCli(['kingdom', 'audit', '--data-dir', dataDir, 'export']);
    assert.equal(exported.status, 0, exported.stderr);
    const entries = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as { action: string; resource: string });
    assert.equal(String(entries.length), v.count);
    const actions = entries.map((e) => e.action);
    for (const a of ['CreateDataProvider', 'CreateMeasurementConsumer', 'CreateApiKey', 'CreateCertificate', 'UpdatePublicKey', 'CreateMeasurement', 'RevokeCertificate']) {
      assert.ok(actions.includes(a), `audit has ${a}: ${actions.join(',')}`);
    }
    assert.ok(entries.some((e) => e.resource === measurementName), 'the failed measurement is in the audit');
    // The garbage of the earlier test left no trace: nothing was created after the revocation.
    const lastRevoke = actions.lastIndexOf('RevokeCertificate');
    assert.deepEqual(actions.slice(lastRevoke).filter((a) => a === 'CreateCertificate'), []);
    const csv = runCli(['kingdom', 'audit', '--data-dir', dataDir, 'export', '--format', 'csv', '--after-seq', String(entries.length - 1)]);
    assert.equal(csv.status, 0, csv.stderr);
    assert.equal(csv.stdout.trim().split('\r\n').length, 2);
  });
});

