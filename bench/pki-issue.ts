/**
 * Leaf issuance per second (P-256, a fresh key each time), beside the
 * unavoidable crypto work measured in the same run: node:crypto key
 * generation plus one ECDSA signature. The gap is our DER building, policy
 * checks and the parse-back of the result. A second figure issues for a
 * given key (the CSR path); a third puts us beside `openssl x509 -req`, the
 * way the CMMS fixtures were made (one process per certificate).
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/lib/clock.js';
import { encodePem } from '../src/lib/pem.js';
import { initRoot, issueLeaf } from '../src/pki/ca.js';
import { opsPerSecondSync, printFigures } from './harness.js';

export async function run(): Promise<void> {
  const clock = new ManualClock('2026-03-01T00:00:00Z');
  const root = initRoot({ subject: '/O=Halo CMM/CN=Bench CA', clock });
  const altNames = [{ type: 'dns' as const, value: 'svc.kingdom.dev.halo-cmm.org' }, { type: 'ip' as const, value: '127.0.0.1' }];
  const issueFresh = () => issueLeaf(root, { profile: 'tls-server', subject: '/O=Halo CMM/CN=svc', altNames, days: 90, clock });
  const tbsSized = new Uint8Array(issueFresh().der.length - 80);

  const fresh = opsPerSecondSync(issueFresh);
  const bareFresh = opsPerSecondSync(() => {
    generateKeyPairSync('ec', { namedCurve: 'P-256' });
    sign('sha256', tbsSized, { key: root.privateKey, dsaEncoding: 'der' });
  });

  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const forKey = opsPerSecondSync(() => issueLeaf(root, { profile: 'tls-server', subject: '/O=Halo CMM/CN=svc', publicKey, altNames, days: 90, clock }));
  const bareSign = opsPerSecondSync(() => sign('sha256', tbsSized, { key: root.privateKey, dsaEncoding: 'der' }));

  const figures = [
    { name: 'issue leaf, fresh P-256 key', ours: fresh, baseline: bareFresh, unit: 'ops/s' as const, baselineName: 'keygen + 1 ECDSA sign' },
    { name: 'issue leaf for a given key (CSR path)', ours: forKey, baseline: bareSign, unit: 'ops/s' as const, baselineName: '1 ECDSA sign' },
  ];

  const dir = mkdtempSync(join(tmpdir(), 'halo-bench-issue-'));
  try {
    const caCert = join(dir, 'ca.pem');
    const caKey = join(dir, 'ca.key');
    writeFileSync(caCert, encodePem('CERTIFICATE', root.der));
    writeFileSync(caKey, root.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const csr = join(dir, 'leaf.csr');
    const req = spawnSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'leaf.key'), '-out', csr, '-subj', '/O=Halo CMM/CN=svc']);
    if (req.status === 0) {
      const runs = 30;
      const start = performance.now();
      for (let i = 0; i < runs; i++) {
        const r = spawnSync('openssl', ['x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days', '90', '-sha256', '-out', join(dir, 'leaf.pem')]);
        if (r.status !== 0) throw new Error('openssl x509 -req failed');
      }
      const opensslRate = (runs * 1000) / (performance.now() - start);
      figures.push({ name: 'issue leaf for a given key', ours: forKey, baseline: opensslRate, unit: 'ops/s', baselineName: 'openssl x509 -req (process each)' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printFigures('pki-issue: certificate issuance', figures);
}
