/**
 * The Secrets in `kubectl kustomize` output, with their data base64-decoded,
 * and the lookup from a generator to the Secret it rendered (whose name
 * carries namePrefix, nameSuffix and, by default, a content hash).
 */
import { parseAllDocuments } from 'yaml';
import { K8sError } from './errors.js';
import { describeGenerator, type GeneratorId, type Kustomization } from './kustomization.js';

export interface RenderedSecret {
  /** The name as rendered, hash suffix included. */
  readonly name: string;
  readonly namespace?: string;
  readonly type: string;
  readonly data: ReadonlyMap<string, Uint8Array>;
}

export interface RenderedManifests {
  readonly yaml: string;
  readonly manifests: readonly Record<string, unknown>[];
  readonly secrets: readonly RenderedSecret[];
}

export function parseRenderedManifests(yaml: string): RenderedManifests {
  let docs;
  try {
    docs = parseAllDocuments(yaml);
  } catch (err) {
    throw new K8sError('RENDER_INVALID', 'the rendered output is not YAML', { cause: err });
  }
  if (!Array.isArray(docs)) throw new K8sError('RENDER_INVALID', 'the rendered output is not a YAML stream');
  const manifests: Record<string, unknown>[] = [];
  for (const doc of docs) {
    const first = doc.errors[0];
    if (first) throw new K8sError('RENDER_INVALID', `the rendered output is not valid YAML: ${first.message.split('\n')[0]}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new K8sError('RENDER_INVALID', 'a rendered document is not a Kubernetes object');
    manifests.push(value as Record<string, unknown>);
  }
  return { yaml, manifests, secrets: manifests.filter((m) => m.kind === 'Secret').map(secretOf) };
}

function secretOf(manifest: Record<string, unknown>): RenderedSecret {
  const metadata = manifest.metadata as { name?: unknown; namespace?: unknown } | undefined;
  const name = metadata?.name;
  if (typeof name !== 'string') throw new K8sError('RENDER_INVALID', 'a rendered Secret has no name');
  const data = new Map<string, Uint8Array>();
  for (const [field, decode] of [
    ['data', (v: string) => Buffer.from(v.replace(/\s+/g, ''), 'base64')],
    ['stringData', (v: string) => Buffer.from(v, 'utf8')],
  ] as const) {
    const entries = manifest[field];
    if (entries === undefined || entries === null) continue;
    if (typeof entries !== 'object') throw new K8sError('RENDER_INVALID', `Secret ${name}: ${field} is not a mapping`);
    for (const [key, value] of Object.entries(entries as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new K8sError('RENDER_INVALID', `Secret ${name}: ${field}.${key} is not a string`);
      if (field === 'data' && !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(value)) throw new K8sError('RENDER_INVALID', `Secret ${name}: data.${key} is not base64`);
      data.set(key, new Uint8Array(decode(value)));
    }
  }
  const namespace = metadata?.namespace;
  return {
    name,
    ...(typeof namespace === 'string' ? { namespace } : {}),
    type: typeof manifest.type === 'string' ? manifest.type : 'Opaque',
    data,
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The rendered Secret of generator `id`: kustomize names it
 * `<namePrefix><name><nameSuffix>[-<hash>]`.
 */
export function findRenderedSecret(rendered: RenderedManifests, model: Kustomization, id: GeneratorId): RenderedSecret | undefined {
  const pattern = new RegExp(`^${escape(model.namePrefix ?? '')}${escape(id.name)}${escape(model.nameSuffix ?? '')}(-[a-z0-9]{10})?$`);
  const namespace = id.namespace ?? model.namespace;
  return rendered.secrets.find((s) => pattern.test(s.name) && (namespace === undefined || (s.namespace ?? '') === namespace));
}

export function requireRenderedSecret(rendered: RenderedManifests, model: Kustomization, id: GeneratorId): RenderedSecret {
  const found = findRenderedSecret(rendered, model, id);
  if (!found) throw new K8sError('SECRET_NOT_RENDERED', `the rendered output of ${model.dir} has no Secret for ${describeGenerator(id)}`);
  return found;
}
