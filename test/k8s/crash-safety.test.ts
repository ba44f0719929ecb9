/**
 * A rotation killed at any point leaves a kustomization that renders the old
 * Secret or the new one, never a mix: each case below SIGKILLs a real child
 * process at one step of `updateSecretGenerators` and renders the result
 * with the real `kubectl kustomize`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  GENERATIONS_DIR,
  readKustomization,
  renderKustomization,
  requireRenderedSecret,
  rollbackSecretGenerators,
  tlsSecretUpdate,
  updateSecretGenerators,
  type GenerationStep,
} from '../../src/k8s/index.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { Scratch, TestCa, type TlsPair } from './k8s-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());
const ca = new TestCa('Edp7');
const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

function rotate(dir: string, pair: TlsPair, onStep?: (s: GenerationStep) => void) {
  return updateSecretGenerators(dir, [tlsSecretUpdate({ name: 'edp7-tls', certificateChain: pair.certPem, privateKey: pair.keyPem })], onStep ? { onStep } : {});
}

/** Which pair the rendered Secret holds, checking tls.crt and tls.key agree. */
async function renderedPair(dir: string, pairs: Record<string, TlsPair>): Promise<string> {
  const secret = requireRenderedSecret(await renderKustomization(dir), readKustomization(dir), { name: 'edp7-tls' });
  const crt = parseCertificates(secret.data.get('tls.crt')!)[0]!;
  const key = Buffer.from(secret.data.get('tls.key')!).toString();
  const holder = Object.entries(pairs).find(([, p]) => p.certificate.fingerprintSha256 === crt.fingerprintSha256);
  assert.ok(holder, 'tls.crt is one of the known certificates');
  assert.equal(key, holder[1].keyPem, `tls.key belongs with tls.crt (${holder[0]})`);
  return holder[0];
}

function crashAt(dir: string, step: GenerationStep, occurrence: number, pair: TlsPair): ReturnType<typeof spawnSync> {
  const cert = join(dir, '..', `${step}-${occurrence}.crt`);
  const key = join(dir, '..', `${step}-${occurrence}.key`);
  writeFileSync(cert, pair.certPem);
  writeFileSync(key, pair.keyPem, { mode: 0o600 });
  return spawnSync(process.execPath, ['--import', 'tsx', child, dir, step, String(occurrence), cert, key], { cwd: repoRoot, encoding: 'utf8' });
}

describe('crash safety', () => {
  const cases: [GenerationStep, number, 'old' | 'new'][] = [
    ['file-staged', 1, 'old'], // tls.crt written, tls.key not yet
    ['file-staged', 2, 'old'],
    ['staged', 1, 'old'],
    ['committed', 1, 'old'],
    ['switched', 1, 'new'],
    ['pruned', 1, 'new'],
  ];
  for (const [step, occurrence, expected] of cases) {
    test(`SIGKILL after ${step}${step === 'file-staged' ? ` #${occurrence}` : ''}: renders entirely ${expected}; the next run finishes`, async () => {
      const dir = scratch.kustomization('edp7_tls_kustomization.yaml', `crash-${step}-${occurrence}`);
      const pairs = { old: ca.leaf('Edp7'), new: ca.leaf('Edp7'), next: ca.leaf('Edp7') };
      rotate(dir, pairs.old);
      const r = crashAt(dir, step, occurrence, pairs.new);
      assert.equal(r.signal, 'SIGKILL', `the child died at ${step} (stderr: ${String(r.stderr).split('\n')[0]})`);
      assert.equal(await renderedPair(dir, pairs), expected);

      // Running again (as `rotate --resume` would) completes, never reuses a
      // leftover's number, and clears the leftovers.
      const result = rotate(dir, pairs.next);
      assert.ok(result.generation >= 3, `generation ${result.generation} is past any leftover`);
      assert.equal(await renderedPair(dir, pairs), 'next');
      const left = readdirSync(join(dir, GENERATIONS_DIR)).sort();
      assert.ok(left.every((e) => /^\d+$/.test(e)), `no staging leftovers: ${left.join(' ')}`);
      assert.equal(left.length, 2, `current and previous only: ${left.join(' ')}`);
      rollbackSecretGenerators(dir);
      assert.equal(await renderedPair(dir, pairs), expected, 'rollback returns to what was served before the last run');
    });
  }

  test('an in-process fault between steps behaves like the crash: nothing half-done renders', async () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'fault');
    const pairs = { old: ca.leaf('Edp7'), new: ca.leaf('Edp7') };
    rotate(dir, pairs.old);
    const steps: GenerationStep[] = [];
    assert.throws(
      () =>
        rotate(dir, pairs.new, (s) => {
          steps.push(s);
          if (s === 'committed') throw new Error('injected fault');
        }),
      /injected fault/,
    );
    assert.deepEqual(steps, ['file-staged', 'file-staged', 'staged', 'committed']);
    assert.equal(await renderedPair(dir, pairs), 'old');
    assert.deepEqual(readdirSync(join(dir, GENERATIONS_DIR)).sort(), ['1', '2'], 'the committed but unreferenced generation is still there');
    rotate(dir, pairs.new);
    assert.equal(await renderedPair(dir, pairs), 'new');
    assert.deepEqual(readdirSync(join(dir, GENERATIONS_DIR)).sort(), ['1', '3']);
  });
});
