/**
 * halo.keys.v1.KingdomAdmin over an in-memory transport with a real PGlite
 * store (see fixtures.ts): participant creation with strict registration
 * checks, the AKID map and its effect on authentication, API keys, and the
 * admin credential (bearer token or the transport's `adminKey`), which no
 * public principal can stand in for.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { Code, createClient, type Interceptor } from '@connectrpc/connect';
import { KingdomAdmin } from '../../src/gen/halo/keys/v1/kingdom_admin_pb.js';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { DataProviders } from '../../src/gen/wfa/measurement/api/v2alpha/data_providers_service_pb.js';
import { MeasurementConsumers } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { HaloError } from '../../src/lib/errors.js';
import { issueIntermediate } from '../../src/pki/ca.js';
import { adminAuthenticationInterceptor, adminKey, adminTokenSha256 } from '../../src/kingdom/service/admin-authentication.js';
import { peerKey } from '../../src/kingdom/service/authentication.js';
import {
  ADMIN_TOKEN,
  as,
  cmmsEdp1,
  createParty,
  DAY,
  leafWithoutSkid,
  openTestKingdom,
  participantPki,
  rejectsWith,
  signedEncryptionPublicKey,
  type TestKingdom,
} from './fixtures.js';
import { cmmsFile } from './store-fixtures.js';
import { hex } from '../../src/lib/bytes.js';

/** A KingdomAdmin client whose calls carry these headers and context values. */
function adminClient(k: TestKingdom, options: { authorization?: string; adminKey?: boolean; clientCertificate?: Uint8Array }) {
  const context: Interceptor = (next) => async (req) => {
    if (options.adminKey !== undefined) req.contextValues.set(adminKey, options.adminKey);
    if (options.clientCertificate !== undefined) req.contextValues.set(peerKey, { clientCertificate: options.clientCertificate });
    return next(req);
  };
  const header: Interceptor = (next) => async (req) => {
    if (options.authorization !== undefined) req.header.set('authorization', options.authorization);
    return next(req);
  };
  return createClient(KingdomAdmin, k.kingdom.transport({ peer: [context], client: [header] }));
}

/** A registration made by our CA: root, first leaf, and a key signed by the leaf. */
function registration(k: TestKingdom, withKey = true) {
  const pki = participantPki(k, 'registration');
  const leaf = pki.issue();
  return {
    pki,
    leaf,
    registration: {
      rootCertificateDer: pki.root.der,
      certificateDer: leaf.der,
      displayName: 'Registered',
      ...(withKey ? { publicKey: signedEncryptionPublicKey(leaf.privateKey).signed } : {}),
    },
  };
}


describe('KingdomAdmin (strict mode)', () => {
  let k: TestKingdom;

  before(async () => {
    k = await openTestKingdom({ mode: 'strict' });
  });
  after(async () => {
    await k?.close();
  });

  it('creates each kind of participant, maps its root for mTLS and reports a trust change', async () => {
    const trustBefore = k.trustChanges();
    const r = registration(k);
    const dp = await k.admin.createDataProvider({ registration: r.registration });
    assert.match(dp.name, /^dataProviders\/[A-Za-z0-9_-]{11}$/);
    assert.equal(dp.displayName, 'Registered');
    assert.match(dp.certificate, new RegExp(`^${dp.name}/certificates/[A-Za-z0-9_-]{11}$`));
    assert.deepEqual(dp.certificateDer, r.leaf.der);
    assert.deepEqual(dp.publicKey?.message?.value, r.registration.publicKey!.message!.value);
    assert.equal(k.trustChanges(), trustBefore + 1);
    const map = await k.admin.listAkidPrincipals({});
    const entry = map.akidPrincipals.find((e) => e.principal === dp.name);
    assert.equal(hex(entry!.authorityKeyIdentifier), hex(r.pki.root.certificate.subjectKeyIdentifier!));

    // A client certificate under the new root authenticates as the DataProvider at once.
    const tls = r.pki.issue({ profile: 'tls-client' });
    const self = await k.client(DataProviders, { peer: { clientCertificate: tls.der } }).getDataProvider({ name: dp.name });
    assert.equal(self.name, dp.name);

    const m = registration(k);
    const mc = await k.admin.createMeasurementConsumer({ registration: m.registration });
    assert.match(mc.name, /^measurementConsumers\//);
    assert.deepEqual(mc.certificateDer, m.leaf.der);

    const p = registration(k, false);
    const mp = await k.admin.createModelProvider({ registration: p.registration });
    assert.match(mp.name, /^modelProviders\//);

    const d = registration(k, false);
    const duchy = await k.admin.createDuchy({ duchyId: 'worker9', registration: d.registration });
    assert.equal(duchy.name, 'duchies/worker9');
    assert.deepEqual(duchy.preferredCertificateDer, d.leaf.der);
    assert.match(duchy.preferredCertificate, /^duchies\/worker9\/certificates\//);
    // Duchies are found by root SKID, as upstream's DuchyCertConfig: no AKID map entry.
    const after = await k.admin.listAkidPrincipals({});
    assert.ok(after.akidPrincipals.some((e) => e.principal === mp.name));
    assert.ok(!after.akidPrincipals.some((e) => e.principal === duchy.name));
    const duchyTls = d.pki.issue({ profile: 'tls-client' });
    const own = await k.client(Certificates, { peer: { clientCertificate: duchyTls.der } }).getCertificate({ name: duchy.preferredCertificate });
    assert.deepEqual(own.x509Der, d.leaf.der);
    assert.equal(k.trustChanges(), trustBefore + 4);

    const audit = await k.store.exportAudit({ limit: 100_000 });
    assert.ok(audit.some((e) => e.action === 'CreateDuchy' && e.resource === 'duchies/worker9' && e.actor === 'kingdom-admin'));
    assert.ok(audit.some((e) => e.action === 'SetAkidPrincipal' && e.actor === 'kingdom-admin'));
  });

  it('registers the real CMMS edp1 PKI and key', async () => {
    const edp1 = cmmsEdp1();
    const dp = await k.admin.createDataProvider({
      registration: { rootCertificateDer: edp1.rootDer, certificateDer: edp1.certificateDer, publicKey: edp1.signedPublicKey },
    });
    assert.deepEqual(dp.certificateDer, edp1.certificateDer);
    // The same root again is refused: one root authenticates one party.
    const e = await rejectsWith(
      k.admin.createMeasurementConsumer({
        registration: { rootCertificateDer: edp1.rootDer, certificateDer: edp1.certificateDer, publicKey: edp1.signedPublicKey },
      }),
      Code.AlreadyExists,
      'ROOT_CERTIFICATE_ALREADY_REGISTERED',
    );
    assert.equal(e.findDetails(ErrorInfoSchema)[0]?.metadata.principal, dp.name);
    // edp1_result_cs_cert asserts keyCertSign without being a CA: strict mode refuses it.
    const odd = await rejectsWith(
      k.admin.createMeasurementConsumer({
        registration: { rootCertificateDer: edp1.rootDer, certificateDer: cmmsFile('edp1_result_cs_cert.der'), publicKey: edp1.signedPublicKey },
      }),
      Code.InvalidArgument,
      'CERTIFICATE_INVALID',
    );
    assert.equal(odd.findDetails(ErrorInfoSchema)[0]?.metadata.pkiError, 'KEY_USAGE_MISMATCH');
  });

  it('two registrations of one root at once: one party is created and mapped, the other refused, nothing half-made', async () => {
    const pki = participantPki(k, 'raced root');
    const attempt = () => {
      const leaf = pki.issue();
      return k.admin.createDataProvider({
        registration: { rootCertificateDer: pki.root.der, certificateDer: leaf.der, publicKey: signedEncryptionPublicKey(leaf.privateKey).signed },
      });
    };
    const auditBefore = await k.auditLength();
    const results = await Promise.allSettled([attempt(), attempt()]);
    const made = results.filter((r) => r.status === 'fulfilled');
    assert.equal(made.length, 1, 'exactly one registration wins');
    const refused = results.find((r) => r.status === 'rejected');
    assert.ok(refused && refused.reason instanceof Error);
    assert.match(String((refused.reason as { rawMessage?: string }).rawMessage), /already authenticates/);
    const mapped = (await k.admin.listAkidPrincipals({})).akidPrincipals.filter((e) => hex(e.authorityKeyIdentifier) === hex(pki.root.certificate.subjectKeyIdentifier!));
    assert.deepEqual(mapped.map((e) => e.principal), [made[0]!.value.name]);
    // The winner's party, certificate, key and mapping: four audit entries and no more.
    assert.equal((await k.auditLength()) - auditBefore, 4);
  });

  it('refuses bad registrations with INVALID_ARGUMENT and creates nothing', async () => {
    const before = await k.auditLength();
    const trust = k.trustChanges();
    const good = registration(k);
    const other = participantPki(k, 'other');
    const authority = { certificate: good.pki.root.certificate, privateKey: good.pki.root.privateKey };
    const intermediate = issueIntermediate(authority, { subject: '/O=Halo Test/CN=intermediate', clock: k.clock });
    const now = k.clock.now().getTime();
    const expired = good.pki.issue({ notBefore: new Date(now - 30 * DAY), notAfter: new Date(now - DAY) });
    const noSkidParty = { root: good.pki.root } as Parameters<typeof leafWithoutSkid>[1];
    const cases: [Record<string, unknown>, string][] = [
      [{ rootCertificateDer: new Uint8Array() }, 'REQUIRED_FIELD_NOT_SET'],
      [{ rootCertificateDer: new Uint8Array(randomBytes(500)) }, 'CERTIFICATE_MALFORMED'],
      [{ rootCertificateDer: leafWithoutSkid(k, noSkidParty) }, 'CERTIFICATE_SUBJECT_KEY_ID_MISSING'],
      [{ rootCertificateDer: good.leaf.der }, 'ROOT_CERTIFICATE_NOT_CA'],
      [{ rootCertificateDer: intermediate.der, certificateDer: good.pki.issue().der }, 'ROOT_CERTIFICATE_NOT_SELF_SIGNED'],
      [{ certificateDer: new Uint8Array() }, 'REQUIRED_FIELD_NOT_SET'],
      [{ certificateDer: new Uint8Array(randomBytes(10)) }, 'CERTIFICATE_MALFORMED'],
      [{ certificateDer: other.issue().der }, 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT'],
      [{ certificateDer: intermediate.der }, 'CERTIFICATE_IS_CA'],
      [{ certificateDer: expired.der }, 'CERTIFICATE_NOT_VALID_NOW'],
      [{ publicKey: undefined }, 'REQUIRED_FIELD_NOT_SET'],
      [{ publicKey: signedEncryptionPublicKey(other.issue().privateKey).signed }, 'SIGNATURE_INVALID'],
      [{ publicKey: create(SignedMessageSchema, { ...good.registration.publicKey!, signature: new Uint8Array() }) }, 'REQUIRED_FIELD_NOT_SET'],
    ];
    for (const [change, reason] of cases) {
      await rejectsWith(k.admin.createDataProvider({ registration: { ...good.registration, ...change } }), Code.InvalidArgument, reason);
    }
    await rejectsWith(k.admin.createDataProvider({}), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    const p = registration(k);
    await rejectsWith(k.admin.createModelProvider({ registration: p.registration }), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    for (const duchyId of ['', 'Worker1', '1worker', 'a'.repeat(64), 'worker_1']) {
      await rejectsWith(k.admin.createDuchy({ duchyId, registration: registration(k, false).registration }), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
    }
    assert.equal(await k.auditLength(), before);
    assert.equal(k.trustChanges(), trust);
  });

  it('refuses a duplicate Duchy id and a first certificate whose SKID exists with ALREADY_EXISTS', async () => {
    await k.admin.createDuchy({ duchyId: 'worker7', registration: registration(k, false).registration });
    await rejectsWith(k.admin.createDuchy({ duchyId: 'worker7', registration: registration(k, false).registration }), Code.AlreadyExists, 'DUCHY_ALREADY_EXISTS');
    const taken = registration(k);
    await k.admin.createDataProvider({ registration: taken.registration });
    const again = registration(k);
    await rejectsWith(
      k.admin.createDataProvider({ registration: { ...again.registration, certificateDer: again.pki.root.der } }),
      Code.InvalidArgument,
      'CERTIFICATE_IS_CA',
    );
    // The first DataProvider's leaf key, certified again under a new root.
    const twin = again.pki.issue();
    const twinReg = { ...again.registration, certificateDer: taken.leaf.der };
    await rejectsWith(k.admin.createDataProvider({ registration: twinReg }), Code.InvalidArgument, 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT');
    assert.ok(twin.der.length > 0);
  });

  it('maps, lists and removes AKIDs; a mapped operator root authenticates at once, an unregistered one never', async () => {
    const extra = participantPki(k, 'second root of the DataProvider');
    const akid = extra.root.certificate.subjectKeyIdentifier!;
    const tls = extra.issue({ profile: 'tls-client' });
    const caller = { peer: { clientCertificate: tls.der } };
    // The same root as an operator root (--trusted-roots) of a second Kingdom.
    const withOperatorRoot = await openTestKingdom({ operatorRoots: [extra.root.der] });
    try {
      for (const kingdom of [k, withOperatorRoot]) {
        const dp = await createParty(kingdom, 'DATA_PROVIDER');
        await rejectsWith(kingdom.client(DataProviders, caller).getDataProvider({ name: dp.name }), Code.Unauthenticated, 'UNAUTHENTICATED');

        const set = await kingdom.admin.setAkidPrincipal({ akidPrincipal: { authorityKeyIdentifier: akid, principal: dp.name } });
        assert.equal(set.principal, dp.name);
        assert.equal(hex(set.authorityKeyIdentifier), hex(akid));
        const listed = await kingdom.admin.listAkidPrincipals({});
        assert.ok(listed.akidPrincipals.some((e) => e.principal === dp.name && hex(e.authorityKeyIdentifier) === hex(akid)));
        const call = kingdom.client(DataProviders, caller).getDataProvider({ name: dp.name });
        if (kingdom === withOperatorRoot) assert.equal((await call).name, dp.name);
        // A mapping names a principal; only a root the Kingdom trusts for it can anchor the chain.
        else await rejectsWith(call, Code.Unauthenticated, 'UNAUTHENTICATED');

        const removed = await kingdom.admin.removeAkidPrincipal({ authorityKeyIdentifier: akid });
        assert.equal(removed.principal, dp.name);
        await rejectsWith(kingdom.client(DataProviders, caller).getDataProvider({ name: dp.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
        await rejectsWith(kingdom.admin.removeAkidPrincipal({ authorityKeyIdentifier: akid }), Code.NotFound, 'AKID_PRINCIPAL_NOT_FOUND');
      }
    } finally {
      await withOperatorRoot.close();
    }
  });

  it('refuses AKID mappings that are empty, name no principal or name a party that does not exist', async () => {
    const before = await k.auditLength();
    const akid = new Uint8Array(randomBytes(20));
    await rejectsWith(k.admin.setAkidPrincipal({}), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    await rejectsWith(k.admin.setAkidPrincipal({ akidPrincipal: { principal: 'dataProviders/AAAAAAAAAAE' } }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    for (const principal of ['', 'accounts/AAAAAAAAAAE', 'dataProviders/x', 'dataProviders/AAAAAAAAAAE/certificates/AAAAAAAAAAE']) {
      await rejectsWith(k.admin.setAkidPrincipal({ akidPrincipal: { authorityKeyIdentifier: akid, principal } }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
    await rejectsWith(
      k.admin.setAkidPrincipal({ akidPrincipal: { authorityKeyIdentifier: akid, principal: 'dataProviders/AAAAAAAAAAE' } }),
      Code.NotFound,
      'DATA_PROVIDER_NOT_FOUND',
    );
    await rejectsWith(k.admin.removeAkidPrincipal({}), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
    assert.equal(await k.auditLength(), before);
  });

  it('issues API keys that authenticate as the MeasurementConsumer; the key is shown once', async () => {
    const mc = await createParty(k, 'MEASUREMENT_CONSUMER');
    const key = await k.admin.createApiKey({ measurementConsumer: mc.name, nickname: 'reporting', description: 'nightly' });
    assert.match(key.name, new RegExp(`^${mc.name}/apiKeys/[A-Za-z0-9_-]{11}$`));
    assert.equal(key.nickname, 'reporting');
    assert.equal(key.description, 'nightly');
    assert.match(key.authenticationKey, /^[A-Za-z0-9_-]{11}$/);
    const self = await k.client(MeasurementConsumers, { apiKey: key.authenticationKey }).getMeasurementConsumer({ name: mc.name });
    assert.equal(self.name, mc.name);
    const audit = JSON.stringify(await k.store.exportAudit({ limit: 100_000 }), (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    assert.ok(!audit.includes(key.authenticationKey), 'the audit log never holds the key');
    await rejectsWith(k.admin.createApiKey({ measurementConsumer: 'measurementConsumers/AAAAAAAAAAE' }), Code.NotFound, 'MEASUREMENT_CONSUMER_NOT_FOUND');
    for (const measurementConsumer of ['', 'dataProviders/AAAAAAAAAAE', 'measurementConsumers/x']) {
      await rejectsWith(k.admin.createApiKey({ measurementConsumer }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
    }
  });

  it('is UNAUTHENTICATED without the admin credential, whatever public principal calls', async () => {
    const dp = await createParty(k, 'DATA_PROVIDER');
    const mc = await createParty(k, 'MEASUREMENT_CONSUMER');
    const apiKey = (await k.admin.createApiKey({ measurementConsumer: mc.name })).authenticationKey;
    const before = await k.auditLength();
    const callers = [
      k.client(KingdomAdmin, 'anonymous'),
      k.client(KingdomAdmin, as(dp)),
      k.client(KingdomAdmin, { apiKey }),
      adminClient(k, { authorization: 'Bearer wrong-token' }),
      adminClient(k, { authorization: `Bearer ${ADMIN_TOKEN}x` }),
      adminClient(k, { authorization: `Basic ${ADMIN_TOKEN}` }),
      adminClient(k, { authorization: `Bearer  ${ADMIN_TOKEN}` }),
      adminClient(k, { authorization: 'Bearer' }),
      // A valid transport credential does not excuse a wrong token.
      adminClient(k, { authorization: 'Bearer wrong-token', adminKey: true }),
    ];
    for (const client of callers) {
      await rejectsWith(client.listAkidPrincipals({}), Code.Unauthenticated, 'UNAUTHENTICATED');
      await rejectsWith(client.createDataProvider({ registration: registration(k).registration }), Code.Unauthenticated, 'UNAUTHENTICATED');
      await rejectsWith(client.createApiKey({ measurementConsumer: mc.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    }
    assert.equal(await k.auditLength(), before);
  });

  it('accepts the transport\'s admin credential (Kingdom-CA client certificate) without a token', async () => {
    const viaTransport = adminClient(k, { adminKey: true });
    assert.ok((await viaTransport.listAkidPrincipals({})).akidPrincipals.length > 0);
    const viaToken = adminClient(k, { authorization: `Bearer ${ADMIN_TOKEN}` });
    assert.ok((await viaToken.listAkidPrincipals({})).akidPrincipals.length > 0);
  });

  it('leaves other services alone: an authorization header means nothing to them', async () => {
    const dp = await createParty(k, 'DATA_PROVIDER');
    const transport = k.kingdom.transport({
      peer: [
        (next) => async (req) => {
          req.contextValues.set(peerKey, { clientCertificate: dp.tlsCertificate });
          return next(req);
        },
      ],
      client: [
        (next) => async (req) => {
          req.header.set('authorization', 'Bearer not-the-admin-token');
          return next(req);
        },
      ],
    });
    const got = await createClient(DataProviders, transport).getDataProvider({ name: dp.name });
    assert.equal(got.name, dp.name);
  });

  it('refuses a token hash that is not a SHA-256 digest', () => {
    for (const tokenSha256 of ['', 'abc', 'z'.repeat(64), new Uint8Array(31), `${adminTokenSha256('x')}00`]) {
      assert.throws(() => adminAuthenticationInterceptor({ tokenSha256 }), (err) => err instanceof HaloError && err.code === 'ADMIN_TOKEN_HASH_INVALID');
    }
    assert.equal(typeof adminAuthenticationInterceptor({ tokenSha256: new Uint8Array(32) }), 'function');
  });
});

describe('KingdomAdmin (compatible mode)', () => {
  let k: TestKingdom;

  before(async () => {
    k = await openTestKingdom({ mode: 'compatible' });
  });
  after(async () => {
    await k?.close();
  });

  it('skips the strict checks: a leaf of another root, a CA root that is a leaf, an unverified signature', async () => {
    const r = registration(k);
    const stranger = participantPki(k, 'stranger');
    const junk = create(SignedMessageSchema, { ...r.registration.publicKey!, signature: new Uint8Array(randomBytes(64)) });
    const dp = await k.admin.createDataProvider({
      registration: { rootCertificateDer: stranger.issue().der, certificateDer: r.leaf.der, publicKey: junk },
    });
    assert.deepEqual(dp.certificateDer, r.leaf.der);
    assert.deepEqual(dp.publicKey?.signature, junk.signature);
  });

  it('still requires parsable certificates with SKIDs and a signed EncryptionPublicKey', async () => {
    const r = registration(k);
    await rejectsWith(k.admin.createDataProvider({ registration: { ...r.registration, rootCertificateDer: new Uint8Array(randomBytes(99)) } }), Code.InvalidArgument, 'CERTIFICATE_MALFORMED');
    await rejectsWith(k.admin.createDataProvider({ registration: { ...r.registration, publicKey: undefined } }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
  });
});
