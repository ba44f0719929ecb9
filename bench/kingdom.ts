/**
 * The Kingdom over mTLS: GetCertificate and CreateCertificate calls per
 * second and p99 latency at 1, 16 and 128 concurrent callers, on the
 * embedded database and on PostgreSQL (when one is reachable), beside a bare
 * echo of GetCertificate served by the same stack (TLS, HTTP/2, handler,
 * metrics and authentication interceptors) without touching the store.
 * Server and client share this process, so the RSS printed covers both.
 */
import { type KeyObject, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import pg from 'pg';
import { createKingdomClient, type KingdomClient } from '../src/client/index.js';
import { CertificateSchema } from '../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../src/lib/clock.js';
import { encodePem } from '../src/lib/pem.js';
import { initRoot, issueLeaf } from '../src/pki/ca.js';
import { adminTokenSha256 } from '../src/kingdom/server/admin-token.js';
import { ensureDevTls } from '../src/kingdom/server/bootstrap.js';
import { silentLogger } from '../src/kingdom/server/logger.js';
import { startKingdomServer, type KingdomServer } from '../src/kingdom/server/server.js';
import { participantRoots } from '../src/kingdom/server/trusted-roots.js';
import { PrincipalResolver } from '../src/kingdom/service/authentication.js';
import type { KingdomServices } from '../src/kingdom/service/context.js';
import { kingdomRoutes, routerOptions } from '../src/kingdom/service/routes.js';
import { openKingdomStore, type SqlKingdomStore } from '../src/kingdom/store/index.js';
import { generateKeyset } from '../src/crypto/keyset-templates.js';
import { keysetBytes, publicKeyset } from '../src/crypto/keyset.js';
import { signMessage } from '../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema, EncryptionPublicKey_Format } from '../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { percentile, printFigures, type Figure } from './harness.js';

/** `HALO_BENCH_KINGDOM_CONCURRENCY=16,128` measures only those. */
const CONCURRENCY = (process.env.HALO_BENCH_KINGDOM_CONCURRENCY ?? '1,16,128').split(',').map(Number);
const MS_PER_FIGURE = 1200;
const ADMIN_TOKEN = 'hk_admin_bench';

interface Measured {
  opsPerSecond: number;
  p99Ms: number;
  /** CPU time of this process (server and client) per call: unlike ops/s, not moved much by other load on the machine. */
  cpuUsPerCall: number;
}

/** `concurrency` callers loop on `call` for about `ms`; ops/s and p99 of the calls. */
export async function measure(call: (i: number) => Promise<unknown>, concurrency: number, ms: number): Promise<Measured> {
  let i = 0;
  const warmUntil = performance.now() + 200;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < warmUntil) await call(i++);
  }));
  const latencies: number[] = [];
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const end = start + ms;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const t = performance.now();
      await call(i++);
      latencies.push(performance.now() - t);
    }
  }));
  const elapsed = performance.now() - start;
  const cpu = process.cpuUsage(cpuStart);
  return {
    opsPerSecond: (latencies.length * 1000) / elapsed,
    p99Ms: percentile(latencies, 99),
    cpuUsPerCall: (cpu.user + cpu.system) / latencies.length,
  };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}

export async function freshBenchPostgres(): Promise<{ url: string; drop(): Promise<void> } | undefined> {
  const admin = process.env.HALO_KEYS_TEST_DATABASE_URL ?? ((await reachable('127.0.0.1', 5432)) ? 'postgres://postgres@127.0.0.1:5432/postgres' : undefined);
  if (!admin) return undefined;
  const name = `halo_bench_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const c = new pg.Client({ connectionString: admin });
  try {
    await c.connect();
    await c.query(`CREATE DATABASE ${name}`);
  } catch {
    return undefined;
  } finally {
    await c.end().catch(() => {});
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

/**
 * A P-256 public key that no key-generation job shares. Node 20 can deadlock
 * when a garbage collection, run while a key made by generateKeyPairSync is
 * exported as JWK (as the CA does to build the SPKI), finalizes the job that
 * made that same key: the finalizer waits for the key's lock, which the
 * export holds. Thousands of leaves made that way hung this bench now and
 * then; a key re-imported from DER has a lock of its own.
 */
function freshPublicKey(): KeyObject {
  const { publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'der' },
  });
  return createPublicKey({ key: publicKey, format: 'der', type: 'spki' });
}

/** CPU per call lines, printed after the table. */
const cpuNotes: string[] = [];

function groupCommitNote(label: string, store: SqlKingdomStore): string {
  const w = store.writeStats;
  return `${label}: ${w.operations} writes, ${w.batches} shared transactions (largest ${w.largestBatch}), ${w.batchRetries} batch retries`;
}

async function benchBackend(label: string, store: SqlKingdomStore, dir: string): Promise<Figure[]> {
  const clock = systemClock;
  const tls = ensureDevTls(dir, clock);
  const services: KingdomServices = { store, clock, mode: 'strict', resolver: new PrincipalResolver(store, { clock }) };
  let server: KingdomServer | undefined;
  const interceptors = routerOptions(services, { admin: { tokenSha256: adminTokenSha256(ADMIN_TOKEN) } }).interceptors ?? [];
  const common = {
    listen: { host: '127.0.0.1', port: 0 },
    tls,
    interceptors,
    participantRoots: () => participantRoots(store),
    health: async () => {},
    maxMessageBytes: 4 * 1024 * 1024,
    drainTimeoutMs: 5000,
    logger: silentLogger(),
  };
  server = await startKingdomServer({ ...common, routes: kingdomRoutes({ ...services, onTrustChanged: async () => void (await server?.reloadTrust()) }) });

  // A DataProvider with a root made by our CA.
  const root = initRoot({ subject: '/O=Bench/CN=Bench EDP Root', clock });
  const authority = { certificate: root.certificate, privateKey: root.privateKey };
  const signing = issueLeaf(authority, { profile: 'signing', subject: '/O=Bench/CN=signing', clock });
  const tlsLeaf = issueLeaf(authority, { profile: 'tls-client', subject: '/O=Bench/CN=client', clock });
  const key = signMessage(
    EncryptionPublicKeySchema,
    create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(publicKeyset(generateKeyset())) }),
    signing.privateKey!,
  );
  const trustedRoots = tls.certPem.slice(tls.certPem.indexOf('-----BEGIN CERTIFICATE-----', 10));
  const client = (port: number, extra = {}): KingdomClient =>
    createKingdomClient({ target: `127.0.0.1:${port}`, trustedRoots, serverName: 'localhost', ...extra });
  const dp = await client(server.address.port, { adminToken: ADMIN_TOKEN }).admin.createDataProvider({
    registration: { rootCertificateDer: root.der, certificateDer: signing.der, publicKey: key },
  });
  const mtls = { clientCertificate: encodePem('CERTIFICATE', tlsLeaf.der), clientKey: tlsLeaf.privateKey!.export({ type: 'pkcs8', format: 'pem' }).toString() };

  // The echo: GetCertificate answered from memory by the same stack.
  const echoCertificate = create(CertificateSchema, { name: dp.certificate, x509Der: signing.der, subjectKeyIdentifier: signing.certificate.subjectKeyIdentifier! });
  const echoRoutes = (router: ConnectRouter) => router.service(Certificates, { getCertificate: async () => echoCertificate });
  const echo = await startKingdomServer({ ...common, routes: echoRoutes });

  const kingdom = client(server.address.port, mtls);
  const echoClient = client(echo.address.port, mtls);
  const figures: Figure[] = [];
  for (const c of CONCURRENCY) {
    const baseline = await measure(() => echoClient.certificates.getCertificate({ name: dp.certificate }), c, MS_PER_FIGURE);
    const get = await measure(() => kingdom.certificates.getCertificate({ name: dp.certificate }), c, MS_PER_FIGURE);
    const leaves = Array.from({ length: Math.max(3000, c * 40) }, () =>
      issueLeaf(authority, { profile: 'signing', subject: '/O=Bench/CN=leaf', clock, publicKey: freshPublicKey() }).der,
    );
    const created = await measure(
      (i) => {
        const der = leaves[i];
        if (!der) throw new Error('bench ran out of pre-issued leaves');
        return kingdom.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: der } });
      },
      c,
      MS_PER_FIGURE,
    );
    cpuNotes.push(
      `${label} c=${c}: echo ${baseline.cpuUsPerCall.toFixed(0)} us, GetCertificate ${get.cpuUsPerCall.toFixed(0)} us, ` +
        `CreateCertificate ${created.cpuUsPerCall.toFixed(0)} us`,
    );
    figures.push(
      { name: `GetCertificate ${label} c=${c}`, ours: get.opsPerSecond, baseline: baseline.opsPerSecond, unit: 'ops/s', baselineName: 'echo', target: '>= 0.7' },
      { name: `GetCertificate p99 ${label} c=${c}`, ours: get.p99Ms, baseline: baseline.p99Ms, unit: 'ms', baselineName: 'echo p99' },
      {
        name: `CreateCertificate ${label} c=${c}`,
        ours: created.opsPerSecond,
        baseline: baseline.opsPerSecond,
        unit: 'ops/s',
        baselineName: 'echo',
        ...(label === 'postgres' ? { target: '>= 1000/s' } : {}),
      },
      { name: `CreateCertificate p99 ${label} c=${c}`, ours: created.p99Ms, baseline: baseline.p99Ms, unit: 'ms', baselineName: 'echo p99' },
    );
  }
  await echo.close();
  await server.close();
  return figures;
}

export async function run(): Promise<void> {
  const figures: Figure[] = [];
  const groupNotes: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-kingdom-'));
  try {
    const pglite = await openKingdomStore({ dataDir: join(dir, 'db') });
    try {
      figures.push(...(await benchBackend('pglite', pglite, dir)));
      groupNotes.push(groupCommitNote('pglite', pglite));
    } finally {
      await pglite.close();
    }
    const postgres = await freshBenchPostgres();
    if (postgres) {
      const store = await openKingdomStore({ databaseUrl: postgres.url, poolSize: 32 });
      try {
        figures.push(...(await benchBackend('postgres', store, join(dir, 'pg'))));
        groupNotes.push(groupCommitNote('postgres', store));
      } finally {
        await store.close();
        await postgres.drop();
      }
    } else {
      console.log('\n(kingdom: no PostgreSQL reachable; set HALO_KEYS_TEST_DATABASE_URL for the PostgreSQL figures)');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printFigures('kingdom over mTLS (server and client in one process)', figures);
  console.log(`group commit: ${groupNotes.join('; ')}`);
  console.log('CPU per call of this process (server + client; the PostgreSQL server is not counted):');
  for (const n of cpuNotes) console.log(`  ${n}`);
  const rss = process.memoryUsage().rss / (1024 * 1024);
  console.log(`process RSS after the run (server + client): ${rss.toFixed(0)} MiB`);
}
