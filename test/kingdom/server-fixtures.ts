/** Shared by the server and end-to-end tests: participant PKI made with our CA, and scratch dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { systemClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot, issueLeaf, type IssuedCertificate } from '../../src/pki/ca.js';
import type { Certificate } from '../../src/pki/certificate.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { createKingdomClient, type KingdomClient, type KingdomClientOptions } from '../../src/client/index.js';
import { create } from '@bufbuild/protobuf';
import { generateKeyset } from '../../src/crypto/keyset-templates.js';
import { keysetBytes, publicKeyset, type Keyset } from '../../src/crypto/keyset.js';
import { signMessage } from '../../src/crypto/signed-message.js';
import { EncryptionPublicKeySchema, EncryptionPublicKey_Format } from '../../src/gen/wfa/measurement/api/v2alpha/crypto_pb.js';

export interface ParticipantPki {
  readonly root: IssuedCertificate & { privateKey: KeyObject };
  readonly rootPem: string;
  /** A TLS client leaf under the root. */
  readonly tls: { certPem: string; keyPem: string; der: Uint8Array };
  /** Issues a consent-signaling leaf under the root. */
  signingLeaf(): { der: Uint8Array; privateKey: KeyObject; certificate: Certificate };
}

export function pemKey(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

export function participantPki(name: string): ParticipantPki {
  const clock = systemClock;
  const root = initRoot({ subject: `/O=${name}/CN=${name} Root CA`, clock });
  const authority = { certificate: root.certificate, privateKey: root.privateKey };
  const tls = issueLeaf(authority, { profile: 'tls-client', subject: `/O=${name}/CN=${name} client`, clock });
  return {
    root,
    rootPem: encodePem('CERTIFICATE', root.der),
    tls: { certPem: encodePem('CERTIFICATE', tls.der), keyPem: pemKey(tls.privateKey!), der: tls.der },
    signingLeaf() {
      const leaf = issueLeaf(authority, { profile: 'signing', subject: `/O=${name}/CN=${name} signing`, clock });
      return { der: leaf.der, privateKey: leaf.privateKey!, certificate: leaf.certificate };
    },
  };
}

export function scratchDir(prefix = 'halo-kingdom-'): { dir: string; path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// ---------------------------------------------------------------- the real server process

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const binary = join(repoRoot, 'bin/halo-keys.js');
export const protoDir = join(repoRoot, 'proto');

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly port: number;
  readonly target: string;
  /** Everything printed on stdout so far. */
  stdout(): string;
  stderr(): string;
  readonly kingdomRootPem: string;
  readonly adminToken: string;
  /** A client over mTLS as the holder of this certificate, or anonymous. */
  client(options?: Partial<KingdomClientOptions> & { tls?: { certPem: string; keyPem: string } }): KingdomClient;
  /** Sends `signal` and resolves with the exit code (or the signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Starts `halo-keys kingdom serve` on a free port and waits until it listens. */
export async function startServerProcess(options: { dataDir: string; databaseUrl?: string; args?: string[] }): Promise<ServerProcess> {
  const args = [binary, 'kingdom', 'serve', '--data-dir', options.dataDir, '--listen', '127.0.0.1:0', '--log-level', 'warn', ...(options.args ?? [])];
  if (options.databaseUrl !== undefined) args.push('--database-url', options.databaseUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const port = await new Promise<number>((resolve, reject) => {
    const check = () => {
      const m = /Kingdom listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        child.stdout!.off('data', check);
        resolve(Number(m[1]));
      }
    };
    child.stdout!.on('data', check);
    exited.then((code) => reject(new Error(`server exited (${code}) before listening: ${err.trim().split('\n').slice(-3).join(' | ')}`)));
  });
  const kingdomRootPem = readFileSync(join(options.dataDir, 'kingdom_root.pem'), 'utf8');
  const adminToken = readFileSync(join(options.dataDir, 'admin-token'), 'utf8').trim();
  const target = `127.0.0.1:${port}`;
  return {
    child,
    dataDir: options.dataDir,
    port,
    target,
    stdout: () => out,
    stderr: () => err,
    kingdomRootPem,
    adminToken,
    client(o = {}) {
      const { tls, ...rest } = o;
      return createKingdomClient({
        target,
        trustedRoots: kingdomRootPem,
        serverName: 'localhost',
        ...(tls ? { clientCertificate: tls.certPem, clientKey: tls.keyPem } : {}),
        ...rest,
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Runs the compiled CLI to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [binary, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ---------------------------------------------------------------- plain gRPC, as CMMS's Java clients speak it

export type GrpcClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

const packageDefinition = protoLoader.loadSync(
  [
    'wfa/measurement/api/v2alpha/certificates_service.proto',
    'wfa/measurement/api/v2alpha/public_keys_service.proto',
    'wfa/measurement/api/v2alpha/data_providers_service.proto',
    'wfa/measurement/api/v2alpha/measurements_service.proto',
  ],
  { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, bytes: Buffer, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(packageDefinition) as unknown as {
  wfa: { measurement: { api: { v2alpha: Record<string, grpc.ServiceClientConstructor> } } };
};

/** A grpc-js client of one CMMS service over mTLS (or TLS only when `tls` is absent). */
export function grpcClient(server: Pick<ServerProcess, 'target' | 'kingdomRootPem'>, service: string, tls?: { certPem: string; keyPem: string }): GrpcClient {
  const ctor = loaded.wfa.measurement.api.v2alpha[service];
  if (!ctor) throw new Error(`no service ${service}`);
  const creds = tls
    ? grpc.credentials.createSsl(Buffer.from(server.kingdomRootPem), Buffer.from(tls.keyPem), Buffer.from(tls.certPem))
    : grpc.credentials.createSsl(Buffer.from(server.kingdomRootPem));
  return new ctor(server.target, creds, { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' }) as unknown as GrpcClient;
}

/** Calls a unary method; resolves with the response or the ServiceError. */
export function grpcCall<T = Record<string, unknown>>(client: GrpcClient, method: string, request: unknown, metadata = new grpc.Metadata()): Promise<{ response?: T; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    const fn = client[method];
    if (typeof fn !== 'function') throw new Error(`no method ${method}`);
    fn.call(client, request, metadata, (error: grpc.ServiceError | null, response: T) => resolve(error ? { error } : { response }));
  });
}

/** Sends raw bytes as the request body of `path` (e.g. a malformed protobuf). */
export function grpcRaw(client: grpc.Client, path: string, body: Buffer): Promise<{ response?: Buffer; error?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      body,
      new grpc.Metadata(),
      (error: grpc.ServiceError | null, response?: Buffer) => resolve(error ? { error } : { response: response! }),
    );
  });
}

export { grpc };

// ---------------------------------------------------------------- participants over the wire

/** An EncryptionPublicKey of a fresh Tink keyset, signed with `signingKey`. */
export function signedEncryptionKey(signingKey: KeyObject, keyset: Keyset = generateKeyset()) {
  const message = create(EncryptionPublicKeySchema, { format: EncryptionPublicKey_Format.TINK_KEYSET, data: keysetBytes(publicKeyset(keyset)) });
  return { signed: signMessage(EncryptionPublicKeySchema, message, signingKey), keyset };
}

export interface RemoteDataProvider {
  readonly pki: ParticipantPki;
  readonly name: string;
  readonly certificateName: string;
  readonly signing: ReturnType<ParticipantPki['signingLeaf']>;
}

/** Creates a DataProvider through the admin RPC of a running server. */
export async function createDataProviderRemote(server: ServerProcess, label: string): Promise<RemoteDataProvider> {
  const pki = participantPki(label);
  const signing = pki.signingLeaf();
  const key = signedEncryptionKey(signing.privateKey);
  const dp = await server.client({ adminToken: server.adminToken }).admin.createDataProvider({
    registration: { rootCertificateDer: pki.root.der, certificateDer: signing.der, publicKey: key.signed, displayName: label },
  });
  return { pki, name: dp.name, certificateName: dp.certificate, signing };
}

/** Every certificate name under `parent`, through ListCertificates pages. */
export async function listAllCertificates(client: KingdomClient, parent: string): Promise<{ name: string; revocationState: number; x509Der: Uint8Array }[]> {
  const out: { name: string; revocationState: number; x509Der: Uint8Array }[] = [];
  let pageToken = '';
  do {
    const page = await client.certificates.listCertificates({ parent, pageSize: 100, pageToken });
    out.push(...page.certificates.map((c) => ({ name: c.name, revocationState: c.revocationState, x509Der: c.x509Der })));
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return out;
}

/**
 * Sends CreateCertificate calls (16 at a time) and SIGKILLs the server once
 * `killAfter` of them were acknowledged. Returns the DER of every
 * acknowledged certificate and of every one sent.
 */
export async function createCertificatesUntilKilled(server: ServerProcess, dp: RemoteDataProvider, options: { total: number; killAfter: number }) {
  const leaves = Array.from({ length: options.total }, () => dp.pki.signingLeaf().der);
  const client = server.client({ tls: dp.pki.tls, timeoutMs: 20_000 });
  const acknowledged: Uint8Array[] = [];
  let next = 0;
  let killed: Promise<number | string> | undefined;
  const worker = async () => {
    while (next < leaves.length && killed === undefined) {
      const der = leaves[next++]!;
      try {
        await client.certificates.createCertificate({ parent: dp.name, certificate: { x509Der: der } });
        acknowledged.push(der);
        if (acknowledged.length >= options.killAfter && killed === undefined) killed = server.stop('SIGKILL');
      } catch {
        // Calls in flight when the server dies fail; whether they committed is what the test checks.
      }
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return { acknowledged, sent: leaves.slice(0, next), exit: await (killed ?? server.stop('SIGKILL')) };
}
