/**
 * Creating a keyring: `init` makes fresh keys (and a CA when asked), `import`
 * adopts existing files such as the CMMS test PKI, encrypting every private
 * key it takes in. Both refuse to touch a directory that already holds a
 * keyring, and both write the audit trail from its first entry.
 */
import { X509Certificate, randomBytes, type KeyObject } from 'node:crypto';
import {
  DEFAULT_SCRYPT,
  loadPrivateKey,
  KeyStatusType,
  type Keyset,
  readKeyset,
  generateKeyset,
} from '../crypto/index.js';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { type Clock, readFileBytes, writeFileAtomic } from '../lib/index.js';
import {
  initRoot,
  createCaDirectory,
  type Certificate,
  readCertificatesFile,
  spkiOf,
  type Name,
} from '../pki/index.js';
import { CONFIG_FILE, loadConfig, participantKindOf, publishesPublicKey, renderConfig, type ParticipantKind } from './config.js';
import { RotationError } from './errors.js';
import { ENCRYPTION_KEYSET_FILE, encryptionKeyFingerprint } from './keyring-files.js';
import { issueForKind } from './issue.js';
import { keyringExists, type KeyEntry, type Keyring } from './keyring.js';
import { KeyringSession, auditIds, certificateEntry } from './session.js';

export interface ConfigValues {
  participant: string;
  subject: string;
  dnsNames: string[];
  ipAddresses?: string[];
  endpoint?: string;
  kingdom?: { target: string; trustedRoots: string; serverName?: string; apiKeyFile?: string };
  kustomization?: { dir: string; secretName: string; trustedRoots?: string; apply?: string[] | false };
}

export interface InitOptions {
  dir: string;
  clock: Clock;
  passphrase: () => string;
  /** Written as halo-keys.yaml unless the directory already has one. */
  config?: ConfigValues;
  /** Make a root CA when the configured CA directory has none. */
  createCa?: { subject: string; days?: number };
  actor?: string;
  /** Set while building in a staging directory: the directory the keyring will end up in (audit records name it). */
  finalDir?: string;
}

/** How the audit trail names a path of the keyring being built: under its final directory. */
function shownPath(session: KeyringSession, options: InitOptions, path: string): string {
  return options.finalDir ? join(options.finalDir, relative(session.dir, path)) : path;
}

/**
 * Builds a keyring in a staging directory beside `options.dir` and moves it
 * into place only once complete, so a failed init or import leaves nothing
 * behind (what the directory held before, e.g. its halo-keys.yaml, is kept).
 */
function staged(options: InitOptions, build: (staging: InitOptions) => KeyringSession): KeyringSession {
  const dir = resolve(options.dir);
  if (keyringExists(dir)) throw new RotationError('KEYRING_EXISTS', `${dir} already holds a keyring; refusing to overwrite it`);
  mkdirSync(dirname(dir), { recursive: true });
  const staging = mkdtempSync(join(dirname(dir), `.${basename(dir)}.init-`));
  try {
    if (existsSync(dir)) cpSync(dir, staging, { recursive: true, preserveTimestamps: true });
    const built = build({ ...options, dir: staging, finalDir: dir });
    if (!existsSync(dir)) {
      renameSync(staging, dir);
    } else {
      for (const name of readdirSync(staging)) {
        rmSync(join(dir, name), { recursive: true, force: true });
        renameSync(join(staging, name), join(dir, name));
      }
      rmSync(staging, { recursive: true, force: true });
    }
    return KeyringSession.open(dir, { clock: built.clock, passphrase: () => built.material.passphrase(), ...(options.actor ? { actor: options.actor } : {}) });
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
}

/** The participant kind `prepare` will configure: the directory's own config wins over the one given. */
function configuredParticipantKind(options: InitOptions): ParticipantKind | undefined {
  const dir = resolve(options.dir);
  if (existsSync(join(dir, CONFIG_FILE))) return loadConfig(dir).participantKind;
  return options.config ? participantKindOf(options.config.participant) : undefined;
}

function prepare(options: InitOptions): KeyringSession {
  const dir = resolve(options.dir);
  if (keyringExists(dir)) throw new RotationError('KEYRING_EXISTS', `${dir} already holds a keyring; refusing to overwrite it`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const configPath = join(dir, CONFIG_FILE);
  if (!existsSync(configPath)) {
    if (!options.config) throw new RotationError('CONFIG_INVALID', `${configPath} not found: give the participant, subject and TLS names`);
    writeFileAtomic(configPath, renderConfig(options.config));
  }
  const config = loadConfig(dir);
  const keyring: Keyring = {
    version: 1,
    participant: config.participant,
    createdAt: options.clock.now().toISOString(),
    encryptionKeyset: ENCRYPTION_KEYSET_FILE,
    entries: [],
    keysetKdf: { salt: randomBytes(16).toString('hex'), ...DEFAULT_SCRYPT },
  };
  return new KeyringSession(config, keyring, { clock: options.clock, passphrase: options.passphrase, ...(options.actor ? { actor: options.actor } : {}) });
}

function createCa(session: KeyringSession, options: InitOptions, subject: string, days: number | undefined): Certificate {
  const root = initRoot({ subject, clock: session.clock, keyType: session.config.keyType, ...(days ? { days } : {}) });
  const cert = createCaDirectory(session.config.ca, { certificateDer: root.der, privateKey: root.privateKey, passphrase: session.material.passphrase() });
  session.record({ action: 'ca.create', resource: shownPath(session, options, session.config.ca), ...auditIdsOfCert(cert), outcome: 'ok', after: { subject: cert.subject.text, notAfter: cert.notAfter.toISOString() } });
  return cert;
}

function auditIdsOfCert(cert: Certificate): { skids: string[]; fingerprints: string[] } {
  return { skids: [Buffer.from(cert.subjectKeyIdentifier ?? []).toString('hex')], fingerprints: [cert.fingerprintSha256] };
}

function addEncryptionEntries(session: KeyringSession, keyset: Keyset, origin: KeyEntry['origin'], reason: string): KeyEntry[] {
  const at = session.now();
  const entries: KeyEntry[] = [];
  for (const key of keyset.key) {
    if (key.status !== KeyStatusType.ENABLED) continue;
    const state = key.keyId === keyset.primaryKeyId ? 'active' : 'retiring';
    entries.push({
      id: `encryption-${key.keyId.toString(16).padStart(8, '0')}`,
      kind: 'encryption',
      state,
      createdAt: at.toISOString(),
      origin,
      fingerprint: encryptionKeyFingerprint(keyset, key.keyId),
      tinkKeyId: key.keyId,
      history: [{ at: at.toISOString(), from: null, to: state, reason }],
    });
  }
  return entries;
}

/**
 * A new keyring: a CA (if asked), a TLS and a signing certificate and, for a
 * DataProvider or MeasurementConsumer, an encryption keyset, all active.
 */
export function initKeyring(options: InitOptions): KeyringSession {
  return staged(options, initIn);
}

function initIn(options: InitOptions): KeyringSession {
  const session = prepare(options);
  const caExists = existsSync(join(session.config.ca, 'ca.pem'));
  if (!caExists) {
    if (!options.createCa) throw new RotationError('CONFIG_INVALID', `no CA at ${session.config.ca}: pass --create-ca, or import an existing root`);
    createCa(session, options, options.createCa.subject, options.createCa.days);
  }
  session.material.ensureKeysDir();
  for (const kind of ['tls', 'signing'] as const) {
    const id = session.newEntryId(kind);
    const issued = issueForKind(session, kind);
    const files = session.material.writeCertificateAndKey(id, issued.der, issued.privateKey);
    const entry = certificateEntry(id, kind, issued.certificate, files, 'generated', session.now(), 'active', 'init');
    session.keyring.entries.push(entry);
    session.save();
    session.recordIssuance(issued.certificate, kind);
    session.record({ action: 'key.create', resource: id, ...auditIds(entry), after: { kind, state: 'active' }, outcome: 'ok' });
  }
  if (publishesPublicKey(session.config.participantKind)) {
    const keyset = generateKeyset(session.config.encryptionTemplate);
    session.material.saveEncryptionKeyset(session.keyring.encryptionKeyset, keyset);
    for (const entry of addEncryptionEntries(session, keyset, 'generated', 'init')) {
      session.keyring.entries.push(entry);
      session.record({ action: 'key.create', resource: entry.id, ...auditIds(entry), after: { kind: 'encryption', state: entry.state, tinkKeyId: entry.tinkKeyId }, outcome: 'ok' });
    }
  }
  session.save();
  session.record({ action: 'keyring.init', resource: shownPath(session, options, session.dir), outcome: 'ok', after: { entries: session.keyring.entries.length } });
  return session;
}

export interface ImportFiles {
  /** The participant's root certificate and, to let the keyring issue new leaves, its key. */
  rootCertificate?: string;
  rootKey?: string;
  signingCertificate?: string;
  signingKey?: string;
  tlsCertificate?: string;
  tlsKey?: string;
  /** A private Tink keyset (binary or JSON, cleartext or encrypted with the keyring passphrase). */
  encryptionKeyset?: string;
  /** The Kingdom `Certificate` name the signing certificate is registered as, if it is. */
  signingCertificateName?: string;
}

function oneCertificate(path: string, what: string): Certificate {
  const certs = readCertificatesFile(path, what);
  if (certs.length === 0) throw new RotationError('IMPORT_INVALID', `${path} holds no certificate`);
  return certs[0]!;
}

function keyFor(path: string, cert: Certificate, what: string): KeyObject {
  const key = loadPrivateKey(readFileBytes(path, what));
  if (Buffer.compare(spkiOf(key), cert.spki) !== 0) {
    throw new RotationError('IMPORT_INVALID', `${path} is not the key of the ${what.replace(' key', '')} certificate`);
  }
  return key;
}

function issuedBy(cert: Certificate, root: Certificate): boolean {
  try {
    return new X509Certificate(Buffer.from(cert.der)).verify(new X509Certificate(Buffer.from(root.der)).publicKey);
  } catch {
    return false;
  }
}

const SHORT: Record<string, string> = { '2.5.4.6': 'C', '2.5.4.8': 'ST', '2.5.4.7': 'L', '2.5.4.10': 'O', '2.5.4.11': 'OU', '2.5.4.3': 'CN' };

/** `/O=.../CN=...` (most significant first, the CA's input syntax) of a parsed name. */
export function slashSubject(name: Name): string {
  return name.rdns.map((rdn) => rdn.map((a) => `/${SHORT[a.type] ?? a.type}=${a.value}`).join('')).join('');
}

export interface ImportOptions extends InitOptions {
  files: ImportFiles;
}

/**
 * Adopts existing keys. Each certificate must match its key and chain to the
 * root when one is given; every private key is re-encrypted with the keyring
 * passphrase. Missing kinds are left for `rotate` to create.
 */
export function importKeyring(options: ImportOptions): KeyringSession {
  return staged(options, (staging) => importIn({ ...options, ...staging }));
}

function importIn(options: ImportOptions): KeyringSession {
  const { files } = options;
  const root = files.rootCertificate ? oneCertificate(files.rootCertificate, 'root certificate') : undefined;
  const imported: Array<{ kind: 'tls' | 'signing'; cert: Certificate; key: KeyObject }> = [];
  for (const kind of ['tls', 'signing'] as const) {
    const certPath = kind === 'tls' ? files.tlsCertificate : files.signingCertificate;
    const keyPath = kind === 'tls' ? files.tlsKey : files.signingKey;
    if (!certPath && !keyPath) continue;
    if (!certPath || !keyPath) throw new RotationError('IMPORT_INVALID', `the ${kind} certificate and its key go together`);
    const cert = oneCertificate(certPath, `${kind} certificate`);
    const key = keyFor(keyPath, cert, `${kind} key`);
    if (root && !issuedBy(cert, root)) throw new RotationError('IMPORT_INVALID', `${certPath} is not issued by the root ${files.rootCertificate}`);
    imported.push({ kind, cert, key });
  }
  const keysetBytes = files.encryptionKeyset ? readFileBytes(files.encryptionKeyset, 'encryption keyset') : undefined;
  const signing = imported.find((i) => i.kind === 'signing');
  const tls = imported.find((i) => i.kind === 'tls');
  const config = options.config && {
    ...options.config,
    subject: options.config.subject || (signing ? slashSubject(signing.cert.subject) : ''),
  };
  const kind = configuredParticipantKind(options);
  if (keysetBytes && kind && !publishesPublicKey(kind)) {
    throw new RotationError('IMPORT_INVALID', `a ${kind} publishes no encryption key through the Kingdom, so its keyring keeps none: leave out the encryption keyset`);
  }
  const session = prepare({ ...options, ...(config ? { config } : {}) });
  const keyset = keysetBytes ? readKeyset(keysetBytes, { passphrase: session.material.passphrase() }).keyset : undefined;

  if (root) {
    if (files.rootKey) {
      const rootKey = keyFor(files.rootKey, root, 'root key');
      if (existsSync(join(session.config.ca, 'ca.pem'))) throw new RotationError('IMPORT_INVALID', `${session.config.ca} already holds a CA`);
      createCaDirectory(session.config.ca, { certificateDer: root.der, privateKey: rootKey, passphrase: session.material.passphrase() });
      session.record({ action: 'ca.import', resource: shownPath(session, options, session.config.ca), ...auditIdsOfCert(root), outcome: 'ok', detail: `from ${files.rootCertificate}` });
    } else {
      session.record({ action: 'ca.import', resource: files.rootCertificate!, ...auditIdsOfCert(root), outcome: 'skipped', detail: 'no root key: new leaves need the CA key' });
    }
  }
  session.material.ensureKeysDir();
  for (const { kind, cert, key } of [tls, signing].filter((x) => x !== undefined)) {
    const id = session.newEntryId(kind);
    const written = session.material.writeCertificateAndKey(id, cert.der, key);
    const entry = certificateEntry(id, kind, cert, written, 'imported', session.now(), 'active', 'import');
    if (kind === 'signing' && files.signingCertificateName) entry.kingdomCertificate = files.signingCertificateName;
    session.keyring.entries.push(entry);
    session.save();
    session.record({ action: 'key.import', resource: id, ...auditIds(entry), after: { kind, state: 'active' }, outcome: 'ok', detail: `from ${kind === 'tls' ? files.tlsCertificate : files.signingCertificate}` });
  }
  if (keyset) {
    session.material.saveEncryptionKeyset(session.keyring.encryptionKeyset, keyset);
    for (const entry of addEncryptionEntries(session, keyset, 'imported', 'import')) {
      session.keyring.entries.push(entry);
      session.record({ action: 'key.import', resource: entry.id, ...auditIds(entry), after: { kind: 'encryption', state: entry.state, tinkKeyId: entry.tinkKeyId }, outcome: 'ok', detail: `from ${files.encryptionKeyset}` });
    }
  }
  session.save();
  session.record({ action: 'keyring.import', resource: shownPath(session, options, session.dir), outcome: 'ok', after: { entries: session.keyring.entries.length } });
  return session;
}
