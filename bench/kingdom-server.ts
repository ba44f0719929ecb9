/**
 * The server side of the Kingdom bench, run as its own process (forked by
 * kingdom.ts) so that it has a core to itself, as a deployed Kingdom has,
 * and so that its CPU time and memory are its own. It serves the Kingdom on
 * the store it is told about and, on request, the echo: GetCertificate
 * answered from memory by the same stack (TLS, HTTP/2, handler, metrics and
 * authentication interceptors) without touching the store.
 *
 * Messages from the parent: {type: 'echo', certificate} starts the echo;
 * {type: 'stats'} asks for CPU time, RSS and group-commit counts;
 * {type: 'close'} stops everything and exits.
 */
import { fromBinary } from '@bufbuild/protobuf';
import type { ConnectRouter } from '@connectrpc/connect';
import { CertificateSchema } from '../src/gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { Certificates } from '../src/gen/wfa/measurement/api/v2alpha/certificates_service_pb.js';
import { systemClock } from '../src/lib/clock.js';
import { adminTokenSha256 } from '../src/kingdom/server/admin-token.js';
import { ensureDevTls } from '../src/kingdom/server/bootstrap.js';
import { silentLogger } from '../src/kingdom/server/logger.js';
import { startKingdomServer, type KingdomServer, type KingdomServerOptions } from '../src/kingdom/server/server.js';
import { openKingdom } from '../src/kingdom/service/assembly.js';

export interface ServerStart {
  /** The store: a PGlite data directory or a PostgreSQL URL. */
  readonly dataDir?: string;
  readonly databaseUrl?: string;
  /** Where the dev TLS material goes. */
  readonly tlsDir: string;
  readonly adminToken: string;
}

export type ToServer = { type: 'echo'; certificate: Uint8Array } | { type: 'stats' } | { type: 'close' };
export type FromServer =
  | { type: 'ready'; port: number; tlsCertPem: string }
  | { type: 'echo'; port: number }
  | { type: 'stats'; cpuUs: number; rssMiB: number; writes: { operations: number; batches: number; largestBatch: number; batchRetries: number } }
  | { type: 'closed' };

function send(message: FromServer): void {
  process.send!(message);
}

async function main(start: ServerStart): Promise<void> {
  let server: KingdomServer | undefined;
  const kingdom = await openKingdom({
    store: start.databaseUrl ? { databaseUrl: start.databaseUrl, poolSize: 32 } : { dataDir: start.dataDir! },
    admin: { tokenSha256: adminTokenSha256(start.adminToken) },
    onTrustChanged: async () => void (await server?.reloadTrust()),
  });
  const store = kingdom.store;
  const tls = ensureDevTls(start.tlsDir, systemClock);
  const common: Omit<KingdomServerOptions, 'routes'> = {
    listen: { host: '127.0.0.1', port: 0 },
    tls,
    interceptors: kingdom.interceptors,
    participantRoots: () => store.listParticipantRoots(),
    health: async () => {},
    maxMessageBytes: 4 * 1024 * 1024,
    drainTimeoutMs: 5000,
    logger: silentLogger(),
  };
  server = await startKingdomServer({ ...common, routes: kingdom.routes });
  let echo: KingdomServer | undefined;

  process.on('message', (message: ToServer) => {
    void (async () => {
      switch (message.type) {
        case 'echo': {
          // The DataProvider's real Certificate, so the echo answers with the same bytes as GetCertificate.
          const certificate = fromBinary(CertificateSchema, message.certificate);
          const routes = (router: ConnectRouter) => router.service(Certificates, { getCertificate: async () => certificate });
          echo = await startKingdomServer({ ...common, routes });
          send({ type: 'echo', port: echo.address.port });
          break;
        }
        case 'stats': {
          const cpu = process.cpuUsage();
          const w = store.writeStats;
          send({
            type: 'stats',
            cpuUs: cpu.user + cpu.system,
            rssMiB: process.memoryUsage().rss / (1024 * 1024),
            writes: { operations: w.operations, batches: w.batches, largestBatch: w.largestBatch, batchRetries: w.batchRetries },
          });
          break;
        }
        case 'close':
          await echo?.close();
          await server?.close();
          await store.close();
          send({ type: 'closed' });
          process.disconnect();
          break;
      }
    })().catch((err: unknown) => {
      console.error(`kingdom bench server: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
  });
  send({ type: 'ready', port: server.address.port, tlsCertPem: tls.certPem });
}

main(JSON.parse(process.argv[2]!) as ServerStart).catch((err: unknown) => {
  console.error(`kingdom bench server: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
