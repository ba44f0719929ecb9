/**
 * Checks a Secret update against the kustomization as it stands, before
 * anything is written: the writer (`secret-generations.ts`) and the dry run
 * (`dry-run.ts`) share it, so a rehearsal refuses exactly what a real run
 * would.
 */
import { K8sError } from './errors.js';
import {
  describeGenerator,
  findGenerator,
  type GeneratorId,
  type Kustomization,
  sameGenerator,
  type SecretGenerator,
  type SecretUpdate,
  TLS_SECRET_TYPE,
} from './kustomization.js';
import { readReferenced, resolveInside } from './secret-files.js';
import { assertTlsPair } from './tls-secret.js';

/** A validated update: data as bytes, and the generator it lands on, if it exists. */
export interface PlannedUpdate {
  readonly id: GeneratorId;
  readonly existing?: SecretGenerator;
  readonly type?: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly removeKeys: ReadonlySet<string>;
  readonly keys: readonly string[];
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

/**
 * Checks every update against the kustomization as it is, without touching
 * the disk: names, keys, types, and for TLS Secrets that `tls.crt` and
 * `tls.key` exist and belong together. Shared by the writer and the dry run.
 */
export function planSecretUpdates(dir: string, model: Kustomization, updates: readonly SecretUpdate[]): PlannedUpdate[] {
  if (updates.length === 0) throw new K8sError('INVALID_SECRET', 'no Secret to update');
  const planned: PlannedUpdate[] = [];
  for (const update of updates) {
    const what = describeGenerator(update);
    if (!DNS_SUBDOMAIN.test(update.name) || update.name.length > 253) {
      throw new K8sError('INVALID_SECRET', `"${update.name}" is not a valid Secret name (lower-case DNS subdomain)`);
    }
    if (update.namespace !== undefined && (!DNS_LABEL.test(update.namespace) || update.namespace.length > 63)) {
      throw new K8sError('INVALID_SECRET', `"${update.namespace}" is not a valid namespace`);
    }
    if (planned.some((p) => sameGenerator(p.id, update))) throw new K8sError('INVALID_SECRET', `${what} is updated twice`);
    const files = new Map<string, Uint8Array>();
    for (const file of update.files) {
      if (!DATA_KEY.test(file.key) || file.key === '.' || file.key === '..' || file.key.length > 253) {
        throw new K8sError('INVALID_SECRET', `"${file.key}" is not a valid Secret data key`);
      }
      if (files.has(file.key)) throw new K8sError('INVALID_SECRET', `${what}: key ${file.key} is given twice`);
      files.set(file.key, typeof file.data === 'string' ? new Uint8Array(Buffer.from(file.data, 'utf8')) : file.data);
    }
    const removeKeys = new Set(update.removeKeys ?? []);
    for (const key of removeKeys) {
      if (files.has(key)) throw new K8sError('INVALID_SECRET', `${what}: key ${key} is both set and removed`);
    }
    if (files.size === 0 && removeKeys.size === 0) throw new K8sError('INVALID_SECRET', `${what}: nothing to change`);

    const existing = findGenerator(model, update);
    if (existing && update.type !== undefined && (existing.type ?? 'Opaque') !== update.type) {
      // A Secret's type is immutable in Kubernetes; changing it needs a delete first.
      throw new K8sError('GENERATOR_MISMATCH', `${what} has type ${existing.type ?? 'Opaque'}, not ${update.type}`);
    }
    for (const key of files.keys()) {
      if (existing?.literalKeys.includes(key)) throw new K8sError('GENERATOR_MISMATCH', `${what} sets ${key} as a literal; it cannot also be a file`);
    }
    const oldKeys = existing ? existing.files.map((f) => f.key) : [];
    for (const key of removeKeys) {
      if (!oldKeys.includes(key)) throw new K8sError('INVALID_SECRET', `${what} has no file for key ${key} to remove`);
    }
    const keys = [...oldKeys.filter((k) => !removeKeys.has(k)), ...[...files.keys()].filter((k) => !oldKeys.includes(k))];
    const allKeys = [...keys, ...(existing?.literalKeys ?? [])];
    const type = update.type ?? existing?.type;
    if (type === TLS_SECRET_TYPE) {
      if (!allKeys.includes('tls.crt') || !allKeys.includes('tls.key')) {
        throw new K8sError('INVALID_SECRET', `${what} is of type ${TLS_SECRET_TYPE} and needs both tls.crt and tls.key`);
      }
      if (files.has('tls.crt') || files.has('tls.key')) {
        const current = (key: string): Uint8Array => {
          const given = files.get(key);
          if (given) return given;
          const ref = existing?.files.find((f) => f.key === key);
          if (!ref) throw new K8sError('INVALID_SECRET', `${what}: ${key} comes from a literal; cannot check it against the new ${key === 'tls.crt' ? 'tls.key' : 'tls.crt'}`);
          return readReferenced(resolveInside(dir, ref.path), key, update.name);
        };
        assertTlsPair(current('tls.crt'), current('tls.key'), update.name);
      }
    }
    planned.push({
      id: { name: update.name, ...(update.namespace !== undefined ? { namespace: update.namespace } : existing?.namespace !== undefined ? { namespace: existing.namespace } : {}) },
      ...(existing ? { existing } : {}),
      ...(type !== undefined ? { type } : {}),
      files,
      removeKeys,
      keys: allKeys,
    });
  }
  return planned;
}

