/**
 * `halo-keys init | import | register | sync`: create or adopt a
 * participant keyring (see src/rotation) and tie it to its Kingdom
 * registration. Private keys are encrypted with the passphrase from
 * `--passphrase-file` or HALO_KEYS_PASSPHRASE. Also the options and helpers
 * the other keyring commands (status, plan, rotate, audit, agent) share.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { Clock } from '../../lib/index.js';
import type { KeyringSession } from '../../rotation/index.js';
import { checkOption, collect, isoTime } from '../option-values.js';
import { UsageError, output } from '../run.js';

export { setExitCode } from '../run.js';
/** Other command groups take `--at`/`--since` times from here too. */
export { isoTime } from '../option-values.js';

/** `value` as one shell word: bare when it holds only safe characters, else single-quoted. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}

export interface StateFlags {
  dir: string;
  passphraseFile?: string;
  at?: Date;
  json?: boolean;
  /** `--rehearsal DIR` (commands that write): act on a copy of the keyring made there. */
  rehearsal?: string;
}

/** `--dir`, `--passphrase-file`, `--at` (another instant; HALO_KEYS_NOW does the same; see writableState). */
export function addStateOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'the keyring state directory (default: $HALO_KEYS_DIR or .)', process.env.HALO_KEYS_DIR ?? '.')
    .option('--passphrase-file <file>', 'file whose first line is the keyring passphrase (default: $HALO_KEYS_PASSPHRASE)')
    .option('--at <iso-time>', 'act as if it were this instant (default: $HALO_KEYS_NOW or now); commands that write need --rehearsal DIR with it', isoTime);
}

export async function clockFor(flags: Pick<StateFlags, 'at'>): Promise<Clock> {
  const { ManualClock, systemClock } = await import('../../lib/clock.js');
  if (flags.at) return new ManualClock(flags.at);
  const env = process.env.HALO_KEYS_NOW;
  if (env) {
    const t = new Date(env);
    if (Number.isNaN(t.getTime())) throw new UsageError(`HALO_KEYS_NOW="${env}" is not an ISO 8601 time`);
    return new ManualClock(t);
  }
  return systemClock;
}

export async function openSession(flags: StateFlags, where?: { dir: string; clock: Clock }): Promise<KeyringSession> {
  const { KeyringSession } = await import('../../rotation/session.js');
  const { resolveKeyringPassphrase } = await import('../../rotation/keyring-files.js');
  const { dir, clock } = where ?? { dir: flags.dir, clock: await clockFor(flags) };
  return KeyringSession.open(dir, { clock, passphrase: () => resolveKeyringPassphrase(flags.passphraseFile) });
}

/** `--rehearsal DIR`, for the commands that may write at another instant on a copy. */
export function addRehearsalOption(cmd: Command): Command {
  return cmd.option('--rehearsal <dir>', 'act on a copy of the keyring made in DIR (required to write with --at or HALO_KEYS_NOW): no kubectl apply, no rollout check, no Kingdom (so TLS only)');
}

/**
 * Where a command that writes acts. Now: the keyring itself. At another
 * instant (`--at`, HALO_KEYS_NOW): only a rehearsal copy, made in
 * `--rehearsal DIR`, since keys issued for a later instant are unusable now.
 */
export async function writableState(flags: StateFlags, command: string, rehearsable = false): Promise<{ dir: string; clock: Clock }> {
  const clock = await clockFor(flags);
  const { loadConfig } = await import('../../rotation/config.js');
  const config = loadConfig(flags.dir);
  if (flags.rehearsal !== undefined) {
    const { rehearsalCopy } = await import('../../rotation/rehearsal.js');
    const dir = rehearsalCopy(config, flags.rehearsal, clock.now());
    process.stderr.write(`halo-keys: rehearsal at ${clock.now().toISOString()} on the copy in ${dir}; the keyring in ${config.dir} is untouched\n`);
    return { dir, clock };
  }
  const otherInstant = flags.at !== undefined || !!process.env.HALO_KEYS_NOW;
  if (otherInstant && !config.rehearsalOf) {
    throw new UsageError(
      `${command} at ${clock.now().toISOString()} would write into the keyring in ${flags.dir} state that may not be valid now: ${rehearsable ? 'add --rehearsal DIR to act on a copy' : 'run it without --at or HALO_KEYS_NOW'} (status, plan and rotate --dry-run take --at as they are)`,
    );
  }
  return { dir: flags.dir, clock };
}

/** init and import: an earlier instant backdates the new keyring; a later one would make certificates not valid yet. */
async function newKeyringClock(flags: StateFlags): Promise<Clock> {
  const clock = await clockFor(flags);
  if (clock.now().getTime() > Date.now() + 60_000) {
    throw new UsageError(`${clock.now().toISOString()} is later than now: the new certificates would not be valid yet (an earlier --at backdates a new keyring; rehearse later instants with rotate --rehearsal DIR)`);
  }
  return clock;
}

/** A session for a command that writes (see writableState). */
export async function openWritingSession(flags: StateFlags, command: string, rehearsable = false): Promise<KeyringSession> {
  return openSession(flags, await writableState(flags, command, rehearsable));
}

interface InitFlags extends StateFlags {
  participant: string;
  subject?: string;
  dns: string[];
  ip: string[];
  endpoint?: string;
  createCa?: boolean;
  caSubject?: string;
  kingdomTarget?: string;
  kingdomRoots?: string;
  kingdomServerName?: string;
  apiKeyFile?: string;
  kustomizationDir?: string;
  secretName?: string;
  trustedRoots?: string;
  apply?: boolean;
}

function addConfigOptions(cmd: Command): Command {
  return cmd
    .requiredOption('--participant <name>', 'dataProviders/{id}, measurementConsumers/{id}, modelProviders/{id}, duchies/{id}, kingdom, or a collection (e.g. dataProviders) before registration')
    .option('--subject <subject>', 'subject of new leaves, e.g. "/O=Edp1/CN=edp1.example.com"')
    .option('--dns <name>', 'DNS name for the TLS certificate (repeatable)', collect, [])
    .option('--ip <address>', 'IP address for the TLS certificate (repeatable)', collect, [])
    .option('--endpoint <host:port>', 'endpoint that must serve the new TLS certificate after a rotation')
    .option('--kingdom-target <host:port>', 'the Kingdom public API')
    .option('--kingdom-roots <file>', "PEM bundle of the Kingdom's root (e.g. kingdom_root.pem)")
    .option('--kingdom-server-name <name>', "name the Kingdom's certificate must match, when not the target host")
    .option('--api-key-file <file>', 'file holding the x-api-key (MeasurementConsumers)')
    .option('--kustomization-dir <dir>', 'Kustomization directory of the TLS Secret')
    .option('--secret-name <name>', 'name of the TLS secretGenerator (with --kustomization-dir)')
    .option('--trusted-roots <file>', 'PEM bundle written into the Secret as all_root_certs.pem')
    .option('--no-apply', 'no cluster from here: write the Secret into the Kustomization and leave kubectl apply -k to you (kustomization.apply: false)');
}

/** `--participant` as a keyring names it (checked here, not while parsing: the config module is heavy for --help). */
async function checkParticipant(name: string): Promise<void> {
  const { participantKindOf } = await import('../../rotation/config.js');
  checkOption('--participant <name>', name, (value) => {
    if (!participantKindOf(value)) {
      throw new InvalidArgumentError('must be dataProviders/{id}, measurementConsumers/{id}, modelProviders/{id}, duchies/{id}, kingdom, or a bare collection');
    }
  });
}

async function configValues(flags: InitFlags, subjectRequired: boolean) {
  const names = await import('../name-option-values.js');
  await checkParticipant(flags.participant);
  if (flags.subject !== undefined) checkOption('--subject <subject>', flags.subject, names.subject);
  for (const dns of flags.dns) checkOption('--dns <name>', dns, names.dnsName);
  for (const ip of flags.ip) checkOption('--ip <address>', ip, names.ipAddress);
  if (flags.dns.length + flags.ip.length === 0) throw new UsageError('give at least one --dns or --ip for the TLS certificate');
  if (subjectRequired && !flags.subject) throw new UsageError('--subject is required');
  if ((flags.kingdomTarget === undefined) !== (flags.kingdomRoots === undefined)) throw new UsageError('--kingdom-target and --kingdom-roots go together');
  if ((flags.kustomizationDir === undefined) !== (flags.secretName === undefined)) throw new UsageError('--kustomization-dir and --secret-name go together');
  const { resolve } = await import('node:path');
  const abs = (p: string) => resolve(p);
  return {
    participant: flags.participant,
    subject: flags.subject ?? '',
    dnsNames: flags.dns,
    ipAddresses: flags.ip,
    ...(flags.endpoint ? { endpoint: flags.endpoint } : {}),
    ...(flags.kingdomTarget
      ? {
          kingdom: {
            target: flags.kingdomTarget,
            trustedRoots: abs(flags.kingdomRoots!),
            ...(flags.kingdomServerName ? { serverName: flags.kingdomServerName } : {}),
            ...(flags.apiKeyFile ? { apiKeyFile: abs(flags.apiKeyFile) } : {}),
          },
        }
      : {}),
    ...(flags.kustomizationDir
      ? {
          kustomization: {
            dir: abs(flags.kustomizationDir),
            secretName: flags.secretName!,
            ...(flags.trustedRoots ? { trustedRoots: abs(flags.trustedRoots) } : {}),
            ...(flags.apply === false ? { apply: false as const } : {}),
          },
        }
      : {}),
  };
}

/**
 * The values checked exactly as halo-keys.yaml is when read, so a bad flag
 * value (say a --secret-name Kubernetes refuses) is a usage error before
 * anything is created.
 */
async function checkConfigValues(values: Awaited<ReturnType<typeof configValues>>, dir: string): Promise<void> {
  const { parseConfig, renderConfig } = await import('../../rotation/config.js');
  const { RotationError } = await import('../../rotation/errors.js');
  const { resolve } = await import('node:path');
  try {
    // import may take the subject from the signing certificate later; the rest is checked now.
    parseConfig(renderConfig({ ...values, subject: values.subject || '/CN=-' }), resolve(dir));
  } catch (err) {
    if (err instanceof RotationError && err.code === 'CONFIG_INVALID') throw new UsageError(err.message);
    throw err;
  }
}

function summary(session: KeyringSession) {
  return {
    dir: session.dir,
    participant: session.participant,
    entries: session.keyring.entries.map((e) => ({ id: e.id, kind: e.kind, state: e.state, skid: e.skid, fingerprint: e.fingerprint, tinkKeyId: e.tinkKeyId, notAfter: e.notAfter })),
  };
}

function summaryText(session: KeyringSession): string {
  return [
    `keyring ${session.dir} for ${session.participant}`,
    ...session.keyring.entries.map((e) => `  ${e.kind.padEnd(10)} ${e.state.padEnd(8)} ${e.id}  ${e.skid ? `SKID ${e.skid}` : `Tink key ${e.tinkKeyId}`}`),
  ].join('\n');
}

export function registerKeyringCommands(program: Command): void {
  addConfigOptions(
    addStateOptions(
      program
        .command('init')
        .description('create a participant keyring: config, CA (with --create-ca), TLS and signing certificates, encryption key')
        .option('--create-ca', 'create a root CA in <dir>/ca when there is none')
        .option('--ca-subject <subject>', 'subject of the new root (default: the leaf subject with " Root CA")')
        .option('--json', 'print JSON'),
    ),
  ).action(async (flags: InitFlags) => {
    const values = await configValues(flags, true);
    await checkConfigValues(values, flags.dir);
    const { initKeyring } = await import('../../rotation/keyring-init.js');
    const { resolveKeyringPassphrase } = await import('../../rotation/keyring-files.js');
    const session = initKeyring({
      dir: flags.dir,
      clock: await newKeyringClock(flags),
      passphrase: () => resolveKeyringPassphrase(flags.passphraseFile),
      config: values,
      ...(flags.createCa ? { createCa: { subject: flags.caSubject ?? `${flags.subject} Root CA` } } : {}),
    });
    output(flags.json, summary(session), () => summaryText(session));
  });

  addConfigOptions(
    addStateOptions(
      program
        .command('import')
        .description('adopt existing keys and certificates (e.g. the CMMS test PKI) into a new keyring, encrypting every private key')
        .option('--root-cert <file>', "the participant's root certificate (PEM or DER)")
        .option('--root-key <file>', 'its private key, so the keyring can issue new leaves')
        .option('--signing-cert <file>', 'consent-signaling certificate, e.g. edp1_cs_cert.der')
        .option('--signing-key <file>', 'its private key, e.g. edp1_cs_private.der')
        .option('--tls-cert <file>', 'TLS certificate, e.g. edp1_tls.pem')
        .option('--tls-key <file>', 'TLS private key, e.g. edp1_tls.key')
        .option('--encryption-keyset <file>', 'private Tink keyset, e.g. edp1_enc_private.tink')
        .option('--signing-certificate-name <name>', 'the Kingdom Certificate the signing certificate is registered as')
        .option('--json', 'print JSON'),
    ),
  ).action(async (flags: InitFlags & Record<string, string | undefined>) => {
    const values = await configValues(flags, false);
    await checkConfigValues(values, flags.dir);
    const { importKeyring } = await import('../../rotation/keyring-init.js');
    const { resolveKeyringPassphrase } = await import('../../rotation/keyring-files.js');
    const session = importKeyring({
      dir: flags.dir,
      clock: await newKeyringClock(flags),
      passphrase: () => resolveKeyringPassphrase(flags.passphraseFile),
      config: values,
      files: {
        ...(flags.rootCert ? { rootCertificate: flags.rootCert } : {}),
        ...(flags.rootKey ? { rootKey: flags.rootKey } : {}),
        ...(flags.signingCert ? { signingCertificate: flags.signingCert } : {}),
        ...(flags.signingKey ? { signingKey: flags.signingKey } : {}),
        ...(flags.tlsCert ? { tlsCertificate: flags.tlsCert } : {}),
        ...(flags.tlsKey ? { tlsKey: flags.tlsKey } : {}),
        ...(flags.encryptionKeyset ? { encryptionKeyset: flags.encryptionKeyset } : {}),
        ...(flags.signingCertificateName ? { signingCertificateName: flags.signingCertificateName } : {}),
      },
    });
    output(flags.json, summary(session), () => summaryText(session));
  });

  addStateOptions(
    program
      .command('register')
      .description("register the keyring's participant with the Kingdom (operator: KingdomAdmin, admin token), then sync")
      .requiredOption('--admin-token-file <file>', "the Kingdom operator's admin token (DATA_DIR/admin-token)")
      .option('--display-name <name>', 'display name at the Kingdom')
      .option('--json', 'print JSON'),
  ).action(async (flags: StateFlags & { adminTokenFile: string; displayName?: string }) => {
    const session = await openWritingSession(flags, 'register');
    const k = session.config.kingdom;
    if (!k) throw new UsageError('halo-keys.yaml names no kingdom');
    const { readFileBytes } = await import('../../lib/files.js');
    const { createKingdomClient } = await import('../../client/index.js');
    const { registrationMaterial, syncWithKingdom } = await import('../../rotation/registration.js');
    const { connectKingdom } = await import('../../rotation/kingdom-connect.js');
    const m = registrationMaterial(session);
    const admin = createKingdomClient({
      target: k.target,
      trustedRoots: readFileBytes(k.trustedRoots, 'Kingdom trusted roots'),
      adminToken: Buffer.from(readFileBytes(flags.adminTokenFile, 'admin token file')).toString('utf8').trim(),
      ...(k.serverName ? { serverName: k.serverName } : {}),
    }).admin;
    const registration = {
      rootCertificateDer: m.rootCertificateDer,
      certificateDer: m.certificateDer,
      displayName: flags.displayName ?? session.config.subject,
      ...(m.publicKey ? { publicKey: m.publicKey } : {}),
    };
    let name: string;
    switch (session.config.participantKind) {
      case 'dataProvider':
        name = (await admin.createDataProvider({ registration })).name;
        break;
      case 'measurementConsumer':
        name = (await admin.createMeasurementConsumer({ registration })).name;
        break;
      case 'modelProvider':
        name = (await admin.createModelProvider({ registration })).name;
        break;
      default:
        throw new UsageError(`register supports DataProviders, MeasurementConsumers and ModelProviders; register a ${session.config.participantKind} with halo-keys kingdom admin`);
    }
    session.record({ action: 'participant.register', resource: name, outcome: 'ok' });
    const result = await syncWithKingdom(session, connectKingdom(session), name);
    output(flags.json, result, () => `registered ${name}\n${result.registered.map((r) => `  ${r.entry} -> ${r.certificate}`).join('\n')}`);
  });

  addStateOptions(
    program
      .command('registration')
      .description('write what the Kingdom operator needs to register this participant (root, first certificate, signed public key) and the command to run')
      .requiredOption('--out-dir <dir>', 'where to write root.pem, signing_cert.der, encryption_public_key.bin and .sig')
      .option('--kingdom-data-dir <dir>', "the Kingdom's data dir, for the printed operator command (default: a placeholder the operator must fill in)")
      .option('--json', 'print JSON'),
  ).action(async (flags: StateFlags & { outDir: string; kingdomDataDir?: string }) => {
    const session = await openSession(flags);
    const { registrationMaterial } = await import('../../rotation/registration.js');
    const { mkdirSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { writeFileAtomic } = await import('../../lib/files.js');
    const { encodePem } = await import('../../lib/pem.js');
    const m = registrationMaterial(session);
    mkdirSync(flags.outDir, { recursive: true });
    const files: Record<string, string> = { rootCert: join(flags.outDir, 'root.pem'), certificate: join(flags.outDir, 'signing_cert.der') };
    writeFileAtomic(files.rootCert!, encodePem('CERTIFICATE', m.rootCertificateDer));
    writeFileAtomic(files.certificate!, m.certificateDer);
    if (m.publicKey && m.encryptionPublicKey) {
      files.publicKey = join(flags.outDir, 'encryption_public_key.bin');
      files.publicKeySignature = join(flags.outDir, 'encryption_public_key.sig');
      writeFileAtomic(files.publicKey, m.encryptionPublicKey);
      writeFileAtomic(files.publicKeySignature, m.publicKey.signature);
    }
    const kind = session.config.participantKind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    // Runs as printed: the data dir names the operator's Kingdom (an unfilled <placeholder> is a shell error, never a new Kingdom).
    const command = [
      'halo-keys kingdom admin',
      `--data-dir ${flags.kingdomDataDir !== undefined ? shellWord(flags.kingdomDataDir) : '<KINGDOM_DATA_DIR>'}`,
      `create-${kind}`,
      `--root-cert ${shellWord(files.rootCert!)}`,
      `--certificate ${shellWord(files.certificate!)}`,
      ...(files.publicKey ? [`--public-key ${shellWord(files.publicKey)}`, `--public-key-signature ${shellWord(files.publicKeySignature!)}`] : []),
    ].join(' ');
    const sync = `halo-keys sync --dir ${shellWord(flags.dir)} --participant <NAME>`;
    output(flags.json, { files, command, sync }, () => `wrote ${Object.values(files).join(', ')}
the Kingdom operator registers it with:
  ${command}
which prints its name (e.g. ${session.config.participant}/AAAAAAAAAHs); then, with that name:
  ${sync}`);
  });

  addStateOptions(
    program
      .command('sync')
      .description('record what the Kingdom shows for this participant (its name, Certificate names, the published key)')
      .option('--participant <name>', 'the registered name, e.g. dataProviders/AAAAAAAAAHs')
      .option('--json', 'print JSON'),
  ).action(async (flags: StateFlags & { participant?: string }) => {
    if (flags.participant !== undefined) await checkParticipant(flags.participant);
    const session = await openWritingSession(flags, 'sync');
    const { syncWithKingdom } = await import('../../rotation/registration.js');
    const { connectKingdom } = await import('../../rotation/kingdom-connect.js');
    const result = await syncWithKingdom(session, connectKingdom(session), flags.participant);
    output(flags.json, result, () =>
      [
        `synced ${result.participant}`,
        ...result.registered.map((r) => `  ${r.entry} -> ${r.certificate}`),
        result.publication ? `  published: Tink key ${result.publication.primaryKeyId} under ${result.publication.certificate}` : '  published key: not one of this keyring',
      ].join('\n'),
    );
  });
}
