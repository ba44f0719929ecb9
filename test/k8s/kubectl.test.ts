/**
 * `kubectl kustomize` for real; `kubectl apply -k` through a stand-in command,
 * since there is no Kubernetes API server here (the stand-in records its argv
 * and renders the directory with the real kubectl). The dry run is checked
 * against what the real write then renders.
 */
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import {
  K8sError,
  applyKustomization,
  diffSecretData,
  parseRenderedManifests,
  previewSecretUpdates,
  readKustomization,
  renderKustomization,
  requireRenderedSecret,
  tlsSecretUpdate,
  updateSecretGenerators,
} from '../../src/k8s/index.js';
import { parseCertificates } from '../../src/pki/certificate.js';
import { Scratch, secretFiles, skidHex, snapshotTree, TestCa } from './k8s-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());
const ca = new TestCa('Edp7');
const standIn = fileURLToPath(new URL('./apply-stand-in.mjs', import.meta.url));
const upstreamEdp7 = parseCertificates(readFileSync(join(secretFiles, 'edp7_tls.pem')))[0]!;

/** edp7's kustomization with upstream's files beside it, as Bazel lays it out. */
function edp7Dir(name: string): string {
  const dir = scratch.kustomization('edp7_tls_kustomization.yaml', name);
  copyFileSync(join(secretFiles, 'edp7_tls.pem'), join(dir, 'tls.crt'));
  copyFileSync(join(secretFiles, 'edp7_tls.key'), join(dir, 'tls.key'));
  return dir;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<K8sError> {
  let caught: unknown;
  await promise.catch((err: unknown) => {
    caught = err;
  });
  assert.ok(caught instanceof K8sError, `expected a K8sError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(!caught.message.includes('\n'), 'one line');
  return caught;
}

describe('kubectl kustomize', () => {
  test('renders the upstream layout; the Secret data comes back decoded', async () => {
    const dir = edp7Dir('render');
    const rendered = await renderKustomization(dir);
    assert.equal(rendered.manifests.length, 1);
    const secret = requireRenderedSecret(rendered, readKustomization(dir), { name: 'edp7-tls' });
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.deepEqual(secret.data.get('tls.crt'), new Uint8Array(readFileSync(join(secretFiles, 'edp7_tls.pem'))));
    assert.deepEqual(secret.data.get('tls.key'), new Uint8Array(readFileSync(join(secretFiles, 'edp7_tls.key'))));
    await rejectsWith(
      Promise.resolve().then(() => requireRenderedSecret(rendered, readKustomization(dir), { name: 'edp7' })),
      'SECRET_NOT_RENDERED',
    );
  });

  test('failures are one-line typed errors', async () => {
    const missing = scratch.kustomization('edp7_tls_kustomization.yaml', 'missing-files');
    const failed = await rejectsWith(renderKustomization(missing), 'KUBECTL_FAILED');
    assert.match(failed.message, /^kubectl kustomize \S+ failed \(exit 1\): .*tls\.crt/);

    await rejectsWith(renderKustomization(missing, { renderCommand: ['/nonexistent/kubectl', 'kustomize'] }), 'KUBECTL_NOT_FOUND');
    await rejectsWith(
      renderKustomization(missing, { renderCommand: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 300 }),
      'KUBECTL_TIMEOUT',
    );
    await rejectsWith(renderKustomization(missing, { renderCommand: [] }), 'KUBECTL_NOT_FOUND');
  });

  test('key material in stderr never reaches the message', async () => {
    const pair = ca.leaf('Edp7');
    const leak = `process.stderr.write(${JSON.stringify(`W0101 warning\n${pair.keyPem}error: could not apply secret data ${Buffer.from(pair.keyPem).toString('base64')}\n`)}); process.exit(3)`;
    const err = await rejectsWith(applyKustomization(scratch.dir, { applyCommand: [process.execPath, '-e', leak] }), 'KUBECTL_FAILED');
    assert.match(err.message, /\(exit 3\): could not apply secret data \[redacted\]$/);
    const body = pair.keyPem.split('\n')[1]!;
    assert.ok(!err.message.includes(body.slice(0, 20)));
  });

  test('rendered output that is not manifests is refused', () => {
    for (const bad of ['a: [unclosed', '- just\n- a list', 'kind: Secret\nmetadata: {name: x}\ndata: {k: "not base64!"}', 'kind: Secret\nmetadata: {}\n']) {
      assert.throws(() => parseRenderedManifests(bad), (e: unknown) => e instanceof K8sError && e.code === 'RENDER_INVALID');
    }
    const ok = parseRenderedManifests('kind: Secret\nmetadata: {name: s, namespace: n}\nstringData: {a: b}\n---\nkind: ConfigMap\nmetadata: {name: c}\n');
    assert.equal(ok.secrets.length, 1);
    assert.equal(Buffer.from(ok.secrets[0]!.data.get('a')!).toString(), 'b');
    assert.equal(ok.secrets[0]!.type, 'Opaque');
  });
});

describe('kubectl apply -k (stand-in command: no API server here)', () => {
  test('runs the configured argv with the directory last and reports the applied objects', async () => {
    const dir = edp7Dir('apply');
    const pair = ca.leaf('Edp7');
    updateSecretGenerators(dir, [tlsSecretUpdate({ name: 'edp7-tls', certificateChain: pair.der, privateKey: pair.privateKey })]);
    const record = scratch.path('apply-record.json');
    const result = await applyKustomization(dir, {
      applyCommand: [process.execPath, standIn, '--context', 'prod', 'apply', '-k'],
      env: { ...process.env, APPLY_RECORD: record },
    });
    const recorded = JSON.parse(readFileSync(record, 'utf8')) as { argv: string[]; rendered: string };
    assert.deepEqual(recorded.argv, ['--context', 'prod', 'apply', '-k', dir]);
    assert.deepEqual(result.argv, [process.execPath, standIn, '--context', 'prod', 'apply', '-k', dir]);
    assert.equal(result.objects.length, 1);
    assert.match(result.objects[0]!, /^secret\/edp7-tls-[a-z0-9]{10} created$/);

    const applied = requireRenderedSecret(parseRenderedManifests(recorded.rendered), readKustomization(dir), { name: 'edp7-tls' });
    assert.equal(result.objects[0], `secret/${applied.name} created`);
    assert.equal(skidHex(parseCertificates(applied.data.get('tls.crt')!)[0]!), skidHex(pair.certificate));
  });
});

describe('dry run', () => {
  test('reports the Secret diff by SKID and fingerprint, writes nothing, and matches what the real write renders', async () => {
    const dir = edp7Dir('dry-run');
    const pair = ca.leaf('Edp7');
    const update = tlsSecretUpdate({ name: 'edp7-tls', certificateChain: pair.der, privateKey: pair.privateKey, trustedRoots: ca.rootPem });
    const before = snapshotTree(dir);
    const [diff, ...rest] = await previewSecretUpdates(dir, [update]);
    assert.equal(rest.length, 0);
    assert.deepEqual(snapshotTree(dir), before, 'nothing written');

    assert.equal(diff!.name, 'edp7-tls');
    assert.equal(diff!.created, false);
    assert.equal(diff!.changed, true);
    assert.equal(diff!.renamed, true, 'the hash suffix gives the changed Secret a new name');
    const byKey = new Map(diff!.keys.map((k) => [k.key, k]));
    assert.deepEqual([...byKey.keys()].sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    const crt = byKey.get('tls.crt')!;
    assert.equal(crt.change, 'changed');
    assert.ok(crt.before?.kind === 'certificate' && crt.after?.kind === 'certificate');
    assert.equal(crt.before.certificates[0]!.skid, skidHex(upstreamEdp7));
    assert.equal(crt.after.certificates[0]!.skid, skidHex(pair.certificate));
    assert.equal(crt.after.certificates[0]!.fingerprintSha256, pair.certificate.fingerprintSha256);
    const key = byKey.get('tls.key')!;
    assert.ok(key.before?.kind === 'private-key' && key.after?.kind === 'private-key');
    assert.equal(key.before.publicKeySkid, skidHex(upstreamEdp7), 'the old key is named by its public key');
    assert.equal(key.after.publicKeySkid, skidHex(pair.certificate));
    assert.equal(byKey.get('ca.crt')!.change, 'added');

    const json = JSON.stringify(diff);
    for (const secret of [pair.keyPem, readFileSync(join(secretFiles, 'edp7_tls.key'), 'utf8')]) {
      const line = secret.split('\n')[1]!;
      assert.ok(!json.includes(line.slice(0, 24)), 'no key bytes in the diff');
      assert.ok(!json.includes(Buffer.from(secret).toString('base64').slice(0, 24)));
    }

    // Now for real: the rendered change is the one predicted.
    const oldSecret = requireRenderedSecret(await renderKustomization(dir), readKustomization(dir), { name: 'edp7-tls' });
    updateSecretGenerators(dir, [update]);
    const newSecret = requireRenderedSecret(await renderKustomization(dir), readKustomization(dir), { name: 'edp7-tls' });
    assert.equal(diff!.renderedNameBefore, oldSecret.name);
    assert.notEqual(newSecret.name, oldSecret.name);
    const actual = diffSecretData(oldSecret.data, newSecret.data);
    const sortByKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
    assert.deepEqual([...actual].sort(sortByKey), [...diff!.keys].sort(sortByKey));

    // Same content again: nothing would change.
    const [again] = await previewSecretUpdates(dir, [update]);
    assert.equal(again!.changed, false);
    assert.equal(again!.renamed, false);
    assert.ok(again!.keys.every((k) => k.change === 'unchanged'));
  });

  test('a Secret the kustomization does not have yet previews as created; refusals are the writer’s', async () => {
    const dir = edp7Dir('dry-run-new');
    const signingRoots = readFileSync(join(secretFiles, 'edp7_root.pem'));
    const [diff] = await previewSecretUpdates(dir, [{ name: 'edp7-trust', files: [{ key: 'all_root_certs.pem', data: signingRoots }] }]);
    assert.equal(diff!.created, true);
    assert.equal(diff!.renderedNameBefore, undefined);
    assert.equal(diff!.keys[0]!.change, 'added');
    assert.ok(diff!.keys[0]!.after?.kind === 'certificate');

    const empty = scratch.path('dry-run-empty');
    const pair = ca.leaf('Mc');
    const [fresh] = await previewSecretUpdates(empty, [tlsSecretUpdate({ name: 'mc-tls', certificateChain: pair.der, privateKey: pair.privateKey })], { create: true });
    assert.equal(fresh!.created, true);
    assert.deepEqual(fresh!.keys.map((k) => k.change), ['added', 'added']);

    const other = ca.leaf('Edp7');
    await rejectsWith(
      previewSecretUpdates(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: other.certPem }] }]),
      'TLS_KEY_MISMATCH',
    );
    writeFileSync(join(dir, 'tls.key'), 'corrupted');
    await rejectsWith(previewSecretUpdates(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: other.certPem }] }]), 'INVALID_SECRET');
  });
});
