/**
 * The package's entry points as a consumer sees them: package.json `exports`
 * names halo-keys/crypto, /pki, /client, /kingdom, /rotation and /k8s; `npm
 * pack` ships what each points at; a consumer that installs the package (a
 * node_modules/halo-keys link to this checkout's built dist/) imports each
 * by name, type-checks against their declarations, and cannot reach a
 * module behind them. Needs `npm run build` first (the test script builds).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  exports: Record<string, string | { types: string; default: string }>;
};

/** Each entry point and a name it must export, with what that name is. */
const ENTRY_POINTS: Record<string, { readonly name: string; readonly kind: 'function' | 'class' }> = {
  'halo-keys/crypto': { name: 'generateKeyset', kind: 'function' },
  'halo-keys/pki': { name: 'parseCertificate', kind: 'function' },
  'halo-keys/client': { name: 'createKingdomClient', kind: 'function' },
  'halo-keys/kingdom': { name: 'openKingdomStore', kind: 'function' },
  'halo-keys/rotation': { name: 'KeyringSession', kind: 'class' },
  'halo-keys/k8s': { name: 'K8sError', kind: 'class' },
};

describe('package entry points', () => {
  let consumer: string;

  before(() => {
    consumer = mkdtempSync(join(tmpdir(), 'halo-keys-consumer-'));
    mkdirSync(join(consumer, 'node_modules'));
    symlinkSync(ROOT, join(consumer, 'node_modules', 'halo-keys'), 'dir');
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
  });
  after(() => rmSync(consumer, { recursive: true, force: true }));

  test('package.json exports exactly the six entry points, each with types', () => {
    const named = Object.keys(pkg.exports).filter((k) => k !== './package.json');
    assert.deepEqual(named.sort(), Object.keys(ENTRY_POINTS).map((e) => e.replace('halo-keys', '.')).sort());
    for (const key of named) {
      const target = pkg.exports[key];
      assert.ok(typeof target === 'object', key);
      const part = key.slice(2);
      assert.deepEqual(target, { types: `./dist/${part}/index.d.ts`, default: `./dist/${part}/index.js` });
    }
  });

  test('npm pack ships every file the entry points name', (t) => {
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8' });
    const [packed] = JSON.parse(out) as { files: { path: string }[] }[];
    assert.ok(packed);
    const files = new Set(packed.files.map((f) => f.path));
    const wanted = Object.values(pkg.exports).flatMap((v) => (typeof v === 'string' ? [v] : [v.types, v.default]));
    t.diagnostic(`npm pack: ${files.size} files; ${wanted.length} named by exports`);
    assert.deepEqual(wanted.map((w) => w.replace(/^\.\//, '')).filter((w) => !files.has(w)), []);
  });

  test('a consumer imports each entry point by package name', () => {
    const script = Object.entries(ENTRY_POINTS)
      .map(([spec, { name }], i) => `import { ${name} as e${i} } from '${spec}';`)
      .concat(
        `const kinds = [${Object.keys(ENTRY_POINTS).map((_, i) => `e${i}`).join(', ')}]` +
          `.map((e) => typeof e === 'function' && /^class\\b/.test(Function.prototype.toString.call(e)) ? 'class' : typeof e);`,
        'console.log(JSON.stringify(kinds));',
      )
      .join('\n');
    writeFileSync(join(consumer, 'consumer.mjs'), script);
    const r = spawnSync(process.execPath, ['consumer.mjs'], { cwd: consumer, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), Object.values(ENTRY_POINTS).map((e) => e.kind));
  });

  test('a consumer cannot import a module behind an entry point', () => {
    writeFileSync(join(consumer, 'deep.mjs'), "await import('halo-keys/dist/crypto/keyset.js');");
    const r = spawnSync(process.execPath, ['deep.mjs'], { cwd: consumer, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED/);
  });

  test('a TypeScript consumer type-checks against the declarations', () => {
    const lines = Object.entries(ENTRY_POINTS).map(([spec, { name }], i) => `import { ${name} as e${i} } from '${spec}';`);
    lines.push(
      "import type { Keyset } from 'halo-keys/crypto';",
      "import type { Certificate } from 'halo-keys/pki';",
      "import type { KingdomStore } from 'halo-keys/kingdom';",
      'export type Used = [Keyset, Certificate, KingdomStore];',
      `export const all = [${Object.keys(ENTRY_POINTS).map((_, i) => `e${i}`).join(', ')}];`,
      // A wrong use must fail, or this check proves nothing.
      "// @ts-expect-error parseCertificate takes DER bytes\ne1('not der');",
    );
    writeFileSync(join(consumer, 'consumer.ts'), lines.join('\n'));
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
          typeRoots: [join(ROOT, 'node_modules', '@types')],
        },
        files: ['consumer.ts'],
      }),
    );
    const r = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', consumer], {
      cwd: consumer,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });
});
