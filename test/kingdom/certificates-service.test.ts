/**
 * The Certificates service over an in-memory transport (see fixtures.ts)
 * with a real PGlite store: every success path and every error path of
 * cmms-reference §2.2-§2.6 and §2.10, strict against compatible mode, and
 * garbage input answered with INVALID_ARGUMENT and no change of state.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, type Client } from '@connectrpc/connect';
import { formatResourceName, parseCertificateName } from '../../src/api/index.js';
import { ErrorInfoSchema } from '../../src/gen/google/rpc/error_details_pb.js';
import { Certificate_RevocationState as State } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { SignedMessageSchema } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { issueIntermediate, issueLeaf } from '../../src/pki/ca.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { toPartyKey } from '../../src/kingdom/service/principal.js';
import {
  as,
  type Caller,
  cmmsEdp1,
  createParty,
  DAY,
  leafWithoutSkid,
  openTestKingdom,
  participantPki,
  rejectsWith,
  type TestKingdom,
  type TestParty,
} from './fixtures.js';
import { cmmsFile } from './store-fixtures.js';

const nameOf = (c: { name: string }) => c.name;

describe('Certificates service (strict mode)', () => {
  let k: TestKingdom;
  let dp: TestParty;
  let dp2: TestParty;
  let mc: TestParty;
  let mp: TestParty;
  let duchy: TestParty;
  let certs: (caller: Caller) => Client<typeof Certificates>;

  before(async () => {
    k = await openTestKingdom({ mode: 'strict' });
    certs = (caller) => k.client(Certificates, caller);
    dp = await createParty(k, 'DATA_PROVIDER');
    dp2 = await createParty(k, 'DATA_PROVIDER');
    mc = await createParty(k, 'MEASUREMENT_CONSUMER');
    mp = await createParty(k, 'MODEL_PROVIDER');
    duchy = await createParty(k, 'DUCHY', { duchyId: 'worker1' });
  });
  after(async () => {
    await k?.close();
  });

  describe('CreateCertificate', () => {
    it('registers a leaf of the caller, stores the DER verbatim and writes one audit entry', async () => {
      const leaf = dp.issueLeaf();
      const before = await k.auditLength();
      const created = await certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: leaf.der } });
      assert.equal(await k.auditLength(), before + 1);
      const key = parseCertificateName(created.name);
      assert.ok(key, created.name);
      assert.equal(formatResourceName(key.parent), dp.name);
      assert.deepEqual(created.x509Der, leaf.der);
      assert.deepEqual(created.subjectKeyIdentifier, leaf.certificate.subjectKeyIdentifier);
      assert.equal(created.revocationState, State.REVOCATION_STATE_UNSPECIFIED);
      const got = await certs(as(dp)).getCertificate({ name: created.name });
      assert.deepEqual(got, created);
      const audit = await k.store.exportAudit({ limit: 100_000 });
      const last = audit[audit.length - 1];
      assert.equal(last?.action, 'CreateCertificate');
      assert.equal(last?.actor, dp.name);
      assert.equal(last?.resource, created.name);
    });

    it('lets every owner type register under itself: MC by API key and by mTLS, MP, Duchy', async () => {
      const { authenticationKey } = await k.admin.createApiKey({ measurementConsumer: mc.name, nickname: 'ci' });
      for (const [party, caller] of [
        [mc, { apiKey: authenticationKey }],
        [mc, as(mc)],
        [mp, as(mp)],
        [duchy, as(duchy)],
      ] as const) {
        const leaf = party.issueLeaf();
        const created = await certs(caller).createCertificate({ parent: party.name, certificate: { x509Der: leaf.der } });
        assert.ok(created.name.startsWith(`${party.name}/certificates/`), created.name);
        assert.deepEqual(created.x509Der, leaf.der);
      }
    });

    it('is UNAUTHENTICATED without a principal, with an unmapped client certificate or a bad API key', async () => {
      const leaf = dp.issueLeaf();
      const request = { parent: dp.name, certificate: { x509Der: leaf.der } };
      const e = await rejectsWith(certs('anonymous').createCertificate(request), Code.Unauthenticated, 'UNAUTHENTICATED');
      assert.equal(e.rawMessage, 'No MeasurementPrincipal found');
      const stranger = participantPki(k, 'unregistered');
      const strangerTls = stranger.issue({ profile: 'tls-client' });
      await rejectsWith(
        certs({ peer: { clientCertificate: strangerTls.der } }).createCertificate(request),
        Code.Unauthenticated,
        'UNAUTHENTICATED',
      );
      const bad = await rejectsWith(certs({ apiKey: 'AAAAAAAAAAE' }).createCertificate(request), Code.Unauthenticated, 'UNAUTHENTICATED');
      assert.equal(bad.rawMessage, 'API key is unauthenticated');
      await rejectsWith(certs({ apiKey: 'not an api key' }).createCertificate(request), Code.Unauthenticated, 'UNAUTHENTICATED');
    });

    it('is PERMISSION_DENIED for anyone but the parent, in upstream wording', async () => {
      const leaf = dp.issueLeaf();
      for (const caller of [dp2, mc, mp, duchy]) {
        const e = await rejectsWith(
          certs(as(caller)).createCertificate({ parent: dp.name, certificate: { x509Der: leaf.der } }),
          Code.PermissionDenied,
          'PERMISSION_DENIED',
        );
        assert.equal(e.rawMessage, `Permission CREATE denied on resource ${dp.name}/certificates (or it might not exist)`);
      }
    });

    it('refuses malformed parents, empty or garbage DER and a missing SKID with INVALID_ARGUMENT and no state change', async () => {
      const before = await k.auditLength();
      const leaf = dp.issueLeaf();
      for (const parent of ['', 'dataProviders', 'dataProviders/xyz', `${dp.name}/certificates`, 'accounts/AAAAAAAAAAE', 'duchies/Worker1']) {
        const e = await rejectsWith(
          certs(as(dp)).createCertificate({ parent, certificate: { x509Der: leaf.der } }),
          Code.InvalidArgument,
          'INVALID_RESOURCE_NAME',
        );
        assert.equal(e.rawMessage, 'Parent unspecified or invalid');
      }
      const empty = await rejectsWith(
        certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: new Uint8Array() } }),
        Code.InvalidArgument,
        'REQUIRED_FIELD_NOT_SET',
      );
      assert.equal(empty.rawMessage, 'certificate_der is not specified');
      await rejectsWith(certs(as(dp)).createCertificate({ parent: dp.name }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      for (const garbage of [randomBytes(1), randomBytes(64), randomBytes(2048), leaf.der.subarray(0, leaf.der.length - 1), Buffer.concat([leaf.der, Buffer.from([0])])]) {
        const e = await rejectsWith(
          certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: new Uint8Array(garbage) } }),
          Code.InvalidArgument,
          'CERTIFICATE_MALFORMED',
        );
        assert.equal(e.rawMessage, 'Cannot parse certificate_der');
      }
      const noSkid = await rejectsWith(
        certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: leafWithoutSkid(k, dp) } }),
        Code.InvalidArgument,
        'CERTIFICATE_SUBJECT_KEY_ID_MISSING',
      );
      assert.equal(noSkid.rawMessage, 'Cannot find Subject Key Identifier of certificate_der');
      assert.equal(await k.auditLength(), before);
    });

    it('keeps SKIDs globally unique: ALREADY_EXISTS under the same or another parent', async () => {
      const leaf = dp.issueLeaf();
      await certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: leaf.der } });
      const before = await k.auditLength();
      await rejectsWith(
        certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: leaf.der } }),
        Code.AlreadyExists,
        'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
      );
      // The same key certified by another party's root: a different certificate with the same SKID.
      const twin = issueLeaf(
        { certificate: dp2.root.certificate, privateKey: dp2.root.privateKey },
        { profile: 'signing', subject: '/O=Halo Test/CN=twin', publicKey: leaf.privateKey, clock: k.clock },
      );
      assert.deepEqual(twin.certificate.subjectKeyIdentifier, leaf.certificate.subjectKeyIdentifier);
      await rejectsWith(
        certs(as(dp2)).createCertificate({ parent: dp2.name, certificate: { x509Der: twin.der } }),
        Code.AlreadyExists,
        'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
      );
      assert.equal(await k.auditLength(), before);
    });

    it('strict: refuses a CA, a certificate outside its validity and one not issued under the parent root', async () => {
      const before = await k.auditLength();
      const authority = { certificate: dp.root.certificate, privateKey: dp.root.privateKey };
      const intermediate = issueIntermediate(authority, { subject: '/O=Halo Test/CN=sub CA', clock: k.clock });
      const now = k.clock.now().getTime();
      const expired = dp.issueLeaf({ notBefore: new Date(now - 40 * DAY), notAfter: new Date(now - DAY) });
      const future = dp.issueLeaf({ notBefore: new Date(now + DAY), notAfter: new Date(now + 40 * DAY) });
      const foreign = dp2.issueLeaf();
      const cases: [Uint8Array, string][] = [
        [intermediate.der, 'CERTIFICATE_IS_CA'],
        [dp.root.der, 'CERTIFICATE_IS_CA'],
        [expired.der, 'CERTIFICATE_NOT_VALID_NOW'],
        [future.der, 'CERTIFICATE_NOT_VALID_NOW'],
        [foreign.der, 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT'],
        [cmmsFile('edp1_cs_cert.der'), 'CERTIFICATE_NOT_ISSUED_BY_PARENT_ROOT'],
      ];
      for (const [der, reason] of cases) {
        await rejectsWith(certs(as(dp)).createCertificate({ parent: dp.name, certificate: { x509Der: der } }), Code.InvalidArgument, reason);
      }
      assert.equal(await k.auditLength(), before);
    });

    it('authenticates nobody as a parent that does not exist: it has no registered root to anchor the chain', async () => {
      // A root mapped (by the operator) to a DataProvider that was never created.
      const ghost = participantPki(k, 'ghost');
      const ghostName = 'dataProviders/AAAAAAAAAHs';
      await k.store.setAkidPrincipal({
        actor: 'test',
        authorityKeyIdentifier: ghost.root.certificate.subjectKeyIdentifier!,
        principalResourceName: ghostName,
      });
      k.services.resolver.invalidate();
      const caller = { peer: { clientCertificate: ghost.issue({ profile: 'tls-client' }).der } };
      const before = await k.auditLength();
      await rejectsWith(certs(caller).createCertificate({ parent: ghostName, certificate: { x509Der: ghost.issue().der } }), Code.Unauthenticated, 'UNAUTHENTICATED');
      await rejectsWith(certs(caller).listCertificates({ parent: ghostName }), Code.Unauthenticated, 'UNAUTHENTICATED');
      assert.equal(await k.auditLength(), before);
    });

    it('takes the real CMMS edp1 certificate under the edp1 root, byte for byte', async () => {
      const edp1 = cmmsEdp1();
      const created = await k.admin.createDataProvider({
        registration: { rootCertificateDer: edp1.rootDer, certificateDer: edp1.certificateDer, publicKey: edp1.signedPublicKey },
      });
      const caller = { peer: { clientCertificate: parseCertificates(cmmsFile('edp1_tls.pem'))[0]!.der } };
      const got = await certs(caller).getCertificate({ name: created.certificate });
      assert.deepEqual(got.x509Der, edp1.certificateDer);
      assert.equal(Buffer.from(got.subjectKeyIdentifier).toString('hex'), 'eebb58ee594e7175b1b2e0198fd3e094a3945926');
    });
  });

  describe('GetCertificate', () => {
    it('returns name, DER, state and SKID to the owner', async () => {
      const got = await certs(as(dp)).getCertificate({ name: dp.signing.name });
      assert.equal(got.name, dp.signing.name);
      assert.deepEqual(got.x509Der, dp.signing.der);
      assert.deepEqual(got.subjectKeyIdentifier, dp.signing.certificate.subjectKeyIdentifier);
      assert.equal(got.revocationState, State.REVOCATION_STATE_UNSPECIFIED);
    });

    it('is NOT_FOUND (not UNKNOWN) for a certificate that does not exist, also under another Duchy', async () => {
      const missing = `${dp.name}/certificates/AAAAAAAAAAE`;
      const e = await rejectsWith(certs(as(dp)).getCertificate({ name: missing }), Code.NotFound, 'CERTIFICATE_NOT_FOUND');
      assert.equal(e.rawMessage, 'Certificate not found.');
      await rejectsWith(certs(as(dp)).getCertificate({ name: 'duchies/nowhere/certificates/AAAAAAAAAAE' }), Code.NotFound, 'CERTIFICATE_NOT_FOUND');
      // A certificate id of another parent is not found under this one.
      const otherId = dp2.signing.name.split('/').pop();
      await rejectsWith(certs(as(dp)).getCertificate({ name: `${dp.name}/certificates/${otherId}` }), Code.NotFound, 'CERTIFICATE_NOT_FOUND');
    });

    it('is INVALID_ARGUMENT for names that are not certificate names', async () => {
      for (const name of ['', dp.name, `${dp.name}/certificates/`, `${dp.name}/certificates/short`, `${dp.name}/certificates/AAAAAAAAAAA`, `${dp.name}/publicKey`, 'preferred', `${dp.name}/certificates/preferred`]) {
        const e = await rejectsWith(certs(as(dp)).getCertificate({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
        assert.equal(e.rawMessage, 'Resource name unspecified or invalid');
      }
    });

    it('is UNAUTHENTICATED without a principal', async () => {
      await rejectsWith(certs('anonymous').getCertificate({ name: dp.signing.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
    });

    it('is PERMISSION_DENIED for another DataProvider on a DP certificate, with upstream wording', async () => {
      const e = await rejectsWith(certs(as(dp2)).getCertificate({ name: dp.signing.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
      assert.equal(e.rawMessage, `Permission GET denied on resource ${dp.signing.name} (or it might not exist)`);
    });
  });

  describe('ListCertificates', () => {
    let owner: TestParty;
    const issued: { name: string; notBefore: Date; skid: string }[] = [];

    before(async () => {
      owner = await createParty(k, 'DATA_PROVIDER');
      const first = await certs(as(owner)).getCertificate({ name: owner.signing.name });
      issued.push({ name: first.name, notBefore: owner.signing.certificate.notBefore, skid: Buffer.from(first.subjectKeyIdentifier).toString('hex') });
      const now = k.clock.now().getTime();
      for (let i = 1; i <= 5; i++) {
        const leaf = owner.issueLeaf({ notBefore: new Date(now - i * DAY), notAfter: new Date(now + 100 * DAY) });
        const c = await certs(as(owner)).createCertificate({ parent: owner.name, certificate: { x509Der: leaf.der } });
        issued.push({ name: c.name, notBefore: leaf.certificate.notBefore, skid: Buffer.from(c.subjectKeyIdentifier).toString('hex') });
      }
    });

    async function listAll(caller: Caller, request: { parent: string; pageSize?: number; filter?: { subjectKeyIdentifiers: Uint8Array[] } }) {
      const names: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const r = await certs(caller).listCertificates({ ...request, pageToken });
        names.push(...r.certificates.map(nameOf));
        pageToken = r.nextPageToken;
        pages++;
      } while (pageToken !== '' && pages < 100);
      return { names, pages };
    }

    it('lists only the parent\'s certificates, newest notBefore first, across pages', async () => {
      const all = await certs(as(owner)).listCertificates({ parent: owner.name });
      assert.equal(all.nextPageToken, '');
      const expected = [...issued].sort((a, b) => b.notBefore.getTime() - a.notBefore.getTime()).map((c) => c.name);
      assert.deepEqual(all.certificates.map(nameOf), expected);
      const paged = await listAll(as(owner), { parent: owner.name, pageSize: 2 });
      assert.deepEqual(paged.names, expected);
      assert.equal(paged.pages, 3);
      // Other DataProviders' certificates never appear (upstream lists all owners of the type).
      const other = await certs(as(dp2)).listCertificates({ parent: dp2.name });
      assert.ok(other.certificates.every((c) => c.name.startsWith(`${dp2.name}/`)));
      assert.ok(!other.certificates.some((c) => expected.includes(c.name)));
    });

    it('filters by SKID on every page', async () => {
      const wanted = [issued[1]!, issued[4]!];
      const filter = { subjectKeyIdentifiers: wanted.map((c) => new Uint8Array(Buffer.from(c.skid, 'hex'))) };
      const paged = await listAll(as(owner), { parent: owner.name, pageSize: 1, filter });
      assert.deepEqual(new Set(paged.names), new Set(wanted.map((c) => c.name)));
      assert.equal(paged.names.length, 2);
      const none = await certs(as(owner)).listCertificates({ parent: owner.name, filter: { subjectKeyIdentifiers: [new Uint8Array(randomBytes(20))] } });
      assert.equal(none.certificates.length, 0);
    });

    it('refuses a page token used with other arguments, and tokens it never issued', async () => {
      const first = await certs(as(owner)).listCertificates({ parent: owner.name, pageSize: 2 });
      assert.notEqual(first.nextPageToken, '');
      const filter = { subjectKeyIdentifiers: [new Uint8Array(Buffer.from(issued[0]!.skid, 'hex'))] };
      const e = await rejectsWith(
        certs(as(owner)).listCertificates({ parent: owner.name, pageSize: 2, pageToken: first.nextPageToken, filter }),
        Code.InvalidArgument,
        'PAGE_TOKEN_MISMATCH',
      );
      assert.match(e.rawMessage, /Arguments other than page_size must remain the same/);
      // Another parent with the same token: the caller owns it too, so only the token is wrong.
      await rejectsWith(
        certs(as(dp)).listCertificates({ parent: dp.name, pageToken: first.nextPageToken }),
        Code.InvalidArgument,
        'PAGE_TOKEN_MISMATCH',
      );
      // A different page size is allowed.
      const next = await certs(as(owner)).listCertificates({ parent: owner.name, pageSize: 3, pageToken: first.nextPageToken });
      assert.equal(next.certificates.length, 3);
      for (const token of ['garbage!', Buffer.from(randomBytes(40)).toString('base64url'), 'AAAA', `${first.nextPageToken}A`]) {
        await rejectsWith(certs(as(owner)).listCertificates({ parent: owner.name, pageToken: token }), Code.InvalidArgument);
      }
    });

    it('checks page_size first, then the parent, then the caller', async () => {
      const negative = await rejectsWith(certs('anonymous').listCertificates({ parent: 'junk', pageSize: -1 }), Code.InvalidArgument, 'INVALID_PAGE_SIZE');
      assert.match(negative.rawMessage, /page_size/);
      await rejectsWith(certs('anonymous').listCertificates({ parent: 'junk' }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
      await rejectsWith(certs('anonymous').listCertificates({ parent: owner.name }), Code.Unauthenticated, 'UNAUTHENTICATED');
      for (const caller of [dp, mc, mp, duchy]) {
        const e = await rejectsWith(certs(as(caller)).listCertificates({ parent: owner.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
        assert.equal(e.rawMessage, `Permission LIST denied on resource ${owner.name}/certificates (or it might not exist)`);
      }
    });

    it('takes page_size 0 as 50 and caps large sizes', async () => {
      const r0 = await certs(as(owner)).listCertificates({ parent: owner.name, pageSize: 0 });
      assert.equal(r0.certificates.length, issued.length);
      const big = await certs(as(owner)).listCertificates({ parent: owner.name, pageSize: 2_000_000_000 });
      assert.equal(big.certificates.length, issued.length);
    });
  });

  describe('RevokeCertificate and ReleaseCertificateHold', () => {
    async function freshCertificate(party: TestParty): Promise<string> {
      const c = await certs(as(party)).createCertificate({ parent: party.name, certificate: { x509Der: party.issueLeaf().der } });
      return c.name;
    }

    it('follows the §2.5 state machine, each step audited', async () => {
      const name = await freshCertificate(dp);
      const revoke = (revocationState: State) => certs(as(dp)).revokeCertificate({ name, revocationState });
      let before = await k.auditLength();
      assert.equal((await revoke(State.HOLD)).revocationState, State.HOLD);
      assert.equal((await revoke(State.HOLD)).revocationState, State.HOLD, 'HOLD → HOLD is allowed');
      assert.equal((await certs(as(dp)).releaseCertificateHold({ name })).revocationState, State.REVOCATION_STATE_UNSPECIFIED);
      assert.equal((await revoke(State.HOLD)).revocationState, State.HOLD);
      assert.equal((await revoke(State.REVOKED)).revocationState, State.REVOKED, 'HOLD → REVOKED');
      assert.equal((await revoke(State.REVOKED)).revocationState, State.REVOKED, 'REVOKED → REVOKED is allowed');
      assert.equal(await k.auditLength(), before + 6);
      before = await k.auditLength();
      const e = await rejectsWith(revoke(State.HOLD), Code.FailedPrecondition, 'CERTIFICATE_REVOCATION_STATE_ILLEGAL');
      assert.equal(e.rawMessage, 'Certificate is in wrong State.');
      const info = e.findDetails(ErrorInfoSchema)[0]!;
      assert.equal(info.metadata.certificationRevocationState, 'REVOKED');
      assert.equal(info.metadata.externalCertificateId, name.split('/').pop());
      await rejectsWith(certs(as(dp)).releaseCertificateHold({ name }), Code.FailedPrecondition, 'CERTIFICATE_REVOCATION_STATE_ILLEGAL');
      const got = await certs(as(dp)).getCertificate({ name });
      assert.equal(got.revocationState, State.REVOKED);
      assert.equal(await k.auditLength(), before);

      const direct = await freshCertificate(dp);
      assert.equal((await certs(as(dp)).revokeCertificate({ name: direct, revocationState: State.REVOKED })).revocationState, State.REVOKED);
      const valid = await freshCertificate(dp);
      await rejectsWith(certs(as(dp)).releaseCertificateHold({ name: valid }), Code.FailedPrecondition, 'CERTIFICATE_REVOCATION_STATE_ILLEGAL');
    });

    it('refuses an unspecified or unknown state with INVALID_ARGUMENT, after the permission check', async () => {
      const name = await freshCertificate(dp);
      const before = await k.auditLength();
      const e = await rejectsWith(
        certs(as(dp)).revokeCertificate({ name, revocationState: State.REVOCATION_STATE_UNSPECIFIED }),
        Code.InvalidArgument,
        'REQUIRED_FIELD_NOT_SET',
      );
      assert.equal(e.rawMessage, 'Revocation State unspecified');
      await rejectsWith(certs(as(dp)).revokeCertificate({ name, revocationState: 7 as State }), Code.InvalidArgument, 'INVALID_FIELD_VALUE');
      // A stranger asking for an unspecified state learns only that it may not revoke.
      const denied = await rejectsWith(
        certs(as(dp2)).revokeCertificate({ name, revocationState: State.REVOCATION_STATE_UNSPECIFIED }),
        Code.PermissionDenied,
        'PERMISSION_DENIED',
      );
      assert.equal(denied.rawMessage, `Permission REVOKE denied on resource ${name} (or it might not exist)`);
      assert.equal(await k.auditLength(), before);
    });

    it('lets only the owner revoke or release, for every owner type', async () => {
      for (const owner of [dp, mc, mp, duchy]) {
        const name = await freshCertificate(owner);
        for (const caller of [dp, dp2, mc, mp, duchy].filter((c) => c !== owner)) {
          await rejectsWith(certs(as(caller)).revokeCertificate({ name, revocationState: State.HOLD }), Code.PermissionDenied, 'PERMISSION_DENIED');
          const e = await rejectsWith(certs(as(caller)).releaseCertificateHold({ name }), Code.PermissionDenied, 'PERMISSION_DENIED');
          assert.equal(e.rawMessage, `Permission RELEASE_HOLD denied on resource ${name} (or it might not exist)`);
        }
        await rejectsWith(certs('anonymous').revokeCertificate({ name, revocationState: State.HOLD }), Code.Unauthenticated, 'UNAUTHENTICATED');
        await rejectsWith(certs('anonymous').releaseCertificateHold({ name }), Code.Unauthenticated, 'UNAUTHENTICATED');
        assert.equal((await certs(as(owner)).revokeCertificate({ name, revocationState: State.HOLD })).revocationState, State.HOLD);
        assert.equal((await certs(as(owner)).releaseCertificateHold({ name })).revocationState, State.REVOCATION_STATE_UNSPECIFIED);
      }
    });

    it('is NOT_FOUND for a certificate that does not exist, INVALID_ARGUMENT for a bad name', async () => {
      const missing = `${dp.name}/certificates/AAAAAAAAAAE`;
      await rejectsWith(certs(as(dp)).revokeCertificate({ name: missing, revocationState: State.HOLD }), Code.NotFound, 'CERTIFICATE_NOT_FOUND');
      await rejectsWith(certs(as(dp)).releaseCertificateHold({ name: missing }), Code.NotFound, 'CERTIFICATE_NOT_FOUND');
      for (const name of ['', dp.name, 'dataProviders/x/certificates/y']) {
        await rejectsWith(certs(as(dp)).revokeCertificate({ name, revocationState: State.HOLD }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
        await rejectsWith(certs(as(dp)).releaseCertificateHold({ name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
      }
    });

    it('fails pending measurements that use the certificate, in the same step (HOLD as well as REVOKED)', async () => {
      const consumer = await createParty(k, 'MEASUREMENT_CONSUMER');
      const provider = await createParty(k, 'DATA_PROVIDER');
      const newMeasurement = () =>
        k.store.createMeasurement({
          actor: consumer.name,
          measurementConsumerId: (consumer.partyKey as { id: bigint }).id,
          measurementConsumerCertificateId: parseCertificateName(consumer.signing.name)!.certificateId,
          measurementSpec: toBinary(SignedMessageSchema, create(SignedMessageSchema, { data: new Uint8Array([1]), signature: new Uint8Array([2]) })),
          dataProviders: [
            {
              dataProviderId: (provider.partyKey as { id: bigint }).id,
              dataProviderPublicKey: new Uint8Array([3]),
              encryptedRequisitionSpec: new Uint8Array([4]),
              nonceHash: new Uint8Array(32),
            },
          ],
        });
      const byMc = await newMeasurement();
      const byDp = await newMeasurement();
      assert.equal(byMc.state, 'AWAITING_REQUISITION_FULFILLMENT');

      await certs(as(consumer)).revokeCertificate({ name: consumer.signing.name, revocationState: State.HOLD });
      for (const m of [byMc, byDp]) {
        const after = await k.store.getMeasurement(m.measurementConsumerId, m.externalMeasurementId);
        assert.equal(after.state, 'FAILED');
        assert.equal(after.failure?.reason, 'CERTIFICATE_REVOKED');
        assert.equal(after.failure?.message, 'The associated Measurement Consumer certificate has been revoked.');
      }
      // Releasing the hold does not revive them, and new measurements work again.
      await certs(as(consumer)).releaseCertificateHold({ name: consumer.signing.name });
      assert.equal((await k.store.getMeasurement(byMc.measurementConsumerId, byMc.externalMeasurementId)).state, 'FAILED');
      const pending = await newMeasurement();
      await certs(as(provider)).revokeCertificate({ name: provider.signing.name, revocationState: State.REVOKED });
      const failed = await k.store.getMeasurement(pending.measurementConsumerId, pending.externalMeasurementId);
      assert.equal(failed.state, 'FAILED');
      assert.equal(failed.failure?.message, 'An associated Data Provider certificate has been revoked.');
      assert.ok(failed.dataProviders.every((d) => d.requisitionState === 'WITHDRAWN'));
    });
  });

  it('answers garbage names on every RPC with INVALID_ARGUMENT and changes nothing', async () => {
    const before = await k.auditLength();
    const garbage = ['\u0000', 'x'.repeat(10_000), '../../etc/passwd', 'dataProviders/%2F/certificates/AAAAAAAAAAE', Buffer.from(randomBytes(32)).toString('latin1')];
    for (const name of garbage) {
      await rejectsWith(certs(as(dp)).getCertificate({ name }), Code.InvalidArgument);
      await rejectsWith(certs(as(dp)).createCertificate({ parent: name, certificate: { x509Der: dp.issueLeaf().der } }), Code.InvalidArgument);
      await rejectsWith(certs(as(dp)).listCertificates({ parent: name }), Code.InvalidArgument);
      await rejectsWith(certs(as(dp)).revokeCertificate({ name, revocationState: State.REVOKED }), Code.InvalidArgument);
      await rejectsWith(certs(as(dp)).releaseCertificateHold({ name }), Code.InvalidArgument);
    }
    assert.equal(await k.auditLength(), before);
  });
});

describe('Certificates service (compatible mode)', () => {
  let k: TestKingdom;
  let dp: TestParty;
  let dp2: TestParty;

  before(async () => {
    k = await openTestKingdom({ mode: 'compatible' });
    dp = await createParty(k, 'DATA_PROVIDER');
    dp2 = await createParty(k, 'DATA_PROVIDER');
  });
  after(async () => {
    await k?.close();
  });

  it('accepts what upstream accepts: CA certificates, expired ones and certificates of other roots', async () => {
    const certs = k.client(Certificates, as(dp));
    const authority = { certificate: dp.root.certificate, privateKey: dp.root.privateKey };
    const now = k.clock.now().getTime();
    for (const der of [
      issueIntermediate(authority, { subject: '/O=Halo Test/CN=sub CA', clock: k.clock }).der,
      dp.issueLeaf({ notBefore: new Date(now - 40 * DAY), notAfter: new Date(now - DAY) }).der,
      dp2.issueLeaf().der,
      cmmsFile('edp2_cs_cert.der'),
    ]) {
      const c = await certs.createCertificate({ parent: dp.name, certificate: { x509Der: der } });
      assert.deepEqual(c.x509Der, der);
    }
  });

  it('still requires a parsable DER with an SKID and a unique SKID', async () => {
    const certs = k.client(Certificates, as(dp));
    const before = await k.auditLength();
    await rejectsWith(certs.createCertificate({ parent: dp.name, certificate: { x509Der: new Uint8Array(randomBytes(300)) } }), Code.InvalidArgument, 'CERTIFICATE_MALFORMED');
    await rejectsWith(certs.createCertificate({ parent: dp.name, certificate: { x509Der: leafWithoutSkid(k, dp) } }), Code.InvalidArgument, 'CERTIFICATE_SUBJECT_KEY_ID_MISSING');
    await rejectsWith(certs.createCertificate({ parent: dp.name, certificate: { x509Der: dp.signing.der } }), Code.AlreadyExists, 'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS');
    assert.equal(await k.auditLength(), before);
  });
});
