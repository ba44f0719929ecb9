/**
 * Reads a Kustomization directory's `secretGenerator`s, the way CMMS
 * deploys its secrets (`cmms-secretfiles/*_kustomization.yaml`): one
 * generator per Secret, `files` entries `[key=]path` relative to the
 * directory, and for TLS `type: kubernetes.io/tls` with `tls.crt`/`tls.key`.
 *
 * The document is kept as a `yaml` Document so that writing it back
 * (`secret-generations.ts`) keeps comments, resources, patches and every
 * other field as they were.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { type Document, isMap, isScalar, isSeq, parseDocument, type YAMLMap } from 'yaml';
import { FileError, readFileBytes } from '../lib/index.js';
import { K8sError } from './errors.js';

/** The names kustomize looks for, in its order. */
export const KUSTOMIZATION_FILE_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'] as const;

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';

/** One `files` entry: `tls.crt` (key = file name) or `tls.crt=secret-generations/3/edp7-tls/tls.crt`. */
export interface SecretFileRef {
  readonly key: string;
  /** Relative to the kustomization directory, as written. */
  readonly path: string;
  /** The entry exactly as written in the YAML. */
  readonly source: string;
}

export interface SecretGenerator {
  readonly name: string;
  readonly namespace?: string;
  /** Absent means Opaque. */
  readonly type?: string;
  readonly files: readonly SecretFileRef[];
  /** Keys set by `literals` (`KEY=value`); they share the Secret with the files. */
  readonly literalKeys: readonly string[];
  readonly hasEnvs: boolean;
  /** False when `disableNameSuffixHash` is set globally or on this generator. */
  readonly nameSuffixHash: boolean;
}

export interface GeneratorOptions {
  readonly disableNameSuffixHash?: boolean;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface Kustomization {
  readonly dir: string;
  /** Absolute path of kustomization.yaml (or its variant). */
  readonly file: string;
  readonly namespace?: string;
  readonly namePrefix?: string;
  readonly nameSuffix?: string;
  readonly generatorOptions?: GeneratorOptions;
  readonly secretGenerators: readonly SecretGenerator[];
}

/** Identifies a generator: kustomize allows the same name in different namespaces. */
export interface GeneratorId {
  readonly name: string;
  readonly namespace?: string;
}

export interface SecretFileInput {
  readonly key: string;
  readonly data: Uint8Array | string;
}

/**
 * A change to one generator (secret-update-plan.ts checks it): sets (adds or replaces)
 * `files` and removes `removeKeys`; other keys stay as they are.
 */
export interface SecretUpdate extends GeneratorId {
  /** Required to match an existing generator's type; used when creating one (absent: Opaque). */
  readonly type?: string;
  readonly files: readonly SecretFileInput[];
  readonly removeKeys?: readonly string[];
}

export interface LoadedKustomization {
  readonly file: string;
  readonly text: string;
  readonly doc: Document;
  readonly model: Kustomization;
}

/** Path of the kustomization file in `dir`; undefined when there is none. */
export function findKustomizationFile(dir: string): string | undefined {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw new K8sError('KUSTOMIZATION_NOT_FOUND', `cannot list ${dir}: ${code ?? 'error'}`, { cause: err });
  }
  const present = KUSTOMIZATION_FILE_NAMES.filter((n) => entries.includes(n));
  if (present.length > 1) {
    throw new K8sError('KUSTOMIZATION_INVALID', `${dir} has more than one kustomization file (${present.join(', ')}); kustomize refuses that too`);
  }
  return present[0] === undefined ? undefined : join(dir, present[0]);
}

export function loadKustomization(dir: string): LoadedKustomization {
  const file = findKustomizationFile(dir);
  if (!file) throw new K8sError('KUSTOMIZATION_NOT_FOUND', `no kustomization.yaml in ${dir}`);
  let text: string;
  try {
    text = Buffer.from(readFileBytes(file, 'kustomization file')).toString('utf8');
  } catch (err) {
    throw new K8sError('KUSTOMIZATION_NOT_FOUND', err instanceof FileError ? err.message : `cannot read ${file}`, { cause: err });
  }
  return parseKustomization(dir, file, text);
}

export function parseKustomization(dir: string, file: string, text: string): LoadedKustomization {
  const doc = parseDocument(text, { prettyErrors: false });
  const first = doc.errors[0];
  if (first) throw new K8sError('KUSTOMIZATION_INVALID', `${file} is not valid YAML: ${first.message.split('\n')[0]}`);
  if (doc.contents !== null && !isMap(doc.contents)) throw new K8sError('KUSTOMIZATION_INVALID', `${file} is not a YAML mapping`);
  return { file, text, doc, model: modelOf(dir, file, doc) };
}

/** The kustomization in `dir`, with its secretGenerators. */
export function readKustomization(dir: string): Kustomization {
  return loadKustomization(dir).model;
}

/** `[key=]path`: kustomize takes the file name as the key when none is given. */
export function parseFileSource(source: string): { key: string; path: string } {
  const eq = source.indexOf('=');
  if (eq >= 0) return { key: source.slice(0, eq), path: source.slice(eq + 1) };
  const slash = source.lastIndexOf('/');
  return { key: slash >= 0 ? source.slice(slash + 1) : source, path: source };
}

export function sameGenerator(g: GeneratorId, id: GeneratorId): boolean {
  return g.name === id.name && (g.namespace ?? '') === (id.namespace ?? '');
}

/**
 * The generator `id` names. Without a namespace, a name that only one
 * generator carries is enough.
 */
export function findGenerator(model: Kustomization, id: GeneratorId): SecretGenerator | undefined {
  const exact = model.secretGenerators.find((g) => sameGenerator(g, id));
  if (exact || id.namespace !== undefined) return exact;
  const byName = model.secretGenerators.filter((g) => g.name === id.name);
  return byName.length === 1 ? byName[0] : undefined;
}

export function describeGenerator(id: GeneratorId): string {
  return id.namespace ? `secretGenerator ${id.namespace}/${id.name}` : `secretGenerator ${id.name}`;
}

// ---------------------------------------------------------------------------

function invalid(file: string, what: string): K8sError {
  return new K8sError('KUSTOMIZATION_INVALID', `${file}: ${what}`);
}

function optionalString(map: YAMLMap, key: string, file: string, where: string): string | undefined {
  const v: unknown = map.get(key);
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw invalid(file, `${where}.${key} must be a string`);
  return v;
}

function stringList(map: YAMLMap, key: string, file: string, where: string): string[] {
  const node: unknown = map.get(key, true);
  if (node === undefined || node === null || (isScalar(node) && node.value === null)) return [];
  if (!isSeq(node)) throw invalid(file, `${where}.${key} must be a list`);
  return node.items.map((item, i) => {
    const v = isScalar(item) ? item.value : item;
    if (typeof v !== 'string') throw invalid(file, `${where}.${key}[${i}] must be a string`);
    return v;
  });
}

function stringRecord(value: unknown, file: string, where: string): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isMap(value)) throw invalid(file, `${where} must be a mapping`);
  const out: Record<string, string> = {};
  for (const pair of value.items) {
    const k = isScalar(pair.key) ? pair.key.value : pair.key;
    const v = isScalar(pair.value) ? pair.value.value : pair.value;
    if (typeof k !== 'string' || (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean')) {
      throw invalid(file, `${where} must map strings to strings`);
    }
    out[k] = String(v);
  }
  return out;
}

function disableHash(map: YAMLMap | undefined, file: string, where: string): boolean | undefined {
  if (!map) return undefined;
  const v: unknown = map.get('disableNameSuffixHash');
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw invalid(file, `${where}.disableNameSuffixHash must be true or false`);
  return v;
}

function modelOf(dir: string, file: string, doc: Document): Kustomization {
  const root = doc.contents;
  if (!isMap(root)) return { dir, file, secretGenerators: [] };
  const optionsNode: unknown = root.get('generatorOptions', true);
  if (optionsNode !== undefined && optionsNode !== null && !isMap(optionsNode)) throw invalid(file, 'generatorOptions must be a mapping');
  const optionsMap = isMap(optionsNode) ? optionsNode : undefined;
  const globalDisable = disableHash(optionsMap, file, 'generatorOptions');
  let generatorOptions: GeneratorOptions | undefined;
  if (optionsMap) {
    const labels = stringRecord(optionsMap.get('labels', true), file, 'generatorOptions.labels');
    const annotations = stringRecord(optionsMap.get('annotations', true), file, 'generatorOptions.annotations');
    generatorOptions = {
      ...(globalDisable !== undefined ? { disableNameSuffixHash: globalDisable } : {}),
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    };
  }
  const generatorsNode: unknown = root.get('secretGenerator', true);
  const secretGenerators: SecretGenerator[] = [];
  if (generatorsNode !== undefined && generatorsNode !== null && !(isScalar(generatorsNode) && generatorsNode.value === null)) {
    if (!isSeq(generatorsNode)) throw invalid(file, 'secretGenerator must be a list');
    generatorsNode.items.forEach((item, i) => {
      const where = `secretGenerator[${i}]`;
      if (!isMap(item)) throw invalid(file, `${where} must be a mapping`);
      const name = optionalString(item, 'name', file, where);
      if (!name) throw invalid(file, `${where} has no name`);
      const namespace = optionalString(item, 'namespace', file, where);
      const type = optionalString(item, 'type', file, where);
      const files = stringList(item, 'files', file, where).map((source) => ({ ...parseFileSource(source), source }));
      const literalKeys = stringList(item, 'literals', file, where).map((l) => parseFileSource(l).key);
      const hasEnvs = stringList(item, 'envs', file, where).length > 0 || item.has('env');
      const ownOptions: unknown = item.get('options', true);
      const localDisable = disableHash(isMap(ownOptions) ? ownOptions : undefined, file, `${where}.options`);
      secretGenerators.push({
        name,
        ...(namespace !== undefined ? { namespace } : {}),
        ...(type !== undefined ? { type } : {}),
        files,
        literalKeys,
        hasEnvs,
        nameSuffixHash: !(localDisable ?? globalDisable ?? false),
      });
    });
  }
  const namespace = optionalString(root, 'namespace', file, 'kustomization');
  const namePrefix = optionalString(root, 'namePrefix', file, 'kustomization');
  const nameSuffix = optionalString(root, 'nameSuffix', file, 'kustomization');
  return {
    dir,
    file,
    ...(namespace !== undefined ? { namespace } : {}),
    ...(namePrefix !== undefined ? { namePrefix } : {}),
    ...(nameSuffix !== undefined ? { nameSuffix } : {}),
    ...(generatorOptions ? { generatorOptions } : {}),
    secretGenerators,
  };
}
