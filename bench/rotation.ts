/**
 * One full rotation (TLS, signing and encryption, Secret written, kubectl
 * apply off) through the journal against a real `halo-keys kingdom serve`
 * process over mTLS, beside one fresh mTLS connection and GetDataProvider
 * call to the same server. Target: under 2 s.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createKingdomClient } from '../src/client/index.js';
import { ManualClock, systemClock } from '../src/lib/clock.js';
import { initKeyring } from '../src/rotation/keyring-init.js';
import { activeEntry } from '../src/rotation/keyring.js';
import { connectKingdom } from '../src/rotation/kingdom-connect.js';
import { registrationMaterial, syncWithKingdom } from '../src/rotation/registration.js';
import { rotate } from '../src/rotation/rotate.js';
import { KeyringSession } from '../src/rotation/session.js';
import { median, printFigures } from './harness.js';

const BIN = fileURLToPath(new URL('../bin/halo-keys.js', import.meta.url));
const PASSPHRASE = 'bench passphrase for the keyring';
const DAY = 86_400_000;

async function startServer(dataDir: string): Promise<{ target: string; stop(): void }> {
  const child = spawn(process.execPath, [BIN, 'kingdom', 'serve', '--data-dir', dataDir, '--listen', '127.0.0.1:0'], {
    env: { ...process.env, HALO_KEYS_LOG_LEVEL: 'warn' },
    stdio: 'ignore',
  });
  const info = join(dataDir, 'server.json');
  for (let i = 0; i < 600; i++) {
    if (existsSync(info)) {
      try {
        const s = JSON.parse(readFileSync(info, 'utf8')) as { port?: number; pid?: number };
        if (s.pid === child.pid && s.port) return { target: `127.0.0.1:${s.port}`, stop: () => child.kill('SIGTERM') };
      } catch {
        // partial read; poll again
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error('kingdom serve did not start');
}

export async function run(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'halo-bench-rotation-'));
  const server = await startServer(join(work, 'kingdom'));
  try {
    const roots = join(work, 'kingdom/kingdom_root.pem');
    const state = join(work, 'state');
    const session = initKeyring({
      dir: state,
      clock: new ManualClock(Date.now() - 100 * DAY),
      passphrase: () => PASSPHRASE,
      config: {
        participant: 'dataProviders',
        subject: '/O=Bench/CN=edp bench',
        dnsNames: ['localhost'],
        kingdom: { target: server.target, trustedRoots: roots },
        kustomization: { dir: join(work, 'k8s'), secretName: 'edp-tls', apply: false },
      },
      createCa: { subject: '/O=Bench/CN=edp bench Root CA' },
    });
    const admin = createKingdomClient({
      target: server.target,
      trustedRoots: readFileSync(roots),
      adminToken: readFileSync(join(work, 'kingdom/admin-token'), 'utf8').trim(),
    }).admin;
    const m = registrationMaterial(session);
    const dp = await admin.createDataProvider({ registration: { rootCertificateDer: m.rootCertificateDer, certificateDer: m.certificateDer, publicKey: m.publicKey!, displayName: 'bench' } });
    await syncWithKingdom(session, connectKingdom(session), dp.name);

    const rotations: number[] = [];
    for (let i = 0; i < 4; i++) {
      // A fresh session per rotation, as each `halo-keys rotate` run starts from disk.
      const start = performance.now();
      const s = KeyringSession.open(state, { clock: systemClock, passphrase: () => PASSPHRASE });
      const result = await rotate(s, { kinds: ['tls', 'signing', 'encryption'] });
      const elapsed = performance.now() - start;
      if (!result.steps.every((x) => x.status === 'done')) throw new Error('rotation did not finish');
      if (i > 0) rotations.push(elapsed); // the first one warms module and connection caches
    }

    const calls: number[] = [];
    const s = KeyringSession.open(state, { clock: systemClock, passphrase: () => PASSPHRASE });
    const tls = activeEntry(s.keyring, 'tls')!;
    const cert = readFileSync(join(state, tls.certificateFile!));
    const key = s.material.privateKeyPem(tls);
    for (let i = 0; i < 6; i++) {
      const start = performance.now();
      const client = createKingdomClient({ target: server.target, trustedRoots: readFileSync(roots), clientCertificate: cert, clientKey: key });
      await client.dataProviders.getDataProvider({ name: dp.name });
      if (i > 0) calls.push(performance.now() - start);
    }
    printFigures('rotation (median of 3, kubectl apply off)', [
      {
        name: 'rotate --all (TLS + signing + encryption) vs. real server',
        ours: median(rotations),
        baseline: median(calls),
        unit: 'ms',
        baselineName: 'new mTLS client + GetDataProvider',
        target: '< 2000 ms',
      },
    ]);
  } finally {
    server.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

