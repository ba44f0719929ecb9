/**
 * PublicKeys.UpdatePublicKey over an in-memory transport with a real PGlite
 * store (see fixtures.ts): §2.7's checks and errors, strict verification
 * of the signature, the certificate and the keyset against compatible
 * mode's upstream behaviour, and the real CMMS edp1 key signed by the real
 * edp1 consent-signaling key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { Code } from '@connectrpc/connect';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { serializeKeyset } from '../../src/crypto/keyset.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import { Certificate_RevocationState as State } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import {
  EncryptionPublicKey_Format,
  EncryptionPublicKeySchema,
  type SignedMessage,
  SignedMessageSchema,
} from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { MeasurementConsumers } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { PublicKeys } from '../../src/gen/wfa/measurement/api/v2alpha/public_keys_service_pb.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import {
  as,
  type Caller,
  cmmsEdp1,
  createParty,
  DAY,
  openTestKingdom,
  participantPki,
  rejectsWith,
  signedEncryptionPublicKey,
  type TestKingdom,
  type TestLeaf,
  type TestParty,
} from './fixtures.js';
import { cmmsFile } from './store-fixtures.js';

/** Registers a new signing leaf for `party` and returns it with its resource name. */
async function registerLeaf(k: TestKingdom, party: TestParty, caller: Caller = as(party)): Promise<TestLeaf & { name: string }> {
  const leaf = party.issueLeaf();
  const c = await k.client(Certificates, caller).createCertificate({ parent: party.name, certificate: { x509Der: leaf.der } });
  return { ...leaf, name: c.name };
}

const keyName = (party: TestParty) => `${party.name}/publicKey`;

describe('PublicKeys.UpdatePublicKey (strict mode)', () => {
  let k: TestKingdom;
  let dp: TestParty;
  let dp2: TestParty;
  let mc: TestParty;
  let mp: TestParty;
  let duchy: TestParty;
  let mcApiKey: string;
  const update = (caller: Caller) => k.client(PublicKeys, caller);

  before(async () => {
    k = await openTestKingdom({ mode: 'strict' });
    dp = await createParty(k, 'DATA_PROVIDER');
    dp2 = await createParty(k, 'DATA_PROVIDER');
    mc = await createParty(k, 'MEASUREMENT_CONSUMER');
    mp = await createParty(k, 'MODEL_PROVIDER');
    duchy = await createParty(k, 'DUCHY', { duchyId: 'aggregator' });
    mcApiKey = (await k.admin.createApiKey({ measurementConsumer: mc.name })).authenticationKey;
  });
  after(async () => {
    await k?.close();
  });

  it('replaces a DataProvider key, echoes the request and renders the new key and certificate', async () => {
    const leaf = await registerLeaf(k, dp);
    const { signed } = signedEncryptionPublicKey(leaf.privateKey);
    const before = await k.auditLength();
    const request = { name: keyName(dp), publicKey: signed, certificate: leaf.name };
    const response = await update(as(dp)).updatePublicKey({ publicKey: request });
    assert.equal(response.name, request.name);
    assert.equal(response.certificate, request.certificate);
    assert.ok(response.publicKey);
    assert.deepEqual(toBinary(SignedMessageSchema, response.publicKey), toBinary(SignedMessageSchema, signed));
    assert.equal(await k.auditLength(), before + 1);

    const rendered = await k.client(DataProviders, as(mc)).getDataProvider({ name: dp.name });
    assert.equal(rendered.certificate, leaf.name);
    assert.deepEqual(rendered.certificateDer, leaf.der);
    assert.equal(rendered.publicKey?.message?.typeUrl, 'type.googleapis.com/wfa.measurement.api.v2alpha.EncryptionPublicKey');
    assert.deepEqual(rendered.publicKey?.message?.value, signed.message!.value);
    assert.deepEqual(rendered.publicKey?.data, signed.message!.value);
    assert.deepEqual(rendered.publicKey?.signature, signed.signature);
    assert.equal(rendered.publicKey?.signatureAlgorithmOid, signed.signatureAlgorithmOid);
  });

  it('replaces a MeasurementConsumer key by API key and by mTLS', async () => {
    for (const caller of [{ apiKey: mcApiKey }, as(mc)]) {
      const leaf = await registerLeaf(k, mc, caller);
      const { signed } = signedEncryptionPublicKey(leaf.privateKey);
      await update(caller).updatePublicKey({ publicKey: { name: keyName(mc), publicKey: signed, certificate: leaf.name } });
      const rendered = await k.client(MeasurementConsumers, as(dp)).getMeasurementConsumer({ name: mc.name });
      assert.equal(rendered.certificate, leaf.name);
      assert.deepEqual(rendered.publicKey?.message?.value, signed.message!.value);
    }
  });

  it('verifies the real CMMS edp1 key signed by the edp1 signing key, with the OID left empty as the upstream tool does', async () => {
    const edp1 = cmmsEdp1();
    const created = await k.admin.createDataProvider({
      registration: { rootCertificateDer: edp1.rootDer, certificateDer: edp1.certificateDer, publicKey: edp1.signedPublicKey },
    });
    const caller: Caller = { peer: { clientCertificate: parseCertificates(cmmsFile('edp1_tls.pem'))[0]!.der } };
    const signed = create(SignedMessageSchema, { ...edp1.signedPublicKey, signatureAlgorithmOid: '' });
    // Re-sign without an OID: the Kingdom falls back to the certificate's algorithm (ecdsa-with-SHA256).
    const resigned = signMessage(signed.message!, edp1.signingKey);
    resigned.signatureAlgorithmOid = '';
    const response = await k.client(PublicKeys, caller).updatePublicKey({
      publicKey: { name: `${created.name}/publicKey`, publicKey: resigned, certificate: created.certificate },
    });
    assert.equal(response.certificate, created.certificate);
    const rendered = await k.client(DataProviders, caller).getDataProvider({ name: created.name });
    assert.deepEqual(rendered.certificateDer, edp1.certificateDer);
    assert.equal(rendered.publicKey?.signatureAlgorithmOid, '');
    // The stored key is the EncryptionPublicKey holding edp1_enc_public.tink, byte for byte.
    const expected = toBinary(
      EncryptionPublicKeySchema,
      create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: edp1.publicKeysetBytes }),
    );
    assert.deepEqual(rendered.publicKey?.message?.value, expected);
  });

  it('is UNAUTHENTICATED without a principal and PERMISSION_DENIED for anyone but the parent', async () => {
    const { signed } = signedEncryptionPublicKey(dp.signing.privateKey);
    const request = { publicKey: { name: keyName(dp), publicKey: signed, certificate: dp.signing.name } };
    await rejectsWith(update('anonymous').updatePublicKey(request), Code.Unauthenticated, 'UNAUTHENTICATED');
    for (const caller of [as(dp2), as(mc), { apiKey: mcApiKey }, as(mp), as(duchy)]) {
      const e = await rejectsWith(update(caller).updatePublicKey(request), Code.PermissionDenied, 'PERMISSION_DENIED');
      assert.equal(e.rawMessage, `Permission UPDATE denied on resource ${keyName(dp)} (or it might not exist)`);
    }
  });

  it('refuses bad names, a certificate of another parent, and malformed keys with INVALID_ARGUMENT, changing nothing', async () => {
    const before = await k.auditLength();
    const { signed } = signedEncryptionPublicKey(dp.signing.privateKey);
    const call = (publicKey: Record<string, unknown>) =>
      update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey: signed, certificate: dp.signing.name, ...publicKey } });
    for (const name of ['', dp.name, `${mp.name}/publicKey`, `${duchy.name}/publicKey`, `${dp.name}/publicKeys`, `${dp.signing.name}`]) {
      await rejectsWith(call({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
    await rejectsWith(update(as(dp)).updatePublicKey({}), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    for (const certificate of ['', dp.name, `${dp.name}/certificates/nope`]) {
      await rejectsWith(call({ certificate }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
    const other = await rejectsWith(call({ certificate: dp2.signing.name }), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    assert.equal(other.rawMessage, 'Resource name does not have same parent as Certificate name');

    await rejectsWith(call({ publicKey: undefined }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    const legacy = create(SignedMessageSchema, { data: signed.message!.value, signature: signed.signature });
    await rejectsWith(call({ publicKey: legacy }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    const wrongType = create(SignedMessageSchema, {
      ...signed,
      message: create(AnySchema, { typeUrl: 'type.googleapis.com/wfa.measurement.api.v2alpha.SignedMessage', value: signed.message!.value }),
    });
    await rejectsWith(call({ publicKey: wrongType }), Code.InvalidArgument, 'TYPE_URL_MISMATCH');
    const garbage = create(SignedMessageSchema, {
      ...signed,
      message: create(AnySchema, { typeUrl: signed.message!.typeUrl, value: new Uint8Array([0xff, 0xff, 0xff]) }),
    });
    await rejectsWith(call({ publicKey: garbage }), Code.InvalidArgument, 'MESSAGE_MALFORMED');
    const unsigned = create(SignedMessageSchema, { ...signed, signature: new Uint8Array() });
    await rejectsWith(call({ publicKey: unsigned }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    assert.equal(await k.auditLength(), before);
  });

  it('strict: refuses a signature that does not verify with the named certificate', async () => {
    const leaf = await registerLeaf(k, dp);
    const before = await k.auditLength();
    const byOtherKey = signedEncryptionPublicKey(dp.signing.privateKey).signed;
    const tampered = signedEncryptionPublicKey(leaf.privateKey).signed;
    const value = new Uint8Array(tampered.message!.value);
    value[value.length - 1]! ^= 1;
    tampered.message!.value = value;
    const junkSignature = create(SignedMessageSchema, { ...signedEncryptionPublicKey(leaf.privateKey).signed, signature: new Uint8Array(randomBytes(72)) });
    const unknownOid = create(SignedMessageSchema, { ...signedEncryptionPublicKey(leaf.privateKey).signed, signatureAlgorithmOid: '1.2.3.4' });
    for (const publicKey of [byOtherKey, tampered, junkSignature, unknownOid]) {
      await rejectsWith(
        update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey, certificate: leaf.name } }),
        Code.InvalidArgument,
        'SIGNATURE_INVALID',
      );
    }
    assert.equal(await k.auditLength(), before);
  });

  it('strict: refuses a key that is not a usable public Tink keyset', async () => {
    const leaf = await registerLeaf(k, dp);
    const before = await k.auditLength();
    const sign = (format: EncryptionPublicKey_Format, data: Uint8Array): SignedMessage =>
      signMessage(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format, data }), leaf.privateKey);
    const privateKeyset = serializeKeyset(generateKeyset());
    for (const publicKey of [
      sign(EncryptionPublicKey_Format.FORMAT_UNSPECIFIED, serializeKeyset(generateKeyset())),
      sign(EncryptionPublicKey_Format.TINK_KEYSET, privateKeyset),
      sign(EncryptionPublicKey_Format.TINK_KEYSET, new Uint8Array(randomBytes(64))),
      sign(EncryptionPublicKey_Format.TINK_KEYSET, new Uint8Array()),
    ]) {
      await rejectsWith(
        update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey, certificate: leaf.name } }),
        Code.InvalidArgument,
        'ENCRYPTION_PUBLIC_KEY_INVALID',
      );
    }
    assert.equal(await k.auditLength(), before);
  });

  it('strict: refuses a certificate on hold, revoked, expired or not yet valid with FAILED_PRECONDITION', async () => {
    const held = await registerLeaf(k, dp);
    const revoked = await registerLeaf(k, dp);
    const certs = k.client(Certificates, as(dp));
    await certs.revokeCertificate({ name: held.name, revocationState: State.HOLD });
    await certs.revokeCertificate({ name: revoked.name, revocationState: State.REVOKED });
    const before = await k.auditLength();
    for (const leaf of [held, revoked]) {
      const { signed } = signedEncryptionPublicKey(leaf.privateKey);
      const e = await rejectsWith(
        update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey: signed, certificate: leaf.name } }),
        Code.FailedPrecondition,
        'CERTIFICATE_IS_INVALID',
      );
      assert.equal(e.rawMessage, 'Certificate is invalid.');
    }
    const fresh = await registerLeaf(k, dp);
    const { signed } = signedEncryptionPublicKey(fresh.privateKey);
    const request = { publicKey: { name: keyName(dp), publicKey: signed, certificate: fresh.name } };
    const start = k.clock.now();
    try {
      k.clock.set(new Date(fresh.certificate.notAfter.getTime() + 1000));
      await rejectsWith(update(as(dp)).updatePublicKey(request), Code.FailedPrecondition, 'CERTIFICATE_IS_INVALID');
      k.clock.set(new Date(fresh.certificate.notBefore.getTime() - DAY));
      await rejectsWith(update(as(dp)).updatePublicKey(request), Code.FailedPrecondition, 'CERTIFICATE_IS_INVALID');
    } finally {
      k.clock.set(start);
    }
    assert.equal(await k.auditLength(), before + 1, 'only the registration of the fresh certificate');
    await update(as(dp)).updatePublicKey(request);
  });

  it('is FAILED_PRECONDITION for a certificate not under the parent; a root mapped to a parent that does not exist authenticates nobody', async () => {
    const { signed } = signedEncryptionPublicKey(dp.signing.privateKey);
    const missing = `${dp.name}/certificates/AAAAAAAAAAE`;
    const e = await rejectsWith(
      update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey: signed, certificate: missing } }),
      Code.FailedPrecondition,
      'CERTIFICATE_NOT_FOUND',
    );
    assert.equal(e.rawMessage, 'Certificate not found.');
    // Another DataProvider's certificate id, named under this parent: not this parent's certificate.
    const foreignId = dp2.signing.name.split('/').pop();
    await rejectsWith(
      update(as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey: signed, certificate: `${dp.name}/certificates/${foreignId}` } }),
      Code.FailedPrecondition,
      'CERTIFICATE_NOT_FOUND',
    );
    const ghost = participantPki(k, 'ghost MC');
    const ghostName = 'measurementConsumers/AAAAAAAAAHs';
    await k.store.setAkidPrincipal({ actor: 'test', authorityKeyIdentifier: ghost.root.certificate.subjectKeyIdentifier!, principalResourceName: ghostName });
    k.services.resolver.invalidate();
    const caller = { peer: { clientCertificate: ghost.issue({ profile: 'tls-client' }).der } };
    await rejectsWith(
      update(caller).updatePublicKey({
        publicKey: { name: `${ghostName}/publicKey`, publicKey: signed, certificate: `${ghostName}/certificates/AAAAAAAAAAE` },
      }),
      Code.Unauthenticated,
      'UNAUTHENTICATED',
    );
  });
});

describe('PublicKeys.UpdatePublicKey (compatible mode)', () => {
  let k: TestKingdom;
  let dp: TestParty;

  before(async () => {
    k = await openTestKingdom({ mode: 'compatible' });
    dp = await createParty(k, 'DATA_PROVIDER');
  });
  after(async () => {
    await k?.close();
  });

  it('stores what upstream stores without verifying: a wrong signature, a revoked certificate, a private keyset', async () => {
    const leaf = await registerLeaf(k, dp);
    await k.client(Certificates, as(dp)).revokeCertificate({ name: leaf.name, revocationState: State.REVOKED });
    const privateKeyset = serializeKeyset(generateKeyset());
    const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: privateKeyset });
    const signed = create(SignedMessageSchema, {
      ...signMessage(EncryptionPublicKeySchema, message, dp.signing.privateKey),
      signature: new Uint8Array(randomBytes(70)),
    });
    await k.client(PublicKeys, as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey: signed, certificate: leaf.name } });
    const rendered = await k.client(DataProviders, as(dp)).getDataProvider({ name: dp.name });
    assert.equal(rendered.certificate, leaf.name);
    assert.deepEqual(rendered.publicKey?.signature, signed.signature);
    assert.deepEqual(rendered.publicKey?.message?.value, signed.message!.value);
  });

  it('still refuses the legacy data-only form, an empty signature and a certificate of another parent', async () => {
    const before = await k.auditLength();
    const { signed } = signedEncryptionPublicKey(dp.signing.privateKey);
    const call = (publicKey: SignedMessage, certificate = dp.signing.name) =>
      k.client(PublicKeys, as(dp)).updatePublicKey({ publicKey: { name: keyName(dp), publicKey, certificate } });
    await rejectsWith(call(create(SignedMessageSchema, { data: signed.message!.value, signature: signed.signature })), Code.InvalidArgument);
    await rejectsWith(call(create(SignedMessageSchema, { ...signed, signature: new Uint8Array() })), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(call(signed, `${dp.name}/certificates/AAAAAAAAAAE`), Code.FailedPrecondition, 'CERTIFICATE_NOT_FOUND');
    assert.equal(await k.auditLength(), before);
  });
});
