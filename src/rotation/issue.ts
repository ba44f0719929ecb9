/**
 * New leaves from the participant's CA: TLS (server and client auth, SANs
 * from the config, since the same certificate serves the workload and its
 * mTLS calls to the Kingdom) and signing (the CMMS consent-signaling
 * profile).
 */
import { issueLeaf, type IssuedCertificate, type GeneralNameInput } from '../pki/index.js';
import type { KeyringSession } from './session.js';

export function tlsAltNames(session: KeyringSession): GeneralNameInput[] {
  const { dnsNames, ipAddresses } = session.config.tls;
  return [...dnsNames.map((value) => ({ type: 'dns' as const, value })), ...ipAddresses.map((value) => ({ type: 'ip' as const, value }))];
}

export function issueForKind(session: KeyringSession, kind: 'tls' | 'signing'): IssuedCertificate & { privateKey: NonNullable<IssuedCertificate['privateKey']> } {
  const { config } = session;
  const issued = issueLeaf(session.ca(), {
    profile: kind === 'tls' ? 'tls' : 'signing',
    subject: config.subject,
    keyType: config.keyType,
    days: kind === 'tls' ? config.tls.days : config.signingDays,
    clipToIssuer: true,
    clock: session.clock,
    ...(kind === 'tls' ? { altNames: tlsAltNames(session) } : {}),
  });
  return issued as IssuedCertificate & { privateKey: NonNullable<IssuedCertificate['privateKey']> };
}
