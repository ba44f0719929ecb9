/**
 * TLS rotation needs no Kingdom call (cmms-reference §8): the new certificate
 * and key go into the Kustomization's `kubernetes.io/tls` Secret, the
 * Kustomization is applied, and the endpoint is checked to serve the new
 * certificate before the old one is retired.
 */
import { existsSync } from 'node:fs';
import {
  applyKustomization,
  findKustomizationFile,
  waitForServedCertificate,
  readSecretFiles,
  updateSecretGenerators,
  tlsSecretUpdate,
} from '../../k8s/index.js';
import { formatDuration, readFileBytes } from '../../lib/index.js';
import { RotationError } from '../errors.js';
import { auditIds } from '../session.js';
import { type StepContext, type StepHandler, optionalEntry, stepEntry } from './context.js';

function kustomization(ctx: StepContext) {
  const k = ctx.session.config.kustomization;
  if (!k) throw new RotationError('CONFIG_INVALID', 'halo-keys.yaml has no kustomization section');
  return k;
}

function generatorId(ctx: StepContext): { name: string; namespace?: string } {
  const k = kustomization(ctx);
  return { name: k.secretName, ...(k.namespace ? { namespace: k.namespace } : {}) };
}

/** The SKID and fingerprint of the certificate the Secret holds now, if any. */
function currentSecretCertificate(ctx: StepContext): { skid?: string; fingerprintSha256: string } | undefined {
  const k = kustomization(ctx);
  if (!existsSync(k.dir) || !findKustomizationFile(k.dir)) return undefined;
  try {
    return readSecretFiles(k.dir, generatorId(ctx)).certificate;
  } catch (err) {
    if ((err as { code?: string }).code === 'GENERATOR_NOT_FOUND') return undefined;
    throw err;
  }
}

export const writeSecretStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const k = kustomization(ctx);
    const entry = stepEntry(ctx, step);
    const cert = s.material.certificate(entry);
    const current = currentSecretCertificate(ctx);
    if (current?.fingerprintSha256 === cert.fingerprintSha256) return `${k.dir} already holds the new certificate`;
    const update = tlsSecretUpdate({
      ...generatorId(ctx),
      certificateChain: cert.der,
      privateKey: s.material.privateKey(entry),
      ...(k.trustedRoots ? { trustedRoots: readFileBytes(k.trustedRoots, 'trusted roots bundle'), trustedRootsKey: k.trustedRootsName } : {}),
    });
    const result = updateSecretGenerators(k.dir, [update], { create: k.nameSuffixHash ? true : { generatorOptions: { disableNameSuffixHash: true } } });
    s.record({
      action: 'secret.write',
      resource: `${k.dir}#${k.secretName}`,
      ...auditIds(entry),
      before: current ? { skid: current.skid, fingerprint: current.fingerprintSha256 } : null,
      after: { skid: entry.skid, fingerprint: entry.fingerprint, generation: result.generation },
      outcome: 'ok',
    });
    return `wrote generation ${result.generation} of Secret ${k.secretName} in ${k.dir}`;
  },
  async preview(ctx) {
    const k = kustomization(ctx);
    const current = currentSecretCertificate(ctx);
    const keys = ['tls.crt', 'tls.key', ...(k.trustedRoots ? [k.trustedRootsName] : [])].join(', ');
    return `would write ${keys} of Secret ${k.secretName} in ${k.dir} (now: ${current ? `SKID ${current.skid ?? '-'}, sha256 ${current.fingerprintSha256.slice(0, 16)}…` : 'no such Secret yet'})`;
  },
};

export const applyStep: StepHandler = {
  async run(ctx, step) {
    const k = kustomization(ctx);
    const entry = stepEntry(ctx, step);
    // `apply: false` (or init --no-apply) after the journal was planned with apply on: nothing to run.
    if (k.apply.length === 0) {
      ctx.session.record({ action: 'secret.apply', resource: k.dir, ...auditIds(entry), outcome: 'skipped', detail: 'kustomization.apply is false' });
      return `not applied (kustomization.apply is false): apply ${k.dir} yourself`;
    }
    try {
      const result = await applyKustomization(k.dir, { applyCommand: k.apply });
      ctx.session.record({ action: 'secret.apply', resource: k.dir, ...auditIds(entry), outcome: 'ok', detail: result.objects.join('; ').slice(0, 500) });
      return result.objects.join('; ') || 'applied';
    } catch (err) {
      ctx.session.record({ action: 'secret.apply', resource: k.dir, ...auditIds(entry), outcome: 'failed', detail: (err as Error).message });
      throw err;
    }
  },
  async preview(ctx) {
    const k = kustomization(ctx);
    if (k.apply.length === 0) return `would not apply ${k.dir} (kustomization.apply is false)`;
    return `would run: ${[...k.apply, k.dir].join(' ')} (not run in a dry run)`;
  },
};

function parseEndpoint(text: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new RotationError('CONFIG_INVALID', `tls.endpoint "${text}" is not HOST:PORT`);
  return { host: m[1]!, port };
}

export const checkRolloutStep: StepHandler = {
  async run(ctx, step) {
    const s = ctx.session;
    const tls = s.config.tls;
    const entry = stepEntry(ctx, step);
    const previous = optionalEntry(ctx, step.previous);
    const endpoint = parseEndpoint(tls.endpoint!);
    const result = await waitForServedCertificate(
      { ...endpoint, ...(tls.endpointServerName ? { servername: tls.endpointServerName } : {}), trustedRoots: s.ca().certificate.der },
      { certificate: s.material.certificate(entry), ...(previous ? { previous: s.material.certificate(previous) } : {}) },
      { deadlineMs: tls.rolloutTimeoutMs, initialDelayMs: ctx.rolloutDelayMs ?? 2000, clock: { now: () => new Date() } },
    );
    const ok = result.status === 'served-new';
    s.record({
      action: 'tls.rollout-check',
      resource: tls.endpoint!,
      ...auditIds(entry),
      outcome: ok ? 'ok' : 'failed',
      detail: ok ? `served after ${result.attempts} attempt(s)` : result.status === 'unreachable' ? `unreachable: ${result.detail}` : `still serving ${result.served.skid ?? result.served.fingerprintSha256}`,
    });
    if (!ok) {
      throw new RotationError('STEP_FAILED', `${tls.endpoint} does not serve the new certificate yet (${result.status}); the old one stays active. Run rotate again once the rollout is done.`);
    }
    if (result.trust && !result.trust.authorized) {
      throw new RotationError('STEP_FAILED', `${tls.endpoint} serves the new certificate but it does not verify (${result.trust.error ?? 'untrusted'})`);
    }
    return `${tls.endpoint} serves SKID ${entry.skid}`;
  },
  async preview(ctx) {
    return `would connect to ${ctx.session.config.tls.endpoint} and wait up to ${formatDuration(ctx.session.config.tls.rolloutTimeoutMs)} for the new certificate`;
  },
};
