/**
 * The manifests under deploy/, rendered with the real `kubectl kustomize`.
 * The overlays read Secret files an operator supplies (secrets/, never
 * committed): the tree is copied to a scratch directory and each missing
 * generator file gets a stand-in of the right form, so every overlay renders
 * exactly as it would with real files.
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { renderKustomization } from '../../src/k8s/kubectl.js';
import { KUSTOMIZATION_FILE_NAMES, parseFileSource } from '../../src/k8s/kustomization.js';
import type { RenderedManifests } from '../../src/k8s/rendered-secrets.js';

export const DEPLOY_DIR = fileURLToPath(new URL('../../deploy/', import.meta.url));

/** Stand-ins for the files the overlays' generators read, by file name. */
const STAND_INS: Record<string, string> = {
  'database-url': 'postgres://kingdom@postgres.example.internal:5432/kingdom\n',
  'admin-token.sha256': `${'ab'.repeat(32)}\n`,
  passphrase: 'stand-in keyring passphrase\n',
};

/** Every directory under deploy/ holding a kustomization, relative to deploy/ (`kingdom`, `overlays/dev`, ...). */
export function kustomizationDirs(root = DEPLOY_DIR): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (KUSTOMIZATION_FILE_NAMES.some((n) => existsSync(join(dir, n)))) out.push(relative(root, dir));
    for (const name of readdirSync(dir)) if (statSync(join(dir, name)).isDirectory()) walk(join(dir, name));
  };
  walk(root);
  return out.sort();
}

interface GeneratorSpec {
  files?: string[];
}

/** A scratch copy of deploy/ with every generator file present. */
export class DeployTree {
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-deploy-'));

  /** `files` (deploy/-relative path to content) are written first; real material where a test needs it. */
  constructor(files: Readonly<Record<string, string>> = {}) {
    cpSync(DEPLOY_DIR, this.dir, { recursive: true });
    for (const [path, content] of Object.entries(files)) writeFileSync(this.path(path), content);
    for (const sub of kustomizationDirs(this.dir)) {
      const k = parseYaml(readKustomization(join(this.dir, sub))) as { secretGenerator?: GeneratorSpec[]; configMapGenerator?: GeneratorSpec[] };
      for (const g of [...(k.secretGenerator ?? []), ...(k.configMapGenerator ?? [])]) {
        for (const source of g.files ?? []) {
          const path = join(this.dir, sub, parseFileSource(source).path);
          if (existsSync(path)) continue;
          const name = path.split('/').pop()!;
          writeFileSync(path, STAND_INS[name] ?? `stand-in for ${name}\n`);
        }
      }
    }
  }

  path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  render(sub: string): Promise<RenderedManifests> {
    return renderKustomization(this.path(sub));
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function readKustomization(dir: string): string {
  const name = KUSTOMIZATION_FILE_NAMES.find((n) => existsSync(join(dir, n)))!;
  return readFileSync(join(dir, name), 'utf8');
}
