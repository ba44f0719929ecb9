/**
 * The server process on the embedded database, killed with SIGKILL in the
 * middle of writes: the data dir reopens, every acknowledged certificate is
 * there, nothing nobody sent appeared, and the audit chain verifies with one
 * CreateCertificate entry per certificate row.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  createCertificatesUntilKilled,
  createDataProviderRemote,
  listAllCertificates,
  runCli,
  scratchDir,
  startServerProcess,
  type ServerProcess,
} from './server-fixtures.js';

const scratch = scratchDir('halo-e2e-restart-');
const servers: ServerProcess[] = [];
after(async () => {
  for (const s of servers) await s.stop('SIGKILL');
  scratch.remove();
});

test('SIGKILL during writes on the embedded database: the data dir reopens with every acknowledged change', async () => {
  const dataDir = scratch.path('kingdom');
  const first = await startServerProcess({ dataDir });
  servers.push(first);
  const dp = await createDataProviderRemote(first, 'EDP embedded crash');
  const { acknowledged, sent, exit } = await createCertificatesUntilKilled(first, dp, { total: 300, killAfter: 40 });
  assert.equal(exit, 'SIGKILL');
  assert.ok(acknowledged.length >= 40, `${acknowledged.length} acknowledged`);
  // The killed server's server.json is stale; the next start replaces it.
  assert.ok(existsSync(join(dataDir, 'server.json')));

  const second = await startServerProcess({ dataDir });
  servers.push(second);
  const certificates = await listAllCertificates(second.client({ tls: dp.pki.tls }), dp.name);
  const present = new Set(certificates.map((c) => Buffer.from(c.x509Der).toString('hex')));
  const lost = acknowledged.filter((der) => !present.has(Buffer.from(der).toString('hex')));
  assert.equal(lost.length, 0, `${lost.length} of ${acknowledged.length} acknowledged certificates lost`);
  const sentSet = new Set(sent.map((d) => Buffer.from(d).toString('hex')));
  for (const c of certificates.filter((c) => c.name !== dp.certificateName)) {
    assert.ok(sentSet.has(Buffer.from(c.x509Der).toString('hex')), 'a certificate nobody sent');
  }
  assert.equal(await second.stop('SIGTERM'), 0);

  const verify = runCli(['kingdom', 'audit', '--data-dir', dataDir, '--json', 'verify']);
  assert.equal(verify.status, 0, verify.stderr);
  const exported = runCli(['kingdom', 'audit', '--data-dir', dataDir, 'export']);
  const created = exported.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { action: string; resource: string })
    .filter((e) => e.action === 'CreateCertificate')
    .map((e) => e.resource)
    .sort();
  assert.deepEqual(created, certificates.map((c) => c.name).sort());
});
