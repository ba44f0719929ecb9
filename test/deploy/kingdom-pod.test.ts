/**
 * The Kingdom container of the dev and prod overlays, run as the pod would
 * run it: each volume of the rendered Deployment laid out under a scratch
 * root (Secret and ConfigMap files, subPath files, empty directories), the
 * rendered args and Secret-fed environment, the real `kingdom serve`
 * process. Only the listen addresses change (127.0.0.1, free ports, mapped
 * back to the container ports), and the absolute paths in kingdom.yaml gain
 * the scratch root. Then every probe and the scrape annotation are requested
 * as the kubelet and Prometheus would, and the operator's token (the cluster
 * holds only its hash) works. prod runs on a fresh PostgreSQL database
 * (HALO_KEYS_TEST_DATABASE_URL), dev on the embedded one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { systemClock } from '../../src/lib/clock.js';
import { encodePem } from '../../src/lib/pem.js';
import { initRoot, issueLeaf } from '../../src/pki/ca.js';
import { binary, pemKey, runCli, scratchDir } from '../kingdom/server-fixtures.js';
import { freshPostgresDatabase, type TestDatabase } from '../kingdom/store-fixtures.js';
import { DeployTree } from './deploy-fixtures.js';
import { type Container, containerEnvironment, kingdomConfig, Rendered, sourceObject, type Workload } from './manifest-checks.js';

const TOKEN = 'hk_admin_kingdom-pod-test-token';
const scratch = scratchDir('halo-kingdom-pod-');
const cleanups: (() => Promise<void> | void)[] = [() => scratch.remove()];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

/** The server TLS material an operator would put into overlays/prod/secrets. */
function serverTls(): { rootPem: string; certPem: string; keyPem: string } {
  const root = initRoot({ subject: '/O=Kingdom pod test/CN=Kingdom Root CA', clock: systemClock });
  const leaf = issueLeaf({ certificate: root.certificate, privateKey: root.privateKey }, {
    profile: 'tls-server',
    subject: '/O=Kingdom pod test/CN=localhost',
    altNames: [{ type: 'dns', value: 'localhost' }],
    clock: systemClock,
  });
  return { rootPem: encodePem('CERTIFICATE', root.der), certPem: encodePem('CERTIFICATE', leaf.der) + encodePem('CERTIFICATE', root.der), keyPem: pemKey(leaf.privateKey!) };
}

/** The container's volumes as files under `root`. */
function layOut(r: Rendered, w: Workload, c: Container, root: string): void {
  for (const m of c.volumeMounts ?? []) {
    const v = w.pod.volumes!.find((x) => x.name === m.name)!;
    const target = join(root, m.mountPath);
    const src = sourceObject(v);
    if (!src) {
      mkdirSync(target, { recursive: true });
      continue;
    }
    const keys = m.subPath !== undefined ? [m.subPath] : r.keys(src.kind, src.name)!;
    for (const key of keys) {
      const file = m.subPath !== undefined ? target : join(target, key);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, r.text(src.kind, src.name, key)!);
    }
  }
}

const PATH_KEYS = ['dataDir', 'tlsCertFile', 'tlsKeyFile'] as const;

function get(url: string, ca?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const send = u.protocol === 'https:' ? httpsRequest : httpRequest;
    // The kubelet does not verify the serving certificate; neither do the probes here.
    const req = send(u, { rejectUnauthorized: false, ...(ca ? { ca } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

async function runPod(overlay: string, tree: DeployTree, root: string, kingdomRoot: () => string): Promise<void> {
  const r = new Rendered(await tree.render(overlay));
  const w = r.workload('kingdom')!;
  const { config, container } = await kingdomConfig(r, w);
  layOut(r, w, container, root);
  // kingdom.yaml as mounted, its absolute paths moved under the scratch root.
  const args = [...(container.args ?? [])];
  const at = args.indexOf('--config') + 1;
  const configFile = join(root, args[at]!);
  const settings = parseYaml(readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  for (const k of PATH_KEYS) if (typeof settings[k] === 'string') settings[k] = join(root, settings[k] as string);
  writeFileSync(configFile, stringifyYaml(settings));
  args[at] = configFile;
  const env = containerEnvironment(r, container);
  const child = spawn(process.execPath, [binary, ...args, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [, api, metrics] = await new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${overlay}: the Kingdom did not start within 180 s:\n${out}`)), 180_000);
    child.stdout.on('data', () => {
      const m = /Health: https:\/\/127\.0\.0\.1:(\d+)\/healthz\s+Metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    void exited.then(() => reject(new Error(`${overlay}: the Kingdom exited:\n${out}`)));
  });
  // Container port -> where this process listens, by what the config says each port is.
  const actual = new Map([
    [config.listen.port, Number(api)],
    [config.metricsListen!.port, Number(metrics)],
  ]);
  const portOf = (p: string | number) => actual.get(typeof p === 'number' ? p : container.ports!.find((x) => x.name === p)!.containerPort);
  const probes = [container.startupProbe, container.readinessProbe, container.livenessProbe];
  assert.equal(probes.filter((p) => p?.httpGet).length, 3, overlay);
  for (const p of probes) {
    const g = p!.httpGet!;
    const res = await get(`${(g.scheme ?? 'HTTP').toLowerCase()}://127.0.0.1:${portOf(g.port)}${g.path}`);
    assert.equal(res.status, 200, `${overlay}: probe ${g.scheme} ${g.port} ${g.path}: ${res.body}`);
  }
  const scrape = await get(`http://127.0.0.1:${portOf(Number(w.annotations['prometheus.io/port']))}${w.annotations['prometheus.io/path']}`);
  assert.equal(scrape.status, 200, overlay);
  assert.match(scrape.body, /^# TYPE kingdom_certificate_cache_enabled gauge$/m);
  // The operator's token against the hash from the Secret, over the API port and the server's certificate.
  const tokenFile = join(root, '..', `${overlay.replace('/', '-')}-token`);
  writeFileSync(tokenFile, TOKEN);
  const rootFile = join(root, '..', `${overlay.replace('/', '-')}-root.pem`);
  writeFileSync(rootFile, kingdomRoot());
  const admin = runCli(['kingdom', 'admin', '--target', `127.0.0.1:${api}`, '--server-name', 'localhost', '--kingdom-root', rootFile, '--admin-token-file', tokenFile, 'akid', 'list']);
  assert.equal(admin.status, 0, `${overlay}: ${admin.stderr}`);
}

describe('the Kingdom container as the pod runs it', () => {
  const hash = `${createHash('sha256').update(TOKEN).digest('hex')}\n`;

  it('prod: PostgreSQL from the Secret, TLS from the Secret; probes, scrape port and admin token work', async () => {
    const db: TestDatabase = await freshPostgresDatabase();
    cleanups.push(() => db.drop());
    const tls = serverTls();
    const tree = new DeployTree({
      'overlays/prod/secrets/database-url': `${db.url}\n`,
      'overlays/prod/secrets/tls.crt': tls.certPem,
      'overlays/prod/secrets/tls.key': tls.keyPem,
      'overlays/prod/secrets/admin-token.sha256': hash,
    });
    cleanups.push(() => tree.remove());
    await runPod('overlays/prod', tree, join(scratch.dir, 'prod', 'root'), () => tls.rootPem);
  });

  it('dev: the embedded database and development CA on the data volume; probes, scrape port and admin token work', async () => {
    const tree = new DeployTree({ 'overlays/dev/secrets/admin-token.sha256': hash });
    cleanups.push(() => tree.remove());
    const root = join(scratch.dir, 'dev', 'root');
    await runPod('overlays/dev', tree, root, () => readFileSync(join(root, 'var/lib/kingdom/kingdom_root.pem'), 'utf8'));
  });
});
