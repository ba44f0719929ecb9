/**
 * The keyring's `compromise:` section of halo-keys.yaml: what the compromise
 * procedures need beyond rotation. Command-line flags override each value.
 *
 *   compromise:
 *     trustedRoots: peers/roots.pem    # roots of the other participants (a DataProvider: its
 *                                      # MeasurementConsumers'; an MC: its DataProviders')
 *     eventGroupMetadata: metadata/    # DataProvider: <event_group_reference_id>.binpb, each a
 *                                      # serialized EventGroup.Metadata (its plaintext copy)
 *     requisitionSpecs: specs/         # MeasurementConsumer: <nonce hash hex>.binpb, each a
 *                                      # serialized RequisitionSpec it created
 *
 * Paths are relative to the state directory. The section is read here, not
 * in config.ts, so rotation keeps its own schema.
 */
import { join, isAbsolute, resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { readFileBytes } from '../../lib/index.js';
import { CONFIG_FILE, type KeyringConfig } from '../config.js';
import { RotationError } from '../errors.js';

export interface CompromiseSettings {
  trustedRoots?: string;
  eventGroupMetadata?: string;
  requisitionSpecs?: string;
}

const KEYS = ['trustedRoots', 'eventGroupMetadata', 'requisitionSpecs'] as const;

export function compromiseSettings(config: KeyringConfig, overrides: CompromiseSettings = {}): CompromiseSettings {
  const file = join(config.dir, CONFIG_FILE);
  let section: Record<string, unknown> = {};
  if (existsSync(file)) {
    const raw = parseYaml(Buffer.from(readFileBytes(file, CONFIG_FILE)).toString('utf8')) as Record<string, unknown> | null;
    const c = raw?.compromise;
    if (c !== undefined && c !== null) {
      if (typeof c !== 'object' || Array.isArray(c)) throw new RotationError('CONFIG_INVALID', `${CONFIG_FILE}: compromise must be a mapping`);
      section = c as Record<string, unknown>;
    }
  }
  const out: CompromiseSettings = {};
  for (const key of KEYS) {
    const v = overrides[key] ?? section[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v === '') throw new RotationError('CONFIG_INVALID', `${CONFIG_FILE}: compromise.${key} must be a path`);
    out[key] = overrides[key] !== undefined ? resolve(v) : isAbsolute(v) ? v : resolve(config.dir, v);
  }
  return out;
}

/** The setting or a CONFIG_INVALID naming both ways to give it. */
export function requireSetting(settings: CompromiseSettings, key: keyof CompromiseSettings, flag: string, why: string): string {
  const v = settings[key];
  if (!v) throw new RotationError('CONFIG_INVALID', `${why}: set compromise.${key} in ${CONFIG_FILE} or pass ${flag}`);
  return v;
}
