/**
 * What a secretGenerator holds right now: the bytes of each file it names,
 * and for a TLS Secret a summary of the certificate in `tls.crt` (its SKID
 * is what the rotation compares with the keyring and the served leaf).
 */
import { isAbsolute, resolve } from 'node:path';
import { FileError, readFileBytes } from '../lib/index.js';
import { K8sError } from './errors.js';
import { describeGenerator, findGenerator, type GeneratorId, readKustomization } from './kustomization.js';
import { type CertificateSummary, summarizeSecretFile } from './secret-summary.js';

export interface SecretFile {
  readonly key: string;
  /** Absolute path. */
  readonly path: string;
  readonly data: Uint8Array;
}

export interface SecretFiles {
  readonly name: string;
  readonly namespace?: string;
  readonly type?: string;
  readonly files: readonly SecretFile[];
  /** The leaf (first certificate) of `tls.crt`, when there is one that parses. */
  readonly certificate?: CertificateSummary;
}

/** Reads the files of one generator; a file that cannot be read is `SECRET_FILE_MISSING`. */
export function readSecretFiles(dir: string, id: GeneratorId): SecretFiles {
  const model = readKustomization(dir);
  const generator = findGenerator(model, id);
  if (!generator) throw new K8sError('GENERATOR_NOT_FOUND', `${model.file} has no ${describeGenerator(id)}`);
  const files = generator.files.map((ref) => {
    const path = resolveInside(dir, ref.path);
    return { key: ref.key, path, data: readReferenced(path, ref.key, generator.name) };
  });
  const crt = files.find((f) => f.key === 'tls.crt');
  const summary = crt ? summarizeSecretFile(crt.data) : undefined;
  const certificate = summary?.kind === 'certificate' ? summary.certificates[0] : undefined;
  return {
    name: generator.name,
    ...(generator.namespace !== undefined ? { namespace: generator.namespace } : {}),
    ...(generator.type !== undefined ? { type: generator.type } : {}),
    files,
    ...(certificate ? { certificate } : {}),
  };
}

/** Kustomize refuses files outside the kustomization root; so do we. */
export function resolveInside(dir: string, path: string): string {
  const root = resolve(dir);
  const full = resolve(root, path);
  if (isAbsolute(path) || (full !== root && !full.startsWith(root + '/'))) {
    throw new K8sError('KUSTOMIZATION_INVALID', `file ${path} is outside the kustomization directory ${dir}`);
  }
  return full;
}

export function readReferenced(path: string, key: string, secret: string): Uint8Array {
  try {
    return readFileBytes(path, `file for key ${key} of Secret ${secret}`);
  } catch (err) {
    throw new K8sError('SECRET_FILE_MISSING', err instanceof FileError ? err.message : `cannot read ${path}`, { cause: err });
  }
}
