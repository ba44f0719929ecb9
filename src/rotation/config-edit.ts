/**
 * Changing `halo-keys.yaml` without an editor: only the settings an operator
 * tunes (the Kingdom target and roots, the Kustomization, the policy, the TLS
 * names), each change checked by the same `parseConfig` every command reads
 * the file with, written atomically under the rotation lock, and audited.
 * Comments and the order of the file are kept.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { readFileBytes, writeFileAtomic } from '../lib/index.js';
import { CONFIG_FILE, parseConfig } from './config.js';
import { RotationError } from './errors.js';
import { acquireLock } from './lock.js';
import type { KeyringSession } from './session.js';

/** How a value given on the command line becomes a YAML value. */
type ValueKind = 'string' | 'path' | 'number' | 'list' | 'apply';

const POLICY_KINDS = ['tls', 'signing', 'encryption'] as const;

/** Every key `config set` may change, and how its value is read. */
export const SETTABLE_KEYS: Readonly<Record<string, ValueKind>> = {
  subject: 'string',
  'tls.dnsNames': 'list',
  'tls.ipAddresses': 'list',
  'tls.days': 'number',
  'tls.endpoint': 'string',
  'tls.endpointServerName': 'string',
  'tls.rolloutTimeout': 'string',
  'signing.days': 'number',
  'kingdom.target': 'string',
  'kingdom.trustedRoots': 'path',
  'kingdom.serverName': 'string',
  'kingdom.clientCertificate': 'path',
  'kingdom.clientKey': 'path',
  'kingdom.apiKeyFile': 'path',
  'kingdom.timeout': 'string',
  'kustomization.dir': 'path',
  'kustomization.secretName': 'string',
  'kustomization.trustedRoots': 'path',
  'kustomization.trustedRootsName': 'string',
  'kustomization.apply': 'apply',
  'kustomization.render': 'list',
  'kustomization.namespace': 'string',
  ...Object.fromEntries(
    POLICY_KINDS.flatMap((k) => [
      [`policy.${k}.every`, 'string'],
      [`policy.${k}.jitter`, 'string'],
      [`policy.${k}.minRemaining`, 'string'],
      [`policy.${k}.fraction`, 'number'],
    ]),
  ),
  'policy.overdueAfter': 'string',
  'policy.encryptionGrace': 'string',
  'policy.retiredCertificates': 'string',
  'compromise.trustedRoots': 'path',
  'compromise.requisitionSpecs': 'path',
  'compromise.eventGroupMetadata': 'path',
};

export interface ConfigChange {
  key: string;
  /** The new value as typed; undefined removes the key. */
  value?: string;
}

export interface AppliedChange {
  key: string;
  before: unknown;
  after: unknown;
}

function yamlValue(key: string, kind: ValueKind, text: string, cwd: string): unknown {
  switch (kind) {
    case 'string':
      return text;
    case 'path':
      // As init does: a path typed on the command line is relative to where it was typed.
      return isAbsolute(text) ? text : resolve(cwd, text);
    case 'number': {
      const n = Number(text);
      if (text.trim() === '' || !Number.isFinite(n)) throw new RotationError('CONFIG_INVALID', `${CONFIG_FILE}: ${key} must be a number, not "${text}"`);
      return n;
    }
    case 'list':
      return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
    case 'apply':
      return text === 'false' ? false : text.split(/\s+/).filter((s) => s.length > 0);
  }
}

/**
 * Applies `changes` to the state directory's halo-keys.yaml. Nothing is
 * written unless the whole result reads back as a valid config; an unknown
 * key or an invalid value is `CONFIG_INVALID` naming it.
 */
export function editConfig(session: KeyringSession, changes: readonly ConfigChange[], cwd = process.cwd()): AppliedChange[] {
  for (const c of changes) {
    if (!(c.key in SETTABLE_KEYS)) {
      throw new RotationError('CONFIG_INVALID', `${c.key} is not a setting config set changes (one of ${Object.keys(SETTABLE_KEYS).join(', ')})`);
    }
  }
  const lock = acquireLock(session.dir, { clock: session.clock, command: 'config set' });
  try {
    const file = join(session.dir, CONFIG_FILE);
    const doc = parseDocument(Buffer.from(readFileBytes(file, CONFIG_FILE)).toString('utf8'));
    const applied = changes.map((c) => {
      const path = c.key.split('.');
      const before = doc.getIn(path) as unknown;
      if (c.value === undefined) doc.deleteIn(path);
      else doc.setIn(path, yamlValue(c.key, SETTABLE_KEYS[c.key]!, c.value, cwd));
      const after = doc.getIn(path) as unknown;
      return { key: c.key, before: plain(before) ?? null, after: plain(after) ?? null };
    });
    const text = doc.toString();
    parseConfig(text, session.dir);
    writeFileAtomic(file, text);
    session.record({ action: 'config.set', resource: CONFIG_FILE, before: Object.fromEntries(applied.map((a) => [a.key, a.before])), after: Object.fromEntries(applied.map((a) => [a.key, a.after])), outcome: 'ok' });
    return applied;
  } finally {
    lock.release();
  }
}

/** A YAML node (a list is a YAMLSeq) as plain JSON. */
function plain(value: unknown): unknown {
  return value !== null && typeof value === 'object' && 'toJSON' in value ? (value as { toJSON(): unknown }).toJSON() : value;
}
