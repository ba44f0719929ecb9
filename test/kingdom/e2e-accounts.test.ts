/**
 * The new methods against the real server process over mTLS, from a plain
 * grpc-js client built from our .proto files (as upstream's Java clients
 * speak): the operator's admin commands create an Account and a creation
 * token; the Account activates itself with a self-issued ID token in the
 * `id_token` header and creates a MeasurementConsumer once; a client with
 * no certificate, another DataProvider and an over-limit batch are refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as protoLoader from '@grpc/proto-loader';
import { idTokenFor, newSigner } from './open-id-fixtures.js';
import {
  createDataProviderRemote,
  grpc,
  participantPki,
  protoDir,
  runCli,
  scratchDir,
  signedEncryptionKey,
  startServerProcess,
  type RemoteDataProvider,
  type ServerProcess,
} from './server-fixtures.js';

const REDIRECT_URI = 'https://kingdom.example/account-redirect';

type Client = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const services = grpc.loadPackageDefinition(
  protoLoader.loadSync(
    [
      'wfa/measurement/api/v2alpha/accounts_service.proto',
      'wfa/measurement/api/v2alpha/measurement_consumers_service.proto',
      'wfa/measurement/api/v2alpha/model_providers_service.proto',
      'wfa/measurement/api/v2alpha/data_providers_service.proto',
      'wfa/measurement/api/v2alpha/event_groups_service.proto',
    ],
    { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true },
  ),
) as unknown as { wfa: { measurement: { api: { v2alpha: Record<string, grpc.ServiceClientConstructor> } } } };

describe('Accounts and the new methods over the real server (mTLS, gRPC)', () => {
  const dir = scratchDir();
  let server: ServerProcess;
  let dp: RemoteDataProvider;
  let dp2: RemoteDataProvider;
  const clients: grpc.Client[] = [];

  function client(service: string, tls?: { certPem: string; keyPem: string }): Client {
    const ctor = services.wfa.measurement.api.v2alpha[service]!;
    const creds = tls
      ? grpc.credentials.createSsl(Buffer.from(server.kingdomRootPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem))
      : grpc.credentials.createSsl(Buffer.from(server.kingdomRootPem));
    const c = new ctor(server.target, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as Client;
    clients.push(c);
    return c;
  }

  function call<T = Record<string, unknown>>(c: Client, method: string, request: unknown, headers: Record<string, string> = {}) {
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise<{ response?: T; error?: grpc.ServiceError }>((resolve) => {
      c[method]!.call(c, request, metadata, (error: grpc.ServiceError | null, response: T) => resolve(error ? { error } : { response }));
    });
  }

  function admin(...args: string[]): Record<string, string> {
    const r = runCli(['kingdom', 'admin', '--data-dir', server.dataDir, '--json', ...args]);
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as Record<string, string>;
  }

  before(async () => {
    server = await startServerProcess({ dataDir: dir.path('kingdom'), args: ['--open-id-redirect-uri', REDIRECT_URI] });
    dp = await createDataProviderRemote(server, 'Edp Accounts One');
    dp2 = await createDataProviderRemote(server, 'Edp Accounts Two');
  });
  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
    dir.remove();
  });

  it('an Account activates itself and creates a MeasurementConsumer once with an operator token', async () => {
    const account = admin('create-account');
    assert.match(account.name!, /^accounts\/[\w-]{11}$/);
    const token = admin('create-measurement-consumer-creation-token').measurementConsumerCreationToken!;

    const accounts = client('Accounts');
    const auth = await call<{ authenticationRequestUri: string }>(accounts, 'authenticate', { issuer: 'https://self-issued.me' });
    assert.ifError(auth.error);
    const idToken = idTokenFor(auth.response!.authenticationRequestUri, newSigner(), new Date());
    const activated = await call<{ activationState: string }>(
      accounts,
      'activateAccount',
      { name: account.name, activationToken: account.activationToken },
      { id_token: idToken },
    );
    assert.ifError(activated.error);
    assert.equal(activated.response!.activationState, 'ACTIVATED');

    const leaf = participantPki('Mc By Account').signingLeaf();
    const key = signedEncryptionKey(leaf.privateKey).signed;
    const request = {
      measurementConsumer: {
        certificateDer: Buffer.from(leaf.der),
        publicKey: {
          // protobufjs's Any reads `type_url`, whatever keepCase says.
          message: { type_url: key.message!.typeUrl, value: Buffer.from(key.message!.value) },
          signature: Buffer.from(key.signature),
          signatureAlgorithmOid: key.signatureAlgorithmOid,
        },
        measurementConsumerCreationToken: token,
      },
    };
    const mcs = client('MeasurementConsumers', dp.pki.tls);
    // A participant's certificate is not an Account.
    assert.equal((await call(mcs, 'createMeasurementConsumer', request)).error?.code, grpc.status.UNAUTHENTICATED);
    const created = await call<{ name: string }>(mcs, 'createMeasurementConsumer', request, { id_token: idToken });
    assert.ifError(created.error);
    assert.match(created.response!.name, /^measurementConsumers\/[\w-]{11}$/);
    const reused = await call(mcs, 'createMeasurementConsumer', request, { id_token: idToken });
    assert.equal(reused.error?.code, grpc.status.PERMISSION_DENIED);
  });

  it('refuses a client with no certificate, another DataProvider, and a batch over 50', async () => {
    const anonymous = await call(client('ModelProviders'), 'listModelProviders', {});
    assert.equal(anonymous.error?.code, grpc.status.UNAUTHENTICATED);
    assert.ifError((await call(client('ModelProviders', dp.pki.tls), 'listModelProviders', {})).error);

    const capabilities = { name: dp.name, capabilities: { honestMajorityShareShuffleSupported: true } };
    const stolen = await call(client('DataProviders', dp2.pki.tls), 'replaceDataProviderCapabilities', capabilities);
    assert.equal(stolen.error?.code, grpc.status.PERMISSION_DENIED);
    const own = await call<{ capabilities: { honestMajorityShareShuffleSupported: boolean } }>(
      client('DataProviders', dp.pki.tls),
      'replaceDataProviderCapabilities',
      capabilities,
    );
    assert.ifError(own.error);
    assert.equal(own.response!.capabilities.honestMajorityShareShuffleSupported, true);

    const requests = Array.from({ length: 51 }, (_, i) => ({ eventGroup: { measurementConsumer: 'measurementConsumers/AAAAAAAAAAE', eventGroupReferenceId: `g${i}` } }));
    const batch = await call(client('EventGroups', dp.pki.tls), 'batchCreateEventGroups', { parent: dp.name, requests });
    assert.equal(batch.error?.code, grpc.status.INVALID_ARGUMENT);
  });
});
