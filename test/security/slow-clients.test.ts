/**
 * Clients that hold the server's resources without finishing anything:
 * TLS handshakes that stall (slowloris), streams whose request never ends,
 * idle HTTP/2 sessions, and an upload refused as RESOURCE_EXHAUSTED that
 * the client keeps sending. Each is cut by its own limit while a legitimate
 * client keeps being served. Against a real server process on the embedded
 * database: these limits live in the network front, before any store.
 * The waits below are liveness guards (something must happen), not timings.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { ClientHttp2Session } from 'node:http2';
import { Code } from '@connectrpc/connect';
import { connectH2, grpcUnaryRaw, type H2Target } from '../kingdom/h2-grpc.js';
import { createDataProviderRemote, scratchDir, startServerProcess, type RemoteDataProvider, type ServerProcess } from '../kingdom/server-fixtures.js';
import { CREATE_CERTIFICATE, GET_DATA_PROVIDER, getDataProviderBody, stalledHandshakes, stillOpen, unfinishedCall, within } from './attacks.js';

const MAX_PENDING_HANDSHAKES = 50;

type Settings = { maxConcurrentStreams?: number; initialWindowSize?: number };

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  await within(
    (async () => {
      while (!condition()) await new Promise((r) => setTimeout(r, 50));
    })(),
    ms,
    what,
  );
}

describe('slow and unfinished clients', () => {
  const scratch = scratchDir('halo-sec-slow-');
  let strict: ServerProcess;
  let dp: RemoteDataProvider;
  const sessions: ClientHttp2Session[] = [];
  const targetOf = (server: ServerProcess, withCert = true): H2Target => ({
    port: server.port,
    ca: server.kingdomRootPem,
    servername: 'localhost',
    ...(withCert ? { cert: dp.pki.tls.certPem, key: dp.pki.tls.keyPem } : {}),
  });
  const session = async (server: ServerProcess, withCert = true) => {
    const s = await connectH2(targetOf(server, withCert));
    s.on('error', () => {});
    sessions.push(s);
    return s;
  };
  const legitimateCall = async (server: ServerProcess) => {
    const answer = await grpcUnaryRaw(await session(server), GET_DATA_PROVIDER, getDataProviderBody(dp.name));
    assert.equal(answer.status, 0, answer.message);
  };

  before(async () => {
    strict = await startServerProcess({
      dataDir: scratch.path('kingdom'),
      args: [
        '--tls-handshake-timeout-ms', '1500',
        '--max-pending-handshakes', String(MAX_PENDING_HANDSHAKES),
        '--idle-timeout-ms', '2000',
        '--request-body-timeout-ms', '1000',
        '--max-concurrent-streams', '16',
        '--max-message-bytes', '65536',
      ],
    });
    dp = await createDataProviderRemote(strict, 'Patient EDP');
  });
  after(async () => {
    for (const s of sessions) s.destroy();
    await strict?.stop('SIGKILL');
    scratch.remove();
  });

  test('stalled TLS handshakes beyond the limit are cut oldest first, the rest at the handshake timeout, and a real client gets through', async () => {
    const stalled = await stalledHandshakes(strict.port, 4 * MAX_PENDING_HANDSHAKES);
    await legitimateCall(strict);
    await until(() => stillOpen(stalled) <= MAX_PENDING_HANDSHAKES, 10_000, `at most ${MAX_PENDING_HANDSHAKES} stalled handshakes left open`);
    await until(() => stillOpen(stalled) === 0, 15_000, 'every stalled handshake closed');
    await legitimateCall(strict);
  });

  test('a stream whose request never ends is reset, and its session keeps serving', async () => {
    const s = await session(strict);
    const { closed } = unfinishedCall(s, GET_DATA_PROVIDER, { declaredBytes: 100, sentBytes: 10 });
    const end = await within(closed, 15_000, 'the unfinished stream closed by the server');
    assert.ok(end.rstCode !== 0 || end.status !== undefined, `stream closed with code ${end.rstCode}`);
    const answer = await grpcUnaryRaw(s, GET_DATA_PROVIDER, getDataProviderBody(dp.name));
    assert.equal(answer.status, 0, answer.message);
  });

  test('an idle session is closed, and the server announces its stream limit and a stream window of one message', async () => {
    const s = await session(strict);
    const settings = await within(new Promise<Settings>((resolve) => s.once('remoteSettings', resolve)), 5000, 'the server SETTINGS');
    assert.equal(settings.maxConcurrentStreams, 16);
    // --max-message-bytes 65536, with the 5-byte gRPC prefix.
    assert.equal(settings.initialWindowSize, 65_541);
    await within(new Promise((resolve) => s.once('close', resolve)), 15_000, 'the idle session closed by the server');
  });

  test('a client filling every stream window of its connection with requests it never ends is reset, and others are served meanwhile', async () => {
    // Default message limit (4 MiB), so streams get the largest window (1 MiB) and the connection four of them.
    const other = await startServerProcess({ dataDir: scratch.path('windows'), args: ['--request-body-timeout-ms', '1500', '--max-concurrent-streams', '16'] });
    try {
      const flooder = await connectH2({ port: other.port, ca: other.kingdomRootPem, servername: 'localhost', cert: dp.pki.tls.certPem, key: dp.pki.tls.keyPem });
      flooder.on('error', () => {});
      sessions.push(flooder);
      const settings = await within(new Promise<Settings>((resolve) => flooder.once('remoteSettings', resolve)), 5000, 'the server SETTINGS');
      assert.equal(settings.initialWindowSize, 1024 * 1024);
      const calls = Array.from({ length: 16 }, () => unfinishedCall(flooder, GET_DATA_PROVIDER, { declaredBytes: 4 * 1024 * 1024 - 1, sentBytes: 1024 * 1024 }));
      const s = await connectH2({ port: other.port, ca: other.kingdomRootPem, servername: 'localhost', cert: dp.pki.tls.certPem, key: dp.pki.tls.keyPem });
      s.on('error', () => {});
      sessions.push(s);
      // The DataProvider is registered on the strict server only: this one answers UNAUTHENTICATED, an answer all the same.
      const answer = await grpcUnaryRaw(s, GET_DATA_PROVIDER, getDataProviderBody(dp.name));
      assert.equal(answer.status, Code.Unauthenticated, answer.message);
      const ends = await within(Promise.all(calls.map((c) => c.closed)), 20_000, 'every unfinished stream closed by the server');
      for (const end of ends) assert.ok(end.rstCode !== 0 || end.status !== undefined, `stream closed with code ${end.rstCode}`);
    } finally {
      await other.stop('SIGKILL');
    }
  });

  test('after RESOURCE_EXHAUSTED the server resets the stream instead of waiting for the rest of the upload', async () => {
    // A server whose request-body timeout is far away, so only the reset can end the stream.
    const other = await startServerProcess({ dataDir: scratch.path('other'), args: ['--max-message-bytes', '65536', '--request-body-timeout-ms', '600000'] });
    try {
      const s = await connectH2({ port: other.port, ca: other.kingdomRootPem, servername: 'localhost' });
      s.on('error', () => {});
      sessions.push(s);
      const { closed } = unfinishedCall(s, CREATE_CERTIFICATE, { declaredBytes: 10 * 1024 * 1024, sentBytes: 16 * 1024 });
      const end = await within(closed, 15_000, 'the refused upload closed by the server');
      assert.equal(end.status, Code.ResourceExhausted);
    } finally {
      await other.stop('SIGKILL');
    }
  });
});
