/** Shared helpers for the Kubernetes tests: scratch kustomization directories and certificates from our CA. */
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { ManualClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot, issueLeaf, type CertificateAuthority } from '../../src/pki/ca.js';
import type { Certificate } from '../../src/pki/certificate.js';

export const secretFiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));

/**
 * Issuance time: an hour before the real now, because node:tls (the rollout
 * check's servers and clients) judges validity by the real time.
 */
export const clock = new ManualClock(Date.now() - 3_600_000);

export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-k8s-'));

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** A kustomization directory holding a copy of an upstream `*_kustomization.yaml`. */
  kustomization(upstream: string, sub = 'secrets'): string {
    const dir = this.path(sub);
    mkdirSync(dir, { recursive: true });
    copyFileSync(join(secretFiles, upstream), join(dir, 'kustomization.yaml'));
    return dir;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TlsPair {
  certificate: Certificate;
  der: Uint8Array;
  privateKey: KeyObject;
  certPem: string;
  keyPem: string;
}

/** A participant CA (like `edp7_root`) issuing TLS leaves for localhost. */
export class TestCa {
  readonly authority: CertificateAuthority;
  readonly rootPem: string;

  constructor(name: string) {
    const root = initRoot({ subject: `/O=Halo CMM Dev/CN=${name} CA`, hostNames: ['dev.halo-cmm.org'], clock });
    this.authority = { certificate: root.certificate, privateKey: root.privateKey };
    this.rootPem = encodePem('CERTIFICATE', root.der);
  }

  leaf(cn: string, profile: 'tls-server' | 'tls-client' | 'tls' = 'tls'): TlsPair {
    const issued = issueLeaf(this.authority, {
      profile,
      subject: `/O=Halo CMM Dev/CN=${cn}`,
      altNames: [
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
      ],
      days: 90,
      clock,
    });
    const privateKey = issued.privateKey!;
    return {
      certificate: issued.certificate,
      der: issued.der,
      privateKey,
      certPem: encodePem('CERTIFICATE', issued.der),
      keyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
    };
  }
}

export function skidHex(certificate: Certificate): string {
  return Buffer.from(certificate.subjectKeyIdentifier!).toString('hex');
}

/** Every file under `dir` (relative path -> bytes), to prove a dry run wrote nothing. */
export function snapshotTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) {
        out.set(relative(dir, full) + '/', '');
        walk(full);
      } else out.set(relative(dir, full), readFileSync(full).toString('base64'));
    }
  };
  walk(dir);
  return out;
}
