/**
 * Leaf certificate profiles. `signing` is the CMMS consent-signaling
 * certificate (`*_cs_cert.der`): digitalSignature + nonRepudiation and no
 * EKU, since CMMS verifiers look at key usage only. TLS profiles carry the
 * EKU that WebPKI-style verifiers (and `openssl verify -purpose`) check.
 */
import type { KeyObject } from 'node:crypto';
import type { KeyUsage } from './certificate.js';
import type { ExtendedKeyUsage } from './extensions-builder.js';

export type LeafProfile = 'tls-server' | 'tls-client' | 'tls' | 'signing';

export const LEAF_PROFILES: readonly LeafProfile[] = ['tls-server', 'tls-client', 'tls', 'signing'];

export function isLeafProfile(value: string): value is LeafProfile {
  return (LEAF_PROFILES as readonly string[]).includes(value);
}

export interface ProfileUsage {
  keyUsage: KeyUsage[];
  extKeyUsage?: ExtendedKeyUsage[];
  /** A server certificate is matched by its SANs; without one no client could use it. */
  requiresAltName: boolean;
}

export function profileUsage(profile: LeafProfile, subjectKey: KeyObject): ProfileUsage {
  // RSA keys may still meet TLS 1.2 RSA key transport, which needs keyEncipherment.
  const tlsUsage: KeyUsage[] =
    subjectKey.asymmetricKeyType === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
  switch (profile) {
    case 'tls-server':
      return { keyUsage: tlsUsage, extKeyUsage: ['serverAuth'], requiresAltName: true };
    case 'tls-client':
      return { keyUsage: tlsUsage, extKeyUsage: ['clientAuth'], requiresAltName: false };
    case 'tls':
      return { keyUsage: tlsUsage, extKeyUsage: ['serverAuth', 'clientAuth'], requiresAltName: true };
    case 'signing':
      return { keyUsage: ['digitalSignature', 'nonRepudiation'], requiresAltName: false };
  }
}
