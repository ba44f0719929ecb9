/**
 * A legitimate client beside each attack of test/security/: its p99
 * GetDataProvider latency on its own connection during a flood of distinct
 * 4 KB API keys, big ListCertificates pages, stalled TLS handshakes
 * (slowloris) and streams whose request never ends, beside its p99 with no
 * attack, and the server's resident memory (peak during the attack). The
 * server is `halo-keys kingdom serve` in its own process with its default
 * limits, on the embedded database.
 */
import { readFileSync } from 'node:fs';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { ListCertificatesRequestSchema } from '../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../src/lib/clock.js';
import { issueLeaf } from '../src/pki/ca.js';
import { connectH2, grpcEnvelope, grpcUnaryRaw, type H2Target } from '../test/kingdom/h2-grpc.js';
import { createDataProviderRemote, scratchDir, startServerProcess, type ServerProcess } from '../test/kingdom/server-fixtures.js';
import { CREATE_CERTIFICATE, floodApiKeys, GET_DATA_PROVIDER, getDataProviderBody, stalledHandshakes, unfinishedCall } from '../test/security/attacks.js';
import { percentile, printFigures, type Figure } from './harness.js';

const MEASURE_MS = Number(process.env.HALO_BENCH_ATTACK_MS ?? 6000);
const LIST_CERTIFICATES = '/wfa.measurement.api.v2alpha.Certificates/ListCertificates';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

interface Observed {
  p99Ms: number;
  calls: number;
  failures: number;
  peakRssBytes: number;
}

/** The legitimate client calls in a loop for MEASURE_MS while the server's RSS is sampled. */
async function observe(server: ServerProcess, session: ClientHttp2Session, dataProvider: string): Promise<Observed> {
  const body = getDataProviderBody(dataProvider);
  const latencies: number[] = [];
  let failures = 0;
  let peak = rssBytes(server.child.pid!);
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(server.child.pid!))), 100);
  const end = performance.now() + MEASURE_MS;
  while (performance.now() < end) {
    const t = performance.now();
    const answer = await grpcUnaryRaw(session, GET_DATA_PROVIDER, body).catch(() => undefined);
    latencies.push(performance.now() - t);
    if (answer?.status !== 0) failures++;
  }
  clearInterval(sampler);
  return { p99Ms: percentile(latencies, 99), calls: latencies.length, failures, peakRssBytes: Math.max(peak, rssBytes(server.child.pid!)) };
}

/** Runs `attack` until `during` settles; returns what the attack counted. */
async function alongside<T>(attack: (stop: () => boolean) => Promise<T>, during: () => Promise<Observed>): Promise<{ observed: Observed; attack: T }> {
  let stopped = false;
  const running = attack(() => stopped);
  const observed = await during();
  stopped = true;
  return { observed, attack: await running };
}

/** A signing leaf under the EDP's root padded with DNS names to about `bytes` (just under the 64 KiB limit). */
function paddedLeaf(authority: Parameters<typeof issueLeaf>[0], bytes: number): Uint8Array {
  const altNames = Array.from({ length: Math.ceil(bytes / 64) }, (_, i) => ({ type: 'dns' as const, value: `h${i}-${'x'.repeat(40)}.padding.example.com` }));
  return issueLeaf(authority, { profile: 'signing', subject: '/O=Padded/CN=Padded', altNames, clock: systemClock }).der;
}

export async function run(): Promise<void> {
  const scratch = scratchDir('halo-bench-attacks-');
  const server = await startServerProcess({ dataDir: scratch.path('kingdom') });
  const sessions: ClientHttp2Session[] = [];
  try {
    const victim = await createDataProviderRemote(server, 'Victim EDP');
    const attacker = await createDataProviderRemote(server, 'Attacker EDP');
    const target = (pki?: typeof victim.pki): H2Target => ({
      port: server.port,
      ca: server.kingdomRootPem,
      servername: 'localhost',
      ...(pki ? { cert: pki.tls.certPem, key: pki.tls.keyPem } : {}),
    });
    const open = async (pki?: typeof victim.pki) => {
      const s = await connectH2(target(pki));
      s.on('error', () => {});
      sessions.push(s);
      return s;
    };
    const legit = await open(victim.pki);
    const during = () => observe(server, legit, victim.name);
    const rows: { name: string; observed: Observed; note: string }[] = [];

    await observe(server, legit, victim.name); // warm-up
    rows.push({ name: 'no attack', observed: await during(), note: '' });

    // 1. Distinct 4 KB API keys from clients without a certificate.
    const flood = await alongside(
      async (stop) => {
        const floods = await Promise.all([open(), open(), open(), open()]);
        const counts = await Promise.all(floods.map((s) => floodApiKeys(s, { count: Number.MAX_SAFE_INTEGER, keyBytes: 4096, concurrency: 32, dataProvider: victim.name, stop })));
        return counts.reduce((n, c) => n + [...c.values()].reduce((a, b) => a + b, 0), 0);
      },
      during,
    );
    rows.push({ name: 'API-key flood', observed: flood.observed, note: `${flood.attack} keys sent` });

    // 2. Large ListCertificates pages: 60 certificates of ~60 KB, listed 8 at a time at page_size 1000.
    const attackerClient = server.client({ tls: attacker.pki.tls, timeoutMs: 60_000 });
    const authority = { certificate: attacker.pki.root.certificate, privateKey: attacker.pki.root.privateKey };
    for (let i = 0; i < 60; i++) {
      await attackerClient.certificates.createCertificate({ parent: attacker.name, certificate: { x509Der: paddedLeaf(authority, 60 * 1024) } });
    }
    const listBody = grpcEnvelope(toBinary(ListCertificatesRequestSchema, create(ListCertificatesRequestSchema, { parent: attacker.name, pageSize: 1000 })));
    const lists = await alongside(
      async (stop) => {
        const s = await open(attacker.pki);
        let pages = 0;
        let bytes = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (!stop()) {
              const answer = await grpcUnaryRaw(s, LIST_CERTIFICATES, listBody);
              pages++;
              bytes += answer.body.length;
            }
          }),
        );
        return `${pages} pages, ${(bytes / pages / 1048576).toFixed(2)} MB each`;
      },
      during,
    );
    rows.push({ name: 'big ListCertificates pages', observed: lists.observed, note: lists.attack });

    // 3. Slowloris: 2,000 connections that start a TLS handshake and stall, reopened as the server cuts them.
    const slow = await alongside(
      async (stop) => {
        let opened = 0;
        const held: Socket[] = [];
        while (!stop()) {
          const batch = await stalledHandshakes(server.port, 250).catch(() => [] as Socket[]);
          opened += batch.length;
          held.push(...batch);
          while (held.filter((s) => !s.destroyed && !s.readableEnded).length >= 2000 && !stop()) await new Promise((r) => setTimeout(r, 50));
        }
        for (const s of held) s.destroy();
        return `${opened} stalled handshakes opened`;
      },
      during,
    );
    rows.push({ name: 'slowloris (stalled TLS handshakes)', observed: slow.observed, note: slow.attack });

    // 4. Streams that never finish their request: 8 connections x 100 streams, each 60 KB into a declared 4 MB message.
    const unfinished = await alongside(
      async (stop) => {
        const streams: ClientHttp2Stream[] = [];
        let opened = 0;
        const conns = await Promise.all(Array.from({ length: 8 }, () => open(attacker.pki)));
        while (!stop()) {
          for (const s of conns) {
            while (!s.destroyed && streams.filter((x) => !x.closed && x.session === s).length < 100) {
              streams.push(unfinishedCall(s, CREATE_CERTIFICATE, { declaredBytes: 4 * 1024 * 1024 - 16, sentBytes: 60 * 1024 }).stream);
              opened++;
            }
          }
          await new Promise((r) => setTimeout(r, 200));
        }
        for (const st of streams) st.destroy();
        return `${opened} unfinished streams opened`;
      },
      during,
    );
    rows.push({ name: 'unfinished request streams', observed: unfinished.observed, note: unfinished.attack });

    const base = rows[0]!.observed;
    const figures: Figure[] = rows.slice(1).map((r) => ({
      name: `p99 GetDataProvider during ${r.name}`,
      ours: r.observed.p99Ms,
      baseline: base.p99Ms,
      unit: 'ms',
      baselineName: 'no attack',
    }));
    printFigures('kingdom-attacks', figures);
    for (const r of rows) {
      console.log(
        `${r.name.padEnd(36)} server RSS peak ${(r.observed.peakRssBytes / 1048576).toFixed(0).padStart(5)} MB  ` +
          `legitimate p99 ${r.observed.p99Ms.toFixed(1).padStart(7)} ms over ${r.observed.calls} calls, ${r.observed.failures} failed` +
          (r.note ? `  (${r.note})` : ''),
      );
    }
  } finally {
    for (const s of sessions) s.destroy();
    await server.stop('SIGKILL');
    scratch.remove();
  }
}
