/**
 * Upstream's Account flow and the MeasurementConsumer methods it guards,
 * over the in-memory transport with the real services and a real store, on
 * PGlite and on PostgreSQL. Each attack is tried first and must be refused
 * without changing anything: a forged or replayed ID token, a wrong
 * activation token, an identity bound twice, a participant certificate or no
 * credential where an Account is needed, an Account acting on a
 * MeasurementConsumer it does not own, a reused or unknown creation token.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Code } from '@connectrpc/connect';
import { externalIdToApiId, parseApiId } from '../../src/api/index.js';
import { Account_ActivationState } from '../../src/gen/wfa/measurement/api/v2alpha/account_pb.js';
import { Accounts } from '../../src/gen/wfa/measurement/api/v2alpha/accounts_service_pb.js';
import { ApiKeys } from '../../src/gen/wfa/measurement/api/v2alpha/api_keys_service_pb.js';
import { Certificates } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { MeasurementConsumers } from '../../src/gen/wfa/measurement/api/v2alpha/measurement_consumers_service_pb.js';
import { as, createParty, openTestKingdom, participantPki, rejectsWith, signedEncryptionPublicKey, type Caller, type TestKingdom, type TestParty } from './fixtures.js';
import { idTokenFor, newSigner, type IdTokenOptions, type SelfIssuedSigner } from './open-id-fixtures.js';
import { freshPostgresDatabase, type TestDatabase } from './store-fixtures.js';

const REDIRECT_URI = 'https://kingdom.example/account-redirect';

/** Owners are listed by their Account's external id, ascending. */
const byAccountId = (a: string, b: string): number => {
  const [x, y] = [a, b].map((name) => parseApiId(name.slice('accounts/'.length))!);
  return x! < y! ? -1 : x! > y! ? 1 : 0;
};

interface TestAccount {
  readonly name: string;
  readonly signer: SelfIssuedSigner;
  readonly caller: { readonly idToken: string };
}

for (const backend of ['PGlite', 'PostgreSQL'] as const) {
  describe(`Accounts and MeasurementConsumer ownership (${backend})`, () => {
    let k: TestKingdom;
    let db: TestDatabase | undefined;
    let dp: TestParty;
    let adminMc: TestParty;

    before(async () => {
      db = backend === 'PostgreSQL' ? await freshPostgresDatabase() : undefined;
      k = await openTestKingdom({ openIdRedirectUri: REDIRECT_URI, ...(db ? { databaseUrl: db.url } : {}) });
      dp = await createParty(k, 'DATA_PROVIDER');
      adminMc = await createParty(k, 'MEASUREMENT_CONSUMER');
    });
    after(async () => {
      await k?.close();
      await db?.drop();
    });

    /** A fresh OpenID request answered by `signer`. */
    async function idToken(signer: SelfIssuedSigner, options?: IdTokenOptions): Promise<string> {
      const r = await k.client(Accounts, 'anonymous').authenticate({ issuer: 'https://self-issued.me' });
      assert.match(r.authenticationRequestUri, /^openid:\/\/\?response_type=id_token&scope=openid&state=[\w-]{11}&nonce=[\w-]{11}&client_id=/);
      return idTokenFor(r.authenticationRequestUri, signer, k.clock.now(), options);
    }

    async function activatedAccount(ownedMeasurementConsumer = ''): Promise<TestAccount> {
      const created = await k.admin.createAccount({ ownedMeasurementConsumer });
      const signer = newSigner();
      const caller = { idToken: await idToken(signer) };
      const activated = await k.client(Accounts, caller).activateAccount({
        name: created.name,
        activationToken: created.activationParams!.activationToken,
      });
      assert.equal(activated.activationState, Account_ActivationState.ACTIVATED);
      return { name: created.name, signer, caller };
    }

    /** A CreateMeasurementConsumer request with a fresh leaf and a key signed by it. */
    function newConsumer(token: string) {
      const pki = participantPki(k, `Account MC ${Math.random()}`);
      const leaf = pki.issue();
      return {
        measurementConsumer: {
          certificateDer: leaf.der,
          publicKey: signedEncryptionPublicKey(leaf.privateKey).signed,
          displayName: 'Created by an Account',
          measurementConsumerCreationToken: token,
        },
      };
    }

    async function creationToken(): Promise<string> {
      return (await k.admin.createMeasurementConsumerCreationToken({})).measurementConsumerCreationToken;
    }

    it('activates an Account once, with its activation token and an ID token of this Kingdom', async () => {
      const created = await k.admin.createAccount({ ownedMeasurementConsumer: adminMc.name });
      assert.equal(created.activationState, Account_ActivationState.UNACTIVATED);
      assert.match(created.activationParams!.activationToken, /^[\w-]{11}$/);
      const signer = newSigner();
      const accounts = (token: string) => k.client(Accounts, { idToken: token });
      const request = { name: created.name, activationToken: created.activationParams!.activationToken };
      const audit = await k.auditLength();

      // Attacks first.
      await rejectsWith(k.client(Accounts, 'anonymous').activateAccount(request), Code.Unauthenticated);
      await rejectsWith(k.client(Accounts, as(dp)).activateAccount(request), Code.Unauthenticated);
      const other = newSigner();
      await rejectsWith(accounts(await idToken(signer, { signWith: other.privateKey })).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      await rejectsWith(accounts(await idToken(signer, { claims: { sub: 'someone-else' } })).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      await rejectsWith(accounts(await idToken(signer, { claims: { aud: 'https://other.example' } })).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      const past = Math.floor(k.clock.now().getTime() / 1000) - 1;
      await rejectsWith(accounts(await idToken(signer, { claims: { exp: past } })).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      await rejectsWith(accounts(await idToken(signer, { header: { alg: 'none' } })).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      await rejectsWith(accounts(await idToken(newSigner(1024))).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      // A state this Kingdom never issued.
      const forgedUri = `openid://?state=AAAAAAAAAAE&nonce=AAAAAAAAAAE&client_id=${REDIRECT_URI}`;
      await rejectsWith(accounts(idTokenFor(forgedUri, signer, k.clock.now())).activateAccount(request), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      const token = await idToken(signer);
      await rejectsWith(accounts(token).activateAccount({ ...request, activationToken: 'AAAAAAAAAAE' }), Code.PermissionDenied, 'PERMISSION_DENIED');
      assert.equal(await k.auditLength(), audit, 'no refused call changed anything');

      const activated = await accounts(token).activateAccount(request);
      assert.equal(activated.activationState, Account_ActivationState.ACTIVATED);
      assert.equal(activated.identity.case, 'openId');
      assert.equal(activated.identity.value?.issuer, 'https://self-issued.me');
      assert.equal(activated.activationParams, undefined, 'the activation token is shown only to the creator');

      // Once only, and an identity binds one Account only.
      await rejectsWith(accounts(token).activateAccount(request), Code.FailedPrecondition, 'DUPLICATE_ACCOUNT_IDENTITY');
      await rejectsWith(accounts(await idToken(newSigner())).activateAccount(request), Code.FailedPrecondition, 'ACCOUNT_ACTIVATION_STATE_ILLEGAL');
      const second = await k.admin.createAccount({});
      await rejectsWith(
        accounts(token).activateAccount({ name: second.name, activationToken: second.activationParams!.activationToken }),
        Code.FailedPrecondition,
        'DUPLICATE_ACCOUNT_IDENTITY',
      );
      // An ID token whose request has expired authenticates nobody.
      k.clock.advance(2 * 60 * 60 * 1000);
      try {
        await rejectsWith(k.client(Accounts, { idToken: token }).createAccount({}), Code.Unauthenticated, 'ID_TOKEN_INVALID');
      } finally {
        k.clock.set(k.clock.now().getTime() - 2 * 60 * 60 * 1000);
      }
    });

    it('creates a MeasurementConsumer with a creation token once; the Account becomes its owner', async () => {
      const account = await activatedAccount();
      const mcs = (caller: Caller) => k.client(MeasurementConsumers, caller);
      const token = await creationToken();
      const audit = await k.auditLength();

      // No Account: nobody, a participant over mTLS, an Account not yet activated.
      await rejectsWith(mcs('anonymous').createMeasurementConsumer(newConsumer(token)), Code.Unauthenticated);
      await rejectsWith(mcs(as(adminMc)).createMeasurementConsumer(newConsumer(token)), Code.Unauthenticated);
      // A valid ID token of an identity no activated Account has.
      await rejectsWith(mcs({ idToken: await idToken(newSigner()) }).createMeasurementConsumer(newConsumer(token)), Code.Unauthenticated);
      // Unknown or missing token; a key not signed by the certificate (strict).
      await rejectsWith(mcs(account.caller).createMeasurementConsumer(newConsumer('AAAAAAAAAAE')), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(mcs(account.caller).createMeasurementConsumer(newConsumer('')), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      const mismatched = newConsumer(token);
      mismatched.measurementConsumer.publicKey = newConsumer(token).measurementConsumer.publicKey;
      await rejectsWith(mcs(account.caller).createMeasurementConsumer(mismatched), Code.InvalidArgument, 'SIGNATURE_INVALID');
      assert.equal(await k.auditLength(), audit, 'no refused call changed anything, nor spent the token');

      const created = await mcs(account.caller).createMeasurementConsumer(newConsumer(token));
      assert.match(created.name, /^measurementConsumers\/[\w-]{11}$/);
      assert.equal(created.displayName, 'Created by an Account');
      assert.match(created.certificate, new RegExp(`^${created.name}/certificates/`));
      assert.deepEqual(created.owners, [account.name], 'the response names its owner');
      // A DataProvider reads it as any other MeasurementConsumer.
      assert.equal((await mcs(as(dp)).getMeasurementConsumer({ name: created.name })).certificate, created.certificate);

      // The token is spent.
      await rejectsWith(mcs(account.caller).createMeasurementConsumer(newConsumer(token)), Code.PermissionDenied, 'PERMISSION_DENIED');
      const owner = await k.store.authenticateAccount({ issuer: 'https://self-issued.me', subject: thumbprint(account.signer) });
      assert.deepEqual(owner?.ownedMeasurementConsumerIds.map((id) => `measurementConsumers/${externalIdToApiId(id)}`), [created.name]);
      // It registered no root: its API key works, mTLS and strict root checks have nothing to anchor at.
      const apiKey = await k.admin.createApiKey({ measurementConsumer: created.name });
      const leaf = participantPki(k, 'Rootless MC leaf').issue();
      await rejectsWith(
        k.client(Certificates, { apiKey: apiKey.authenticationKey }).createCertificate({ parent: created.name, certificate: { x509Der: leaf.der } }),
        Code.FailedPrecondition,
        'PARENT_HAS_NO_ROOT',
      );
      // Each creation spends its own token.
      const second = await mcs(account.caller).createMeasurementConsumer(newConsumer(await creationToken()));
      assert.notEqual(second.name, created.name);
    });

    it('adds and removes owners only for an owner of the MeasurementConsumer', async () => {
      const owner = await activatedAccount(adminMc.name);
      const stranger = await activatedAccount();
      const mcs = (caller: Caller) => k.client(MeasurementConsumers, caller);
      const audit = await k.auditLength();

      await rejectsWith(mcs(stranger.caller).addMeasurementConsumerOwner({ name: adminMc.name, account: stranger.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(mcs(stranger.caller).removeMeasurementConsumerOwner({ name: adminMc.name, account: owner.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(mcs(as(adminMc)).addMeasurementConsumerOwner({ name: adminMc.name, account: stranger.name }), Code.Unauthenticated);
      await rejectsWith(mcs('anonymous').removeMeasurementConsumerOwner({ name: adminMc.name, account: owner.name }), Code.Unauthenticated);
      // A stranger cannot make an Account that would own someone else's MeasurementConsumer.
      await rejectsWith(k.client(Accounts, stranger.caller).createAccount({ account: { activationParams: { ownedMeasurementConsumer: adminMc.name } } }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(mcs(owner.caller).removeMeasurementConsumerOwner({ name: adminMc.name, account: stranger.name }), Code.FailedPrecondition, 'PERMISSION_DENIED');
      await rejectsWith(mcs(owner.caller).addMeasurementConsumerOwner({ name: adminMc.name, account: 'accounts/AAAAAAAAAAE' }), Code.FailedPrecondition, 'ACCOUNT_NOT_FOUND');
      assert.equal(await k.auditLength(), audit);

      const added = await mcs(owner.caller).addMeasurementConsumerOwner({ name: adminMc.name, account: stranger.name });
      // adminMc has owners from earlier tests too: the list is every owner, in Account id order.
      assert.ok(added.owners.includes(owner.name) && added.owners.includes(stranger.name));
      assert.deepEqual(added.owners, [...added.owners].sort(byAccountId));
      // Now an owner, the former stranger may remove the first owner, who then may not act.
      const removed = await mcs(stranger.caller).removeMeasurementConsumerOwner({ name: adminMc.name, account: owner.name });
      assert.deepEqual(removed.owners, added.owners.filter((name) => name !== owner.name));
      await rejectsWith(mcs(owner.caller).addMeasurementConsumerOwner({ name: adminMc.name, account: owner.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
      // An owner may create an Account that will own the MeasurementConsumer once activated.
      const invited = await k.client(Accounts, stranger.caller).createAccount({ account: { activationParams: { ownedMeasurementConsumer: adminMc.name } } });
      assert.equal(invited.creator, stranger.name);
      assert.equal(invited.activationParams?.ownedMeasurementConsumer, adminMc.name);
      const signer = newSigner();
      const invitedCaller = { idToken: await idToken(signer) };
      await k.client(Accounts, invitedCaller).activateAccount({ name: invited.name, activationToken: invited.activationParams!.activationToken });
      await mcs(invitedCaller).addMeasurementConsumerOwner({ name: adminMc.name, account: owner.name });
    });

    it('creates and deletes API keys only for an Account that owns the MeasurementConsumer', async () => {
      const owner = await activatedAccount();
      const mc = await k.client(MeasurementConsumers, owner.caller).createMeasurementConsumer(newConsumer(await creationToken()));
      const stranger = await activatedAccount();
      const keys = (caller: Caller) => k.client(ApiKeys, caller);
      const request = { parent: mc.name, apiKey: { nickname: 'reporting', description: 'nightly' } };
      const audit = await k.auditLength();

      // Attacks first: no credential, the MeasurementConsumer's own mTLS identity, a DataProvider, an ID token
      // of no Account, an Account that owns another MeasurementConsumer only.
      await rejectsWith(keys('anonymous').createApiKey(request), Code.Unauthenticated);
      await rejectsWith(keys(as(adminMc)).createApiKey({ ...request, parent: adminMc.name }), Code.Unauthenticated);
      await rejectsWith(keys(as(dp)).createApiKey(request), Code.Unauthenticated);
      await rejectsWith(keys({ idToken: await idToken(newSigner()) }).createApiKey(request), Code.Unauthenticated);
      await rejectsWith(keys(stranger.caller).createApiKey(request), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(keys(stranger.caller).createApiKey({ ...request, parent: 'measurementConsumers/AAAAAAAAAAE' }), Code.PermissionDenied);
      // Bad requests from the owner.
      await rejectsWith(keys(owner.caller).createApiKey({ ...request, parent: 'dataProviders/AAAAAAAAAAE' }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
      await rejectsWith(keys(owner.caller).createApiKey({ parent: mc.name }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      await rejectsWith(keys(owner.caller).createApiKey({ parent: mc.name, apiKey: { nickname: '  ' } }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      assert.equal(await k.auditLength(), audit, 'no refused call changed anything');

      const created = await keys(owner.caller).createApiKey(request);
      assert.match(created.name, new RegExp(`^${mc.name}/apiKeys/[\\w-]{11}$`));
      assert.equal(created.nickname, 'reporting');
      assert.equal(created.description, 'nightly');
      assert.match(created.authenticationKey, /^[\w-]{11}$/);
      // The key authenticates the MeasurementConsumer.
      const asMc = k.client(MeasurementConsumers, { apiKey: created.authenticationKey });
      assert.equal((await asMc.getMeasurementConsumer({ name: mc.name })).name, mc.name);

      // Deleting: the same refusals, then the owner; the key stops working at once and its secret is not shown again.
      await rejectsWith(keys('anonymous').deleteApiKey({ name: created.name }), Code.Unauthenticated);
      await rejectsWith(keys({ apiKey: created.authenticationKey }).deleteApiKey({ name: created.name }), Code.Unauthenticated);
      await rejectsWith(keys(stranger.caller).deleteApiKey({ name: created.name }), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(keys(owner.caller).deleteApiKey({ name: mc.name }), Code.InvalidArgument, 'INVALID_RESOURCE_NAME');
      const deleted = await keys(owner.caller).deleteApiKey({ name: created.name });
      assert.deepEqual([deleted.name, deleted.nickname, deleted.description, deleted.authenticationKey], [created.name, 'reporting', 'nightly', '']);
      await rejectsWith(asMc.getMeasurementConsumer({ name: mc.name }), Code.Unauthenticated);
      await rejectsWith(keys(owner.caller).deleteApiKey({ name: created.name }), Code.NotFound, 'API_KEY_NOT_FOUND');

      // An owner removed loses the right: the former stranger, made owner, removes the first one.
      await k.client(MeasurementConsumers, owner.caller).addMeasurementConsumerOwner({ name: mc.name, account: stranger.name });
      await k.client(MeasurementConsumers, stranger.caller).removeMeasurementConsumerOwner({ name: mc.name, account: owner.name });
      await rejectsWith(keys(owner.caller).createApiKey(request), Code.PermissionDenied, 'PERMISSION_DENIED');
      assert.equal((await keys(stranger.caller).createApiKey(request)).nickname, 'reporting');
    });

    it('moves an Account to a new identity only for the Account itself, proving both identities', async () => {
      const account = await activatedAccount();
      const other = await activatedAccount();
      const accounts = (caller: Caller) => k.client(Accounts, caller);
      const next = newSigner();
      const replace = (name: string, token: string) => ({ name, replacementCredentials: { case: 'openId' as const, value: { identityBearerToken: token } } });
      const audit = await k.auditLength();
      await rejectsWith(accounts(account.caller).replaceAccountIdentity(replace(other.name, await idToken(next))), Code.PermissionDenied, 'PERMISSION_DENIED');
      await rejectsWith(accounts('anonymous').replaceAccountIdentity(replace(account.name, await idToken(next))), Code.Unauthenticated);
      await rejectsWith(accounts(account.caller).replaceAccountIdentity({ name: account.name }), Code.InvalidArgument, 'REQUIRED_FIELD_NOT_SET');
      await rejectsWith(
        accounts(account.caller).replaceAccountIdentity(replace(account.name, await idToken(next, { signWith: newSigner().privateKey }))),
        Code.Unauthenticated,
        'ID_TOKEN_INVALID',
      );
      // The other Account's identity is taken.
      await rejectsWith(
        accounts(account.caller).replaceAccountIdentity(replace(account.name, other.caller.idToken)),
        Code.FailedPrecondition,
        'DUPLICATE_ACCOUNT_IDENTITY',
      );
      assert.equal(await k.auditLength(), audit);

      const newToken = await idToken(next);
      const moved = await accounts(account.caller).replaceAccountIdentity(replace(account.name, newToken));
      assert.equal(moved.name, account.name);
      // The old identity authenticates nobody now; the new one is the Account.
      await rejectsWith(accounts(account.caller).createAccount({}), Code.Unauthenticated);
      assert.equal((await accounts({ idToken: newToken }).createAccount({})).creator, account.name);
    });

    it('refuses the Account methods when no redirect URI is configured', async () => {
      const plain = await openTestKingdom(db ? { databaseUrl: db.url } : {});
      try {
        const r = await plain.client(Accounts, 'anonymous').authenticate({ issuer: 'https://self-issued.me' });
        assert.equal(r.authenticationRequestUri, '');
        await rejectsWith(plain.client(Accounts, { idToken: 'a.b.c' }).createAccount({}), Code.FailedPrecondition, 'OPEN_ID_NOT_CONFIGURED');
      } finally {
        await plain.store.close();
      }
    });
  });
}

function thumbprint(signer: SelfIssuedSigner): string {
  return createHash('sha256').update(JSON.stringify(signer.jwk)).digest('base64url');
}
