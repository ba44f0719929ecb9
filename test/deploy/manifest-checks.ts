/**
 * What can be checked in rendered manifests without a cluster. Each check
 * returns the problems it found (empty when sound), so a test can both
 * require none and show that a broken manifest is caught.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Command } from 'commander';
import type { RenderedManifests } from '../../src/k8s/rendered-secrets.js';
import { buildProgram } from '../../src/cli/halo-keys.js';
import { ADMIN_TOKEN_HASH_FILE } from '../../src/kingdom/server/admin-token.js';
import { resolveServeConfig, type ServeConfig, type ServeFlags } from '../../src/kingdom/server/config.js';
import { HEALTH_PATH, METRICS_PATH } from '../../src/kingdom/server/http-endpoints.js';
import { CONFIG_FILE, parseConfig, type KeyringConfig } from '../../src/rotation/config.js';

interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface KeyRef {
  name: string;
  key: string;
}
interface Probe {
  httpGet?: { path: string; port: string | number; scheme?: string };
}
export interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
}
interface Volume {
  name: string;
  secret?: { secretName: string };
  configMap?: { name: string };
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: object;
}
interface PodSpec {
  containers: Container[];
  volumes?: Volume[];
  serviceAccountName?: string;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number };
}
interface K8sObject {
  kind: string;
  metadata: Meta;
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  rules?: { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs?: string[] }[];
  roleRef?: { kind: string; name: string };
  subjects?: { kind: string; name: string }[];
}

export interface Workload {
  kind: string;
  name: string;
  replicas?: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  pod: PodSpec;
}

export class Rendered {
  readonly objects: K8sObject[];

  constructor(readonly manifests: RenderedManifests) {
    this.objects = manifests.manifests as unknown as K8sObject[];
  }

  find(kind: string, name: string): K8sObject | undefined {
    return this.objects.find((o) => o.kind === kind && o.metadata.name === name);
  }

  ofKind(kind: string): K8sObject[] {
    return this.objects.filter((o) => o.kind === kind);
  }

  /** Keys of a rendered Secret or ConfigMap; undefined when there is no such object. */
  keys(kind: 'Secret' | 'ConfigMap', name: string): string[] | undefined {
    if (kind === 'Secret') {
      const s = this.manifests.secrets.find((x) => x.name === name);
      return s ? [...s.data.keys()] : undefined;
    }
    const c = this.find('ConfigMap', name);
    return c ? Object.keys(c.data ?? {}) : undefined;
  }

  text(kind: 'Secret' | 'ConfigMap', name: string, key: string): string | undefined {
    if (kind === 'Secret') {
      const v = this.manifests.secrets.find((x) => x.name === name)?.data.get(key);
      return v ? Buffer.from(v).toString('utf8') : undefined;
    }
    return this.find('ConfigMap', name)?.data?.[key];
  }

  workloads(): Workload[] {
    const out: Workload[] = [];
    for (const o of this.objects) {
      const spec = o.spec as { replicas?: number; template?: { metadata?: Meta; spec: PodSpec }; jobTemplate?: { spec: { template: { metadata?: Meta; spec: PodSpec } } } } | undefined;
      const template = o.kind === 'Deployment' ? spec?.template : o.kind === 'CronJob' ? spec?.jobTemplate?.spec.template : undefined;
      if (!template) continue;
      out.push({
        kind: o.kind,
        name: o.metadata.name,
        ...(spec?.replicas !== undefined ? { replicas: spec.replicas } : {}),
        labels: template.metadata?.labels ?? {},
        annotations: template.metadata?.annotations ?? {},
        pod: template.spec,
      });
    }
    return out;
  }

  workload(name: string): Workload | undefined {
    return this.workloads().find((w) => w.name === name);
  }
}

function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A file path inside the container, resolved to the volume (and key) that provides it. */
export interface FileSource {
  volume: Volume;
  /** The Secret/ConfigMap key for a file of a Secret or ConfigMap volume. */
  key?: string;
  readOnly: boolean;
}

export function fileSource(container: Container, pod: PodSpec, path: string): FileSource | undefined {
  // The deepest mount that holds the path wins, as in the container.
  const mounts = [...(container.volumeMounts ?? [])].sort((a, b) => b.mountPath.length - a.mountPath.length);
  for (const m of mounts) {
    const rel = posix.relative(m.mountPath, path);
    if (rel.startsWith('..') || posix.isAbsolute(rel)) continue;
    const volume = pod.volumes?.find((v) => v.name === m.name);
    if (!volume) return undefined;
    const key = m.subPath !== undefined ? (rel === '' ? m.subPath : undefined) : rel === '' ? undefined : rel;
    return { volume, ...(key !== undefined ? { key } : {}), readOnly: m.readOnly === true || volume.secret !== undefined || volume.configMap !== undefined };
  }
  return undefined;
}

export function sourceObject(v: Volume): { kind: 'Secret' | 'ConfigMap'; name: string } | undefined {
  if (v.secret) return { kind: 'Secret', name: v.secret.secretName };
  if (v.configMap) return { kind: 'ConfigMap', name: v.configMap.name };
  return undefined;
}

/**
 * Every Secret, ConfigMap, PersistentVolumeClaim, ServiceAccount, Role and
 * port a manifest names exists in the render; Services, PDBs and
 * NetworkPolicies select a workload and name its ports.
 */
export function referenceProblems(r: Rendered): string[] {
  const problems: string[] = [];
  for (const w of r.workloads()) {
    const where = `${w.kind} ${w.name}`;
    for (const v of w.pod.volumes ?? []) {
      const src = sourceObject(v);
      if (src && !r.keys(src.kind, src.name)) problems.push(`${where}: volume ${v.name} names ${src.kind} ${src.name}, which is not rendered`);
      if (v.persistentVolumeClaim && !r.find('PersistentVolumeClaim', v.persistentVolumeClaim.claimName)) {
        problems.push(`${where}: volume ${v.name} names PersistentVolumeClaim ${v.persistentVolumeClaim.claimName}, which is not rendered`);
      }
    }
    if (w.pod.serviceAccountName && !r.find('ServiceAccount', w.pod.serviceAccountName)) problems.push(`${where}: ServiceAccount ${w.pod.serviceAccountName} is not rendered`);
    for (const c of w.pod.containers) {
      for (const m of c.volumeMounts ?? []) {
        const v = w.pod.volumes?.find((x) => x.name === m.name);
        if (!v) {
          problems.push(`${where}: container ${c.name} mounts volume ${m.name}, which the pod does not have`);
          continue;
        }
        const src = sourceObject(v);
        const keys = src ? r.keys(src.kind, src.name) : undefined;
        if (m.subPath !== undefined && keys && !keys.includes(m.subPath)) problems.push(`${where}: ${m.mountPath} is key ${m.subPath} of ${src!.kind} ${src!.name}, which has ${keys.join(', ')}`);
      }
      for (const e of c.env ?? []) {
        for (const [kind, ref] of [['Secret', e.valueFrom?.secretKeyRef], ['ConfigMap', e.valueFrom?.configMapKeyRef]] as const) {
          if (!ref) continue;
          const keys = r.keys(kind, ref.name);
          if (!keys) problems.push(`${where}: env ${e.name} names ${kind} ${ref.name}, which is not rendered`);
          else if (!keys.includes(ref.key)) problems.push(`${where}: env ${e.name} names key ${ref.key} of ${kind} ${ref.name}, which has ${keys.join(', ')}`);
        }
      }
      for (const p of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        const port = p?.httpGet?.port;
        if (typeof port === 'string' && !c.ports?.some((x) => x.name === port)) problems.push(`${where}: a probe names port ${port}, which container ${c.name} does not declare`);
      }
    }
  }
  const podPorts = (selector: Record<string, string> | undefined) =>
    r.workloads().filter((w) => matches(selector, w.labels)).flatMap((w) => w.pod.containers.flatMap((c) => c.ports ?? []));
  const selects = (selector: Record<string, string> | undefined) => r.workloads().some((w) => matches(selector, w.labels));
  for (const s of r.ofKind('Service')) {
    const spec = s.spec as { selector?: Record<string, string>; ports?: { name?: string; targetPort?: string | number }[] };
    if (!selects(spec.selector)) problems.push(`Service ${s.metadata.name} selects no workload`);
    for (const p of spec.ports ?? []) {
      const ports = podPorts(spec.selector);
      const ok = typeof p.targetPort === 'string' ? ports.some((x) => x.name === p.targetPort) : ports.some((x) => x.containerPort === p.targetPort);
      if (!ok) problems.push(`Service ${s.metadata.name}: port ${p.name} targets ${String(p.targetPort)}, which the selected pods do not declare`);
    }
  }
  for (const kind of ['PodDisruptionBudget', 'NetworkPolicy']) {
    for (const o of r.ofKind(kind)) {
      const spec = o.spec as { selector?: { matchLabels?: Record<string, string> }; podSelector?: { matchLabels?: Record<string, string> }; ingress?: { ports?: { port: string | number }[] }[] };
      const selector = (spec.selector ?? spec.podSelector)?.matchLabels;
      if (!selects(selector)) problems.push(`${kind} ${o.metadata.name} selects no workload`);
      for (const rule of spec.ingress ?? []) {
        for (const p of rule.ports ?? []) {
          const ports = podPorts(selector);
          if (!(typeof p.port === 'string' ? ports.some((x) => x.name === p.port) : ports.some((x) => x.containerPort === p.port))) {
            problems.push(`${kind} ${o.metadata.name}: port ${String(p.port)} is not a port of the selected pods`);
          }
        }
      }
    }
  }
  for (const b of r.ofKind('RoleBinding')) {
    if (!b.roleRef || !r.find(b.roleRef.kind, b.roleRef.name)) problems.push(`RoleBinding ${b.metadata.name}: ${b.roleRef?.kind} ${b.roleRef?.name} is not rendered`);
    for (const s of b.subjects ?? []) if (s.kind === 'ServiceAccount' && !r.find('ServiceAccount', s.name)) problems.push(`RoleBinding ${b.metadata.name}: ServiceAccount ${s.name} is not rendered`);
  }
  return problems;
}

/** A non-root user, a read-only root filesystem, no privilege escalation, memory requests. */
export function hardeningProblems(r: Rendered): string[] {
  const problems: string[] = [];
  for (const w of r.workloads()) {
    if (w.pod.securityContext?.runAsNonRoot !== true || !(Number(w.pod.securityContext.runAsUser) > 0)) problems.push(`${w.kind} ${w.name}: not runAsNonRoot with a non-zero runAsUser`);
    for (const c of w.pod.containers) {
      if (c.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${w.kind} ${w.name}/${c.name}: root filesystem not read-only`);
      if (c.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${w.kind} ${w.name}/${c.name}: privilege escalation allowed`);
      if (!c.resources?.requests?.memory || !c.resources.limits?.memory) problems.push(`${w.kind} ${w.name}/${c.name}: no memory request and limit`);
    }
  }
  return problems;
}

/** Runs `args` through the real `halo-keys` command line up to option parsing, and returns the flags its action would get. */
export async function parsedFlags<T>(args: readonly string[]): Promise<T> {
  const program = await buildProgram(args);
  let command: Command = program;
  for (const word of args.filter((a) => !a.startsWith('-'))) {
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    command = sub;
  }
  let flags: T | undefined;
  command.action((f: T) => {
    flags = f;
  });
  await program.parseAsync([...args], { from: 'user' });
  if (flags === undefined) throw new Error(`halo-keys ${args.join(' ')} did not reach a command`);
  return flags;
}

function probes(c: Container): Probe[] {
  return [c.readinessProbe, c.livenessProbe, c.startupProbe].filter((p): p is Probe => p !== undefined);
}

function portNumber(c: Container, port: string | number | undefined): number | undefined {
  return typeof port === 'number' ? port : c.ports?.find((p) => p.name === port)?.containerPort;
}

/**
 * The environment the container would see over this process's: its values and
 * Secret keys, and HALO_KEYS_DATABASE_URL only if the container sets it.
 */
export function containerEnvironment(r: Rendered, container: Container): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.HALO_KEYS_DATABASE_URL;
  for (const e of container.env ?? []) {
    const ref = e.valueFrom?.secretKeyRef;
    const value = ref ? r.text('Secret', ref.name, ref.key) : e.value;
    if (value !== undefined) env[e.name] = value;
  }
  return env;
}

/** The Kingdom's settings as `kingdom serve` resolves them from the container's args, ConfigMap and Secret-fed environment. */
export async function kingdomConfig(r: Rendered, w: Workload): Promise<{ config: ServeConfig; container: Container }> {
  const container = w.pod.containers[0]!;
  const flags = await parsedFlags<ServeFlags>(container.args ?? []);
  const scratch = mkdtempSync(join(tmpdir(), 'halo-deploy-config-'));
  const saved = { ...process.env };
  try {
    if (flags.config) {
      const src = fileSource(container, w.pod, flags.config);
      const obj = src && sourceObject(src.volume);
      const text = obj && src.key ? r.text(obj.kind, obj.name, src.key) : undefined;
      if (text === undefined) throw new Error(`--config ${flags.config} is not a file of a mounted ConfigMap or Secret`);
      // Written where it would be mounted, so relative paths resolve alike.
      const local = join(scratch, flags.config);
      mkdirSync(posix.dirname(local), { recursive: true });
      writeFileSync(local, text);
      flags.config = local;
    }
    const env = containerEnvironment(r, container);
    if (env.HALO_KEYS_DATABASE_URL === undefined) delete process.env.HALO_KEYS_DATABASE_URL;
    Object.assign(process.env, env);
    const resolved = resolveServeConfig(flags);
    const unprefix = (p: string) => (p.startsWith(scratch) ? p.slice(scratch.length) : p);
    const config: ServeConfig = {
      ...resolved,
      dataDir: unprefix(resolved.dataDir),
      ...(resolved.tlsCertFile ? { tlsCertFile: unprefix(resolved.tlsCertFile), tlsKeyFile: unprefix(resolved.tlsKeyFile!) } : {}),
      trustedRootsFiles: resolved.trustedRootsFiles.map(unprefix),
    };
    return { config, container };
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Ports, probes, files and scrape annotations of the Kingdom match what `kingdom serve` serves with that configuration. */
export function kingdomProblems(r: Rendered, w: Workload, config: ServeConfig, container: Container): string[] {
  const problems: string[] = [];
  const where = `${w.kind} ${w.name}`;
  const served = new Map<number, 'HTTPS' | 'HTTP'>([[config.listen.port, 'HTTPS']]);
  if (config.metricsListen) served.set(config.metricsListen.port, 'HTTP');
  for (const p of container.ports ?? []) if (!served.has(p.containerPort)) problems.push(`${where}: port ${p.name} ${p.containerPort} is not one the server listens on`);
  for (const port of served.keys()) if (!container.ports?.some((p) => p.containerPort === port)) problems.push(`${where}: the server listens on ${port}, which the container does not declare`);
  for (const p of probes(container)) {
    const g = p.httpGet;
    if (!g) continue;
    if (g.path !== HEALTH_PATH) problems.push(`${where}: probe path ${g.path} is not ${HEALTH_PATH}`);
    const port = portNumber(container, g.port);
    const scheme = port === undefined ? undefined : served.get(port);
    if (scheme === undefined) problems.push(`${where}: probe port ${String(g.port)} is not served`);
    else if ((g.scheme ?? 'HTTP') !== scheme) problems.push(`${where}: probe on ${port} uses ${g.scheme ?? 'HTTP'}, the server speaks ${scheme} there`);
  }
  const scrapePort = Number(w.annotations['prometheus.io/port']);
  if (!served.has(scrapePort)) problems.push(`${where}: prometheus.io/port ${scrapePort} is not served`);
  if (w.annotations['prometheus.io/path'] !== METRICS_PATH) problems.push(`${where}: prometheus.io/path is not ${METRICS_PATH}`);
  const secretFile = (path: string, what: string) => {
    const src = fileSource(container, w.pod, path);
    const obj = src && sourceObject(src.volume);
    if (!src || obj?.kind !== 'Secret' || !src.key || !r.keys('Secret', obj.name)?.includes(src.key)) problems.push(`${where}: ${what} ${path} is not a key of a mounted Secret`);
  };
  if (config.tlsCertFile) secretFile(config.tlsCertFile, 'tlsCertFile');
  if (config.tlsKeyFile) secretFile(config.tlsKeyFile, 'tlsKeyFile');
  secretFile(posix.join(config.dataDir, ADMIN_TOKEN_HASH_FILE), 'the admin token hash');
  const data = fileSource(container, w.pod, config.dataDir);
  if (!data || data.readOnly || !(data.volume.emptyDir || data.volume.persistentVolumeClaim)) problems.push(`${where}: dataDir ${config.dataDir} is not on a writable volume`);
  if (config.databaseUrl === undefined) {
    // The embedded database: one process, its files kept across restarts.
    if (w.replicas !== 1) problems.push(`${where}: the embedded database allows one replica, not ${w.replicas}`);
    if (!data?.volume.persistentVolumeClaim) problems.push(`${where}: the embedded database's dataDir is not on a PersistentVolumeClaim`);
  } else if ((w.replicas ?? 1) < 2) {
    problems.push(`${where}: ${w.replicas ?? 1} replica on PostgreSQL; at least 2 expected`);
  }
  return problems;
}

export interface AgentFlags {
  dir: string;
  passphraseFile?: string;
  metricsListen?: { host: string; port: number };
  once?: boolean;
}

/** The agent's halo-keys.yaml as the agent reads it: `<--dir>/halo-keys.yaml`, parsed by the project's loader. */
export async function agentConfig(r: Rendered, w: Workload): Promise<{ flags: AgentFlags; config: KeyringConfig; container: Container }> {
  const container = w.pod.containers[0]!;
  const flags = await parsedFlags<AgentFlags>(container.args ?? []);
  const path = posix.join(flags.dir, CONFIG_FILE);
  const src = fileSource(container, w.pod, path);
  const obj = src && sourceObject(src.volume);
  const text = obj && src.key ? r.text(obj.kind, obj.name, src.key) : undefined;
  if (text === undefined) throw new Error(`${path} is not a file of a mounted ConfigMap`);
  return { flags, config: parseConfig(text, flags.dir), container };
}

export function agentProblems(r: Rendered, w: Workload, flags: AgentFlags, config: KeyringConfig, container: Container): string[] {
  const problems: string[] = [];
  const where = `${w.kind} ${w.name}`;
  const writable = (path: string, what: string) => {
    const src = fileSource(container, w.pod, path);
    if (!src || src.readOnly || !src.volume.persistentVolumeClaim) problems.push(`${where}: ${what} ${path} is not on the keyring's PersistentVolumeClaim`);
  };
  writable(flags.dir, '--dir');
  writable(config.ca, 'ca');
  if (config.kustomization) writable(config.kustomization.dir, 'kustomization.dir');
  const mountedFile = (path: string, what: string) => {
    const src = fileSource(container, w.pod, path);
    const obj = src && sourceObject(src.volume);
    if (!src || !obj || !src.key || !r.keys(obj.kind, obj.name)?.includes(src.key)) problems.push(`${where}: ${what} ${path} is not a key of a mounted Secret or ConfigMap`);
    return obj;
  };
  if (config.kingdom) mountedFile(config.kingdom.trustedRoots, 'kingdom.trustedRoots');
  if (!flags.passphraseFile) problems.push(`${where}: no --passphrase-file`);
  else if (mountedFile(flags.passphraseFile, '--passphrase-file')?.kind !== 'Secret') problems.push(`${where}: the passphrase is not from a Secret`);
  if (flags.once) {
    if (w.kind !== 'CronJob') problems.push(`${where}: --once outside a CronJob`);
  } else {
    if (!flags.metricsListen) problems.push(`${where}: no --metrics-listen`);
    const port = flags.metricsListen?.port;
    if (port !== undefined && !container.ports?.some((p) => p.containerPort === port)) problems.push(`${where}: --metrics-listen port ${port} is not a container port`);
    for (const p of probes(container)) {
      if (p.httpGet?.path !== METRICS_PATH || portNumber(container, p.httpGet.port) !== port) problems.push(`${where}: a probe is not ${METRICS_PATH} on the metrics port`);
    }
    if (Number(w.annotations['prometheus.io/port']) !== port || w.annotations['prometheus.io/path'] !== METRICS_PATH) problems.push(`${where}: prometheus.io annotations do not name the metrics endpoint`);
  }
  return problems;
}

/**
 * The agent's only write is `kubectl apply -k` of its TLS Secret's
 * Kustomization: one Secret, under a fixed name. Every role bound to its
 * ServiceAccount grants get/patch on that Secret by name and nothing else.
 */
export function rbacProblems(r: Rendered, w: Workload, config: KeyringConfig): string[] {
  const problems: string[] = [];
  const sa = w.pod.serviceAccountName;
  const k = config.kustomization;
  if (!k) return [`${w.kind} ${w.name}: halo-keys.yaml has no kustomization, so the agent writes nothing and needs no role`];
  if (k.nameSuffixHash) problems.push(`${w.kind} ${w.name}: kustomization.nameSuffixHash is on, so the Secret's name changes and RBAC cannot name it`);
  if (!sa) return [...problems, `${w.kind} ${w.name}: no serviceAccountName`];
  const bindings = [...r.ofKind('RoleBinding'), ...r.ofKind('ClusterRoleBinding')].filter((b) => b.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === sa));
  if (bindings.length === 0) problems.push(`ServiceAccount ${sa} is bound to no role`);
  for (const b of bindings) {
    if (b.kind !== 'RoleBinding' || b.roleRef?.kind !== 'Role') {
      problems.push(`${b.kind} ${b.metadata.name} grants ${sa} a ${b.roleRef?.kind}: beyond its namespace`);
      continue;
    }
    const role = r.find('Role', b.roleRef.name);
    for (const rule of role?.rules ?? []) {
      const text = JSON.stringify(rule);
      if (JSON.stringify(rule.apiGroups) !== '[""]' || JSON.stringify(rule.resources) !== '["secrets"]') problems.push(`Role ${role!.metadata.name}: ${text} is not about Secrets`);
      if (JSON.stringify(rule.resourceNames) !== JSON.stringify([k.secretName])) problems.push(`Role ${role!.metadata.name}: ${text} does not name exactly Secret ${k.secretName}`);
      const extra = (rule.verbs ?? []).filter((v) => v !== 'get' && v !== 'patch');
      if (extra.length > 0) problems.push(`Role ${role!.metadata.name}: verbs ${extra.join(', ')} beyond what apply of an existing Secret needs (get, patch)`);
    }
  }
  return problems;
}
