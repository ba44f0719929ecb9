/**
 * The rehearsal of a Secret update: render the directory as it is (the real
 * `kubectl kustomize`), apply the update to the rendered data in memory,
 * and report key by key what would change, as SKIDs and fingerprints.
 * Nothing is written anywhere.
 */
import { describeGenerator, findKustomizationFile, type Kustomization, readKustomization, type SecretUpdate } from './kustomization.js';
import { type KubectlOptions, renderKustomization } from './kubectl.js';
import { findRenderedSecret, type RenderedManifests } from './rendered-secrets.js';
import { diffSecretData, type SecretDiff } from './secret-diff.js';
import { planSecretUpdates } from './secret-update-plan.js';
import { K8sError } from './errors.js';

export interface PreviewOptions extends KubectlOptions {
  /** As `UpdateOptions.create`: a directory without kustomization.yaml previews as all-new Secrets. */
  readonly create?: boolean;
}

export async function previewSecretUpdates(dir: string, updates: readonly SecretUpdate[], options: PreviewOptions = {}): Promise<SecretDiff[]> {
  const fresh = !findKustomizationFile(dir) && options.create === true;
  const model: Kustomization = fresh ? { dir, file: `${dir}/kustomization.yaml`, secretGenerators: [] } : readKustomization(dir);
  const planned = planSecretUpdates(dir, model, updates);
  const rendered: RenderedManifests | undefined = fresh ? undefined : await renderKustomization(dir, options);
  return planned.map((p) => {
    const before = rendered ? findRenderedSecret(rendered, model, p.id) : undefined;
    if (p.existing && !before) {
      throw new K8sError('SECRET_NOT_RENDERED', `the rendered output of ${dir} has no Secret for ${describeGenerator(p.id)}`);
    }
    const after = new Map<string, Uint8Array>();
    for (const [key, data] of before?.data ?? []) {
      if (p.removeKeys.has(key)) continue;
      after.set(key, p.files.get(key) ?? data);
    }
    for (const [key, data] of p.files) if (!after.has(key)) after.set(key, data);
    const keys = diffSecretData(before?.data, after);
    const changed = keys.some((k) => k.change !== 'unchanged');
    const hashed = p.existing ? p.existing.nameSuffixHash : !(model.generatorOptions?.disableNameSuffixHash ?? false);
    return {
      name: p.id.name,
      ...(p.id.namespace !== undefined ? { namespace: p.id.namespace } : {}),
      ...(before ? { renderedNameBefore: before.name } : {}),
      created: !p.existing,
      changed,
      renamed: changed && hashed && !!before,
      keys,
    };
  });
}
