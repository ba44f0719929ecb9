/** Server settings: defaults, the YAML file under the flags, and one-line errors for bad values. */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_MAX_MESSAGE_BYTES, parseListen, resolveServeConfig } from '../../src/kingdom/server/config.js';
import { DEFAULT_CONNECTION_LIMITS } from '../../src/kingdom/server/connection-limits.js';
import { ServerError } from '../../src/kingdom/server/errors.js';
import { DEFAULT_EMBEDDED_CACHE_MIB } from '../../src/kingdom/store/database.js';
import { DEFAULT_MAX_CERTIFICATE_BYTES } from '../../src/kingdom/server/field-limits.js';
import { scratchDir } from './server-fixtures.js';

const scratch = scratchDir('halo-config-');
after(() => scratch.remove());

test('defaults: ./.data/kingdom, 127.0.0.1:8443, strict, 4 MiB messages', () => {
  const c = resolveServeConfig({});
  assert.equal(c.dataDir, resolve('./.data/kingdom'));
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 8443 });
  assert.equal(c.mode, 'strict');
  assert.equal(c.maxMessageBytes, DEFAULT_MAX_MESSAGE_BYTES);
  assert.equal(c.databaseUrl, undefined);
  assert.equal(c.tlsCertFile, undefined);
});

test('listen addresses: host names, IPv4, bracketed IPv6, port 0, a bare port on 127.0.0.1', () => {
  assert.deepEqual(parseListen('localhost:0'), { host: 'localhost', port: 0 });
  assert.deepEqual(parseListen('[::1]:9443'), { host: '::1', port: 9443 });
  assert.deepEqual(parseListen('31444'), { host: '127.0.0.1', port: 31444 });
  for (const bad of ['99999', '127.0.0.1', '127.0.0.1:70000', ':8443', '::1:8443', 'a b:1']) {
    assert.throws(() => parseListen(bad), (e: unknown) => e instanceof ServerError && e.code === 'CONFIG_INVALID', bad);
  }
});

test('a YAML file fills what the flags leave out; its relative paths are relative to it', () => {
  const file = scratch.path('kingdom.yaml');
  writeFileSync(
    file,
    'listen: 0.0.0.0:9443\ndatabaseUrl: postgres://k@db:5432/kingdom\ntls-cert-file: tls/server.pem\ntlsKeyFile: tls/server.key\ntrustedRoots: [roots.pem]\nmode: compatible\nmaxMessageBytes: 1024\nmetricsListen: 127.0.0.1:9090\n',
  );
  const c = resolveServeConfig({ config: file, mode: 'strict' });
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9443 });
  assert.equal(c.databaseUrl, 'postgres://k@db:5432/kingdom');
  assert.equal(c.tlsCertFile, scratch.path('tls/server.pem'));
  assert.equal(c.tlsKeyFile, scratch.path('tls/server.key'));
  assert.deepEqual(c.trustedRootsFiles, [scratch.path('roots.pem')]);
  assert.equal(c.mode, 'strict', 'the flag wins over the file');
  assert.equal(c.maxMessageBytes, 1024);
  assert.deepEqual(c.metricsListen, { host: '127.0.0.1', port: 9090 });
});

test('HALO_KEYS_DATABASE_URL supplies the database URL (a Kubernetes Secret), the flag and the file win over it', () => {
  const saved = process.env.HALO_KEYS_DATABASE_URL;
  // As a Secret file often holds it: with a trailing newline.
    process.env.HALO_KEYS_DATABASE_URL = 'postgres://kingdom:secret@db:5432/kingdom\n';
  try {
    assert.equal(resolveServeConfig({}).databaseUrl, 'postgres://kingdom:secret@db:5432/kingdom');
    assert.equal(resolveServeConfig({ databaseUrl: 'postgres://other@db/k' }).databaseUrl, 'postgres://other@db/k');
    process.env.HALO_KEYS_DATABASE_URL = 'mysql://x';
    assert.throws(() => resolveServeConfig({}), /--database-url must be a postgres/);
  } finally {
    if (saved === undefined) delete process.env.HALO_KEYS_DATABASE_URL;
    else process.env.HALO_KEYS_DATABASE_URL = saved;
  }
});

test('bad settings are CONFIG_INVALID errors that name the flag', () => {
  const cases: [Parameters<typeof resolveServeConfig>[0], RegExp][] = [
    [{ mode: 'lax' }, /--mode must be strict or compatible/],
    [{ tlsCertFile: 'a.pem' }, /--tls-cert-file and --tls-key-file go together/],
    [{ databaseUrl: 'mysql://x' }, /--database-url must be a postgres/],
    [{ listen: 'nowhere' }, /--listen must be HOST:PORT/],
    [{ config: scratch.path('missing.yaml') }, /config file .* is not found/],
  ];
  for (const [flags, message] of cases) {
    assert.throws(() => resolveServeConfig(flags), (e: unknown) => e instanceof ServerError && e.code === 'CONFIG_INVALID' && message.test(e.message));
  }
  const unknown = scratch.path('unknown.yaml');
  writeFileSync(unknown, 'listn: 1.2.3.4:5\n');
  assert.throws(() => resolveServeConfig({ config: unknown }), /unknown setting "listn"/);
  const notMap = scratch.path('list.yaml');
  writeFileSync(notMap, '- a\n- b\n');
  assert.throws(() => resolveServeConfig({ config: notMap }), /must be a YAML mapping/);
  const badNumber = scratch.path('num.yaml');
  writeFileSync(badNumber, 'maxMessageBytes: -1\n');
  assert.throws(() => resolveServeConfig({ config: badNumber }), /--max-message-bytes must be a positive integer/);
});

test('connection limits and the certificate size: defaults, YAML keys in either spelling, flags over the file', () => {
  const d = resolveServeConfig({});
  assert.deepEqual(d.connectionLimits, DEFAULT_CONNECTION_LIMITS);
  assert.equal(d.maxCertificateBytes, DEFAULT_MAX_CERTIFICATE_BYTES);
  const file = scratch.path('limits.yaml');
  writeFileSync(
    file,
    'tls-handshake-timeout-ms: 1500\nmaxPendingHandshakes: 20\nidle-timeout-ms: 2000\nrequestBodyTimeoutMs: 3000\nmax-concurrent-streams: 8\nmaxCertificateBytes: 4096\n',
  );
  const c = resolveServeConfig({ config: file, maxConcurrentStreams: 16 });
  assert.deepEqual(c.connectionLimits, { tlsHandshakeTimeoutMs: 1500, maxPendingHandshakes: 20, idleTimeoutMs: 2000, requestBodyTimeoutMs: 3000, maxConcurrentStreams: 16 });
  assert.equal(c.maxCertificateBytes, 4096);
  assert.throws(() => resolveServeConfig({ requestBodyTimeoutMs: 0 }), /--request-body-timeout-ms must be a positive integer/);
});

test("the embedded database's page cache: 16 MiB by default, from the flag or the file, a positive integer", () => {
  assert.equal(resolveServeConfig({}).embeddedCacheMb, DEFAULT_EMBEDDED_CACHE_MIB);
  assert.equal(DEFAULT_EMBEDDED_CACHE_MIB, 16);
  assert.equal(resolveServeConfig({ embeddedCacheMb: 64 }).embeddedCacheMb, 64);
  const file = scratch.path('cache.yaml');
  writeFileSync(file, 'embedded-cache-mb: 32\n');
  assert.equal(resolveServeConfig({ config: file }).embeddedCacheMb, 32);
  for (const bad of [0, -1, 1.5]) {
    assert.throws(() => resolveServeConfig({ embeddedCacheMb: bad }), (e: unknown) => e instanceof ServerError && e.code === 'CONFIG_INVALID' && /--embedded-cache-mb/.test(e.message), String(bad));
  }
});
