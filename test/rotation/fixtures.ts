/** Shared by the rotation suites: scratch state directories, keyrings, and a Kingdom to register them with. */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { kingdomClientOver } from '../../src/client/index.js';
import { ManualClock } from '../../src/lib/clock.js';
import type { ConfigValues } from '../../src/rotation/keyring-init.js';
import { initKeyring } from '../../src/rotation/keyring-init.js';
import { activeEntry } from '../../src/rotation/keyring.js';
import { kingdomPortOver, type KingdomPort } from '../../src/rotation/kingdom-port.js';
import { registrationMaterial, syncWithKingdom } from '../../src/rotation/registration.js';
import type { KeyringSession } from '../../src/rotation/session.js';

export const PASSPHRASE = 'correct horse battery staple';
export const DAY = 86_400_000;
export const repoRoot = new URL('../../', import.meta.url).pathname;
export const cmmsDir = join(repoRoot, '../shared/testdata/cmms-secretfiles');

export function scratch(prefix = 'halo-rotation-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function configValues(overrides: Partial<ConfigValues> = {}): ConfigValues {
  return { participant: 'dataProviders', subject: '/O=Halo Test/CN=edp rotation', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], ...overrides };
}

export function newKeyring(dir: string, clock: ManualClock, overrides: Partial<ConfigValues> = {}): KeyringSession {
  return initKeyring({ dir, clock, passphrase: () => PASSPHRASE, config: configValues(overrides), createCa: { subject: '/O=Halo Test/CN=edp rotation Root CA' } });
}

/** The in-memory Kingdom of the service suites, as seen by this keyring's active TLS certificate. */
export interface KingdomLike {
  transport(caller: { peer: { clientCertificate: Uint8Array } }): Parameters<typeof kingdomClientOver>[0];
  admin: { createDataProvider(req: { registration: object }): Promise<{ name: string; certificate: string }> };
}

export function portFor(kingdom: KingdomLike, session: KeyringSession): KingdomPort {
  const tls = activeEntry(session.keyring, 'tls')!;
  const der = session.material.certificate(tls).der;
  return kingdomPortOver(kingdomClientOver(kingdom.transport({ peer: { clientCertificate: der } })));
}

/** Registers the keyring's participant as a DataProvider and records the names it got. */
export async function registerDataProvider(kingdom: KingdomLike, session: KeyringSession): Promise<string> {
  const m = registrationMaterial(session);
  const dp = await kingdom.admin.createDataProvider({
    registration: { rootCertificateDer: m.rootCertificateDer, certificateDer: m.certificateDer, publicKey: m.publicKey, displayName: 'rotation test' },
  });
  await syncWithKingdom(session, portFor(kingdom, session), dp.name);
  return dp.name;
}

/** SHA-256 of every file under `dir` (path -> hash), to prove a dry run wrote nothing. */
export function hashTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash('sha256').update(readFileSync(p)).digest('hex'));
    }
  };
  walk(dir);
  return out;
}

export { ManualClock };
