/**
 * `halo-keys config show | set | unset`: read and change the keyring's
 * settings in halo-keys.yaml (Kingdom target and roots, Kustomization,
 * policy) without editing the file by hand. A change is checked as every
 * command reads the file, written atomically and audited (`config.set`).
 */
import type { Command } from 'commander';
import { output, UsageError } from '../run.js';
import { type StateFlags, addStateOptions, openSession } from './keyring.js';

/** `a.b.c: value` lines of a nested document; lists as `x, y`. */
function flatten(value: unknown, prefix = ''): Array<[string, string]> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  return [[prefix, Array.isArray(value) ? value.join(', ') : String(value)]];
}

async function settings(dir: string) {
  const { join } = await import('node:path');
  const { parse } = await import('yaml');
  const { readFileBytes } = await import('../../lib/files.js');
  const { CONFIG_FILE, loadConfig } = await import('../../rotation/config.js');
  const { formatDuration } = await import('../../lib/duration.js');
  const config = loadConfig(dir);
  const file = join(config.dir, CONFIG_FILE);
  const raw = parse(Buffer.from(readFileBytes(file, CONFIG_FILE)).toString('utf8')) as Record<string, unknown>;
  // The policy as it applies (defaults included), durations as the file writes them.
  const kind = (k: 'tls' | 'signing' | 'encryption') => {
    const p = config.policy[k];
    return { every: formatDuration(p.everyMs), jitter: formatDuration(p.jitterMs), minRemaining: formatDuration(p.minRemainingMs), ...(p.fraction !== undefined ? { fraction: p.fraction } : {}) };
  };
  const policy = {
    tls: kind('tls'),
    signing: kind('signing'),
    encryption: kind('encryption'),
    overdueAfter: formatDuration(config.policy.overdueAfterMs),
    encryptionGrace: formatDuration(config.policy.encryptionGraceMs),
    retiredCertificates: config.policy.retiredCertificates,
  };
  return { file, settings: { ...raw, policy } };
}

function parseAssignments(pairs: readonly string[]): Array<{ key: string; value: string }> {
  return pairs.map((pair) => {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`"${pair}" is not KEY=VALUE (e.g. kingdom.target=kingdom.example.com:8443)`);
    return { key: pair.slice(0, eq), value: pair.slice(eq + 1) };
  });
}

async function change(flags: StateFlags, changes: ReadonlyArray<{ key: string; value?: string }>): Promise<void> {
  const session = await openSession(flags);
  const { editConfig } = await import('../../rotation/config-edit.js');
  const { RotationError } = await import('../../rotation/errors.js');
  let applied;
  try {
    applied = editConfig(session, changes);
  } catch (err) {
    if (err instanceof RotationError && err.code === 'CONFIG_INVALID') throw new UsageError(err.message);
    throw err;
  }
  const show = (v: unknown) => (v === undefined || v === null ? '(unset)' : Array.isArray(v) ? v.join(', ') : String(v));
  output(flags.json, { changed: applied }, () => applied.map((a) => `${a.key}: ${show(a.before)} -> ${show(a.after)}`).join('\n'));
}

export function registerConfigCommands(program: Command): void {
  const config = program
    .command('config')
    .description("show or change the keyring's settings in halo-keys.yaml (checked as init checks them, atomic, audited)")
    .addHelpText(
      'after',
      `
Examples:
  halo-keys config show --dir edp1
  halo-keys config set --dir edp1 kingdom.target=kingdom.example.com:8443 kingdom.trustedRoots=kingdom_root.pem
  halo-keys config set --dir edp1 policy.encryption.every=14d kustomization.apply=false
  halo-keys config unset --dir edp1 kustomization.namespace`,
    );

  addStateOptions(config.command('show').description('every setting, the policy as it applies (defaults included)').option('--json', 'print JSON')).action(
    async (flags: StateFlags) => {
      const s = await settings(flags.dir);
      output(flags.json, s, () => [`# ${s.file}`, ...flatten(s.settings).map(([k, v]) => `${k}: ${v}`)].join('\n'));
    },
  );

  addStateOptions(
    config
      .command('set')
      .description('change settings: KEY=VALUE... (lists comma-separated; kustomization.apply=false or an argv)')
      .argument('<assignments...>', 'e.g. kingdom.target=host:8443 policy.tls.every=60d')
      .option('--json', 'print JSON')
      .addHelpText(
        'after',
        `
Keys: subject, tls.{dnsNames,ipAddresses,days,endpoint,endpointServerName,rolloutTimeout},
signing.{days,pkcs11.uri,pkcs11.module},
kingdom.{target,trustedRoots,serverName,clientCertificate,clientKey,apiKeyFile,timeout},
kustomization.{dir,secretName,trustedRoots,trustedRootsName,apply,render,namespace},
policy.{tls,signing,encryption}.{every,jitter,minRemaining,fraction}, policy.{overdueAfter,
encryptionGrace,retiredCertificates}, compromise.{trustedRoots,requisitionSpecs,eventGroupMetadata}.
Paths are taken relative to the current directory. The whole file is checked before it is
written; a bad value is a usage error and changes nothing.`,
      ),
  ).action(async (assignments: string[], flags: StateFlags) => change(flags, parseAssignments(assignments)));

  addStateOptions(
    config
      .command('unset')
      .description('remove optional settings (the default applies again)')
      .argument('<keys...>', 'e.g. kustomization.namespace policy.tls.fraction')
      .option('--json', 'print JSON'),
  ).action(async (keys: string[], flags: StateFlags) => change(flags, keys.map((key) => ({ key }))));
}
