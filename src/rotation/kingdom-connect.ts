/**
 * Connects a keyring to its Kingdom: the configured target and roots, and as
 * client certificate either the configured files or the keyring's active TLS
 * certificate (whose AKID the Kingdom maps to the participant).
 */
import { createKingdomClient, type KingdomClient } from '../client/index.js';
import { readFileBytes } from '../lib/index.js';
import { RotationError } from './errors.js';
import { activeEntry } from './keyring.js';
import { kingdomPortOver, type KingdomPort } from './kingdom-port.js';
import type { KeyringSession } from './session.js';

export function connectKingdom(session: KeyringSession): KingdomPort {
  return kingdomPortOver(connectKingdomClient(session));
}

/** The typed client connectKingdom wraps, for callers that need more than the port. */
export function connectKingdomClient(session: KeyringSession): KingdomClient {
  const k = session.config.kingdom;
  if (!k) throw new RotationError('KINGDOM_NOT_CONFIGURED', 'halo-keys.yaml names no kingdom (target, trustedRoots): the signing and encryption steps need one');
  let clientCertificate: string | Uint8Array;
  let clientKey: string | Uint8Array;
  if (k.clientCertificate && k.clientKey) {
    clientCertificate = readFileBytes(k.clientCertificate, 'Kingdom client certificate');
    clientKey = readFileBytes(k.clientKey, 'Kingdom client key');
  } else {
    const tls = activeEntry(session.keyring, 'tls');
    if (!tls) throw new RotationError('KINGDOM_NOT_CONFIGURED', 'no active TLS certificate to call the Kingdom with (and no kingdom.clientCertificate)');
    clientCertificate = readFileBytes(session.material.path(tls.certificateFile!), 'TLS certificate');
    clientKey = session.material.privateKeyPem(tls);
  }
  const apiKey = k.apiKeyFile ? Buffer.from(readFileBytes(k.apiKeyFile, 'API key file')).toString('utf8').trim() : undefined;
  return createKingdomClient({
    target: k.target,
    trustedRoots: readFileBytes(k.trustedRoots, 'Kingdom trusted roots'),
    clientCertificate,
    clientKey,
    ...(k.serverName ? { serverName: k.serverName } : {}),
    ...(apiKey ? { apiKey } : {}),
    ...(k.timeoutMs ? { timeoutMs: k.timeoutMs } : {}),
  });
}
