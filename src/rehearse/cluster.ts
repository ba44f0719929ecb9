/**
 * The rehearsal's cluster: there is no API server, so "applying" a
 * participant's Kustomization renders it with the real `kubectl kustomize`
 * into `cluster/<dir name>.yaml`, and a TLS endpoint per participant serves
 * whatever `kubernetes.io/tls` Secret that rendering holds, re-read on every
 * connection, as a pod that reloads its mounted Secret would. The rotation's
 * rollout check then connects to it like to the real workload.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, TLSSocket } from 'node:tls';
import { parseRenderedManifests } from '../k8s/index.js';

export const CLUSTER_DIR = 'cluster';
/** Relative to the rehearsal directory, which is every command's working directory. */
export const APPLY_COMMAND = `sh ${CLUSTER_DIR}/apply.sh`;

const APPLY_SCRIPT = `#!/bin/sh
# kustomization.apply of the rehearsal's keyrings: render the Kustomization
# (the directory is the last argument) where the rehearsal's endpoints read it.
set -eu
out="$(dirname "$0")/$(basename "$1").yaml"
kubectl kustomize "$1" > "$out.tmp"
mv "$out.tmp" "$out"
echo "rendered $1 to $out"
`;

export function prepareCluster(root: string): string {
  const dir = join(root, CLUSTER_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'apply.sh'), APPLY_SCRIPT, { mode: 0o700 });
  chmodSync(join(dir, 'apply.sh'), 0o700);
  return dir;
}

/** Where the apply script renders the Kustomization in `kustomizationDir` (named by its last path element). */
export function renderedPath(root: string, kustomizationDir: string): string {
  return join(root, CLUSTER_DIR, `${kustomizationDir.split('/').filter(Boolean).pop()}.yaml`);
}

/** The certificate chain (PEM) and key of the one TLS Secret in a rendered file. */
export function renderedTlsPair(path: string): { cert: Uint8Array; key: Uint8Array } | undefined {
  if (!existsSync(path)) return undefined;
  const secret = parseRenderedManifests(readFileSync(path, 'utf8')).secrets.find((s) => s.type === 'kubernetes.io/tls');
  const cert = secret?.data.get('tls.crt');
  const key = secret?.data.get('tls.key');
  return cert && key ? { cert, key } : undefined;
}

export interface TlsEndpoint {
  readonly address: string;
  close(): Promise<void>;
}

/** Serves the rendered Secret at `path` on 127.0.0.1 (a free port); refuses connections while there is none. */
export async function serveRenderedSecret(path: string): Promise<TlsEndpoint> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let pair;
    try {
      pair = renderedTlsPair(path);
    } catch {
      pair = undefined;
    }
    if (!pair) return socket.destroy();
    const tls = new TLSSocket(socket, { isServer: true, secureContext: createSecureContext({ cert: Buffer.from(pair.cert), key: Buffer.from(pair.key) }) });
    tls.on('error', () => socket.destroy());
    tls.on('secure', () => tls.end());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
