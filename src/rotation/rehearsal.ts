/**
 * Rehearsals at another instant (`--at`, HALO_KEYS_NOW). A rotation at a
 * later instant issues certificates that are not valid yet; made in the real
 * keyring they would become active and break every later run. So a command
 * that writes acts at another instant only on a scratch copy: the state
 * directory copied to `--rehearsal DIR` (with its CA and Kustomization when
 * they live outside it), the Kubernetes apply and the rollout check switched
 * off, and no Kingdom: the real one accepts no certificate before its
 * validity (nor a client certificate), and nothing it publishes may depend on
 * keys that exist only in the copy. A rehearsal therefore rotates TLS
 * certificates; signing and encryption rotations say they need the Kingdom.
 */
import { cpSync, existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { writeFileAtomic } from '../lib/index.js';
import { CONFIG_FILE, loadConfig, type KeyringConfig } from './config.js';
import { RotationError } from './errors.js';
import { LOCK_FILE } from './lock.js';

type Obj = Record<string, unknown>;

function inside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Path-valued settings of halo-keys.yaml, by section ('' = top level). */
const PATH_KEYS: Record<string, readonly string[]> = {
  '': ['ca'],
  kingdom: ['trustedRoots', 'clientCertificate', 'clientKey', 'apiKeyFile'],
  kustomization: ['dir', 'trustedRoots'],
  compromise: ['trustedRoots', 'requisitionSpecs', 'eventGroupMetadata'],
};

/**
 * Copies the keyring in `config.dir` to `target` for a rehearsal and returns
 * the copy's directory. A `target` that already is a rehearsal copy of the
 * same keyring is reused, so a rehearsal can go on over several commands.
 */
export function rehearsalCopy(config: KeyringConfig, target: string, at: Date): string {
  const source = config.dir;
  const dir = resolve(target);
  if (config.rehearsalOf) throw new RotationError('REHEARSAL_ONLY', `${source} is itself a rehearsal copy: run the command on it without --rehearsal`);
  if (inside(source, dir) || inside(dir, source)) throw new RotationError('REHEARSAL_ONLY', `--rehearsal ${target} must be outside the keyring ${source}`);
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    if (existsSync(join(dir, CONFIG_FILE)) && loadConfig(dir).rehearsalOf === source) return dir;
    throw new RotationError('REHEARSAL_ONLY', `--rehearsal ${target} is neither empty nor a rehearsal copy of ${source}`);
  }
  cpSync(source, dir, { recursive: true, preserveTimestamps: true });
  rmSync(join(dir, LOCK_FILE), { force: true });

  const raw = parseYaml(readFileSync(join(source, CONFIG_FILE), 'utf8')) as Obj;
  const absolute = (p: string) => (isAbsolute(p) ? p : resolve(source, p));
  // Paths inside the keyring stay relative (they were copied with it); paths outside become absolute.
  for (const [section, keys] of Object.entries(PATH_KEYS)) {
    const o = (section ? raw[section] : raw) as Obj | undefined;
    if (!o || typeof o !== 'object') continue;
    for (const key of keys) {
      if (typeof o[key] !== 'string') continue;
      const abs = absolute(o[key] as string);
      o[key] = inside(source, abs) ? relative(source, abs) || '.' : abs;
    }
  }
  // What the rehearsal writes outside the keyring is copied in too: the CA and the Kustomization.
  if (!inside(source, config.ca)) {
    cpSync(config.ca, join(dir, 'rehearsal-ca'), { recursive: true, preserveTimestamps: true });
    raw.ca = 'rehearsal-ca';
  }
  const k = raw.kustomization as Obj | undefined;
  if (k && config.kustomization) {
    if (!inside(source, config.kustomization.dir)) {
      if (existsSync(config.kustomization.dir)) cpSync(config.kustomization.dir, join(dir, 'rehearsal-kustomization'), { recursive: true });
      k.dir = 'rehearsal-kustomization';
    }
    k.apply = false;
  }
  const tls = raw.tls as Obj | undefined;
  if (tls) {
    delete tls.endpoint;
    delete tls.endpointServerName;
  }
  delete raw.kingdom;
  raw.rehearsal = { of: source, createdAt: at.toISOString() };
  writeFileAtomic(join(dir, CONFIG_FILE), `# rehearsal copy of ${source}: nothing here reaches the cluster or the Kingdom\n${stringifyYaml(raw)}`);
  return dir;
}
