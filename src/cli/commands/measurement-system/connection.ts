/**
 * Upstream's `MeasurementSystem` global flags (`--tls-cert-file`,
 * `--tls-key-file`, `--cert-collection-file`, `--kingdom-public-api-target`,
 * `--kingdom-public-api-cert-host`) turned into a Kingdom client, with file
 * errors that name the flag to fix.
 */
import { ConnectError } from '@connectrpc/connect';
import type { Command } from 'commander';
import { createKingdomClient, KingdomClientError, resolveTarget, toKingdomClientError, type KingdomClient } from '../../../client/index.js';
import {
  readCertificateInfo,
  CryptoError,
  assertKeyMatchesCertificate,
  isEncryptedPrivateKey,
  loadPrivateKey,
} from '../../../crypto/index.js';
import { HaloError, readFileBytes, encodePem } from '../../../lib/index.js';
import { readCertificatesFile, PkiError, TrustStore } from '../../../pki/index.js';
import { UsageError } from '../../run.js';
import { PASSPHRASE_ENV, readPassphrase } from '../../signing-files.js';

export interface GlobalOptions {
  tlsCertFile?: string;
  tlsKeyFile?: string;
  tlsKeyPassphraseFile?: string;
  certCollectionFile?: string;
  kingdomPublicApiTarget: string;
  kingdomPublicApiCertHost?: string;
}

/** Adds the global flags to the program, with upstream's names. */
export function addGlobalOptions(program: Command): Command {
  return program
    .option('--tls-cert-file <file>', "client's own TLS certificate (PEM; DER accepted)")
    .option('--tls-key-file <file>', "client's own TLS private key (PKCS#8 PEM; DER, SEC1 and encrypted PKCS#8 accepted)")
    .option('--tls-key-passphrase-file <file>', `passphrase of an encrypted --tls-key-file (or set ${PASSPHRASE_ENV})`)
    .option('--cert-collection-file <file>', "trusted root certificates (PEM bundle): the Kingdom's root, and the roots of parties whose results you verify")
    .option('--kingdom-public-api-target <target>', 'HOST:PORT of the Kingdom public API server (required)')
    .option('--kingdom-public-api-cert-host <host>', "expected DNS name (or IP) in the Kingdom's TLS certificate, when not the target host")
    .hook('preAction', (root, action) => {
      // Required by every command that talks to the Kingdom; `completion` talks to none.
      if (action.name() !== 'completion' && root.opts<GlobalOptions>().kingdomPublicApiTarget === undefined) {
        root.error("error: required option '--kingdom-public-api-target <target>' not specified", { code: 'commander.missingMandatoryOptionValue' });
      }
    });
}

export function globalOptions(command: Command): GlobalOptions {
  let root = command;
  while (root.parent) root = root.parent;
  return root.opts<GlobalOptions>();
}

function inFlag<T>(flag: string, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CryptoError) throw new CryptoError(err.code, `${flag} ${path}: ${err.message}`, { cause: err });
    throw err;
  }
}

/** The trusted roots of `--cert-collection-file`, required for every call. */
export function readCertCollection(opts: GlobalOptions): { pem: string; trustStore: TrustStore } {
  if (!opts.certCollectionFile) {
    throw new UsageError("--cert-collection-file is required: the PEM root(s) the Kingdom's TLS certificate chains to (e.g. kingdom_root.pem)");
  }
  let certificates;
  try {
    certificates = readCertificatesFile(opts.certCollectionFile, 'certificate collection');
  } catch (err) {
    if (err instanceof PkiError) throw new PkiError(err.code, `--cert-collection-file ${err.message}`, { cause: err });
    throw err;
  }
  const trustStore = new TrustStore(certificates);
  if (trustStore.size === 0) throw new UsageError(`--cert-collection-file ${opts.certCollectionFile} holds no certificate`);
  return { pem: certificates.map((c) => encodePem('CERTIFICATE', c.der)).join(''), trustStore };
}

function readClientIdentity(opts: GlobalOptions): { certificate: string; key: string } | undefined {
  if (opts.tlsCertFile === undefined && opts.tlsKeyFile === undefined) return undefined;
  if (opts.tlsCertFile === undefined || opts.tlsKeyFile === undefined) {
    throw new UsageError('--tls-cert-file and --tls-key-file go together');
  }
  const certBytes = readFileBytes(opts.tlsCertFile, 'TLS certificate');
  const certificate = inFlag('--tls-cert-file', opts.tlsCertFile, () => readCertificateInfo(certBytes));
  const keyBytes = readFileBytes(opts.tlsKeyFile, 'TLS key');
  const passphrase = isEncryptedPrivateKey(keyBytes) ? readPassphrase(opts.tlsKeyPassphraseFile) : undefined;
  if (isEncryptedPrivateKey(keyBytes) && passphrase === undefined) {
    throw new UsageError(`--tls-key-file ${opts.tlsKeyFile} is encrypted: give --tls-key-passphrase-file or set ${PASSPHRASE_ENV}`);
  }
  const key = inFlag('--tls-key-file', opts.tlsKeyFile, () => loadPrivateKey(keyBytes, passphrase === undefined ? {} : { passphrase }));
  try {
    assertKeyMatchesCertificate(key, certificate);
  } catch (err) {
    if (err instanceof CryptoError) {
      throw new CryptoError(err.code, `--tls-key-file ${opts.tlsKeyFile} is not the key of --tls-cert-file ${opts.tlsCertFile}`, { cause: err });
    }
    throw err;
  }
  // Send the leaf only, as upstream's clients do (the Kingdom identifies the caller by its AKID).
  return { certificate: encodePem('CERTIFICATE', certificate.der), key: key.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A client for the Kingdom named by the global flags; `apiKey` is sent as `x-api-key`. */
export function connect(command: Command, apiKey?: string): KingdomClient {
  const opts = globalOptions(command);
  const roots = readCertCollection(opts);
  const identity = readClientIdentity(opts);
  return createKingdomClient({
    target: opts.kingdomPublicApiTarget,
    trustedRoots: roots.pem,
    ...(identity ? { clientCertificate: identity.certificate, clientKey: identity.key } : {}),
    ...(opts.kingdomPublicApiCertHost ? { serverName: opts.kingdomPublicApiCertHost } : {}),
    ...(apiKey !== undefined ? { apiKey } : {}),
  });
}

/** The KingdomClientError behind whatever a call threw (connect wraps interceptor errors in a ConnectError). */
export function kingdomError(err: unknown, opts: GlobalOptions): unknown {
  if (err instanceof HaloError) return err;
  const seen = new Set<unknown>();
  for (let e: unknown = err; e instanceof Error && !seen.has(e); e = e.cause) {
    seen.add(e);
    if (e instanceof KingdomClientError) return e;
  }
  if (!(err instanceof ConnectError)) return err;
  let host = opts.kingdomPublicApiTarget;
  try {
    host = resolveTarget(opts.kingdomPublicApiTarget).host;
  } catch {
    // keep the target as given
  }
  return toKingdomClientError(err, opts.kingdomPublicApiTarget, opts.kingdomPublicApiCertHost ?? host);
}

/** Wraps a command action so RPC failures reach the shell as one-line KingdomClientErrors. */
export function rpcAction<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const command = args[args.length - 1] as Command;
      throw kingdomError(err, globalOptions(command));
    }
  };
}
