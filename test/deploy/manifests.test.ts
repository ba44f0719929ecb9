/**
 * deploy/: every kustomization rendered by the real `kubectl kustomize` and
 * checked as far as possible without a cluster: references resolve, ports
 * and probe paths are what the server serves (read through the project's
 * own command line and config loaders), the agent's halo-keys.yaml parses,
 * and its RBAC names only the Secret it writes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DEPLOY_DIR, DeployTree, kustomizationDirs } from './deploy-fixtures.js';
import { agentConfig, agentProblems, hardeningProblems, kingdomConfig, kingdomProblems, rbacProblems, referenceProblems, Rendered } from './manifest-checks.js';

const tree = new DeployTree();
after(() => tree.remove());

const ALL = kustomizationDirs();
const OVERLAYS = ALL.filter((d) => d.startsWith('overlays/'));
const renders = new Map<string, Promise<Rendered>>();
function render(dir: string): Promise<Rendered> {
  let r = renders.get(dir);
  if (!r) renders.set(dir, (r = tree.render(dir).then((m) => new Rendered(m))));
  return r;
}

describe('deploy/ manifests', () => {
  it('has the Kingdom and agent bases, the CronJob variant, and the dev and prod overlays', () => {
    assert.deepEqual(ALL, ['agent', 'agent-cronjob', 'kingdom', 'overlays/dev', 'overlays/participant-cron', 'overlays/prod']);
  });

  it('every kustomization renders; every container runs non-root on a read-only root filesystem with memory bounds', async () => {
    for (const dir of ALL) {
      const r = await render(dir);
      assert.ok(r.workloads().length > 0, dir);
      assert.deepEqual(hardeningProblems(r), [], dir);
    }
  });

  it('each overlay sets the image through images: and every container runs it', async () => {
    for (const dir of OVERLAYS) {
      const k = parseYaml(readFileSync(join(DEPLOY_DIR, dir, 'kustomization.yaml'), 'utf8')) as { images?: { name: string; newName: string; newTag: string }[] };
      assert.equal(k.images?.length, 1, dir);
      const image = k.images![0]!;
      assert.equal(image.name, 'halo-keys');
      const used = new Set((await render(dir)).workloads().flatMap((w) => w.pod.containers.map((c) => c.image)));
      assert.deepEqual([...used], [`${image.newName}:${image.newTag}`], dir);
    }
  });

  it('in every overlay each Secret, ConfigMap, volume claim, account, role and port named resolves', async () => {
    for (const dir of OVERLAYS) assert.deepEqual(referenceProblems(await render(dir)), [], dir);
  });

  it('the Kingdom: ports, probes, TLS files, admin token and data dir match what kingdom serve makes of its config', async () => {
    const seen: Record<string, { replicas?: number; database: boolean }> = {};
    for (const dir of ['kingdom', 'overlays/dev', 'overlays/prod']) {
      const r = await render(dir);
      const w = r.workload('kingdom')!;
      const { config, container } = await kingdomConfig(r, w);
      if (dir !== 'kingdom') assert.deepEqual(kingdomProblems(r, w, config, container), [], dir);
      seen[dir] = { ...(w.replicas !== undefined ? { replicas: w.replicas } : {}), database: config.databaseUrl !== undefined };
    }
    assert.deepEqual(seen['overlays/dev'], { replicas: 1, database: false }, 'dev: the embedded database, one replica');
    assert.equal(seen['overlays/prod']!.database, true, 'prod: PostgreSQL from the Secret');
    assert.ok(seen['overlays/prod']!.replicas! >= 2);
  });

  it("the agent: halo-keys.yaml parses with the project's loader, its files are mounted, metrics and probes agree", async () => {
    const kinds: string[] = [];
    for (const dir of OVERLAYS) {
      const r = await render(dir);
      const w = r.workload('halo-keys-agent');
      if (!w) continue;
      const { flags, config, container } = await agentConfig(r, w);
      assert.deepEqual(agentProblems(r, w, flags, config, container), [], dir);
      kinds.push(`${w.kind}${flags.once ? ' --once' : ''}`);
    }
    assert.deepEqual(kinds.sort(), ['CronJob --once', 'Deployment']);
  });

  it('the agent may get and patch its own TLS Secret, by name, and nothing else', async () => {
    for (const dir of ['agent', 'agent-cronjob', ...OVERLAYS]) {
      const r = await render(dir);
      const w = r.workload('halo-keys-agent');
      if (!w) continue;
      const { config } = await agentConfig(r, w);
      assert.deepEqual(rbacProblems(r, w, config), [], dir);
    }
  });

  it('the checks catch a broken manifest', async () => {
    const good = await render('overlays/dev');
    const broken = new Rendered({ ...good.manifests, manifests: structuredClone(good.manifests.manifests) });
    const role = broken.find('Role', 'halo-keys-agent')!;
    role.rules![0]!.resourceNames = ['another-secret'];
    role.rules![0]!.verbs = ['get', 'patch', 'create'];
    const kingdom = broken.workload('kingdom')!;
    kingdom.pod.volumes!.find((v) => v.name === 'admin-token')!.secret!.secretName = 'kingdom-admin-token';
    kingdom.pod.containers[0]!.livenessProbe!.httpGet!.path = '/health';
    kingdom.pod.containers[0]!.ports![0]!.containerPort = 443;
    const agent = broken.workload('halo-keys-agent')!;
    agent.pod.containers[0]!.args = agent.pod.containers[0]!.args!.map((a) => (a.startsWith('--metrics-listen') ? '--metrics-listen=0.0.0.0:9465' : a));

    const references = referenceProblems(broken);
    assert.ok(references.some((p) => p.includes('names Secret kingdom-admin-token, which is not rendered')), references.join('\n'));
    const { config: kc, container } = await kingdomConfig(broken, kingdom);
    const k = kingdomProblems(broken, kingdom, kc, container);
    assert.ok(k.some((p) => p.includes('probe path /health is not /healthz')), k.join('\n'));
    assert.ok(k.some((p) => p.includes('port api 443 is not one the server listens on')), k.join('\n'));
    const { flags, config, container: ac } = await agentConfig(broken, agent);
    assert.ok(agentProblems(broken, agent, flags, config, ac).some((p) => p.includes('--metrics-listen port 9465 is not a container port')));
    const rbac = rbacProblems(broken, agent, config);
    assert.ok(rbac.some((p) => p.includes('does not name exactly Secret edp1-tls')), rbac.join('\n'));
    assert.ok(rbac.some((p) => p.includes('verbs create')), rbac.join('\n'));
  });
});
