/**
 * GetDataProvider, GetMeasurementConsumer and GetModelProvider over an
 * in-memory transport with a real PGlite store (see fixtures.ts): rendering
 * of `certificate`, `certificate_der` and `public_key` as upstream (§2.9),
 * and every error code. The full allow/deny table is in
 * authorization-matrix.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { MeasurementConsumers } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { ModelProviders } from '../../src/gen/wfa/measurement/api/v2alpha/model_providers_service_pb.js';
import { PublicKeys } from '../../src/gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { as, createParty, openTestKingdom, rejectsWith, signedEncryptionPublicKey, type TestKingdom, type TestParty } from './fixtures.js';

const TYPE_URL = 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey';

describe('DataProviders, MeasurementConsumers and ModelProviders Get', () => {
  let k: TestKingdom;
  let dp: TestParty;
  let dp2: TestParty;
  let mc: TestParty;
  let mc2: TestParty;
  let mp: TestParty;
  let mp2: TestParty;
  let duchy: TestParty;

  before(async () => {
    k = await openTestKingdom();
    dp = await createParty(k, 'DATA_PROVIDER', { displayName: 'Edp One' });
    dp2 = await createParty(k, 'DATA_PROVIDER');
    mc = await createParty(k, 'MEASUREMENT_CONSUMER', { displayName: 'Consumer One' });
    mc2 = await createParty(k, 'MEASUREMENT_CONSUMER');
    mp = await createParty(k, 'MODEL_PROVIDER', { displayName: 'Model One' });
    mp2 = await createParty(k, 'MODEL_PROVIDER');
    duchy = await createParty(k, 'DUCHY', { duchyId: 'worker2' });
  });
  after(async () => {
    await k?.close();
  });

  it('renders a DataProvider with its public-key certificate and the signed key, message and data both set', async () => {
    const got = await k.client(DataProviders, as(mc)).getDataProvider({ name: dp.name });
    assert.equal(got.name, dp.name);
    assert.equal(got.displayName, 'Edp One');
    assert.equal(got.certificate, dp.signing.name);
    assert.deepEqual(got.certificateDer, dp.signing.der);
    const key = got.publicKey!;
    assert.equal(key.message?.typeUrl, TYPE_URL);
    assert.ok(key.message!.value.length > 0);
    assert.deepEqual(key.data, key.message!.value);
    assert.ok(key.signature.length > 0);
    assert.equal(key.signatureAlgorithmOid, '1.2.840.10045.4.3.2');
    // The key the DataProvider itself sees is the same.
    const self = await k.client(DataProviders, as(dp)).getDataProvider({ name: dp.name });
    assert.deepEqual(self, got);
  });

  it('renders a MeasurementConsumer the same way', async () => {
    const got = await k.client(MeasurementConsumers, as(dp)).getMeasurementConsumer({ name: mc.name });
    assert.equal(got.name, mc.name);
    assert.equal(got.displayName, 'Consumer One');
    assert.equal(got.certificate, mc.signing.name);
    assert.deepEqual(got.certificateDer, mc.signing.der);
    assert.equal(got.publicKey?.message?.typeUrl, TYPE_URL);
    assert.deepEqual(got.publicKey?.data, got.publicKey?.message?.value);
    assert.deepEqual(got.owners, []);
  });

  it('renders a ModelProvider with its name and display name only', async () => {
    const got = await k.client(ModelProviders, as(dp)).getModelProvider({ name: mp.name });
    assert.equal(got.name, mp.name);
    assert.equal(got.displayName, 'Model One');
  });

  it('rebuilds the type URL from the stored API version, not from what the client sent', async () => {
    const leaf = dp2.issueLeaf();
    const c = await k.client(Certificates, as(dp2)).createCertificate({ parent: dp2.name, certificate: { x509Der: leaf.der } });
    const { signed } = signedEncryptionPublicKey(leaf.privateKey);
    const elsewhere = create(SignedMessageSchema, {
      ...signed,
      message: create(AnySchema, { typeUrl: 'example.com/x/wfa.measurement.api.v2alpha.EncryptionPublicKey', value: signed.message!.value }),
    });
    await k.client(PublicKeys, as(dp2)).updatePublicKey({ publicKey: { name: `${dp2.name}/publicKey`, publicKey: elsewhere, certificate: c.name } });
    const got = await k.client(DataProviders, as(dp2)).getDataProvider({ name: dp2.name });
    assert.equal(got.publicKey?.message?.typeUrl, TYPE_URL);
    assert.deepEqual(got.publicKey?.message?.value, signed.message!.value);
    assert.equal(got.certificate, c.name);
    assert.deepEqual(got.certificateDer, leaf.der);
  });

  it('is NOT_FOUND for parties that do not exist', async () => {
    const e = await rejectsWith(
      k.client(DataProviders, as(mc)).getDataProvider({ name: 'dataProviders/AAAAAAAAAAE' }),
      Code.NotFound,
      'DATA_PROVIDER_NOT_FOUND',
    );
    assert.equal(e.rawMessage, 'Data Provider not found.');
    await rejectsWith(
      k.client(MeasurementConsumers, as(dp)).getMeasurementConsumer({ name: 'measurementConsumers/AAAAAAAAAAE' }),
      Code.NotFound,
      'MEASUREMENT_CONSUMER_NOT_FOUND',
    );
    await rejectsWith(k.client(ModelProviders, as(dp)).getModelProvider({ name: 'modelProviders/AAAAAAAAAAE' }), Code.NotFound, 'MODEL_PROVIDER_NOT_FOUND');
  });

  it('is INVALID_ARGUMENT for names of another kind or malformed ones', async () => {
    for (const name of ['', mc.name, `${dp.name}/certificates`, 'dataProviders/AAAA', 'dataProviders/AAAAAAAAAAA', duchy.name]) {
      await rejectsWith(k.client(DataProviders, as(mc)).getDataProvider({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
    for (const name of ['', dp.name, `${mc.name}/publicKey`]) {
      await rejectsWith(k.client(MeasurementConsumers, as(dp)).getMeasurementConsumer({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
    for (const name of ['', dp.name, 'modelProviders/']) {
      await rejectsWith(k.client(ModelProviders, as(dp)).getModelProvider({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
  });

  it('is UNAUTHENTICATED without a principal', async () => {
    await rejectsWith(k.client(DataProviders, 'anonymous').getDataProvider({ name: dp.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(k.client(MeasurementConsumers, 'anonymous').getMeasurementConsumer({ name: mc.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    await rejectsWith(k.client(ModelProviders, 'anonymous').getModelProvider({ name: mp.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
  });

  it('is PERMISSION_DENIED as §2.9 says, without revealing whether the party exists', async () => {
    const denied = async (p: Promise<unknown>, name: string) => {
      const e = await rejectsWith(p, Code.PermissionDenied, 'PERMISSION_DENIED');
      assert.equal(e.rawMessage, `Permission GET denied on resource ${name} (or it might not exist)`);
    };
    await denied(k.client(DataProviders, as(dp2)).getDataProvider({ name: dp.name }), dp.name);
    await denied(k.client(DataProviders, as(duchy)).getDataProvider({ name: dp.name }), dp.name);
    await denied(k.client(DataProviders, as(duchy)).getDataProvider({ name: 'dataProviders/AAAAAAAAAAE' }), 'dataProviders/AAAAAAAAAAE');
    await denied(k.client(MeasurementConsumers, as(mc2)).getMeasurementConsumer({ name: mc.name }), mc.name);
    await denied(k.client(MeasurementConsumers, as(mp)).getMeasurementConsumer({ name: mc.name }), mc.name);
    await denied(k.client(MeasurementConsumers, as(duchy)).getMeasurementConsumer({ name: mc.name }), mc.name);
    await denied(k.client(ModelProviders, as(mp2)).getModelProvider({ name: mp.name }), mp.name);
    await denied(k.client(ModelProviders, as(duchy)).getModelProvider({ name: mp.name }), mp.name);
  });
});
