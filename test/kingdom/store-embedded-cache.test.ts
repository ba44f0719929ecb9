/**
 * The embedded database's page cache (`kingdom serve --embedded-cache-mb`):
 * PGlite starts with that shared_buffers, on a new data directory (created,
 * then opened again to drop initdb's memory) and on an existing one, and
 * what was written before a reopen is there after it.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_EMBEDDED_CACHE_MIB, openDatabase } from '../../src/kingdom/store/database.js';
import { scratchDir } from './server-fixtures.js';

const scratch = scratchDir('halo-embedded-cache-');
after(() => scratch.remove());

const sharedBuffers = async (db: Awaited<ReturnType<typeof openDatabase>>) => (await db.query<{ shared_buffers: string }>('SHOW shared_buffers'))[0]!.shared_buffers;

test('shared_buffers: the default on a new data directory, the given size on reopening it, rows kept across', async () => {
  const dataDir = join(scratch.dir, 'db');
  const first = await openDatabase({ dataDir });
  try {
    assert.equal(await sharedBuffers(first), `${DEFAULT_EMBEDDED_CACHE_MIB}MB`);
    await first.exec('CREATE TABLE kept (v int); INSERT INTO kept VALUES (7);');
  } finally {
    await first.close();
  }
  const second = await openDatabase({ dataDir, embeddedCacheMiB: 48 });
  try {
    assert.equal(await sharedBuffers(second), '48MB');
    assert.deepEqual(await second.query('SELECT v FROM kept'), [{ v: 7 }]);
  } finally {
    await second.close();
  }
});

test('an in-memory database takes the setting too', async () => {
  const db = await openDatabase({ embeddedCacheMiB: 8 });
  try {
    assert.equal(await sharedBuffers(db), '8MB');
  } finally {
    await db.close();
  }
});
