/**
 * Crash-safe updates of a Kustomization's Secret files.
 *
 * A Secret's files must change together (a `tls.crt` with the old `tls.key`
 * takes the endpoint down), but files can only be replaced one at a time.
 * So new content never overwrites old: each update writes a complete new
 * generation `secret-generations/<N>/<secret>/<key>` under a temporary
 * name, renames it into place, and only then switches kustomization.yaml
 * (one atomic rename) to `key=secret-generations/<N>/<secret>/<key>`
 * entries. A crash before the switch leaves the old references (the old
 * set renders); after it, the new set. The Secret keys are unchanged, so
 * the rendered Secret looks exactly like upstream's.
 *
 * `generatorOptions` are left as they are. Upstream keeps kustomize's
 * name-suffix hash on: a changed Secret gets a new name, so workloads in the
 * same kustomization that reference it roll by themselves, and the old
 * Secret stays in the cluster for a rollback. We keep that layout.
 *
 * The previous generation is kept (its file list is recorded in the new
 * generation's `generation.json`) so `rollbackSecretGenerators` can switch
 * back; older generations and leftovers of crashed updates are removed.
 * Files outside `secret-generations/` (upstream's `tls.crt` beside the
 * kustomization) are never deleted.
 *
 * One writer at a time: the caller holds the keyring lock.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, type Document, type YAMLMap, type YAMLSeq } from 'yaml';
import { FileError, readFileBytes, writeFileAtomic, writeSecretFile } from '../lib/index.js';
import { K8sError } from './errors.js';
import {
  findKustomizationFile,
  type GeneratorId,
  type GeneratorOptions,
  type Kustomization,
  loadKustomization,
  type LoadedKustomization,
  parseFileSource,
  parseKustomization,
  sameGenerator,
  type SecretUpdate,
} from './kustomization.js';
import { resolveInside } from './secret-files.js';
import { type PlannedUpdate, planSecretUpdates } from './secret-update-plan.js';

export type { PlannedUpdate } from './secret-update-plan.js';
export type { SecretFileInput, SecretUpdate } from './kustomization.js';
export { planSecretUpdates } from './secret-update-plan.js';

export const GENERATIONS_DIR = 'secret-generations';
const MANIFEST = 'generation.json';

/**
 * The points between the steps of an update, for fault injection in tests:
 * `file-staged` after each file of the new generation, then the generation
 * complete under its temporary name, renamed into place, kustomization.yaml
 * switched, old generations pruned.
 */
export type GenerationStep = 'file-staged' | 'staged' | 'committed' | 'switched' | 'pruned';

export interface UpdateOptions {
  /** Create kustomization.yaml when the directory has none (with these generatorOptions, if any). */
  readonly create?: boolean | { readonly generatorOptions?: GeneratorOptions };
  /**
   * Called after each step. Whatever it throws propagates untouched and
   * nothing is cleaned up, exactly as if the process had died there.
   */
  readonly onStep?: (step: GenerationStep) => void;
}

export interface UpdatedSecret extends GeneratorId {
  readonly type?: string;
  readonly created: boolean;
  /** Every key of the Secret after the update (files and literals). */
  readonly keys: readonly string[];
}

export interface UpdateResult {
  readonly generation: number;
  /** Absolute path of `secret-generations/<N>`. */
  readonly generationDir: string;
  readonly kustomizationFile: string;
  readonly secrets: readonly UpdatedSecret[];
  /** Generations removed after the switch. */
  readonly pruned: readonly number[];
}

interface PreviousFiles extends GeneratorId {
  /** The `files` entries before the update; null when the update created the generator. */
  readonly files: readonly string[] | null;
}

interface GenerationManifest {
  readonly generation: number;
  readonly previous: readonly PreviousFiles[];
}

/**
 * Writes the new files as generation N and switches kustomization.yaml to
 * them. See the module comment for the crash-safety argument.
 */
export function updateSecretGenerators(dir: string, updates: readonly SecretUpdate[], options: UpdateOptions = {}): UpdateResult {
  const loaded = loadOrCreate(dir, options.create);
  const planned = planSecretUpdates(dir, loaded.model, updates);
  const root = join(dir, GENERATIONS_DIR);
  makeDir(root);
  const generation = nextGeneration(root);
  const generationDir = join(root, String(generation));

  // 1. Stage the whole generation under a temporary name.
  const staging = join(root, `.${generation}.${randomBytes(6).toString('hex')}.tmp`);
  const previous: PreviousFiles[] = planned.map((p) => ({ ...p.id, files: p.existing ? p.existing.files.map((f) => f.source) : null }));
  try {
    makeDir(staging);
    for (const p of planned) {
      const secretDir = join(staging, secretDirName(p.id));
      makeDir(secretDir);
      for (const [key, data] of p.files) {
        writeSecretFile(join(secretDir, key), data);
        try {
          options.onStep?.('file-staged');
        } catch (stop) {
          throw new InjectedStop(stop);
        }
      }
      fsyncDir(staging);
    }
    const manifest: GenerationManifest = { generation, previous };
    writeFileAtomic(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
  } catch (err) {
    if (err instanceof InjectedStop) throw err.cause;
    rmSync(staging, { recursive: true, force: true });
    throw writeFailed(`cannot write generation ${generation} in ${root}`, err);
  }
  options.onStep?.('staged');

  // 2. Commit it: a directory rename is atomic, so N is complete or absent.
  try {
    renameSync(staging, generationDir);
    fsyncDir(root);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw writeFailed(`cannot commit generation ${generation} in ${root}`, err);
  }
  options.onStep?.('committed');

  // 3. Switch kustomization.yaml to the new files: the commit point.
  for (const p of planned) {
    const sources = new Map([...p.files.keys()].map((key) => [key, `${key}=${GENERATIONS_DIR}/${generation}/${secretDirName(p.id)}/${key}`]));
    applyToDocument(loaded.doc, p, sources);
  }
  writeDocument(loaded);
  options.onStep?.('switched');

  // 4. Forget what no one can roll back to any more. The update is done
  //    whatever happens here; the next one prunes again.
  let pruned: number[] = [];
  try {
    pruned = pruneGenerations(dir);
  } catch {
    pruned = [];
  }
  options.onStep?.('pruned');

  return {
    generation,
    generationDir,
    kustomizationFile: loaded.file,
    secrets: planned.map((p) => ({ ...p.id, ...(p.type !== undefined ? { type: p.type } : {}), created: !p.existing, keys: p.keys })),
    pruned,
  };
}

export interface RollbackResult {
  /** The generation that was undone. */
  readonly undone: number;
  readonly secrets: readonly GeneratorId[];
  readonly pruned: readonly number[];
}

/**
 * Switches kustomization.yaml back to the files the newest referenced
 * generation replaced (one atomic write). Only the file lists of the
 * generators that generation touched change; other edits are kept.
 */
export function rollbackSecretGenerators(dir: string): RollbackResult {
  const loaded = loadKustomization(dir);
  const current = Math.max(-1, ...referencedGenerations(loaded.model));
  if (current < 0) throw new K8sError('ROLLBACK_UNAVAILABLE', `${loaded.file} references no secret generation to roll back`);
  const manifest = readManifest(join(dir, GENERATIONS_DIR, String(current)));
  if (!manifest) throw new K8sError('ROLLBACK_UNAVAILABLE', `generation ${current} has no readable ${MANIFEST}`);
  for (const prev of manifest.previous) {
    for (const source of prev.files ?? []) {
      const path = resolveInside(dir, parseFileSource(source).path);
      try {
        statSync(path);
      } catch {
        throw new K8sError('ROLLBACK_UNAVAILABLE', `cannot roll back generation ${current}: ${parseFileSource(source).path} is gone`);
      }
    }
  }
  const root = loaded.doc.contents as YAMLMap;
  const seq = root.get('secretGenerator', true) as YAMLSeq | undefined;
  for (const prev of manifest.previous) {
    const index = seq ? seq.items.findIndex((item) => isMap(item) && sameGenerator(idOf(item), prev)) : -1;
    if (index < 0 || !seq) continue;
    if (prev.files === null) {
      seq.items.splice(index, 1);
    } else {
      const node = seq.items[index] as YAMLMap;
      node.set('files', loaded.doc.createNode([...prev.files]));
    }
  }
  writeDocument(loaded);
  const pruned = pruneGenerations(dir);
  return { undone: current, secrets: manifest.previous.map((p) => ({ name: p.name, ...(p.namespace !== undefined ? { namespace: p.namespace } : {}) })), pruned };
}

/**
 * Removes generations that neither kustomization.yaml nor the newest
 * generation's rollback record references, and leftovers of crashed updates.
 */
export function pruneGenerations(dir: string): number[] {
  const root = join(dir, GENERATIONS_DIR);
  let entries: string[];
  try {
    entries = readdirSync(root);
  } catch {
    return [];
  }
  const model = loadKustomization(dir).model;
  const keep = new Set(referencedGenerations(model));
  const newest = Math.max(-1, ...keep);
  const manifest = newest >= 0 ? readManifest(join(root, String(newest))) : undefined;
  for (const prev of manifest?.previous ?? []) {
    for (const source of prev.files ?? []) {
      const g = generationOf(parseFileSource(source).path);
      if (g !== undefined) keep.add(g);
    }
  }
  const pruned: number[] = [];
  for (const entry of entries) {
    const n = /^\d+$/.test(entry) ? Number(entry) : undefined;
    if (n !== undefined && keep.has(n)) continue;
    if (n === undefined && !/^\.\d+\.[0-9a-f]+\.tmp$/.test(entry)) continue; // not ours
    rmSync(join(root, entry), { recursive: true, force: true });
    if (n !== undefined) pruned.push(n);
  }
  if (pruned.length) fsyncDir(root);
  return pruned.sort((a, b) => a - b);
}

/** Generation numbers the kustomization's file entries point into. */
export function referencedGenerations(model: Kustomization): number[] {
  const out = new Set<number>();
  for (const g of model.secretGenerators) {
    for (const f of g.files) {
      const n = generationOf(f.path);
      if (n !== undefined) out.add(n);
    }
  }
  return [...out].sort((a, b) => a - b);
}

// ---------------------------------------------------------------------------

/** Carries a fault-injection hook's error past the clean-up a real write error gets. */
class InjectedStop {
  constructor(readonly cause: unknown) {}
}

function generationOf(path: string): number | undefined {
  const m = /^(?:\.\/)?secret-generations\/(\d+)\//.exec(path);
  return m ? Number(m[1]) : undefined;
}

/** `_` is valid in neither a namespace nor a Secret name, so the pair stays unambiguous. */
function secretDirName(id: GeneratorId): string {
  return id.namespace ? `${id.namespace}_${id.name}` : id.name;
}

function nextGeneration(root: string): number {
  let max = 0;
  for (const entry of readdirSync(root)) {
    // Count leftovers of crashed updates too, so a number is never reused.
    const m = /^\.?(\d+)(?:\.[0-9a-f]+\.tmp)?$/.exec(entry);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

function idOf(node: YAMLMap): GeneratorId {
  const name = node.get('name');
  const namespace = node.get('namespace');
  return { name: typeof name === 'string' ? name : '', ...(typeof namespace === 'string' ? { namespace } : {}) };
}

/** Edits the generator's node in place: replaced entries keep their position and comments. */
function applyToDocument(doc: Document, planned: PlannedUpdate, sources: ReadonlyMap<string, string>): void {
  let root = doc.contents;
  if (!isMap(root)) {
    root = doc.createNode({}) as YAMLMap;
    doc.contents = root;
  }
  let seq: unknown = root.get('secretGenerator', true);
  if (!isSeq(seq)) {
    seq = doc.createNode([]);
    root.set('secretGenerator', seq);
  }
  const generators = seq as YAMLSeq;
  let node = generators.items.find((item): item is YAMLMap => isMap(item) && sameGenerator(idOf(item), planned.existing ?? planned.id));
  if (!node) {
    node = doc.createNode({
      name: planned.id.name,
      ...(planned.id.namespace !== undefined ? { namespace: planned.id.namespace } : {}),
      ...(planned.type !== undefined ? { type: planned.type } : {}),
      files: [],
    }) as YAMLMap;
    generators.items.push(node);
  }
  let files: unknown = node.get('files', true);
  if (!isSeq(files)) {
    files = doc.createNode([]);
    node.set('files', files);
  }
  const list = files as YAMLSeq;
  const done = new Set<string>();
  list.items = list.items.filter((item) => {
    const source = isScalar(item) ? item.value : item;
    if (typeof source !== 'string') return true;
    const key = parseFileSource(source).key;
    if (planned.removeKeys.has(key)) return false;
    const next = sources.get(key);
    if (next !== undefined && isScalar(item)) {
      item.value = next;
      done.add(key);
    }
    return true;
  });
  for (const [key, source] of sources) if (!done.has(key)) list.items.push(doc.createNode(source));
}

function loadOrCreate(dir: string, create: UpdateOptions['create']): LoadedKustomization {
  if (findKustomizationFile(dir) || !create) return loadKustomization(dir);
  makeDir(dir);
  const generatorOptions = typeof create === 'object' ? create.generatorOptions : undefined;
  const loaded = parseKustomization(dir, join(dir, 'kustomization.yaml'), '');
  if (generatorOptions) loaded.doc.contents = loaded.doc.createNode({ generatorOptions }) as YAMLMap;
  return loaded;
}

/**
 * Upstream writes `key:\n- a` in some files and `key:\n  - a` in others
 * (pdp_cs mixes both); `yaml` has one setting for the whole file, so lists
 * stay unindented only when the file has no indented one.
 */
function writeDocument(loaded: LoadedKustomization): void {
  const flat = /^( *)[\w.-]+:[ \t]*\r?\n\1- /m.test(loaded.text);
  const indented = /^( *)[\w.-]+:[ \t]*\r?\n\1 +- /m.test(loaded.text);
  const indentSeq = indented || !flat;
  let mode = 0o644;
  try {
    mode = statSync(loaded.file).mode & 0o777;
  } catch {
    // A new file.
  }
  try {
    writeFileAtomic(loaded.file, loaded.doc.toString({ indentSeq, lineWidth: 0 }), { mode });
  } catch (err) {
    throw writeFailed(`cannot write ${loaded.file}`, err);
  }
}

function readManifest(generationDir: string): GenerationManifest | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(readFileBytes(join(generationDir, MANIFEST))).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const m = parsed as { generation?: unknown; previous?: unknown };
    if (typeof m.generation !== 'number' || !Array.isArray(m.previous)) return undefined;
    const previous: PreviousFiles[] = [];
    for (const p of m.previous as unknown[]) {
      const q = p as { name?: unknown; namespace?: unknown; files?: unknown };
      if (typeof q.name !== 'string') return undefined;
      if (q.files !== null && !(Array.isArray(q.files) && q.files.every((f) => typeof f === 'string'))) return undefined;
      previous.push({ name: q.name, ...(typeof q.namespace === 'string' ? { namespace: q.namespace } : {}), files: q.files as string[] | null });
    }
    return { generation: m.generation, previous };
  } catch {
    return undefined;
  }
}

function makeDir(path: string): void {
  try {
    mkdirSync(path, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw writeFailed(`cannot create ${path}`, err);
  }
}

function fsyncDir(dir: string): void {
  try {
    const fd = openSync(dir, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some filesystems refuse fsync on a directory; the rename is still atomic.
  }
}

function writeFailed(message: string, err: unknown): K8sError {
  if (err instanceof K8sError) return err;
  const code = err instanceof FileError ? (err.cause as NodeJS.ErrnoException | undefined)?.code : (err as NodeJS.ErrnoException).code;
  return new K8sError('WRITE_FAILED', `${message}: ${code ?? 'error'}`, { cause: err });
}

