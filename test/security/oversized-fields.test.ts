/**
 * Byte fields with no reason to be large are bounded before anything is
 * parsed or stored, and a list page never fails for being too big: it stops
 * short and hands back a next_page_token. Against a real server process, on
 * the embedded database and on PostgreSQL (the list pages come from the
 * store, so the engine matters there).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { toBinary } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { KingdomClientError } from '../../src/client/index.js';
import { ListCertificatesResponseSchema } from '../../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../../src/lib/clock.js';
import { issueLeaf } from '../../src/pki/ca.js';
import { freshPostgresDatabase } from '../kingdom/store-fixtures.js';
import {
  createDataProviderRemote,
  scratchDir,
  signedEncryptionKey,
  startServerProcess,
  type RemoteDataProvider,
  type ServerProcess,
} from '../kingdom/server-fixtures.js';

/** The server's message limit in these tests: small, so a few certificates fill a page. */
const MAX_MESSAGE_BYTES = 256 * 1024;
const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** A signing leaf under `dp`'s root padded with DNS names to about `bytes`. */
function bigLeaf(dp: RemoteDataProvider, bytes: number): Uint8Array {
  const names = Math.ceil(bytes / 64);
  const altNames = Array.from({ length: names }, (_, i) => ({ type: 'dns' as const, value: `h${i}-${'x'.repeat(40)}.padding.example.com` }));
  const leaf = issueLeaf(
    { certificate: dp.pki.root.certificate, privateKey: dp.pki.root.privateKey },
    { profile: 'signing', subject: '/O=Padded/CN=Padded signing', altNames, clock: systemClock },
  );
  return leaf.der;
}

async function rejects(call: Promise<unknown>, code: Code, reason: string): Promise<KingdomClientError> {
  let caught: unknown;
  await call.catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof KingdomClientError, `expected ${Code[code]}, got ${String(caught)}`);
  assert.equal(caught.grpcCode, code, caught.message);
  assert.equal(caught.reason, reason, caught.message);
  return caught;
}

for (const engine of ['pglite', 'postgres'] as const) {
  describe(`oversized fields and pages (${engine})`, () => {
    const cleanups: (() => Promise<unknown> | void)[] = [];
    after(async () => {
      for (const c of cleanups.reverse()) await c();
    });

    async function start(): Promise<ServerProcess> {
      const scratch = scratchDir('halo-sec-fields-');
      cleanups.push(() => scratch.remove());
      let databaseUrl: string | undefined;
      if (engine === 'postgres') {
        const db = await freshPostgresDatabase();
        cleanups.push(() => db.drop());
        databaseUrl = db.url;
      }
      const server = await startServerProcess({
        dataDir: scratch.path('kingdom'),
        ...(databaseUrl ? { databaseUrl } : {}),
        args: ['--max-message-bytes', String(MAX_MESSAGE_BYTES)],
      });
      cleanups.push(() => server.stop('SIGKILL'));
      return server;
    }

    test('CreateCertificate refuses a certificate over 64 KiB with INVALID_ARGUMENT and stores nothing', async () => {
      const server = await start();
      const dp = await createDataProviderRemote(server, 'Big Cert EDP');
      const client = server.client({ tls: dp.pki.tls });
      const der = bigLeaf(dp, MAX_CERTIFICATE_BYTES + 4096);
      assert.ok(der.length > MAX_CERTIFICATE_BYTES && der.length < MAX_MESSAGE_BYTES, `leaf is ${der.length} bytes`);
      const err = await rejects(client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: der } }), Code.InvalidArgument, 'FIELD_TOO_LARGE');
      assert.equal(err.metadata.limit, String(MAX_CERTIFICATE_BYTES));
      const listed = await client.certificates.listCertificates({ parent: dp.name });
      assert.deepEqual(listed.certificates.map((c) => c.name), [dp.certificateName]);
      // Just under the limit is fine.
      const fits = bigLeaf(dp, MAX_CERTIFICATE_BYTES - 4096);
      assert.ok(fits.length <= MAX_CERTIFICATE_BYTES, `leaf is ${fits.length} bytes`);
      await client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: fits } });
    });

    test('a public key signature of 20 KB is refused before it is verified', async () => {
      const server = await start();
      const dp = await createDataProviderRemote(server, 'Big Sig EDP');
      const { signed } = signedEncryptionKey(dp.signing.privateKey);
      signed.signature = new Uint8Array(20 * 1024);
      await rejects(
        server.client({ tls: dp.pki.tls }).publicKeys.updatePublicKey({ publicKey: { name: `${dp.name}/publicKey`, publicKey: signed, certificate: dp.certificateName } }),
        Code.InvalidArgument,
        'FIELD_TOO_LARGE',
      );
    });

    test('ListCertificates pages that would exceed the message limit stop early with a next_page_token', async () => {
      const server = await start();
      const dp = await createDataProviderRemote(server, 'Many Certs EDP');
      const client = server.client({ tls: dp.pki.tls });
      const created = [dp.certificateName];
      for (let i = 0; i < 12; i++) {
        const der = bigLeaf(dp, 50 * 1024);
        created.push((await client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: der } })).name);
      }
      const seen: string[] = [];
      let pageToken = '';
      let pages = 0;
      do {
        const page = await client.certificates.listCertificates({ parent: dp.name, pageSize: 50, pageToken });
        assert.ok(page.certificates.length > 0, 'a page holds at least one certificate');
        assert.ok(toBinary(ListCertificatesResponseSchema, page).length <= MAX_MESSAGE_BYTES);
        seen.push(...page.certificates.map((c) => c.name));
        pageToken = page.nextPageToken;
        pages++;
      } while (pageToken !== '');
      assert.ok(pages > 1, 'the certificates took more than one page');
      assert.deepEqual([...seen].sort(), [...created].sort());
    });
  });
}
