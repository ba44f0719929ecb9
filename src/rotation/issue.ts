/**
 * New leaves from the participant's CA: TLS (server and client auth, SANs
 * from the config, since the same certificate serves the workload and its
 * mTLS calls to the Kingdom) and signing (the CMMS consent-signaling
 * profile).
 */
import type { KeyObject } from 'node:crypto';
import { issueLeaf, type IssuedCertificate, type GeneralNameInput } from '../pki/index.js';
import type { KeyringSession } from './session.js';

export function tlsAltNames(session: KeyringSession): GeneralNameInput[] {
  const { dnsNames, ipAddresses } = session.config.tls;
  return [...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ipAddresses.map((value) => ({ type: 'ip' as const, value }))];
}

/** A new key and leaf; with `publicKey` (a key generated on a token), a leaf for that key alone. */
export function issueForKind(session: KeyringSession, kind: 'tls' | 'signing'): IssuedCertificate & { privateKey: NonNullable<IssuedCertificate['privateKey']> };
export function issueForKind(session: KeyringSession, kind: 'tls' | 'signing', publicKey: KeyObject): IssuedCertificate;
export function issueForKind(session: KeyringSession, kind: 'tls' | 'signing', publicKey?: KeyObject): IssuedCertificate {
  const { config } = session;
  const issued = issueLeaf(session.ca(), {
    profile: kind === 'tls' ? 'tls' : 'signing',
    subject: config.subject,
    ...(publicKey ? { publicKey } : { keyType: config.keyType }),
    days: kind === 'tls' ? config.tls.days : config.signingDays,
    clipToIssuer: true,
    clock: session.clock,
    ...(kind === 'tls' ? { altNames: tlsAltNames(session) } : {}),
  });
  return issued;
}
