/**
 * Chain validation (root -> intermediate -> leaf, P-256, made by the openssl
 * CLI) per second: ours cold (the three certificates parsed anew and a fresh
 * link cache per chain; the CA keys, like the baseline's X509Certificate
 * objects, imported once per process) and warm (the link cache remembers
 * verified links), beside `openssl verify` over the same leaves in one
 * process and as one process per chain, and beside the bare signature checks
 * the chain needs (Node's `X509Certificate.verify`, twice per chain). "first
 * sight" also forgets the imported CA keys before every chain.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { clearImportedKeys } from '../src/pki/algorithms.js';
import { parseCertificate, parseCertificates } from '../src/pki/certificate.js';
import { LinkCache } from '../src/pki/path-builder.js';
import { TrustStore } from '../src/pki/trust-store.js';
import { validatePath } from '../src/pki/validate.js';
import { OpensslPki } from '../test/pki/openssl-pki.js';
import { opsPerSecond, opsPerSecondSync, printFigures } from './harness.js';

const LEAVES = 400;

export async function run(): Promise<void> {
  const pki = new OpensslPki();
  try {
    const root = pki.root('bench-root');
    const int = pki.issue('bench-int', root, 'ca');
    const key = pki.keyAndCsr('bench-leaf', '/CN=leaf.example.com');
    const leafFiles = Array.from({ length: LEAVES }, (_, i) => pki.issue(`bench-leaf-${i}`, int, 'leaf', undefined, key).cert);

    // openssl verify: one process, N leaves; the rate includes its start-up.
    const opensslVerify = () => {
      const start = performance.now();
      const out = execFileSync('openssl', ['verify', '-CAfile', root.cert, '-untrusted', int.cert, ...leafFiles], { encoding: 'utf8' });
      if (out.split('\n').filter((l) => l.endsWith(': OK')).length !== LEAVES) throw new Error('openssl verify did not accept every leaf');
      return (LEAVES * 1000) / (performance.now() - start);
    };

    // openssl verify as a process per chain, as a script would run it.
    const opensslPerChain = () => {
      const chains = 20;
      const start = performance.now();
      for (let k = 0; k < chains; k++) {
        const out = execFileSync('openssl', ['verify', '-CAfile', root.cert, '-untrusted', int.cert, leafFiles[k]!], { encoding: 'utf8' });
        if (!out.endsWith(': OK\n')) throw new Error('openssl verify did not accept the leaf');
      }
      return (chains * 1000) / (performance.now() - start);
    };

    const rootDer = parseCertificates(readFileSync(root.cert))[0]!.der;
    const intDer = parseCertificates(readFileSync(int.cert))[0]!.der;
    const leafDers = leafFiles.map((f) => parseCertificates(readFileSync(f))[0]!.der);
    const at = new Date(Date.now() + 86_400_000);

    let i = 0;
    const cold = async () => {
      const leaf = parseCertificate(leafDers[i++ % LEAVES]!);
      await validatePath(leaf, {
        trustStore: new TrustStore([parseCertificate(rootDer)]),
        intermediates: [parseCertificate(intDer)],
        at,
        purpose: 'server',
        host: 'leaf.example.com',
        linkCache: new LinkCache(),
      });
    };
    const coldOnce = () => opsPerSecond(cold, 700);
    const firstSightOnce = () =>
      opsPerSecond(async () => {
        clearImportedKeys();
        await cold();
      }, 700);

    const trustStore = new TrustStore([parseCertificate(rootDer)]);
    const intermediates = [parseCertificate(intDer)];
    const leaves = leafDers.map((d) => parseCertificate(d));
    const cache = new LinkCache();
    const warmOnce = () => opsPerSecond(async () => {
      await validatePath(leaves[i++ % LEAVES]!, { trustStore, intermediates, at, purpose: 'server', host: 'leaf.example.com', linkCache: cache });
    }, 700);

    const rootX = new X509Certificate(rootDer);
    const intX = new X509Certificate(intDer);
    const leafX = leafDers.map((d) => new X509Certificate(d));
    const bareOnce = () => opsPerSecondSync(() => {
      const leaf = leafX[i++ % LEAVES]!;
      if (!leaf.verify(intX.publicKey) || !intX.verify(rootX.publicKey)) throw new Error('bare verify failed');
    }, 700);

    // Interleaved rounds, best of five each, so a busy moment on a shared
    // machine does not land on one side only.
    let [opensslRate, opensslProcessRate, coldRate, firstSight, warm, bare] = [0, 0, 0, 0, 0, 0];
    for (let round = 0; round < 5; round++) {
      opensslRate = Math.max(opensslRate, opensslVerify());
      opensslProcessRate = Math.max(opensslProcessRate, opensslPerChain());
      bare = Math.max(bare, bareOnce());
      coldRate = Math.max(coldRate, await coldOnce());
      firstSight = Math.max(firstSight, await firstSightOnce());
      warm = Math.max(warm, await warmOnce());
    }

    printFigures('pki-validate (root -> intermediate -> leaf, P-256)', [
      { name: 'validate chain, cold (parse + 2 signatures)', ours: coldRate, baseline: opensslRate, unit: 'ops/s', baselineName: `openssl verify, ${LEAVES} leaves`, target: '>= 0.5x' },
      { name: 'validate chain, cold', ours: coldRate, baseline: opensslProcessRate, unit: 'ops/s', baselineName: 'openssl verify, a process per chain', target: '>= 1x' },
      { name: 'validate chain, warm (link cache)', ours: warm, baseline: opensslRate, unit: 'ops/s', baselineName: `openssl verify, ${LEAVES} leaves`, target: 'far faster' },
      { name: 'validate chain, cold', ours: coldRate, baseline: bare, unit: 'ops/s', baselineName: 'X509Certificate.verify x2', target: '>= 0.5x' },
      { name: 'validate chain, first sight of the CA keys', ours: firstSight, baseline: bare, unit: 'ops/s', baselineName: 'X509Certificate.verify x2' },
      { name: 'validate chain, warm', ours: warm, baseline: bare, unit: 'ops/s', baselineName: 'X509Certificate.verify x2' },
    ]);
  } finally {
    pki.dispose();
  }
}
