/**
 * `halo-keys kingdom ...`: run the Kingdom server, administer it, and check
 * its audit log. Everything heavy (the store, TLS, the services) is imported
 * inside the actions so `halo-keys --version` stays fast.
 */
import { type Command, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATA_DIR, parseListen, type ServeFlags } from '../../kingdom/index.js';
import { isoTime, positiveInt, resourceName } from '../option-values.js';
import { UsageError, output, setExitCode } from '../run.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Checked at parse time, so a bad address is a usage error (exit 2). */
function listenFlag(value: string): string {
  try {
    parseListen(value);
  } catch {
    throw new InvalidArgumentError('must be HOST:PORT or PORT (e.g. 127.0.0.1:8443)');
  }
  return value;
}

function sequence(value: string): bigint {
  if (!/^\d{1,19}$/.test(value)) throw new InvalidArgumentError('must be a non-negative integer');
  return BigInt(value);
}

const MODES = ['strict', 'compatible'];
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

const DATA_DIR_HELP = 'Kingdom data directory (default ./.data/kingdom)';

function registerServe(kingdom: Command): void {
  kingdom
    .command('serve')
    .description('Run the Kingdom public API (gRPC, gRPC-Web, Connect) over mutual TLS 1.3')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--listen <host:port>', 'address to listen on; a bare PORT means 127.0.0.1:PORT, port 0 picks a free one (default 127.0.0.1:8443)', listenFlag)
    .option('--database-url <url>', 'PostgreSQL instead of the embedded database (replicas may share one; default $HALO_KEYS_DATABASE_URL)')
    .option('--embedded-cache-mb <n>', "the embedded database's page cache in MiB: more memory, fewer re-reads from the OS (default 16; PostgreSQL's is 128)", positiveInt)
    .addOption(new Option('--mode <mode>', 'strict (default: checks upstream lacks) or compatible (upstream behaviour)').choices(MODES))
    .option('--tls-cert-file <pem>', 'server certificate chain (PEM); without it a development CA in the data dir issues one')
    .option('--tls-key-file <pem>', 'server private key (PEM)')
    .option('--trusted-roots <pem>', 'extra trusted client roots (PEM bundle; they name no principal until `admin akid set` maps one); repeatable', collect)
    .option('--metrics-listen <host:port>', 'also serve /healthz and /metrics over plain HTTP here (HOST:PORT or PORT)', listenFlag)
    .option('--max-message-bytes <n>', 'largest request message accepted (default 4194304)', positiveInt)
    .option('--max-certificate-bytes <n>', 'largest certificate DER accepted (default 65536)', positiveInt)
    .option('--tls-handshake-timeout-ms <n>', 'cut a TLS handshake not finished by then (default 10000)', positiveInt)
    .option('--max-pending-handshakes <n>', 'connections still in their handshake; past it the oldest is cut (default 256)', positiveInt)
    .option('--idle-timeout-ms <n>', 'close a connection with no traffic for this long (default 300000)', positiveInt)
    .option('--request-body-timeout-ms <n>', 'reset a call whose request has not ended by then (default 30000)', positiveInt)
    .option('--max-concurrent-streams <n>', 'HTTP/2 streams open at once per connection (default 100)', positiveInt)
    .option('--drain-timeout-ms <n>', 'how long shutdown waits for in-flight calls (default 10000)', positiveInt)
    .option('--trust-refresh-ms <n>', 'how often trusted roots are re-read from the database (default 30000)', positiveInt)
    .option('--open-id-redirect-uri <uri>', "audience of Accounts' self-issued OpenID ID tokens (upstream's --redirect-uri); without it the Account methods are refused")
    .addOption(new Option('--log-level <level>', 'pino log level (default info)').choices(LOG_LEVELS))
    .option('--config <yaml>', 'settings file (keys as the flags, e.g. listen:, databaseUrl:, trustedRoots:); flags win')
    .addHelpText(
      'after',
      `
With no TLS flags the first start creates, in the data dir: a development Kingdom CA,
a server certificate for localhost/127.0.0.1, kingdom_root.pem (give it to clients),
admin-token (mode 0600, printed once) and the embedded database (db/). While running,
server.json names the address and pid, and db/halo-keys.lock keeps every other process
off the embedded database. A port in use fails at once. SIGTERM or SIGINT drains calls and exits 0.

Examples:
  halo-keys kingdom serve
  halo-keys kingdom serve --data-dir /var/lib/kingdom --listen 0.0.0.0:8443 \\
    --database-url postgres://kingdom@db:5432/kingdom \\
    --tls-cert-file kingdom_tls.pem --tls-key-file kingdom_tls.key --trusted-roots all_root_certs.pem`,
    )
    .action(async (flags: ServeFlags) => {
      const { resolveServeConfig } = await import('../../kingdom/server/config.js');
      const config = resolveServeConfig(flags);
      // A taken port fails before the server's modules load (they take seconds on a busy host).
      const { checkListenable } = await import('../../kingdom/server/listen.js');
      await checkListenable(config.listen);
      const { serveKingdom, stopOnSignals } = await import('../../kingdom/server/serve.js');
      const { createLogger } = await import('../../kingdom/server/logger.js');
      const log = createLogger(config.logLevel);
      const running = await serveKingdom(config, { logger: log });
      const code = await stopOnSignals(running, log);
      log.flush();
      process.exitCode = code;
      // Nothing may keep the process alive after a drained shutdown.
      setImmediate(() => process.exit(code)).unref();
    });
}

interface AdminFlags {
  dataDir: string;
  target?: string;
  serverName?: string;
  kingdomRoot?: string;
  adminTokenFile?: string;
  databaseUrl?: string;
  mode?: string;
  json?: boolean;
}

interface CreateFlags {
  rootCert: string;
  certificate: string;
  publicKey?: string;
  publicKeySignature?: string;
  publicKeySignatureAlgorithm?: string;
  displayName?: string;
  duchyId?: string;
}

type PartyCommand = 'create-data-provider' | 'create-measurement-consumer' | 'create-model-provider' | 'create-duchy';

const PARTY_LABEL: Record<PartyCommand, string> = {
  'create-data-provider': 'DataProvider',
  'create-measurement-consumer': 'MeasurementConsumer',
  'create-model-provider': 'ModelProvider',
  'create-duchy': 'Duchy',
};

async function withAdmin<T>(cmd: Command, fn: (conn: import('./kingdom-admin-connection.js').AdminConnection, flags: AdminFlags) => Promise<T>): Promise<T> {
  const flags = cmd.optsWithGlobals<AdminFlags>();
  const { openAdminConnection } = await import('./kingdom-admin-connection.js');
  const conn = await openAdminConnection({ ...flags, dataDir: flags.dataDir ?? DEFAULT_DATA_DIR });
  try {
    return await fn(conn, flags);
  } finally {
    await conn.close();
  }
}

function registerAdmin(kingdom: Command): void {
  const admin = kingdom
    .command('admin')
    .description("The Kingdom operator's tasks: create participants, API keys, Accounts and creation tokens, the AKID-to-principal map")
    .option('--data-dir <dir>', DATA_DIR_HELP, DEFAULT_DATA_DIR)
    .option('--target <host:port>', 'a remote Kingdom instead of the data dir server (needs --kingdom-root and an admin token)')
    .option('--server-name <name>', 'name the server certificate was issued for, when not the target host')
    .option('--kingdom-root <pem>', 'root the server certificate chains to (default DIR/kingdom_root.pem)')
    .option('--admin-token-file <file>', 'admin bearer token (default DIR/admin-token or HALO_KEYS_ADMIN_TOKEN)')
    .option('--database-url <url>', 'with no server running: open this PostgreSQL database directly')
    .addOption(new Option('--mode <mode>', 'with no server running: strict (default) or compatible checks').choices(MODES))
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Talks to the server running on the data dir (DIR/server.json, DIR/admin-token), or to
--target HOST:PORT (with --kingdom-root and --admin-token-file); with no server running it
opens the data dir's store directly (the embedded database allows one process). A data dir
that holds no Kingdom is refused (exit 2), never created.
A participant's root is trusted for mTLS at once and its SKID mapped to the new principal.

Examples:
  halo-keys kingdom admin create-data-provider --root-cert edp1_root.pem --certificate edp1_cs_cert.der \\
    --public-key edp1_enc_public.bin --public-key-signature edp1_enc_public.sig --display-name "EDP 1"
  halo-keys kingdom admin create-duchy --duchy-id worker1 --root-cert worker1_root.pem --certificate worker1_cs_cert.der
  halo-keys kingdom admin create-api-key --measurement-consumer measurementConsumers/VCTqwV_vFXw
  halo-keys kingdom admin create-account --owned-measurement-consumer measurementConsumers/VCTqwV_vFXw
  halo-keys kingdom admin create-measurement-consumer-creation-token
  halo-keys kingdom admin akid list`,
    );

  for (const command of Object.keys(PARTY_LABEL) as PartyCommand[]) {
    const label = PARTY_LABEL[command];
    const hasKey = command === 'create-data-provider' || command === 'create-measurement-consumer';
    const sub = admin
      .command(command)
      .description(`Create a ${label} with its root, first certificate${hasKey ? ' and signed encryption public key' : ''}`)
      .requiredOption('--root-cert <file>', "the participant's root CA certificate (PEM or DER)")
      .requiredOption('--certificate <file>', 'its first leaf certificate (PEM or DER)')
      .option('--display-name <text>', 'display name');
    if (hasKey) {
      sub
        .requiredOption('--public-key <file>', 'serialized EncryptionPublicKey (as EncryptionPublicKeys serialize writes it)')
        .requiredOption('--public-key-signature <file>', 'raw signature over that file by the certificate key')
        .option('--public-key-signature-algorithm <name>', "e.g. ECDSA_WITH_SHA256 (default: from the certificate's key)");
    }
    if (command === 'create-duchy') sub.requiredOption('--duchy-id <id>', 'configured Duchy ID, e.g. worker1');
    sub.action(async (flags: CreateFlags, cmd: Command) => {
      await withAdmin(cmd, async (conn, global) => {
        const { buildRegistration } = await import('./kingdom-registration.js');
        const registration = buildRegistration(flags);
        let result: { name: string; certificate: string };
        switch (command) {
          case 'create-data-provider': {
            const r = await conn.client.admin.createDataProvider({ registration });
            result = { name: r.name, certificate: r.certificate };
            break;
          }
          case 'create-measurement-consumer': {
            const r = await conn.client.admin.createMeasurementConsumer({ registration });
            result = { name: r.name, certificate: r.certificate };
            break;
          }
          case 'create-model-provider': {
            const r = await conn.client.admin.createModelProvider({ registration });
            result = { name: r.name, certificate: '' };
            break;
          }
          case 'create-duchy': {
            const r = await conn.client.admin.createDuchy({ duchyId: flags.duchyId ?? '', registration });
            result = { name: r.name, certificate: r.preferredCertificate };
            break;
          }
        }
        output(global.json, result, () => result.name);
      });
    });
  }

  admin
    .command('create-api-key')
    .description('Issue an x-api-key for a MeasurementConsumer (shown once; the Kingdom keeps its SHA-256)')
    .requiredOption('--measurement-consumer <name>', 'measurementConsumers/...', resourceName)
    .option('--nickname <text>', 'nickname')
    .option('--description <text>', 'description')
    .action(async (flags: { measurementConsumer: string; nickname?: string; description?: string }, cmd: Command) => {
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.createApiKey({
          measurementConsumer: flags.measurementConsumer,
          nickname: flags.nickname ?? '',
          description: flags.description ?? '',
        });
        const value = { name: r.name, apiKey: r.authenticationKey };
        output(global.json, value, () => `${r.name}\nAPI key (shown once): ${r.authenticationKey}`);
      });
    });

  admin
    .command('create-account')
    .description('Create an Account for the OpenID Connect account flow (its activation token is shown once)')
    .option('--owned-measurement-consumer <name>', 'measurementConsumers/... the Account owns once activated', resourceName)
    .action(async (flags: { ownedMeasurementConsumer?: string }, cmd: Command) => {
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.createAccount({ ownedMeasurementConsumer: flags.ownedMeasurementConsumer ?? '' });
        const value = { name: r.name, activationToken: r.activationParams?.activationToken ?? '' };
        output(global.json, value, () => `${r.name}\nActivation token (shown once): ${value.activationToken}`);
      });
    });

  admin
    .command('create-measurement-consumer-creation-token')
    .description('Issue a one-time token an activated Account spends on CreateMeasurementConsumer (shown once)')
    .action(async (_flags: unknown, cmd: Command) => {
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.createMeasurementConsumerCreationToken({});
        const value = { measurementConsumerCreationToken: r.measurementConsumerCreationToken };
        output(global.json, value, () => `MeasurementConsumer creation token (shown once): ${value.measurementConsumerCreationToken}`);
      });
    });

  const akid = admin.command('akid').description('The map from client-certificate AKIDs to principals');
  akid
    .command('set')
    .description('Map an AKID (hex, or the SKID of --root-cert) to a principal')
    .option('--akid <hex>', 'authority key identifier in hex (colons allowed)')
    .option('--root-cert <file>', 'take the AKID from this root certificate (its SKID)')
    .requiredOption('--principal <name>', 'dataProviders/..., measurementConsumers/..., modelProviders/... or duchies/...', resourceName)
    .action(async (flags: { akid?: string; rootCert?: string; principal: string }, cmd: Command) => {
      const { akidFromFlags } = await import('./kingdom-registration.js');
      const id = akidFromFlags(flags);
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.setAkidPrincipal({ akidPrincipal: { authorityKeyIdentifier: id, principal: flags.principal } });
        const value = { akid: Buffer.from(r.authorityKeyIdentifier).toString('hex'), principal: r.principal };
        output(global.json, value, () => `${value.akid} -> ${value.principal}`);
      });
    });
  akid
    .command('list')
    .description('List the AKID-to-principal map')
    .action(async (_flags: unknown, cmd: Command) => {
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.listAkidPrincipals({});
        const value = r.akidPrincipals.map((e) => ({ akid: Buffer.from(e.authorityKeyIdentifier).toString('hex'), principal: e.principal }));
        output(global.json, value, () => value.map((e) => `${e.akid}  ${e.principal}`).join('\n'));
      });
    });
  akid
    .command('remove')
    .description('Remove the mapping of an AKID')
    .option('--akid <hex>', 'authority key identifier in hex')
    .option('--root-cert <file>', 'take the AKID from this root certificate (its SKID)')
    .action(async (flags: { akid?: string; rootCert?: string }, cmd: Command) => {
      const { akidFromFlags } = await import('./kingdom-registration.js');
      const id = akidFromFlags(flags);
      await withAdmin(cmd, async (conn, global) => {
        const r = await conn.client.admin.removeAkidPrincipal({ authorityKeyIdentifier: id });
        const value = { akid: Buffer.from(r.authorityKeyIdentifier).toString('hex'), principal: r.principal };
        output(global.json, value, () => `removed ${value.akid}${value.principal ? ` (was ${value.principal})` : ''}`);
      });
    });

  admin
    .command('rotate-admin-token')
    .description('Make a new admin token (DIR/admin-token, mode 0600, and its SHA-256), audited; the old one stops working')
    .addHelpText(
      'after',
      `
For a token that was never seen, was lost, or may have leaked. Runs on the Kingdom host
(--data-dir, not --target). With the server stopped it records the rotation in the audit
log and the server uses the new token when started. With the server running, the server
re-reads DIR/admin-token.sha256 on its next admin call and audits the change; this command
makes that call with the new token, so when it returns the server accepts it.

Example:
  halo-keys kingdom admin rotate-admin-token --data-dir /var/lib/kingdom`,
    )
    .action(async (_flags: unknown, cmd: Command) => {
      const flags = cmd.optsWithGlobals<AdminFlags>();
      const { rotateAdminTokenOfDataDir } = await import('./kingdom-admin-token.js');
      const r = await rotateAdminTokenOfDataDir({ ...flags, dataDir: flags.dataDir ?? DEFAULT_DATA_DIR });
      output(flags.json, r, () =>
        [
          `New admin token (shown once; also in ${r.tokenFile}, mode 0600): ${r.token}`,
          r.serverPid === undefined
            ? 'Recorded in the audit log; the server uses it from its next start.'
            : `The running Kingdom server (pid ${r.serverPid}) accepts it now; the old token no longer works.`,
        ].join('\n'),
      );
    });
}

interface AuditFlags {
  dataDir: string;
  databaseUrl?: string;
  json?: boolean;
}

function registerAudit(kingdom: Command): void {
  const audit = kingdom
    .command('audit')
    .description("Check and export the Kingdom's hash-chained audit log")
    .option('--data-dir <dir>', DATA_DIR_HELP, DEFAULT_DATA_DIR)
    .option('--database-url <url>', 'read this PostgreSQL database instead of DIR/db')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Reads the database directly: with the embedded database, stop the server first
(one process at a time: a running server makes this exit 1); PostgreSQL can be read
while servers run. A data dir that holds no Kingdom is refused, never created.

Examples:
  halo-keys kingdom audit verify
  halo-keys kingdom audit export --format csv --since 2026-01-01T00:00:00Z > audit.csv
  halo-keys kingdom audit export --after-seq 120`,
    );
  audit
    .command('verify')
    .description('Recompute the hash chain; exit 3 at the first broken entry')
    .action(async (_flags: unknown, cmd: Command) => {
      const global = cmd.optsWithGlobals<AuditFlags>();
      const { openAuditStore } = await import('./kingdom-audit.js');
      const store = await openAuditStore(global);
      try {
        const v = await store.verifyAuditChain();
        if (!v.ok) {
          output(global.json, { ok: false, seq: v.seq, problem: v.problem }, () => '');
          process.stderr.write(`halo-keys: audit chain broken at entry ${v.seq}: ${v.problem}\n`);
          setExitCode(3);
          return;
        }
        output(global.json, { ok: true, count: v.count, headHash: Buffer.from(v.headHash).toString('hex') }, () =>
          `audit chain intact: ${v.count} entries, head ${Buffer.from(v.headHash).toString('hex')}`,
        );
      } finally {
        await store.close();
      }
    });
  audit
    .command('export')
    .description('Print audit entries (JSON lines or CSV)')
    .option('--format <format>', 'json (one object per line) or csv', 'json')
    .option('--since <iso-time>', 'only entries at or after this time (as halo-keys audit export --since)', isoTime)
    .option('--after-seq <seq>', 'only entries after this sequence number', sequence)
    .action(async (flags: { format: string; since?: Date; afterSeq?: bigint }, cmd: Command) => {
      if (flags.format !== 'json' && flags.format !== 'csv') throw new UsageError('--format must be json or csv');
      const global = cmd.optsWithGlobals<AuditFlags>();
      const { openAuditStore, auditCsv, auditJsonLines } = await import('./kingdom-audit.js');
      const store = await openAuditStore(global);
      try {
        const entries = await store.exportAudit({
          ...(flags.afterSeq !== undefined ? { since: flags.afterSeq } : {}),
          ...(flags.since !== undefined ? { sinceTime: flags.since } : {}),
        });
        process.stdout.write(flags.format === 'csv' ? auditCsv(entries) : auditJsonLines(entries));
      } finally {
        await store.close();
      }
    });
}

export function registerKingdomCommands(program: Command): void {
  const kingdom = program
    .command('kingdom')
    .description('The Kingdom key service: serve the CMMS public API, administer it, audit it')
    .addHelpText('after', '\nExamples:\n  halo-keys kingdom serve\n  halo-keys kingdom admin akid list\n  halo-keys kingdom audit verify');
  registerServe(kingdom);
  registerAdmin(kingdom);
  registerAudit(kingdom);
}
