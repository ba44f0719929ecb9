/**
 * The difference between two versions of the same Secrets, key by key, in
 * identifiers (SKIDs, fingerprints), never in bytes: what `--dry-run`
 * prints and what the audit trail records.
 */
import { type SecretFileSummary, summarizeSecretFile } from './secret-summary.js';

export type SecretKeyChangeKind = 'added' | 'removed' | 'changed' | 'unchanged';

export interface SecretKeyChange {
  readonly key: string;
  readonly change: SecretKeyChangeKind;
  readonly before?: SecretFileSummary;
  readonly after?: SecretFileSummary;
}

export interface SecretDiff {
  /** The generator's name (the rendered name may carry a hash suffix). */
  readonly name: string;
  readonly namespace?: string;
  /** Name of the Secret as rendered before the change, when it existed. */
  readonly renderedNameBefore?: string;
  readonly created: boolean;
  /** Some key was added, removed or changed. */
  readonly changed: boolean;
  /**
   * With the name-suffix hash on (kustomize's default), changed content gives
   * the Secret a new name, and workloads in the same kustomization that
   * reference it roll.
   */
  readonly renamed: boolean;
  readonly keys: readonly SecretKeyChange[];
}

export type SecretData = ReadonlyMap<string, Uint8Array>;

/** Keys in `before` order, then keys only in `after`. */
export function diffSecretData(before: SecretData | undefined, after: SecretData): SecretKeyChange[] {
  const out: SecretKeyChange[] = [];
  const old = before ?? new Map<string, Uint8Array>();
  for (const [key, data] of old) {
    const next = after.get(key);
    if (!next) out.push({ key, change: 'removed', before: summarizeSecretFile(data) });
    else if (Buffer.compare(data, next) === 0) out.push({ key, change: 'unchanged', before: summarizeSecretFile(data), after: summarizeSecretFile(next) });
    else out.push({ key, change: 'changed', before: summarizeSecretFile(data), after: summarizeSecretFile(next) });
  }
  for (const [key, data] of after) {
    if (!old.has(key)) out.push({ key, change: 'added', after: summarizeSecretFile(data) });
  }
  return out;
}
