/**
 * One open keyring: its configuration, inventory, key material, audit log and
 * clock, passed to every operation so none of them reads globals.
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../lib/clock.js';
import {
  withCaLock,
  openCa,
  openTokenCa,
  readCaKeyCustody,
  readCaState,
  recordFor,
  writeCaState,
  type IssuedKind,
  parsePkcs11Uri,
  type SigningKey,
  type CertificateAuthority,
  type Certificate,
} from '../pki/index.js';
import { AuditLog, type AuditRecord } from './audit-log.js';
import { loadConfig, type KeyKind, type KeyringConfig } from './config.js';
import { FileError } from '../lib/files.js';
import { RotationError } from './errors.js';
import { KeyMaterial } from './keyring-files.js';
import { hex } from '../lib/bytes.js';
import { TokenKeys, resolveTokenPin } from './token-keys.js';
import { newEntryId, readKeyring, writeKeyring, type KeyEntry, type Keyring } from './keyring.js';

export interface SessionOptions {
  clock: Clock;
  /** Asked for only when a private key is needed. */
  passphrase: () => string;
  /** The PKCS#11 PIN, asked for only when a token is used (default: HALO_KEYS_PKCS11_PIN). */
  pin?: () => string;
  actor?: string;
}

export class KeyringSession {
  readonly dir: string;
  readonly config: KeyringConfig;
  readonly clock: Clock;
  readonly material: KeyMaterial;
  readonly tokens: TokenKeys;
  readonly audit: AuditLog;
  keyring: Keyring;
  #ca: CertificateAuthority | undefined;

  constructor(config: KeyringConfig, keyring: Keyring, options: SessionOptions) {
    this.dir = config.dir;
    this.config = config;
    this.keyring = keyring;
    this.clock = options.clock;
    this.material = new KeyMaterial(config.dir, options.passphrase, () => this.keyring.keysetKdf, options.clock);
    this.tokens = new TokenKeys(() => this.config.signingToken, options.pin ?? (() => resolveTokenPin(undefined)));
    this.audit = new AuditLog(config.dir, {
      clock: options.clock,
      participant: () => this.participant,
      ...(options.actor ? { actor: options.actor } : {}),
    });
  }

  static open(dir: string, options: SessionOptions): KeyringSession {
    const config = loadConfig(dir);
    return new KeyringSession(config, readKeyring(config.dir), options);
  }

  /** The registered name when known, else what the config says. */
  get participant(): string {
    return this.keyring.participant.includes('/') ? this.keyring.participant : this.config.participant;
  }

  now(): Date {
    return this.clock.now();
  }

  save(): void {
    writeKeyring(this.dir, this.keyring);
  }

  record(record: AuditRecord): void {
    this.audit.append(record);
  }

  /** Several audit entries written together with one fsync (one per item of a page of work). */
  recordAll(records: readonly AuditRecord[]): void {
    this.audit.appendAll(records);
  }

  /**
   * Checks the passphrase by decrypting one private key (an active one when
   * there is one), so a wrong passphrase is found before a journal starts,
   * not halfway through it.
   */
  unlock(): void {
    const held = this.keyring.entries.filter((e) => e.kind !== 'encryption' && e.privateKeyFile && this.material.hasFiles(e));
    const one = held.find((e) => e.state === 'active') ?? held[0];
    if (one) this.material.privateKey(one);
    else if (this.keyring.entries.some((e) => e.kind === 'encryption')) this.material.loadEncryptionKeyset(this.keyring.encryptionKeyset);
    // The PIN too, once per token the run may sign or generate on.
    const uris = this.keyring.entries.filter((e) => e.state === 'active' && e.privateKeyUri).map((e) => e.privateKeyUri!);
    if (this.config.signingToken) uris.push(this.config.signingToken.uri);
    const byToken = new Map(uris.map((uri) => [parsePkcs11Uri(uri).token, uri]));
    for (const uri of byToken.values()) this.tokens.checkLogin(uri);
  }

  /** The key that signs for a certificate entry: decrypted from its file, or a signer on its token. */
  signingKey(entry: KeyEntry): SigningKey {
    if (!entry.privateKeyUri) return this.material.privateKey(entry);
    return this.tokens.signer(entry, this.material.certificate(entry).spki);
  }

  ca(): CertificateAuthority {
    if (!this.#ca) {
      try {
        const custody = readCaKeyCustody(this.config.ca);
        this.#ca = custody ? openTokenCa(this.config.ca, this.tokens.access({ ...parsePkcs11Uri(custody.uri), ...(custody.module ? { modulePath: custody.module } : {}) })) : openCa(this.config.ca, this.material.passphrase());
      } catch (err) {
        if (err instanceof FileError && err.code === 'FILE_NOT_FOUND') {
          throw new RotationError('CONFIG_INVALID', `no CA at ${this.config.ca}: init with --create-ca, or import the root and its key`, { cause: err });
        }
        throw err;
      }
    }
    return this.#ca;
  }

  /** Notes an issuance in the CA's records (idempotent: a serial is recorded once). */
  recordIssuance(cert: Certificate, kind: IssuedKind): void {
    withCaLock(this.config.ca, () => {
      const state = readCaState(this.config.ca);
      const record = recordFor(cert, kind);
      if (state.issued.some((r) => r.serialHex === record.serialHex)) return;
      state.issued.push(record);
      writeCaState(this.config.ca, state);
    });
  }

  newEntryId(kind: KeyKind): string {
    return newEntryId(kind, this.now(), randomBytes(2).toString('hex'));
  }
}

/** The inventory record of a certificate and its key files. */
export function certificateEntry(
  id: string,
  kind: 'tls' | 'signing',
  cert: Certificate,
  files: { certificateFile: string; privateKeyFile?: string; privateKeyUri?: string },
  origin: KeyEntry['origin'],
  at: Date,
  state: KeyEntry['state'],
  reason: string,
): KeyEntry {
  return {
    id,
    kind,
    state,
    createdAt: at.toISOString(),
    origin,
    fingerprint: cert.fingerprintSha256,
    ...files,
    subject: cert.subject.text,
    serialHex: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    skid: cert.subjectKeyIdentifier ? hex(cert.subjectKeyIdentifier) : '',
    history: [{ at: at.toISOString(), from: null, to: state, reason }],
  };
}

/** Audit fields of an entry: its SKID and fingerprint. */
export function auditIds(...entries: (KeyEntry | undefined)[]): { skids: string[]; fingerprints: string[] } {
  const present = entries.filter((e): e is KeyEntry => e !== undefined);
  return {
    skids: present.map((e) => e.skid).filter((s): s is string => !!s),
    fingerprints: present.map((e) => e.fingerprint),
  };
}
