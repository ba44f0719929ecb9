/**
 * Kustomization Secret directories against copies of the real CMMS
 * `*_kustomization.yaml` files, rendered with the real `kubectl kustomize`.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { loadPrivateKey } from '../../src/crypto/keys.js';
import { issueLeaf } from '../../src/pki/ca.js';
import { parseCertificate, parseCertificates } from '../../src/pki/certificate.js';
import { spkiOf } from '../../src/pki/key-types.js';
import {
  GENERATIONS_DIR,
  K8sError,
  readKustomization,
  readSecretFiles,
  renderKustomization,
  requireRenderedSecret,
  rollbackSecretGenerators,
  tlsSecretUpdate,
  updateSecretGenerators,
} from '../../src/k8s/index.js';
import { clock, Scratch, secretFiles, skidHex, TestCa, type TlsPair } from './k8s-fixtures.js';

const scratch = new Scratch();
after(() => scratch.remove());

const ca = new TestCa('Edp7');

async function renderedTls(dir: string, name = 'edp7-tls') {
  const rendered = await renderKustomization(dir);
  const model = readKustomization(dir);
  return { rendered, secret: requireRenderedSecret(rendered, model, { name }) };
}

function assertHolds(data: ReadonlyMap<string, Uint8Array>, pair: TlsPair): void {
  const crt = data.get('tls.crt');
  const key = data.get('tls.key');
  assert.ok(crt && key, 'tls.crt and tls.key are present');
  const leaf = parseCertificates(crt)[0]!;
  assert.equal(skidHex(leaf), skidHex(pair.certificate));
  assert.equal(leaf.fingerprintSha256, pair.certificate.fingerprintSha256);
  assert.deepEqual(spkiOf(createPublicKey(loadPrivateKey(key))), pair.certificate.spki);
}

function rotate(dir: string, pair: TlsPair, options = {}) {
  return updateSecretGenerators(
    dir,
    [tlsSecretUpdate({ name: 'edp7-tls', certificateChain: pair.der, privateKey: pair.privateKey, trustedRoots: ca.rootPem })],
    options,
  );
}

function expectK8sError(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => err instanceof K8sError && err.code === code && !err.message.includes('PRIVATE KEY'));
}

describe('reading upstream kustomizations', () => {
  test('every cmms-secretfiles kustomization parses into its secretGenerators', (t) => {
    const files = readdirSync(secretFiles).filter((f) => f.endsWith('_kustomization.yaml')).sort();
    const summary: string[] = [];
    let generators = 0;
    for (const [i, file] of files.entries()) {
      const model = readKustomization(scratch.kustomization(file, `read-${i}`));
      generators += model.secretGenerators.length;
      for (const g of model.secretGenerators) {
        summary.push(`${g.name}:${g.type ?? 'Opaque'}:${g.files.length}`);
        assert.equal(g.nameSuffixHash, true, 'upstream keeps the name-suffix hash');
      }
    }
    t.diagnostic(`${files.length} kustomizations, ${generators} secretGenerators: ${summary.join(' ')}`);
    assert.equal(files.length, 6);
    assert.equal(generators, 7);
    const tls = summary.filter((s) => s.includes(':kubernetes.io/tls:2'));
    assert.deepEqual(tls.sort(), ['edp-aggregator-tls:kubernetes.io/tls:2', 'edp7-tls:kubernetes.io/tls:2', 'pdp-tls:kubernetes.io/tls:2']);
    assert.ok(summary.includes('pdp-consent-signaling:Opaque:3'));
    assert.ok(summary.includes('signing:Opaque:9'));
    const edp7 = readKustomization(scratch.kustomization('edp7_tls_kustomization.yaml', 'read-edp7'));
    assert.deepEqual(
      edp7.secretGenerators[0]!.files.map((f) => [f.key, f.path]),
      [
        ['tls.crt', 'tls.crt'],
        ['tls.key', 'tls.key'],
      ],
    );
  });
});

describe('TLS Secret rotation', () => {
  test('writes tls.crt, tls.key and ca.crt that kubectl kustomize renders into a kubernetes.io/tls Secret', async () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'tls-1');
    const pair = ca.leaf('Edp7');
    const result = rotate(dir, pair);
    assert.equal(result.generation, 1);
    assert.deepEqual(result.secrets, [{ name: 'edp7-tls', type: 'kubernetes.io/tls', created: false, keys: ['tls.crt', 'tls.key', 'ca.crt'] }]);

    const { secret } = await renderedTls(dir);
    assert.equal(secret.type, 'kubernetes.io/tls');
    assert.match(secret.name, /^edp7-tls-[a-z0-9]{10}$/);
    assertHolds(secret.data, pair);
    assert.equal(Buffer.from(secret.data.get('ca.crt')!).toString(), ca.rootPem);

    const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    assert.ok(text.startsWith('# Copyright 2026 The Cross-Media Measurement Authors'), 'the license header stays');
    assert.match(text, /type: "kubernetes.io\/tls"/, 'the quoted scalar keeps its style');
    assert.match(text, /- tls\.crt=secret-generations\/1\/edp7-tls\/tls\.crt/);

    const keyPath = join(dir, GENERATIONS_DIR, '1', 'edp7-tls', 'tls.key');
    assert.equal(statSync(keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, GENERATIONS_DIR, '1')).mode & 0o777, 0o700);

    const current = readSecretFiles(dir, { name: 'edp7-tls' });
    assert.equal(current.certificate?.skid, skidHex(pair.certificate));
    assert.deepEqual(
      current.files.map((f) => f.key),
      ['tls.crt', 'tls.key', 'ca.crt'],
    );
  });

  test('rotations switch generations; the previous one is kept for rollback and older ones pruned', async () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'tls-2');
    const pairs = [ca.leaf('Edp7'), ca.leaf('Edp7'), ca.leaf('Edp7')];
    const names: string[] = [];
    for (const [i, pair] of pairs.entries()) {
      const result = rotate(dir, pair);
      assert.equal(result.generation, i + 1);
      const { secret } = await renderedTls(dir);
      assertHolds(secret.data, pair);
      names.push(secret.name);
    }
    assert.equal(new Set(names).size, 3, 'with the hash suffix each rotation renders a new Secret name');
    assert.deepEqual(readdirSync(join(dir, GENERATIONS_DIR)).sort(), ['2', '3']);

    const back = rollbackSecretGenerators(dir);
    assert.equal(back.undone, 3);
    const { secret } = await renderedTls(dir);
    assertHolds(secret.data, pairs[1]!);
    assert.equal(secret.name, names[1], 'the rollback renders exactly the previous Secret');
    assert.equal(readSecretFiles(dir, { name: 'edp7-tls' }).certificate?.skid, skidHex(pairs[1]!.certificate));
    assert.deepEqual(back.pruned, [3]);

    // Generation 2 replaced generation 1, which is gone: no second step back.
    expectK8sError(() => rollbackSecretGenerators(dir), 'ROLLBACK_UNAVAILABLE');
    assertHolds((await renderedTls(dir)).secret.data, pairs[1]!);
  });

  test('adopts upstream files beside kustomization.yaml, rolls back to them, never deletes them', async () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'tls-upstream');
    // Bazel renames edp7_tls.pem/key to tls.crt/tls.key beside the kustomization.
    copyFileSync(join(secretFiles, 'edp7_tls.pem'), join(dir, 'tls.crt'));
    copyFileSync(join(secretFiles, 'edp7_tls.key'), join(dir, 'tls.key'));
    const upstream = parseCertificates(readFileSync(join(secretFiles, 'edp7_tls.pem')))[0]!;
    assert.equal(readSecretFiles(dir, { name: 'edp7-tls' }).certificate?.skid, skidHex(upstream));
    const before = await renderedTls(dir);

    const pair = ca.leaf('Edp7');
    rotate(dir, pair);
    assertHolds((await renderedTls(dir)).secret.data, pair);
    rotate(dir, ca.leaf('Edp7'));
    rotate(dir, ca.leaf('Edp7'));
    assert.ok(existsSync(join(dir, 'tls.crt')) && existsSync(join(dir, 'tls.key')), 'files outside secret-generations stay');

    const fresh = scratch.kustomization('edp7_tls_kustomization.yaml', 'tls-upstream-2');
    copyFileSync(join(dir, 'tls.crt'), join(fresh, 'tls.crt'));
    copyFileSync(join(dir, 'tls.key'), join(fresh, 'tls.key'));
    rotate(fresh, pair);
    rollbackSecretGenerators(fresh);
    const back = await renderedTls(fresh);
    assert.equal(back.secret.name, before.secret.name);
    assert.deepEqual(back.secret.data, before.secret.data);
    assert.equal(readFileSync(join(fresh, 'kustomization.yaml'), 'utf8'), readFileSync(join(secretFiles, 'edp7_tls_kustomization.yaml'), 'utf8') + '\n');
  });

  test('keeps resources, patches, namespace, prefix, generatorOptions and comments; the Deployment follows the new Secret name', async () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'tls-extra');
    const extra = `
# Deployed into the edp7 namespace.
namespace: edp7
namePrefix: halo-
generatorOptions:
  labels:
    app.kubernetes.io/part-of: halo # inline comment
resources:
  - deployment.yaml
patches:
  - target:
      kind: Deployment
    patch: |-
      - op: add
        path: /metadata/annotations
        value: {rotated-by: halo-keys}
`;
    writeFileSync(join(dir, 'kustomization.yaml'), readFileSync(join(dir, 'kustomization.yaml'), 'utf8') + '\n' + extra);
    writeFileSync(
      join(dir, 'deployment.yaml'),
      `apiVersion: apps/v1
kind: Deployment
metadata:
  name: edp7-simulator
spec:
  selector: {matchLabels: {app: edp7}}
  template:
    metadata: {labels: {app: edp7}}
    spec:
      containers:
        - name: simulator
          image: example/edp:1
      volumes:
        - name: tls
          secret:
            secretName: edp7-tls
`,
    );
    copyFileSync(join(secretFiles, 'edp7_tls.pem'), join(dir, 'tls.crt'));
    copyFileSync(join(secretFiles, 'edp7_tls.key'), join(dir, 'tls.key'));
    const secretNameIn = (manifests: readonly Record<string, unknown>[]) => {
      const d = manifests.find((m) => m.kind === 'Deployment') as { spec: { template: { spec: { volumes: { secret: { secretName: string } }[] } } } };
      return d.spec.template.spec.volumes[0]!.secret.secretName;
    };
    const before = await renderKustomization(dir);
    const pair = ca.leaf('Edp7');
    rotate(dir, pair);

    const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    for (const kept of ['# Deployed into the edp7 namespace.', '# inline comment', 'namePrefix: halo-', '- deployment.yaml', 'value: {rotated-by: halo-keys}']) {
      assert.ok(text.includes(kept), `kept: ${kept}`);
    }
    const afterRender = await renderKustomization(dir);
    const model = readKustomization(dir);
    const secret = requireRenderedSecret(afterRender, model, { name: 'edp7-tls' });
    assertHolds(secret.data, pair);
    assert.equal(secret.namespace, 'edp7');
    assert.match(secret.name, /^halo-edp7-tls-[a-z0-9]{10}$/);
    assert.equal(secretNameIn(afterRender.manifests), secret.name, 'the Deployment references the new Secret');
    assert.notEqual(secretNameIn(before.manifests), secret.name, 'so the Deployment rolls');
    const deployment = afterRender.manifests.find((m) => m.kind === 'Deployment') as { metadata: { annotations?: Record<string, string> } };
    assert.equal(deployment.metadata.annotations?.['rotated-by'], 'halo-keys', 'the patch still applies');
  });
});

describe('generic Secrets with several files', () => {
  test('pdp_cs_kustomization: replaces the signing certificate and key, keeps the Tink keyset, keeps the list style', async () => {
    const dir = scratch.kustomization('pdp_cs_kustomization.yaml', 'pdp-cs');
    // As Bazel does: pdp1_* renamed to pdp_*.
    for (const [from, to] of [
      ['pdp1_cs_cert.der', 'pdp_cs_cert.der'],
      ['pdp1_cs_private.der', 'pdp_cs_private.der'],
      ['pdp1_enc_private.tink', 'pdp_enc_private.tink'],
    ] as const) {
      copyFileSync(join(secretFiles, from), join(dir, to));
    }
    const model = readKustomization(dir);
    const before = requireRenderedSecret(await renderKustomization(dir), model, { name: 'pdp-consent-signaling' });
    assert.equal(before.type, 'Opaque');
    assert.deepEqual(before.data.get('pdp_cs_cert.der'), new Uint8Array(readFileSync(join(secretFiles, 'pdp1_cs_cert.der'))));

    const signing = issueLeaf(ca.authority, { profile: 'signing', subject: '/O=Halo CMM Dev/CN=Pdp1', clock });
    const keyDer = new Uint8Array(signing.privateKey!.export({ format: 'der', type: 'pkcs8' }));
    const result = updateSecretGenerators(dir, [
      {
        name: 'pdp-consent-signaling',
        files: [
          { key: 'pdp_cs_cert.der', data: signing.der },
          { key: 'pdp_cs_private.der', data: keyDer },
        ],
      },
    ]);
    assert.deepEqual(result.secrets[0]!.keys, ['pdp_cs_cert.der', 'pdp_cs_private.der', 'pdp_enc_private.tink']);

    const after = requireRenderedSecret(await renderKustomization(dir), readKustomization(dir), { name: 'pdp-consent-signaling' });
    assert.equal(skidHex(parseCertificate(after.data.get('pdp_cs_cert.der')!)), skidHex(signing.certificate));
    assert.deepEqual(after.data.get('pdp_cs_private.der'), keyDer);
    assert.deepEqual(after.data.get('pdp_enc_private.tink'), before.data.get('pdp_enc_private.tink'));
    assert.notEqual(after.name, before.name);

    const text = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    assert.match(
      text,
      /\nsecretGenerator:\n {2}- name: pdp-consent-signaling\n {4}files:\n {6}- pdp_cs_cert\.der=secret-generations\/1\/pdp-consent-signaling\/pdp_cs_cert\.der\n {6}- pdp_cs_private\.der=.*\n {6}- pdp_enc_private\.tink\n/,
    );
  });

  test('reporting_secrets_kustomization: one generator of two changes, key added and removed', async () => {
    const dir = scratch.kustomization('reporting_secrets_kustomization.yaml', 'reporting');
    const keys = readKustomization(dir).secretGenerators[0]!.files.map((f) => f.key);
    const pair = ca.leaf('Reporting');
    const roots = readFileSync(join(secretFiles, 'reporting_root.pem'), 'utf8');
    updateSecretGenerators(dir, [
      {
        name: 'signing',
        files: [
          { key: 'reporting_tls.pem', data: pair.certPem },
          { key: 'reporting_tls.key', data: pair.keyPem },
          { key: 'extra_roots.pem', data: roots },
        ],
        removeKeys: ['access_tls.pem', 'access_tls.key'],
      },
    ]);
    const model = readKustomization(dir);
    assert.deepEqual(
      model.secretGenerators[0]!.files.map((f) => f.key),
      [...keys.filter((k) => !k.startsWith('access_')), 'extra_roots.pem'],
    );
    assert.deepEqual(model.secretGenerators[1]!.files.map((f) => f.source), ['measurement_consumer_config.textproto']);
    // Upstream's list style (unindented throughout this file) is kept.
    assert.match(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), /\nsecretGenerator:\n- name: signing\n {2}files:\n {2}- all_root_certs\.pem\n/);
    assert.throws(() => readSecretFiles(dir, { name: 'mc-config' }), (e: unknown) => e instanceof K8sError && e.code === 'SECRET_FILE_MISSING');
  });

  test('creates a kustomization when asked, with generatorOptions as given', async () => {
    const dir = scratch.path('created');
    const pair = ca.leaf('Mc');
    updateSecretGenerators(dir, [tlsSecretUpdate({ name: 'mc-tls', certificateChain: pair.certPem, privateKey: pair.keyPem })], {
      create: { generatorOptions: { disableNameSuffixHash: true } },
    });
    const model = readKustomization(dir);
    assert.equal(model.secretGenerators[0]!.nameSuffixHash, false);
    const secret = requireRenderedSecret(await renderKustomization(dir), model, { name: 'mc-tls' });
    assert.equal(secret.name, 'mc-tls');
    assert.equal(secret.type, 'kubernetes.io/tls');
    assertHolds(secret.data, pair);
  });
});

describe('bad input is refused before anything is written', () => {
  test('typed errors, kustomization untouched', () => {
    const dir = scratch.kustomization('edp7_tls_kustomization.yaml', 'bad');
    const original = readFileSync(join(dir, 'kustomization.yaml'), 'utf8');
    const a = ca.leaf('Edp7');
    const b = ca.leaf('Edp7');
    const cases: [string, () => unknown][] = [
      ['TLS_KEY_MISMATCH', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: a.certPem }, { key: 'tls.key', data: b.keyPem }] }])],
      ['TLS_KEY_MISMATCH', () => tlsSecretUpdate({ name: 'edp7-tls', certificateChain: a.der, privateKey: b.privateKey })],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: 'not a certificate' }, { key: 'tls.key', data: a.keyPem }] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: a.certPem }, { key: 'tls.key', data: 'garbage' }] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', removeKeys: ['tls.key'], files: [] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'Edp7_TLS', files: [{ key: 'x', data: 'y' }] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'other', files: [{ key: '../escape', data: 'y' }] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [{ name: 'other', files: [] }])],
      ['INVALID_SECRET', () => updateSecretGenerators(dir, [])],
      ['GENERATOR_MISMATCH', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', type: 'Opaque', files: [{ key: 'x', data: 'y' }] }])],
      // Only tls.crt changes: the key on disk must match, and upstream's copy has no files beside it.
      ['SECRET_FILE_MISSING', () => updateSecretGenerators(dir, [{ name: 'edp7-tls', files: [{ key: 'tls.crt', data: a.certPem }] }])],
      ['GENERATOR_NOT_FOUND', () => readSecretFiles(dir, { name: 'nope' })],
      ['KUSTOMIZATION_NOT_FOUND', () => readKustomization(scratch.path('nowhere'))],
    ];
    for (const [code, fn] of cases) expectK8sError(fn, code);
    assert.equal(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'), original);
    assert.deepEqual(existsSync(join(dir, GENERATIONS_DIR)) ? readdirSync(join(dir, GENERATIONS_DIR)) : [], []);

    const broken = scratch.path('broken');
    mkdirSync(broken);
    for (const [text, why] of [
      ['secretGenerator: [unclosed', 'not YAML'],
      ['secretGenerator: {name: x}', 'not a list'],
      ['secretGenerator:\n  - files: [a]', 'no name'],
      ['secretGenerator:\n  - name: x\n    files: [1]', 'non-string file'],
      ['- a\n- b', 'not a mapping'],
    ]) {
      writeFileSync(join(broken, 'kustomization.yaml'), text!);
      expectK8sError(() => readKustomization(broken), 'KUSTOMIZATION_INVALID');
      void why;
    }
    writeFileSync(join(broken, 'kustomization.yml'), '');
    expectK8sError(() => readKustomization(broken), 'KUSTOMIZATION_INVALID');
  });
});
