/**
 * Every command and flag of upstream's `MeasurementSystem` and
 * `EncryptionPublicKeys` (MeasurementSystem.kt, CreateMeasurementFlags.kt,
 * EncryptionPublicKeys.kt, common-jvm's TlsFlags) exists here under the same
 * names; the upstream commands left out are listed with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { buildProgram as buildEncryptionPublicKeys } from '../../src/cli/encryption-public-keys.js';
import { buildProgram as buildMeasurementSystem } from '../../src/cli/measurement-system.js';

/** Upstream's commands: path → flags and positional arguments (`<name>`). */
const MEASUREMENT_SYSTEM: Record<string, string[]> = {
  '': ['--tls-cert-file', '--tls-key-file', '--cert-collection-file', '--kingdom-public-api-target', '--kingdom-public-api-cert-host'],
  'accounts authenticate': ['--self-issued-openid-provider-key', '--siop-key'],
  'accounts activate': ['--id-token', '--activation-token', '<name>'],
  certificates: ['--api-key'],
  'certificates create': ['--parent', '--certificate'],
  'certificates revoke': ['--revocation-state', '<name>'],
  'public-keys': ['--api-key'],
  'public-keys update': ['--public-key', '--public-key-signature', '--certificate', '<name>'],
  'api-keys': ['--id-token'],
  'api-keys create': ['--measurement-consumer', '--nickname', '--description'],
  'measurement-consumers create': ['--creation-token', '--certificate', '--public-key', '--public-key-signature', '--display-name', '--id-token'],
  measurements: ['--api-key'],
  'measurements create': [
    '--measurement-consumer', '--request-id', '--private-key-der-file', '--measurement-ref-id', '--model-line',
    '--event-data-provider', '--event-filter', '--event-group', '--event-start-time', '--event-end-time', '--vid-sampling-start', '--vid-sampling-width',
    '--reach', '--reach-privacy-epsilon', '--reach-privacy-delta',
    '--reach-and-frequency', '--rf-reach-privacy-epsilon', '--rf-reach-privacy-delta', '--rf-frequency-privacy-epsilon', '--rf-frequency-privacy-delta', '--max-frequency',
    '--impression', '--impression-privacy-epsilon', '--impression-privacy-delta', '--max-frequency-per-user',
    '--duration', '--duration-privacy-epsilon', '--duration-privacy-delta', '--max-duration',
    '--report', '--cumulative', '--create-direct', '--direct-vid-sampling-width',
    '--population-filter', '--population-start-time', '--population-end-time', '--population-data-provider', '--population',
  ],
  'measurements list': ['--measurement-consumer'],
  'measurements get': ['--encryption-private-key-file', '<name>'],
  'measurements cancel': ['<name>'],
  'data-providers': ['--name'],
  'data-providers get': [],
  'data-providers replace-required-duchies': ['--required-duchies'],
  'data-providers update-capabilities': ['--hmss-supported', '--honest-majority-share-shuffle-supported', '--trus-tee-supported', '--noise-mechanism-deterministic-truncated-laplace-supported'],
};

/** Upstream commands with no counterpart, and why. */
const LEFT_OUT: Record<string, string> = {
  'client-accounts': 'the Kingdom does not serve ClientAccounts',
  'model-lines': 'VID models are not served',
  'model-releases': 'VID models are not served',
  'model-outages': 'VID models are not served',
  'model-shards': 'VID models are not served',
  'model-rollouts': 'VID models are not served',
  'model-suites': 'VID models are not served',
};

const ENCRYPTION_PUBLIC_KEYS: Record<string, string[]> = {
  serialize: ['--format', '--data', '--out', '-o'],
  deserialize: ['--in', '-i', '--out', '-o'],
  sign: ['--certificate', '--signing-key', '--signature-algorithm', '--in', '-i', '--out', '-o'],
};

function find(root: Command, path: string): Command | undefined {
  let cmd: Command | undefined = root;
  for (const name of path.split(' ').filter(Boolean)) cmd = cmd?.commands.find((c) => c.name() === name);
  return cmd;
}

function names(cmd: Command): Set<string> {
  const out = new Set<string>();
  for (const o of cmd.options) for (const flag of o.flags.split(/[ ,|]+/)) if (flag.startsWith('-')) out.add(flag);
  for (const a of cmd.registeredArguments) out.add(`<${a.name()}>`);
  return out;
}

function compare(program: Command, upstream: Record<string, string[]>): number {
  let flags = 0;
  for (const [path, expected] of Object.entries(upstream)) {
    const cmd = find(program, path);
    assert.ok(cmd, `${program.name()} ${path}: no such command`);
    const ours = names(cmd);
    for (const flag of expected) assert.ok(ours.has(flag), `${program.name()} ${path}: ${flag} missing (ours: ${[...ours].join(' ')})`);
    flags += expected.length;
  }
  return flags;
}

test("MeasurementSystem has upstream's commands and flags under upstream's names", () => {
  const program = buildMeasurementSystem();
  const flags = compare(program, MEASUREMENT_SYSTEM);
  for (const name of Object.keys(LEFT_OUT)) assert.equal(find(program, name), undefined, `${name} is listed as left out`);
  console.log(`MeasurementSystem: ${Object.keys(MEASUREMENT_SYSTEM).length} upstream commands, ${flags} flags and arguments present`);
  for (const [name, why] of Object.entries(LEFT_OUT)) console.log(`  left out: ${name}: ${why}`);
});

test("EncryptionPublicKeys has upstream's commands and flags under upstream's names", () => {
  const flags = compare(buildEncryptionPublicKeys(), ENCRYPTION_PUBLIC_KEYS);
  console.log(`EncryptionPublicKeys: ${Object.keys(ENCRYPTION_PUBLIC_KEYS).length} upstream commands, ${flags} flags present`);
});
