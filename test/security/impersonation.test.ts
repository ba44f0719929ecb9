/**
 * A hostile participant against the real server process over real mTLS, on
 * both engines (PGlite, PostgreSQL through HALO_KEYS_TEST_DATABASE_URL) and
 * both modes. The attacker is EDP 2 of the CMMS test PKI, holding only its
 * own root key; its certificates are made with the openssl CLI
 * (attack-pki.ts). A caller is authenticated only when its verified chain
 * ends at the registered root of the principal it claims (docs/security.md).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { Code } from '@connectrpc/connect';
import { KingdomClientError, type KingdomClient } from '../../src/client/index.js';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { systemClock } from '../../src/lib/clock.js';
import { decodePem, encodePem } from '../../src/lib/pem.js';
import { issueLeaf } from '../../src/pki/ca.js';
import { parseCertificate } from '../../src/pki/certificate.js';
import { freshPostgresDatabase } from '../kingdom/store-fixtures.js';
import { pemKey, runCli, scratchDir, signedEncryptionKey, startServerProcess, type ServerProcess } from '../kingdom/server-fixtures.js';
import { AttackPki, cmms, type ClientTls } from './attack-pki.js';

const DAY = 24 * 60 * 60 * 1000;
const cmmsTls = (name: string): ClientTls => ({ certPem: readFileSync(cmms(`${name}_tls.pem`), 'utf8'), keyPem: readFileSync(cmms(`${name}_tls.key`), 'utf8') });
const cmmsRoot = (name: string) => ({ pem: cmms(`${name}_root.pem`), key: cmms(`${name}_root.key`) });
const derOf = (pemFile: string) => decodePem(readFileSync(pemFile, 'latin1'))[0]!.der;

/** The call fails with RPC-level UNAUTHENTICATED (not a transport error); returns its message. */
async function unauthenticated(call: Promise<unknown>): Promise<string> {
  let caught: unknown;
  try {
    await call;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KingdomClientError, `expected UNAUTHENTICATED, got ${caught === undefined ? 'success' : String(caught)}`);
  assert.equal(caught.code, 'UNAUTHENTICATED', caught.message);
  assert.equal(caught.grpcCode, Code.Unauthenticated);
  assert.equal(caught.reason, 'UNAUTHENTICATED');
  return caught.message;
}

interface AuditLine {
  actor: string;
  action: string;
  resource: string;
  authentication?: Record<string, string>;
}

for (const engine of ['pglite', 'postgres'] as const) {
  for (const mode of ['strict', 'compatible'] as const) {
    describe(`client authentication against a hostile participant (${engine}, ${mode})`, () => {
      const scratch = scratchDir('halo-sec-auth-');
      const pki = new AttackPki(scratch.dir);
      const operatorRoot = pki.root('operator-root', '/O=Partner/CN=Partner Root CA');
      let databaseUrl: string | undefined;
      let dropDatabase = async () => {};
      let server: ServerProcess;
      let dp1: string;
      let dp1Certificate: string;
      let dp2: string;
      let dp2Certificate: string;
      const clients: KingdomClient[] = [];
      const as = (tls: ClientTls) => {
        const c = server.client({ tls, timeoutMs: 15_000 });
        clients.push(c);
        return c;
      };

      before(async () => {
        if (engine === 'postgres') {
          const db = await freshPostgresDatabase();
          databaseUrl = db.url;
          dropDatabase = db.drop;
        }
        server = await startServerProcess({
          dataDir: scratch.path('kingdom'),
          ...(databaseUrl !== undefined ? { databaseUrl } : {}),
          args: ['--mode', mode, '--trusted-roots', operatorRoot.pem],
        });
        const admin = server.client({ adminToken: server.adminToken }).admin;
        const register = async (name: string) => {
          const signingKey = loadPrivateKey(new Uint8Array(readFileSync(cmms(`${name}_cs_private.der`))));
          const r = await admin.createDataProvider({
            registration: {
              rootCertificateDer: derOf(cmms(`${name}_root.pem`)),
              certificateDer: new Uint8Array(readFileSync(cmms(`${name}_cs_cert.der`))),
              publicKey: signedEncryptionKey(signingKey).signed,
              displayName: name,
            },
          });
          return { name: r.name, certificate: r.certificate };
        };
        ({ name: dp1, certificate: dp1Certificate } = await register('edp1'));
        ({ name: dp2, certificate: dp2Certificate } = await register('edp2'));
        await admin.createDuchy({
          duchyId: 'worker1',
          registration: { rootCertificateDer: derOf(cmms('worker1_root.pem')), certificateDer: new Uint8Array(readFileSync(cmms('worker1_cs_cert.der'))) },
        });
      });

      after(async () => {
        await server?.stop('SIGKILL');
        await dropDatabase();
        scratch.remove();
      });

      test('the registered participants authenticate as themselves (control)', async () => {
        const page = await as(cmmsTls('edp1')).certificates.listCertificates({ parent: dp1 });
        assert.ok(page.certificates.some((c) => c.name === dp1Certificate));
        const own = await as(cmmsTls('edp2')).certificates.listCertificates({ parent: dp2 });
        assert.ok(own.certificates.some((c) => c.name === dp2Certificate));
        const duchy = await as(cmmsTls('worker1')).certificates.listCertificates({ parent: 'duchies/worker1' });
        assert.equal(duchy.certificates.length, 1);
      });

      test("a chain under EDP 2's root whose intermediate copies EDP 1's root SKID is not EDP 1", async () => {
        const attacker = as(pki.forgedChain('edp1-forged', cmmsRoot('edp2'), cmms('edp1_root.pem')));
        const message = await unauthenticated(attacker.certificates.listCertificates({ parent: dp1 }));
        assert.match(message, /not anchored at the registered root/);
        await unauthenticated(attacker.dataProviders.getDataProvider({ name: dp1 }));
        await unauthenticated(attacker.requisitions.listRequisitions({ parent: dp1 }));
        await unauthenticated(attacker.eventGroups.listEventGroups({ parent: dp1 }));
        await unauthenticated(attacker.certificates.revokeCertificate({ name: dp1Certificate, revocationState: Certificate_RevocationState.HOLD }));
        await unauthenticated(attacker.certificates.releaseCertificateHold({ name: dp1Certificate }));
        const stranger = pki.leaf('registered-by-attacker', cmmsRoot('edp2'));
        await unauthenticated(attacker.certificates.createCertificate({ parent: dp1, certificate: { x509Der: derOf(stranger.pem) } }));
        const edp2Key = signedEncryptionKey(loadPrivateKey(new Uint8Array(readFileSync(cmms('edp2_cs_private.der')))));
        await unauthenticated(
          attacker.publicKeys.updatePublicKey({ publicKey: { name: `${dp1}/publicKey`, publicKey: edp2Key.signed, certificate: dp2Certificate } }),
        );

        // Nothing of EDP 1 changed.
        const edp1 = as(cmmsTls('edp1'));
        const cert = await edp1.certificates.getCertificate({ name: dp1Certificate });
        assert.equal(cert.revocationState, Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED);
        const certificates = await edp1.certificates.listCertificates({ parent: dp1 });
        assert.equal(certificates.certificates.length, 1);
        const provider = await edp1.dataProviders.getDataProvider({ name: dp1 });
        assert.equal(provider.certificate, dp1Certificate);
      });

      test("the same forgery against a Duchy (found by root SKID) is refused", async () => {
        const attacker = as(pki.forgedChain('worker1-forged', cmmsRoot('edp2'), cmms('worker1_root.pem')));
        await unauthenticated(attacker.certificates.listCertificates({ parent: 'duchies/worker1' }));
      });

      test('an operator root (--trusted-roots) names no principal unless mapped, and a forgery under it is refused', async () => {
        const direct = pki.leaf('operator-leaf', operatorRoot);
        await unauthenticated(as(direct).certificates.listCertificates({ parent: dp1 }));
        const forged = pki.forgedChain('operator-forged', operatorRoot, cmms('edp1_root.pem'));
        await unauthenticated(as(forged).certificates.listCertificates({ parent: dp1 }));

        // Mapped explicitly, the operator root's own leaves authenticate as EDP 1; the forgery still does not.
        const admin = server.client({ adminToken: server.adminToken }).admin;
        const akid = parseCertificate(derOf(operatorRoot.pem)).subjectKeyIdentifier!;
        await admin.setAkidPrincipal({ akidPrincipal: { authorityKeyIdentifier: akid, principal: dp1 } });
        try {
          const page = await as(direct).certificates.listCertificates({ parent: dp1 });
          assert.ok(page.certificates.some((c) => c.name === dp1Certificate));
          await unauthenticated(as(pki.forgedChain('operator-forged-2', operatorRoot, cmms('edp1_root.pem'))).certificates.listCertificates({ parent: dp1 }));
          // A chain under EDP 2's root copying the operator root's SKID is not EDP 1 either.
          await unauthenticated(as(pki.forgedChain('operator-skid-forged', cmmsRoot('edp2'), operatorRoot.pem)).certificates.listCertificates({ parent: dp1 }));
        } finally {
          await admin.removeAkidPrincipal({ authorityKeyIdentifier: akid });
        }
      });

      test('the client certificate must be an end-entity certificate allowing clientAuth', async () => {
        const ca = await unauthenticated(as(pki.caAsLeaf('edp1-ca-leaf', cmmsRoot('edp1'))).certificates.listCertificates({ parent: dp1 }));
        assert.match(ca, /end-entity/);
        const keyCertSign = await unauthenticated(as(pki.keyCertSignLeaf('edp1-kcs-leaf', cmmsRoot('edp1'))).certificates.listCertificates({ parent: dp1 }));
        assert.match(keyCertSign, /keyCertSign/);
        await unauthenticated(as(pki.serverOnlyLeaf('edp1-server-leaf', cmmsRoot('edp1'))).certificates.listCertificates({ parent: dp1 }));
      });

      test('a client certificate whose signature does not verify always gets UNAUTHENTICATED (40 connections)', async () => {
        const bad = pki.badSignatureLeaf('edp1-bad-signature', cmmsRoot('edp1'));
        for (let i = 0; i < 40; i++) {
          const message = await unauthenticated(as(bad).certificates.listCertificates({ parent: dp1 }));
          assert.match(message, /does not verify \(SIGNATURE_INVALID/, `connection ${i}`);
        }
      });

      test('an expired or not-yet-valid client certificate is told to renew the certificate', async () => {
        const authority = {
          certificate: parseCertificate(derOf(cmms('edp1_root.pem'))),
          privateKey: loadPrivateKey(new Uint8Array(readFileSync(cmms('edp1_root.key')))),
        };
        const now = Date.now();
        for (const [label, notBefore, notAfter] of [
          ['expired', new Date(now - 60 * DAY), new Date(now - DAY)],
          ['future', new Date(now + DAY), new Date(now + 60 * DAY)],
        ] as const) {
          const leaf = issueLeaf(authority, { profile: 'tls-client', subject: `/O=Halo CMM Dev/CN=Edp1 ${label}`, clock: systemClock, notBefore, notAfter });
          const message = await unauthenticated(
            as({ certPem: encodePem('CERTIFICATE', leaf.der), keyPem: pemKey(leaf.privateKey!) }).certificates.listCertificates({ parent: dp1 }),
          );
          assert.match(message, /the client certificate must be renewed/, label);
          assert.doesNotMatch(message, /root must be registered/, label);
        }
      });

      test('audit entries name how the caller authenticated, and the chain still verifies', async () => {
        const edp1 = as(cmmsTls('edp1'));
        await edp1.certificates.revokeCertificate({ name: dp1Certificate, revocationState: Certificate_RevocationState.HOLD });
        await edp1.certificates.releaseCertificateHold({ name: dp1Certificate });
        await server.stop('SIGTERM');
        const dataDir = scratch.path('kingdom');
        const db = databaseUrl !== undefined ? ['--database-url', databaseUrl] : [];
        const verify = runCli(['kingdom', 'audit', '--data-dir', dataDir, ...db, 'verify']);
        assert.equal(verify.status, 0, verify.stderr + verify.stdout);
        const exported = runCli(['kingdom', 'audit', '--data-dir', dataDir, ...db, 'export']);
        assert.equal(exported.status, 0, exported.stderr);
        const entries = exported.stdout.trim().split('\n').map((l) => JSON.parse(l) as AuditLine);
        const tlsDer = derOf(cmms('edp1_tls.pem'));
        const expected = {
          method: 'clientCertificate',
          clientCertificateSha256: createHash('sha256').update(tlsDer).digest('hex'),
          clientCertificateSkid: Buffer.from(parseCertificate(tlsDer).subjectKeyIdentifier!).toString('hex'),
        };
        const byEdp1 = entries.filter((e) => e.actor === dp1);
        assert.deepEqual(byEdp1.map((e) => e.action), ['RevokeCertificate', 'ReleaseCertificateHold'], 'the attacker left no entry as EDP 1');
        for (const e of byEdp1) assert.deepEqual(e.authentication, expected);
        for (const e of entries.filter((x) => x.actor === 'kingdom-admin')) assert.deepEqual(e.authentication, { method: 'adminToken' });
      });
    });
  }
}
