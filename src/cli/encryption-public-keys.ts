/**
 * `EncryptionPublicKeys`: upstream's tool for `EncryptionPublicKey` messages
 * (serialize, deserialize, sign) with the same flags, file formats and output
 * lines, so scripts written for it run unchanged; plus verify, generate and
 * inspect. It needs no server.
 */
import { existsSync } from 'node:fs';
import { fromBinary, toBinary, create } from '@bufbuild/protobuf';
import { Command, Option } from 'commander';
import {
  CryptoError,
  assertKeyMatchesCertificate,
  publicKeyFromCertificate,
  describeKeyset,
  describeKeysetInfo,
  type KeysetDescription,
  readEncryptedKeysetInfo,
  readKeyset,
  saveKeyset,
  DEFAULT_KEY_TEMPLATE,
  generateKeyset,
  assertPublicKeyset,
  detectKeysetFormat,
  parseKeyset,
  publicKeyset,
  serializeKeyset,
  type Keyset,
  defaultSignatureAlgorithm,
  describeSignatureAlgorithm,
  SIGNATURE_ALGORITHM_NAMES,
  signatureAlgorithmFromIdentifier,
  type SignatureAlgorithm,
  signBytes,
  verifyBytes,
} from '../crypto/index.js';
import {
  EncryptionPublicKeySchema,
  EncryptionPublicKey_Format,
  type EncryptionPublicKey,
} from '../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { readFileBytes, writeFileAtomic } from '../lib/files.js';
import { addCompletionCommand } from './completion.js';
import { keyTemplateName } from './name-option-values.js';
import { configureProgram, output, picocliShortOptionValues, runProgram, UsageError } from './run.js';
import { PASSPHRASE_ENV, parseSignatureAlgorithmOption, readCertificateFile, readPassphrase, readSigningKeyFile } from './signing-files.js';
import { VERSION } from './version.js';

const PROGRAM = 'EncryptionPublicKeys';

/** Upstream's `EncryptionPublicKey.Format` names: its picocli takes any of them, case-sensitively. */
const FORMAT_NAMES = ['FORMAT_UNSPECIFIED', 'TINK_KEYSET'] as const;

/** A public Tink keyset ready to go into `EncryptionPublicKey.data`; refuses private and JSON keysets. */
export function readPublicKeysetData(bytes: Uint8Array, path: string): Uint8Array {
  if (bytes.length > 0 && detectKeysetFormat(bytes) === 'json') {
    throw new CryptoError(
      'KEYSET_MALFORMED',
      `${path}: is a Tink JSON keyset; EncryptionPublicKey data must be a binary keyset (write one with halo-keys keyset public)`,
    );
  }
  try {
    assertPublicKeyset(parseKeyset(bytes, { format: 'binary' }));
  } catch (err) {
    if (err instanceof CryptoError) {
      const hint = err.code === 'KEYSET_HAS_SECRET' ? ' (give the public keyset, e.g. *_enc_public.tink)' : '';
      throw new CryptoError(err.code, `${path}: ${err.message}${hint}`, { cause: err });
    }
    throw err;
  }
  return bytes;
}

/** The serialized `EncryptionPublicKey{format, data}`: `08 01 12 <len> <data>` for a Tink keyset. */
export function serializeEncryptionPublicKey(data: Uint8Array, format = EncryptionPublicKey_Format.TINK_KEYSET): Uint8Array {
  return toBinary(EncryptionPublicKeySchema, create(EncryptionPublicKeySchema, { format, data }));
}

export interface ParsedEncryptionPublicKey {
  message: EncryptionPublicKey;
  keyset: Keyset;
}

/**
 * Parses a serialized `EncryptionPublicKey` strictly: no unknown fields, a
 * TINK_KEYSET format (any format with `anyFormat`) and a public-only binary
 * keyset in `data`. Errors name `path`.
 */
export function parseEncryptionPublicKey(bytes: Uint8Array, path: string, { anyFormat = false } = {}): ParsedEncryptionPublicKey {
  let message: EncryptionPublicKey;
  try {
    message = fromBinary(EncryptionPublicKeySchema, bytes);
  } catch (err) {
    throw new CryptoError('MESSAGE_MALFORMED', `${path}: not a serialized EncryptionPublicKey`, { cause: err });
  }
  if ((message.$unknown?.length ?? 0) > 0) {
    throw new CryptoError('MESSAGE_MALFORMED', `${path}: not a serialized EncryptionPublicKey (unknown fields)`);
  }
  if (!anyFormat && message.format !== EncryptionPublicKey_Format.TINK_KEYSET) {
    const name = EncryptionPublicKey_Format[message.format] ?? String(message.format);
    throw new CryptoError('MESSAGE_MALFORMED', `${path}: EncryptionPublicKey format ${name} is not supported (TINK_KEYSET expected)`);
  }
  if (message.data.length === 0) throw new CryptoError('MESSAGE_MALFORMED', `${path}: EncryptionPublicKey has no data`);
  let keyset: Keyset;
  try {
    keyset = parseKeyset(message.data, { format: 'binary' });
    assertPublicKeyset(keyset);
  } catch (err) {
    if (err instanceof CryptoError) throw new CryptoError(err.code, `${path}: EncryptionPublicKey data: ${err.message}`, { cause: err });
    throw err;
  }
  return { message, keyset };
}

/** Reads and strictly parses a serialized EncryptionPublicKey file; returns its exact bytes too. */
export function readEncryptionPublicKeyFile(
  path: string,
  what = 'EncryptionPublicKey',
  options?: { anyFormat?: boolean },
): ParsedEncryptionPublicKey & { bytes: Uint8Array } {
  const bytes = readFileBytes(path, what);
  return { bytes, ...parseEncryptionPublicKey(bytes, path, options) };
}

/** The algorithm CMMS verifiers use for a SignedMessage with an empty OID, or why there is none. */
function certificateFallback(identifier: Parameters<typeof signatureAlgorithmFromIdentifier>[0]): SignatureAlgorithm | string {
  try {
    return signatureAlgorithmFromIdentifier(identifier);
  } catch (err) {
    if (err instanceof CryptoError) return err.message;
    throw err;
  }
}

/** Inspection of a file that is an EncryptionPublicKey, or a keyset in any form we read. */
export interface Inspection extends KeysetDescription {
  file: string;
  /** `EncryptionPublicKey`, or the keyset form: `binary`, `json`, `encrypted binary`, `encrypted (metadata only)`, ... */
  kind: string;
  format?: string;
  bytes: number;
}

function inspectBytes(path: string, bytes: Uint8Array, passphrase: string | undefined): Inspection {
  // A binary keyset whose primary id is 1 starts with the same `08 01 12` as an
  // EncryptionPublicKey, so try the stricter reading first and fall back.
  let asKey: ParsedEncryptionPublicKey | undefined;
  try {
    asKey = parseEncryptionPublicKey(bytes, path);
  } catch {
    asKey = undefined;
  }
  if (asKey) {
    return { file: path, kind: 'EncryptionPublicKey', format: 'TINK_KEYSET', bytes: bytes.length, ...describeKeyset(asKey.keyset) };
  }
  const info = passphrase === undefined ? readEncryptedKeysetInfo(bytes) : undefined;
  if (info) return { file: path, kind: 'encrypted keyset (metadata only)', bytes: bytes.length, ...describeKeysetInfo(info) };
  let loaded;
  try {
    loaded = readKeyset(bytes, passphrase === undefined ? {} : { passphrase });
  } catch (err) {
    if (err instanceof CryptoError && (err.code === 'KEYSET_MALFORMED' || err.code === 'KEYSET_INVALID')) {
      throw new CryptoError('MESSAGE_MALFORMED', `${path}: neither a serialized EncryptionPublicKey nor a Tink keyset (${err.message})`, { cause: err });
    }
    if (err instanceof CryptoError) throw new CryptoError(err.code, `${path}: ${err.message}`, { cause: err });
    throw err;
  }
  return { file: path, kind: `${loaded.encrypted ? 'encrypted ' : ''}${loaded.format} keyset`, bytes: bytes.length, ...describeKeyset(loaded.keyset) };
}

function inspectionText(i: Inspection): string {
  const head =
    i.kind === 'EncryptionPublicKey'
      ? `${i.file}: EncryptionPublicKey, format ${i.format}, ${i.bytes} bytes; keyset primary key ${i.primaryKeyId}`
      : `${i.file}: ${i.kind}, primary key ${i.primaryKeyId}`;
  return [
    head,
    ...i.keys.map(
      (k) =>
        `  key ${k.keyId}${k.primary ? ' (primary)' : ''}: ${k.status} ${k.outputPrefixType} ${k.keyType}` +
        `${k.keyMaterialType ? ` ${k.keyMaterialType}` : ''}${k.template ? ` ${k.template}` : ''}`,
    ),
  ].join('\n');
}

function refuseOverwrite(path: string, force: boolean | undefined): void {
  if (!force && existsSync(path)) throw new UsageError(`${path} already exists; pass --force to replace it`);
}

export function buildProgram(): Command {
  const program = configureProgram(new Command(PROGRAM))
    .description('Utility for EncryptionPublicKey messages')
    .version(VERSION)
    .addHelpText(
      'after',
      `
Exit codes: 0 ok, 1 failure, 2 usage error.

Example (the CMMS rotation procedure):
  EncryptionPublicKeys serialize --data edp1_enc_public.tink --out edp1_enc_public.pb
  EncryptionPublicKeys sign --certificate edp1_cs_cert.der --signing-key edp1_cs_private.der \\
    --in edp1_enc_public.pb --out edp1_enc_public.sig`,
    );

  program
    .command('serialize')
    .description('write a serialized EncryptionPublicKey holding a public Tink keyset')
    .addOption(new Option('--format <format>', 'EncryptionPublicKey format').choices(FORMAT_NAMES).default('TINK_KEYSET'))
    .requiredOption('--data <file>', 'file containing format-specific key data (a binary public Tink keyset)')
    .requiredOption('-o, --out <file>', 'output file')
    .option('--json', 'print what was written as JSON (upstream prints nothing)')
    .addHelpText(
      'after',
      `
The output is EncryptionPublicKey{format, data} in protobuf binary form; the
keyset bytes are kept exactly as read. A private or JSON keyset is refused.

Example:
  EncryptionPublicKeys serialize --data=edp1_enc_public.tink --out=edp1_enc_public.pb`,
    )
    .action((opts: { format: (typeof FORMAT_NAMES)[number]; data: string; out: string; json?: boolean }) => {
      const format = EncryptionPublicKey_Format[opts.format];
      const data = readPublicKeysetData(readFileBytes(opts.data, 'key data'), opts.data);
      const message = serializeEncryptionPublicKey(data, format);
      writeFileAtomic(opts.out, message);
      output(opts.json, { out: opts.out, format: EncryptionPublicKey_Format[format], bytes: message.length }, () => '');
    });

  program
    .command('deserialize')
    .description('write the key data (the Tink keyset) of a serialized EncryptionPublicKey')
    .requiredOption('-i, --in <file>', 'serialized EncryptionPublicKey')
    .requiredOption('-o, --out <file>', 'output file')
    .option('--json', 'print what was written as JSON (upstream prints nothing)')
    .addHelpText(
      'after',
      `
Whatever the format field says (serialize --format FORMAT_UNSPECIFIED leaves
it out), the data is written, as upstream does; it must be a public binary
Tink keyset.

Example:
  EncryptionPublicKeys deserialize --in edp1_enc_public.pb --out edp1_enc_public.tink`,
    )
    .action((opts: { in: string; out: string; json?: boolean }) => {
      const { message } = readEncryptionPublicKeyFile(opts.in, 'EncryptionPublicKey', { anyFormat: true });
      writeFileAtomic(opts.out, message.data);
      output(opts.json, { out: opts.out, format: EncryptionPublicKey_Format[message.format], bytes: message.data.length }, () => '');
    });

  program
    .command('sign')
    .description("sign a serialized EncryptionPublicKey's exact bytes with a certificate's private key")
    .requiredOption('--certificate <file>', 'X.509 certificate in DER or PEM format')
    .requiredOption('--signing-key <file>', 'signing key: PKCS#8 DER (also PEM, or encrypted PKCS#8 with a passphrase)')
    .requiredOption('-i, --in <file>', 'input serialized EncryptionPublicKey message')
    .requiredOption('-o, --out <file>', 'output file (the raw signature; DER for ECDSA)')
    .addOption(new Option('--signature-algorithm <name>', 'default: the key type with SHA-256').choices(SIGNATURE_ALGORITHM_NAMES))
    .option('--passphrase-file <file>', `passphrase of an encrypted signing key (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Prints "Signature algorithm: NAME (OID)". The OID is not written to any file;
pass it to MeasurementSystem public-keys update --public-key-signature-algorithm.
The signing key must belong to the certificate.

Example:
  EncryptionPublicKeys sign --certificate edp1_cs_cert.der --signing-key edp1_cs_private.der \\
    --in edp1_enc_public.pb --out edp1_enc_public.sig`,
    )
    .action((opts: { certificate: string; signingKey: string; in: string; out: string; signatureAlgorithm?: string; passphraseFile?: string; json?: boolean }) => {
      const algorithmOption = parseSignatureAlgorithmOption(opts.signatureAlgorithm);
      const { bytes } = readEncryptionPublicKeyFile(opts.in, 'input');
      const certificate = readCertificateFile(opts.certificate);
      const key = readSigningKeyFile(opts.signingKey, opts.passphraseFile);
      try {
        assertKeyMatchesCertificate(key, certificate);
      } catch (err) {
        if (err instanceof CryptoError) throw new CryptoError(err.code, `${opts.signingKey}: ${err.message} (certificate ${opts.certificate})`, { cause: err });
        throw err;
      }
      const algorithm = algorithmOption ?? defaultSignatureAlgorithm(key);
      const signature = signBytes(bytes, key, algorithm);
      writeFileAtomic(opts.out, signature);
      output(opts.json, { out: opts.out, signatureAlgorithm: algorithm.name, signatureAlgorithmOid: algorithm.oid }, () => `Signature algorithm: ${describeSignatureAlgorithm(algorithm)}`);
      const fallback = certificateFallback(certificate.signatureAlgorithm);
      if (typeof fallback === 'string' || fallback.oid !== algorithm.oid) {
        const what = typeof fallback === 'string' ? `none (${fallback})` : describeSignatureAlgorithm(fallback);
        process.stderr.write(
          `note: without the OID, verifiers use the certificate's signature algorithm: ${what}; pass --public-key-signature-algorithm ${algorithm.name} to public-keys update\n`,
        );
      }
    });

  program
    .command('verify')
    .description('verify a signature over a serialized EncryptionPublicKey against a certificate')
    .requiredOption('--certificate <file>', 'X.509 certificate of the signer (DER or PEM)')
    .requiredOption('-i, --in <file>', 'serialized EncryptionPublicKey')
    .requiredOption('--signature <file>', 'the raw signature (DER for ECDSA)')
    .addOption(
      new Option('--signature-algorithm <name>', "default: the certificate's own signature algorithm, as CMMS does for an empty OID").choices(SIGNATURE_ALGORITHM_NAMES),
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit 0 and "Signature OK" when the signature verifies; exit 1 and one line
saying why when it does not.

Example:
  EncryptionPublicKeys verify --certificate edp1_cs_cert.der --in edp1_enc_public.pb --signature edp1_enc_public.sig`,
    )
    .action((opts: { certificate: string; in: string; signature: string; signatureAlgorithm?: string; json?: boolean }) => {
      const algorithmOption = parseSignatureAlgorithmOption(opts.signatureAlgorithm);
      const { bytes } = readEncryptionPublicKeyFile(opts.in, 'input');
      const certificate = readCertificateFile(opts.certificate);
      const publicKey = publicKeyFromCertificate(certificate);
      const signature = readFileBytes(opts.signature, 'signature');
      const algorithm = algorithmOption ?? signatureAlgorithmFromIdentifier(certificate.signatureAlgorithm);
      try {
        verifyBytes(bytes, signature, publicKey, algorithm);
      } catch (err) {
        if (err instanceof CryptoError && err.code === 'SIGNATURE_INVALID') {
          throw new CryptoError(err.code, `${opts.signature}: ${err.message} (certificate ${opts.certificate}, ${algorithm.name})`, { cause: err });
        }
        throw err;
      }
      output(opts.json, { verified: true, signatureAlgorithm: algorithm.name, signatureAlgorithmOid: algorithm.oid }, () =>
        `Signature OK\nSignature algorithm: ${describeSignatureAlgorithm(algorithm)}`,
      );
    });

  program
    .command('generate')
    .description('generate a new private Tink keyset and its public keyset (and optionally the serialized EncryptionPublicKey)')
    .requiredOption('--private-out <file>', 'private keyset file (mode 0600; encrypted when a passphrase is given)')
    .requiredOption('--public-out <file>', 'public keyset file (binary)')
    .option('--encryption-public-key-out <file>', 'also write the serialized EncryptionPublicKey (what sign takes)')
    .option('--template <name>', 'Tink key template', keyTemplateName, DEFAULT_KEY_TEMPLATE)
    .option('--passphrase-file <file>', `encrypt the private keyset with this passphrase (or set ${PASSPHRASE_ENV})`)
    .option('--force', 'replace existing output files')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Without a passphrase the private keyset is a cleartext binary Tink keyset
(mode 0600), the form CMMS deployments load as *_enc_private.tink; a note says
so on stderr. Existing files are never replaced without --force.

Example:
  EncryptionPublicKeys generate --private-out edp1_enc_private.tink --public-out edp1_enc_public.tink \\
    --encryption-public-key-out edp1_enc_public.pb`,
    )
    .action(
      (opts: { privateOut: string; publicOut: string; encryptionPublicKeyOut?: string; template: string; passphraseFile?: string; force?: boolean; json?: boolean }) => {
        for (const path of [opts.privateOut, opts.publicOut, opts.encryptionPublicKeyOut]) if (path) refuseOverwrite(path, opts.force);
        const passphrase = readPassphrase(opts.passphraseFile);
        const keyset = generateKeyset(opts.template);
        const publicKeys = publicKeyset(keyset);
        const publicBytes = serializeKeyset(publicKeys);
        saveKeyset(opts.privateOut, keyset, passphrase === undefined ? {} : { protection: { passphrase } });
        writeFileAtomic(opts.publicOut, publicBytes);
        if (opts.encryptionPublicKeyOut) writeFileAtomic(opts.encryptionPublicKeyOut, serializeEncryptionPublicKey(publicBytes));
        if (passphrase === undefined) {
          process.stderr.write(
            `note: ${opts.privateOut} holds an unencrypted private keyset (mode 0600); set ${PASSPHRASE_ENV} or --passphrase-file to encrypt it\n`,
          );
        }
        const result = {
          keyId: keyset.primaryKeyId,
          template: opts.template,
          privateKeyset: opts.privateOut,
          encrypted: passphrase !== undefined,
          publicKeyset: opts.publicOut,
          ...(opts.encryptionPublicKeyOut ? { encryptionPublicKey: opts.encryptionPublicKeyOut } : {}),
        };
        output(opts.json, result, () =>
          [
            `Key id: ${keyset.primaryKeyId} (${opts.template})`,
            `Private keyset: ${opts.privateOut}${passphrase !== undefined ? ' (encrypted)' : ''}`,
            `Public keyset: ${opts.publicOut}`,
            ...(opts.encryptionPublicKeyOut ? [`EncryptionPublicKey: ${opts.encryptionPublicKeyOut}`] : []),
          ].join('\n'),
        );
      },
    );

  program
    .command('inspect')
    .description('show format, key ids, primary and template of an EncryptionPublicKey or a keyset (no key material)')
    .argument('<file>', 'serialized EncryptionPublicKey, or a Tink keyset (binary, JSON or encrypted)')
    .option('--passphrase-file <file>', 'passphrase of an encrypted keyset (without it, its cleartext metadata is shown)')
    .option('--json', 'print JSON')
    .addHelpText('after', `\nExample:\n  EncryptionPublicKeys inspect edp1_enc_public.pb --json`)
    .action((file: string, opts: { passphraseFile?: string; json?: boolean }) => {
      const bytes = readFileBytes(file, 'input');
      const inspection = inspectBytes(file, bytes, readPassphrase(opts.passphraseFile));
      output(opts.json, inspection, () => inspectionText(inspection));
    });

  return addCompletionCommand(program);
}

export function main(argv: readonly string[]): Promise<number> {
  return runProgram(buildProgram(), picocliShortOptionValues(argv));
}
