/**
 * `halo-keys keyset generate|public|inspect`, `halo-keys encrypt` and
 * `halo-keys decrypt`: Tink keysets and hybrid encryption from the shell.
 * Crypto modules are imported inside the actions so `--help` and
 * `--version` start fast.
 */
import type { Command } from 'commander';
import { checkOption } from '../option-values.js';
import { UsageError, output } from '../run.js';

const PASSPHRASE_ENV = 'HALO_KEYS_PASSPHRASE';

interface SecretOptions {
  passphraseFile?: string;
}

/** The passphrase from --passphrase-file or HALO_KEYS_PASSPHRASE (never from a flag value, which `ps` would show). */
async function passphraseOf(opts: SecretOptions): Promise<string | undefined> {
  if (opts.passphraseFile) {
    const { readFileBytes } = await import('../../lib/files.js');
    const text = new TextDecoder().decode(readFileBytes(opts.passphraseFile, 'passphrase file')).replace(/\r?\n$/, '');
    if (!text) throw new UsageError(`passphrase file ${opts.passphraseFile} is empty`);
    return text;
  }
  const env = process.env[PASSPHRASE_ENV];
  return env ? env : undefined;
}

function hexOption(value: string | undefined, flag: string): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(value)) throw new UsageError(`${flag} must be an even number of hex digits`);
  return new Uint8Array(Buffer.from(value, 'hex'));
}

const PASSPHRASE_HELP = `--passphrase-file FILE or ${PASSPHRASE_ENV} supplies the passphrase of encrypted private keysets`;

export function registerKeysetCommands(program: Command): void {
  const keyset = program
    .command('keyset')
    .description('Tink keysets: generate, extract the public keyset, inspect')
    .addHelpText('after', `\nExample:\n  halo-keys keyset generate --out mc_enc_private.tink --public-out mc_enc_public.tink`);

  keyset
    .command('generate')
    .description('generate a private keyset with one primary key')
    .option('--template <name>', 'Tink key template', 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM')
    .requiredOption('--out <file>', 'private keyset file (mode 0600)')
    .option('--public-out <file>', 'also write the public keyset here')
    .option('--json-format', 'write Tink JSON instead of binary')
    .option('--passphrase-file <file>', `encrypt the private keyset with the passphrase in this file (or set ${PASSPHRASE_ENV})`)
    .option('--insecure-plaintext', 'write the private keyset unencrypted even when a passphrase is available')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
The private keyset is encrypted at rest (AES-256-GCM, scrypt-derived key,
stored as a Tink EncryptedKeyset) when a passphrase is given. Without one it
is written as a cleartext Tink keyset with mode 0600, which is what CMMS
deployments load (*_enc_private.tink), and a note is printed on stderr.

Templates: ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM (CMMS default),
  ECIES_P256_HKDF_HMAC_SHA256_AES256_GCM, ECIES_P256_COMPRESSED_HKDF_HMAC_SHA256_AES128_GCM,
  ECIES_P256_HKDF_HMAC_SHA256_AES128_CTR_HMAC_SHA256,
  DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_128_GCM, DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM,
  DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_128_GCM, DHKEM_P256_HKDF_SHA256_HKDF_SHA256_AES_256_GCM;
  each also with a _RAW suffix (no output prefix).

Example:
  halo-keys keyset generate --out demo_enc_private.tink --public-out demo_enc_public.tink
  HALO_KEYS_PASSPHRASE=... halo-keys keyset generate --template DHKEM_X25519_HKDF_SHA256_HKDF_SHA256_AES_256_GCM --out hmss.tink`,
    )
    .action(async (opts: { template: string; out: string; publicOut?: string; jsonFormat?: boolean; insecurePlaintext?: boolean; json?: boolean } & SecretOptions) => {
      const { generateKeyset } = await import('../../crypto/keyset-templates.js');
      checkOption('--template <name>', opts.template, (await import('../name-option-values.js')).keyTemplateName);
      const { publicKeyset } = await import('../../crypto/keyset.js');
      const { saveKeyset } = await import('../../crypto/keyset-io.js');
      const format = opts.jsonFormat ? 'json' : 'binary';
      const passphrase = opts.insecurePlaintext ? undefined : await passphraseOf(opts);
      const ks = generateKeyset(opts.template);
      saveKeyset(opts.out, ks, { format, ...(passphrase ? { protection: { passphrase } } : {}) });
      if (!passphrase && !opts.insecurePlaintext) {
        process.stderr.write(`halo-keys: note: ${opts.out} holds an unencrypted private keyset (mode 0600); set ${PASSPHRASE_ENV} or --passphrase-file to encrypt it\n`);
      }
      if (opts.publicOut) saveKeyset(opts.publicOut, publicKeyset(ks), { format });
      const result = { keyId: ks.primaryKeyId, template: opts.template, out: opts.out, encrypted: Boolean(passphrase), ...(opts.publicOut ? { publicOut: opts.publicOut } : {}) };
      output(
        opts.json,
        result,
        () => `generated key ${ks.primaryKeyId} (${opts.template}) in ${opts.out}${passphrase ? ' (encrypted)' : ''}${opts.publicOut ? `; public keyset in ${opts.publicOut}` : ''}`,
      );
    });

  keyset
    .command('public')
    .description('write the public keyset of a private keyset')
    .requiredOption('--in <file>', 'private keyset (binary, JSON or encrypted)')
    .requiredOption('--out <file>', 'public keyset file')
    .option('--json-format', 'write Tink JSON instead of binary')
    .option('--passphrase-file <file>', 'passphrase of an encrypted private keyset')
    .option('--json', 'print JSON')
    .addHelpText('after', `\n${PASSPHRASE_HELP}.\n\nExample:\n  halo-keys keyset public --in mc_enc_private.tink --out mc_enc_public.tink`)
    .action(async (opts: { in: string; out: string; jsonFormat?: boolean; json?: boolean } & SecretOptions) => {
      const { publicKeyset } = await import('../../crypto/keyset.js');
      const { loadKeyset, saveKeyset } = await import('../../crypto/keyset-io.js');
      const loaded = loadKeyset(opts.in, { passphrase: await passphraseOf(opts) });
      saveKeyset(opts.out, publicKeyset(loaded.keyset), { format: opts.jsonFormat ? 'json' : 'binary' });
      output(opts.json, { out: opts.out, primaryKeyId: loaded.keyset.primaryKeyId }, () => `wrote public keyset ${opts.out}`);
    });

  keyset
    .command('inspect')
    .description('show key ids, primary, type, output prefix, status and template (no key material)')
    .argument('<file>', 'keyset file (binary, JSON or encrypted)')
    .option('--json', 'print JSON')
    .option('--passphrase-file <file>', 'passphrase of an encrypted keyset (without it, its cleartext metadata is shown)')
    .addHelpText('after', `\nExample:\n  halo-keys keyset inspect mc_enc_public.tink --json`)
    .action(async (file: string, opts: { json?: boolean } & SecretOptions) => {
      const { readFileBytes } = await import('../../lib/files.js');
      const { readKeyset, readEncryptedKeysetInfo } = await import('../../crypto/keyset-io.js');
      const { describeKeyset, describeKeysetInfo } = await import('../../crypto/keyset-describe.js');
      const bytes = readFileBytes(file, 'keyset');
      const passphrase = await passphraseOf(opts);
      const info = passphrase ? undefined : readEncryptedKeysetInfo(bytes);
      let description;
      let form: string;
      if (info) {
        description = describeKeysetInfo(info);
        form = 'encrypted (metadata only)';
      } else {
        const loaded = readKeyset(bytes, { passphrase });
        description = describeKeyset(loaded.keyset);
        form = `${loaded.encrypted ? 'encrypted ' : ''}${loaded.format}`;
      }
      output(opts.json, { file, form, ...description }, () =>
        [
          `${file}: ${form} keyset, primary key ${description.primaryKeyId}`,
          ...description.keys.map(
            (k) =>
              `  key ${k.keyId}${k.primary ? ' (primary)' : ''}: ${k.status} ${k.outputPrefixType} ${k.keyType}${k.keyMaterialType ? ` ${k.keyMaterialType}` : ''}${k.template ? ` ${k.template}` : ''}`,
          ),
        ].join('\n'),
      );
    });

  program
    .command('encrypt')
    .description('hybrid-encrypt a file to the primary key of a public keyset (Tink wire format)')
    .requiredOption('--keyset <file>', 'public keyset (binary or JSON)')
    .requiredOption('--in <file>', 'plaintext file')
    .requiredOption('--out <file>', 'ciphertext file')
    .option('--context-info <hex>', 'context info bound to the ciphertext (CMMS uses none)')
    .option('--json', 'print what was written as JSON (nothing is printed without it)')
    .addHelpText('after', `\nExample:\n  halo-keys encrypt --keyset mc_enc_public.tink --in spec.bin --out spec.enc`)
    .action(async (opts: { keyset: string; in: string; out: string; contextInfo?: string; json?: boolean }) => {
      const contextInfo = hexOption(opts.contextInfo, '--context-info');
      const { readFileBytes, writeFileAtomic } = await import('../../lib/files.js');
      const { loadKeyset } = await import('../../crypto/keyset-io.js');
      const { encrypt } = await import('../../crypto/hybrid.js');
      const { keyset: ks } = loadKeyset(opts.keyset, { passphrase: process.env[PASSPHRASE_ENV] || undefined });
      const ciphertext = encrypt(ks, readFileBytes(opts.in, 'input file'), contextInfo);
      writeFileAtomic(opts.out, ciphertext);
      output(opts.json, { out: opts.out, bytes: ciphertext.length, primaryKeyId: ks.primaryKeyId }, () => '');
    });

  program
    .command('decrypt')
    .description('decrypt a Tink hybrid ciphertext with a private keyset')
    .requiredOption('--keyset <file>', 'private keyset (binary, JSON or encrypted)')
    .requiredOption('--in <file>', 'ciphertext file')
    .requiredOption('--out <file>', 'plaintext file (mode 0600)')
    .option('--context-info <hex>', 'context info the ciphertext was made with')
    .option('--passphrase-file <file>', 'passphrase of an encrypted private keyset')
    .option('--json', 'print what was written as JSON (nothing is printed without it)')
    .addHelpText('after', `\n${PASSPHRASE_HELP}.\n\nExample:\n  halo-keys decrypt --keyset mc_enc_private.tink --in spec.enc --out spec.bin`)
    .action(async (opts: { keyset: string; in: string; out: string; contextInfo?: string; json?: boolean } & SecretOptions) => {
      const contextInfo = hexOption(opts.contextInfo, '--context-info');
      const { readFileBytes, writeSecretFile } = await import('../../lib/files.js');
      const { loadKeyset } = await import('../../crypto/keyset-io.js');
      const { decrypt } = await import('../../crypto/hybrid.js');
      const { keyset: ks } = loadKeyset(opts.keyset, { passphrase: await passphraseOf(opts) });
      const plaintext = decrypt(ks, readFileBytes(opts.in, 'input file'), contextInfo);
      writeSecretFile(opts.out, plaintext);
      output(opts.json, { out: opts.out, bytes: plaintext.length }, () => '');
    });
}
