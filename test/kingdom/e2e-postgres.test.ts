/**
 * The server process on PostgreSQL (HALO_KEYS_TEST_DATABASE_URL, a fresh
 * database per test): 200 parallel writes through the server leave a
 * consistent state and a valid audit chain; a SIGKILL in the middle of
 * writes loses no acknowledged change and leaves no half-written one; and a
 * second replica on the same database sees a participant created through the
 * first.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { Certificate_RevocationState } from '../../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { freshPostgresDatabase, type TestDatabase } from './store-fixtures.js';
import {
  createCertificatesUntilKilled,
  createDataProviderRemote,
  listAllCertificates,
  runCli,
  scratchDir,
  signedEncryptionKey,
  startServerProcess,
  type ServerProcess,
} from './server-fixtures.js';

interface AuditLine {
  action: string;
  resource: string;
}

function auditOf(url: string, dataDir: string): { ok: boolean; entries: AuditLine[] } {
  const verify = runCli(['kingdom', 'audit', '--data-dir', dataDir, '--database-url', url, '--json', 'verify']);
  const exported = runCli(['kingdom', 'audit', '--data-dir', dataDir, '--database-url', url, 'export']);
  assert.equal(exported.status, 0, exported.stderr);
  return {
    ok: verify.status === 0 && (JSON.parse(verify.stdout) as { ok: boolean }).ok,
    entries: exported.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditLine),
  };
}

describe('Kingdom server process on PostgreSQL', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function fresh(): Promise<{ db: TestDatabase; dataDir: string }> {
    const db = await freshPostgresDatabase();
    const scratch = scratchDir('halo-e2e-pg-');
    cleanups.push(() => scratch.remove(), () => db.drop());
    return { db, dataDir: scratch.path('kingdom') };
  }

  async function start(dataDir: string, url: string): Promise<ServerProcess> {
    const server = await startServerProcess({ dataDir, databaseUrl: url });
    cleanups.push(async () => void (await server.stop('SIGKILL')));
    return server;
  }

  test('200 parallel UpdatePublicKey, CreateCertificate and Revoke calls leave a consistent state and a valid audit chain', async () => {
    const { db, dataDir } = await fresh();
    const server = await start(dataDir, db.url);
    const dp = await createDataProviderRemote(server, 'EDP concurrency');
    const client = server.client({ tls: dp.pki.tls });

    // 50 certificates to revoke, registered first.
    const toRevoke: string[] = [];
    for (let i = 0; i < 50; i++) {
      const c = await client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: dp.pki.signingLeaf().der } });
      toRevoke.push(c.name);
    }
    const before = auditOf(db.url, dataDir).entries.length;
    const newLeaves = Array.from({ length: 100 }, () => dp.pki.signingLeaf().der);
    const keys = Array.from({ length: 50 }, () => signedEncryptionKey(dp.signing.privateKey));
    const calls: Promise<unknown>[] = [
      ...newLeaves.map((der) => client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: der } })),
      ...keys.map((k) =>
        client.publicKeys.updatePublicKey({ publicKey: { name: `${dp.name}/publicKey`, publicKey: k.signed, certificate: dp.certificateName } }),
      ),
      ...toRevoke.map((name, i) =>
        client.certificates.revokeCertificate({ name, revocationState: i % 2 ? Certificate_RevocationState.REVOKED : Certificate_RevocationState.HOLD }),
      ),
    ];
    assert.equal(calls.length, 200);
    const results = await Promise.allSettled(calls);
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    assert.deepEqual(failures, []);

    const certificates = await listAllCertificates(client, dp.name);
    assert.equal(certificates.length, 1 + 50 + 100);
    const byName = new Map(certificates.map((c) => [c.name, c]));
    toRevoke.forEach((name, i) =>
      assert.equal(byName.get(name)?.revocationState, i % 2 ? Certificate_RevocationState.REVOKED : Certificate_RevocationState.HOLD, name),
    );
    const registered = new Set(certificates.map((c) => Buffer.from(c.x509Der).toString('hex')));
    for (const der of newLeaves) assert.ok(registered.has(Buffer.from(der).toString('hex')));
    // The published key is one of those sent, whole (key and signature from the same update).
    const published = await client.dataProviders.getDataProvider({ name: dp.name });
    const sent = keys.findIndex((k) => Buffer.from(k.signed.message!.value).equals(Buffer.from(published.publicKey!.message!.value)));
    assert.ok(sent >= 0, 'the published key is one of the updates');
    assert.ok(Buffer.from(published.publicKey!.signature).equals(Buffer.from(keys[sent]!.signed.signature)));

    const audit = auditOf(db.url, dataDir);
    assert.equal(audit.ok, true, 'audit chain verifies');
    const added = audit.entries.slice(before);
    const count = (action: string) => added.filter((e) => e.action === action).length;
    assert.equal(count('CreateCertificate'), 100);
    assert.equal(count('UpdatePublicKey'), 50);
    assert.equal(count('RevokeCertificate'), 50);
    assert.equal((await server.stop('SIGTERM')), 0);
  });

  test('SIGKILL in the middle of writes: after a restart every acknowledged certificate is there, and nothing half-written', async () => {
    const { db, dataDir } = await fresh();
    const first = await start(dataDir, db.url);
    const dp = await createDataProviderRemote(first, 'EDP crash');
    const { acknowledged, sent, exit } = await createCertificatesUntilKilled(first, dp, { total: 400, killAfter: 60 });
    assert.equal(exit, 'SIGKILL');
    assert.ok(acknowledged.length >= 60 && sent.length < 400, `${acknowledged.length} acknowledged of ${sent.length} sent`);

    const second = await start(dataDir, db.url);
    const certificates = await listAllCertificates(second.client({ tls: dp.pki.tls }), dp.name);
    const present = new Set(certificates.map((c) => Buffer.from(c.x509Der).toString('hex')));
    for (const der of acknowledged) assert.ok(present.has(Buffer.from(der).toString('hex')), 'an acknowledged certificate was lost');
    const sentSet = new Set(sent.map((d) => Buffer.from(d).toString('hex')));
    for (const c of certificates.filter((c) => c.name !== dp.certificateName)) assert.ok(sentSet.has(Buffer.from(c.x509Der).toString('hex')), 'a certificate nobody sent');
    const audit = auditOf(db.url, dataDir);
    assert.equal(audit.ok, true, 'audit chain verifies after the crash');
    // Each certificate row has its audit entry and no entry lacks its row: nothing half-written.
    const created = audit.entries.filter((e) => e.action === 'CreateCertificate').map((e) => e.resource).sort();
    assert.deepEqual(created, certificates.map((c) => c.name).sort());
    assert.equal(await second.stop('SIGTERM'), 0);
  });

  test('a second replica on the same database trusts a participant created through the first', async () => {
    const { db, dataDir } = await fresh();
    const scratch = scratchDir('halo-e2e-pg-replica-');
    cleanups.push(() => scratch.remove());
    const one = await start(dataDir, db.url);
    // The replica has its own data dir (own TLS material), and refreshes trust often.
    const two = await startServerProcess({ dataDir: scratch.path('replica'), databaseUrl: db.url, args: ['--trust-refresh-ms', '200'] });
    cleanups.push(async () => void (await two.stop('SIGKILL')));
    const dp = await createDataProviderRemote(one, 'EDP replicated');
    // Poll the replica until its periodic refresh picked up the new root.
    let name = '';
    for (let i = 0; i < 100 && name === ''; i++) {
      try {
        name = (await two.client({ tls: dp.pki.tls }).dataProviders.getDataProvider({ name: dp.name })).name;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(name, dp.name);
  });
});
