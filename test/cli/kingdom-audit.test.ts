/**
 * `halo-keys kingdom audit verify|export` on an embedded Kingdom database: an
 * intact chain verifies (exit 0), an edited entry is found (exit 3, one line).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { DATA_DIR_FILES } from '../../src/kingdom/server/bootstrap.js';
import { openKingdomStore } from '../../src/kingdom/store/index.js';
import { buildIfStale, haloKeys, scratchDir } from './run-cli.js';

const certificate = () => ({
  x509Der: randomBytes(64),
  subjectKeyIdentifier: randomBytes(20),
  notValidBefore: new Date('2025-01-01T00:00:00Z'),
  notValidAfter: new Date('2035-01-01T00:00:00Z'),
});

describe('halo-keys kingdom audit', () => {
  const dataDir = scratchDir('halo-kingdom-audit-').dir;
  const dbDir = join(dataDir, DATA_DIR_FILES.database);

  before(async () => {
    buildIfStale('src/cli/commands/kingdom.ts');
    const store = await openKingdomStore({ dataDir: dbDir });
    try {
      const { party } = await store.createParty({
        actor: 'kingdom-admin',
        kind: 'MODEL_PROVIDER',
        displayName: 'MP 1',
        rootCertificateDer: randomBytes(64),
        rootSubjectKeyIdentifier: randomBytes(20),
        certificate: certificate(),
      });
      await store.createCertificate({ actor: 'modelProviders/x', owner: party.key, certificate: certificate() });
    } finally {
      await store.close();
    }
  });

  it('verifies an intact chain and exports it', () => {
    const verify = haloKeys(['kingdom', 'audit', '--data-dir', dataDir, '--json', 'verify']);
    assert.equal(verify.code, 0, verify.stderr);
    const report = JSON.parse(verify.stdout) as { ok: boolean; count: string };
    assert.equal(report.ok, true);
    const count = Number(report.count);
    assert.ok(count >= 2, report.count);
    const csv = haloKeys(['kingdom', 'audit', '--data-dir', dataDir, 'export', '--format', 'csv']);
    assert.equal(csv.code, 0, csv.stderr);
    assert.equal(csv.stdout.trimEnd().split('\n').length, count + 1); // header + one row per entry
  });

  it('exits 3 with one line naming the first edited entry', async () => {
    const store = await openKingdomStore({ dataDir: dbDir });
    try {
      await store.database.query(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 2`);
    } finally {
      await store.close();
    }
    const verify = haloKeys(['kingdom', 'audit', '--data-dir', dataDir, 'verify']);
    assert.equal(verify.code, 3, verify.stderr);
    const lines = verify.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, verify.stderr);
    assert.match(lines[0]!, /^halo-keys: audit chain broken at entry 2/);
  });
});
