/** Shared by the server and end-to-end tests: participant PKI made with our CA, and scratch dirs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { systemClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot, issueLeaf, type IssuedCertificate } from '../../src/pki/ca.js';
import type { Certificate } from '../../src/pki/certificate.js';

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
