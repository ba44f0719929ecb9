/**
 * `halo-keys.yaml`: what a participant's state directory is for. Who the
 * participant is, how to reach the Kingdom, where its CA and Kubernetes
 * Secret live, what names go into its TLS certificate, and the rotation
 * policy. Every value is checked here, once; paths are resolved against the
 * state directory so the directory can move as a whole.
 */
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { isIP } from 'node:net';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { parseResourceName } from '../api/index.js';
import { parseDuration as parseDurationText } from '../lib/duration.js';
import { readFileBytes } from '../lib/files.js';
import { isKeyType, type KeyType, TOKEN_KEY_TYPES, parsePkcs11Uri } from '../pki/index.js';
import { RotationError } from './errors.js';

export const CONFIG_FILE = 'halo-keys.yaml';

export type KeyKind = 'tls' | 'signing' | 'encryption';
export const KEY_KINDS: readonly KeyKind[] = ['tls', 'signing', 'encryption'];

export type ParticipantKind = 'dataProvider' | 'measurementConsumer' | 'modelProvider' | 'duchy' | 'kingdom';

const COLLECTIONS: Record<string, ParticipantKind> = {
  dataProviders: 'dataProvider',
  measurementConsumers: 'measurementConsumer',
  modelProviders: 'modelProvider',
  duchies: 'duchy',
  kingdom: 'kingdom',
};

/** When a kind of key is due, and what happens around it. */
/** Where the keyring's signing keys live when they are on a PKCS#11 token (the PIN is never here). */
export interface TokenKeyConfig {
  /** `pkcs11:token=...;object=...`; the object is the label prefix of each generation. */
  uri: string;
  module?: string;
}

export interface KindPolicy {
  /** Rotate this long after creation (ms). Used unless `fraction` is set. */
  everyMs: number;
  /** Rotate at this fraction of the certificate's notBefore..notAfter (certificates only). */
  fraction?: number;
  /** Up to this much earlier than the schedule, fixed per key (ms). */
  jitterMs: number;
  /** Rotate whatever the schedule once less than this validity remains (ms). */
  minRemainingMs: number;
}

export interface RotationPolicy {
  tls: KindPolicy;
  signing: KindPolicy;
  encryption: KindPolicy;
  /** A due rotation becomes overdue (status exit 3) this long after it fell due. */
  overdueAfterMs: number;
  /** How long a replaced encryption key keeps decrypting before it may be destroyed. */
  encryptionGraceMs: number;
  /** What happens to a retired certificate: left to expire, or revoked at the Kingdom. */
  retiredCertificates: 'expire' | 'revoke';
}

export interface KingdomConfig {
  target: string;
  serverName?: string;
  /** PEM bundle of the Kingdom's root(s). */
  trustedRoots: string;
  /** Client TLS files; by default the keyring's active TLS certificate and key. */
  clientCertificate?: string;
  clientKey?: string;
  /** A file holding the `x-api-key` (MeasurementConsumers). */
  apiKeyFile?: string;
  timeoutMs?: number;
}

export interface KustomizationConfig {
  dir: string;
  secretName: string;
  /** A PEM bundle written beside tls.crt/tls.key as the trusted roots of the workload. */
  trustedRoots?: string;
  /** Secret key of the bundle (default `all_root_certs.pem`, as CMMS names it). */
  trustedRootsName: string;
  /** argv of the apply command, the directory appended (default `kubectl apply -k`); empty = do not apply. */
  apply: string[];
  /** argv of the render command used by dry runs and checks (default `kubectl kustomize`). */
  render: string[];
  namespace?: string;
  /**
   * kustomize's name-suffix hash for a kustomization.yaml the rotation creates
   * (default true, as upstream). False keeps the Secret's name fixed, so RBAC
   * can grant the agent that one Secret by name.
   */
  nameSuffixHash: boolean;
}

export interface TlsConfig {
  dnsNames: string[];
  ipAddresses: string[];
  days: number;
  /** `host:port` that must serve the new certificate after apply. */
  endpoint?: string;
  endpointServerName?: string;
  /** How long to wait for the endpoint to serve the new certificate. */
  rolloutTimeoutMs: number;
}

export interface KeyringConfig {
  /** The state directory (absolute). */
  dir: string;
  /** `dataProviders/{id}` etc., or only the collection (`dataProviders`) before registration. */
  participant: string;
  participantKind: ParticipantKind;
  /** Subject of new leaf certificates, `/O=.../CN=...`. */
  subject: string;
  keyType: KeyType;
  /** The CA directory (absolute). */
  ca: string;
  tls: TlsConfig;
  signingDays: number;
  /** `signing.pkcs11`: new signing keys are generated on this PKCS#11 token (else in key files). */
  signingToken?: TokenKeyConfig;
  encryptionTemplate: string;
  kingdom?: KingdomConfig;
  kustomization?: KustomizationConfig;
  policy: RotationPolicy;
  /** Set in a rehearsal copy (`--rehearsal DIR`): the state directory it was copied from. */
  rehearsalOf?: string;
}

const DAY = 86_400_000;

export const DEFAULT_POLICY: RotationPolicy = {
  tls: { everyMs: 90 * DAY, jitterMs: 2 * DAY, minRemainingMs: 14 * DAY },
  signing: { everyMs: 90 * DAY, jitterMs: 2 * DAY, minRemainingMs: 14 * DAY },
  encryption: { everyMs: 30 * DAY, jitterMs: DAY, minRemainingMs: 0 },
  overdueAfterMs: 7 * DAY,
  encryptionGraceMs: 7 * DAY,
  retiredCertificates: 'expire',
};

function invalid(message: string): RotationError {
  return new RotationError('CONFIG_INVALID', `${CONFIG_FILE}: ${message}`);
}

/** `90d`, `12h`, `30m`, `45s`, `2w`; a bare number is days. */
export function parseDuration(text: unknown, what: string): number {
  if (typeof text === 'number' && Number.isFinite(text) && text >= 0) return text * DAY;
  if (typeof text !== 'string') throw invalid(`${what} must be a duration like 90d or 12h`);
  const ms = parseDurationText(text);
  if (ms === undefined) throw invalid(`${what}: "${text}" is not a duration like 90d, 12h, 30m or 45s`);
  return ms;
}

type Obj = Record<string, unknown>;

function obj(v: unknown, what: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid(`${what} must be a mapping`);
  return v as Obj;
}

function str(o: Obj, key: string, what: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0) throw invalid(`${what}.${key} must be a non-empty string`);
  return v;
}

function reqStr(o: Obj, key: string, what: string): string {
  const v = str(o, key, what);
  if (v === undefined) throw invalid(`${what}.${key} is required`);
  return v;
}

function strList(o: Obj, key: string, what: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string' && x.length > 0)) throw invalid(`${what}.${key} must be a list of strings`);
  return v as string[];
}

function posNumber(o: Obj, key: string, what: string, fallback: number): number {
  const v = o[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw invalid(`${what}.${key} must be a positive number`);
  return v;
}

function kindPolicy(raw: unknown, what: string, fallback: KindPolicy, certificate: boolean): KindPolicy {
  const o = obj(raw, what);
  const out: KindPolicy = {
    everyMs: o.every !== undefined ? parseDuration(o.every, `${what}.every`) : fallback.everyMs,
    jitterMs: o.jitter !== undefined ? parseDuration(o.jitter, `${what}.jitter`) : fallback.jitterMs,
    minRemainingMs: o.minRemaining !== undefined ? parseDuration(o.minRemaining, `${what}.minRemaining`) : fallback.minRemainingMs,
  };
  if (o.fraction !== undefined) {
    if (!certificate) throw invalid(`${what}.fraction applies to certificates only (encryption keys have no validity window)`);
    if (typeof o.fraction !== 'number' || !(o.fraction > 0 && o.fraction < 1)) throw invalid(`${what}.fraction must be between 0 and 1`);
    out.fraction = o.fraction;
  }
  if (out.everyMs <= 0) throw invalid(`${what}.every must be positive`);
  return out;
}

export function parsePolicy(raw: unknown): RotationPolicy {
  const o = obj(raw, 'policy');
  const retired = o.retiredCertificates ?? DEFAULT_POLICY.retiredCertificates;
  if (retired !== 'expire' && retired !== 'revoke') throw invalid('policy.retiredCertificates must be "expire" or "revoke"');
  return {
    tls: kindPolicy(o.tls, 'policy.tls', DEFAULT_POLICY.tls, true),
    signing: kindPolicy(o.signing, 'policy.signing', DEFAULT_POLICY.signing, true),
    encryption: kindPolicy(o.encryption, 'policy.encryption', DEFAULT_POLICY.encryption, false),
    overdueAfterMs: o.overdueAfter !== undefined ? parseDuration(o.overdueAfter, 'policy.overdueAfter') : DEFAULT_POLICY.overdueAfterMs,
    encryptionGraceMs: o.encryptionGrace !== undefined ? parseDuration(o.encryptionGrace, 'policy.encryptionGrace') : DEFAULT_POLICY.encryptionGraceMs,
    retiredCertificates: retired,
  };
}

/** The kind of participant a name (or bare collection) designates. */
export function participantKindOf(name: string): ParticipantKind | undefined {
  const [collection, id, ...rest] = name.split('/');
  const kind = COLLECTIONS[collection ?? ''];
  if (!kind || rest.length > 0) return undefined;
  if (kind === 'kingdom') return id === undefined ? kind : undefined;
  if (id === undefined) return kind;
  return parseResourceName(name)?.kind === kind ? kind : undefined;
}

/**
 * True for the kinds that publish an EncryptionPublicKey at the Kingdom
 * (`{name}/publicKey`): DataProviders and MeasurementConsumers. ModelProviders
 * and Duchies only register certificates.
 */
export function publishesPublicKey(kind: ParticipantKind): boolean {
  return kind === 'dataProvider' || kind === 'measurementConsumer';
}

/** The keys a participant of this kind holds: an encryption key only if it publishes one. */
export function keyKindsOf(kind: ParticipantKind): readonly KeyKind[] {
  return publishesPublicKey(kind) ? KEY_KINDS : CERTIFICATE_KINDS;
}

const CERTIFICATE_KINDS: readonly KeyKind[] = ['tls', 'signing'];

/** True when the participant has its Kingdom resource id (it is registered). */
export function isRegisteredName(name: string): boolean {
  const kind = participantKindOf(name);
  return kind !== undefined && kind !== 'kingdom' && name.includes('/');
}

/** `signing.pkcs11: { uri, module }`; a PIN is never part of it. */
function tokenKeyConfig(raw: unknown, keyType: KeyType): TokenKeyConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const o = obj(raw, 'signing.pkcs11');
  const uri = reqStr(o, 'uri', 'signing.pkcs11');
  const extra = Object.keys(o).filter((k) => k !== 'uri' && k !== 'module');
  if (extra.length) throw invalid(`signing.pkcs11 takes uri and module only, not ${extra.join(', ')} (the PIN comes from --pin-file or HALO_KEYS_PKCS11_PIN)`);
  let parsed;
  try {
    parsed = parsePkcs11Uri(uri);
  } catch (err) {
    throw invalid(`signing.pkcs11.uri: ${(err as Error).message}`);
  }
  const module = str(o, 'module', 'signing.pkcs11') ?? parsed.modulePath;
  if (!TOKEN_KEY_TYPES.includes(keyType)) throw invalid(`keyType ${keyType} cannot be kept on a token: use ${TOKEN_KEY_TYPES.join(', ')} with signing.pkcs11`);
  return module ? { uri, module } : { uri };
}

export function parseConfig(text: string, dir: string): KeyringConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new RotationError('CONFIG_INVALID', `${CONFIG_FILE} is not valid YAML`, { cause: err });
  }
  const o = obj(raw, 'the file');
  const at = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const participant = reqStr(o, 'participant', 'config');
  const participantKind = participantKindOf(participant);
  if (!participantKind) {
    throw invalid(`participant "${participant}" is not dataProviders/{id}, measurementConsumers/{id}, modelProviders/{id}, duchies/{id}, kingdom, or a bare collection before registration`);
  }
  const keyType = str(o, 'keyType', 'config') ?? 'p256';
  if (!isKeyType(keyType)) throw invalid(`keyType "${keyType}" is not one of p256, p384, rsa3072, ed25519`);

  const tlsRaw = obj(o.tls, 'tls');
  const dnsNames = strList(tlsRaw, 'dnsNames', 'tls');
  const ipAddresses = strList(tlsRaw, 'ipAddresses', 'tls');
  for (const ip of ipAddresses) if (isIP(ip) === 0) throw invalid(`tls.ipAddresses: "${ip}" is not an IP address`);
  if (dnsNames.length + ipAddresses.length === 0) throw invalid('tls.dnsNames or tls.ipAddresses must name the host the TLS certificate is for');
  const endpoint = str(tlsRaw, 'endpoint', 'tls');
  const endpointServerName = str(tlsRaw, 'endpointServerName', 'tls');
  const tls: TlsConfig = {
    dnsNames,
    ipAddresses,
    days: posNumber(tlsRaw, 'days', 'tls', 365),
    rolloutTimeoutMs: tlsRaw.rolloutTimeout !== undefined ? parseDuration(tlsRaw.rolloutTimeout, 'tls.rolloutTimeout') : 60_000,
    ...(endpoint ? { endpoint } : {}),
    ...(endpointServerName ? { endpointServerName } : {}),
  };

  if (tlsRaw.pkcs11 !== undefined) {
    throw invalid('tls.pkcs11: the TLS key stays in a key file (the Kubernetes TLS Secret carries tls.key and the Kingdom client holds the key in memory); only signing.pkcs11 puts a key on a token');
  }
  const signingRaw = obj(o.signing, 'signing');
  const signingToken = tokenKeyConfig(signingRaw.pkcs11, keyType);

  const config: KeyringConfig = {
    dir,
    participant,
    participantKind,
    subject: reqStr(o, 'subject', 'config'),
    keyType,
    ca: at(str(o, 'ca', 'config') ?? 'ca'),
    tls,
    signingDays: posNumber(signingRaw, 'days', 'signing', 365),
    ...(signingToken ? { signingToken } : {}),
    encryptionTemplate: str(obj(o.encryption, 'encryption'), 'template', 'encryption') ?? 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM',
    policy: parsePolicy(o.policy),
  };

  if (o.kingdom !== undefined && o.kingdom !== null) {
    const k = obj(o.kingdom, 'kingdom');
    const cert = str(k, 'clientCertificate', 'kingdom');
    const key = str(k, 'clientKey', 'kingdom');
    if ((cert === undefined) !== (key === undefined)) throw invalid('kingdom.clientCertificate and kingdom.clientKey go together');
    const serverName = str(k, 'serverName', 'kingdom');
    const apiKeyFile = str(k, 'apiKeyFile', 'kingdom');
    config.kingdom = {
      target: reqStr(k, 'target', 'kingdom'),
      trustedRoots: at(reqStr(k, 'trustedRoots', 'kingdom')),
      ...(serverName ? { serverName } : {}),
      ...(cert ? { clientCertificate: at(cert), clientKey: at(key!) } : {}),
      ...(apiKeyFile ? { apiKeyFile: at(apiKeyFile) } : {}),
      ...(k.timeout !== undefined ? { timeoutMs: parseDuration(k.timeout, 'kingdom.timeout') } : {}),
    };
  }

  if (o.kustomization !== undefined && o.kustomization !== null) {
    const k = obj(o.kustomization, 'kustomization');
    let apply: string[];
    if (k.apply === false || k.apply === null) apply = [];
    else if (k.apply === undefined) apply = ['kubectl', 'apply', '-k'];
    else if (Array.isArray(k.apply) && k.apply.length > 0 && k.apply.every((x) => typeof x === 'string' && x.length > 0)) apply = k.apply as string[];
    else throw invalid('kustomization.apply must be a list of arguments, the directory is appended (e.g. [kubectl, --context, prod, apply, -k]), or false');
    const render = strList(k, 'render', 'kustomization');
    const namespace = str(k, 'namespace', 'kustomization');
    const roots = str(k, 'trustedRoots', 'kustomization');
    const secretName = reqStr(k, 'secretName', 'kustomization');
    if (k.nameSuffixHash !== undefined && typeof k.nameSuffixHash !== 'boolean') throw invalid('kustomization.nameSuffixHash must be true or false');
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(secretName) || secretName.length > 253) {
      throw invalid(`kustomization.secretName "${secretName}" is not a Kubernetes object name`);
    }
    config.kustomization = {
      dir: at(reqStr(k, 'dir', 'kustomization')),
      secretName,
      trustedRootsName: str(k, 'trustedRootsName', 'kustomization') ?? 'all_root_certs.pem',
      apply,
      render: render.length ? render : ['kubectl', 'kustomize'],
      nameSuffixHash: k.nameSuffixHash !== false,
      ...(namespace ? { namespace } : {}),
      ...(roots ? { trustedRoots: at(roots) } : {}),
    };
  }
  if (o.rehearsal !== undefined && o.rehearsal !== null) config.rehearsalOf = reqStr(obj(o.rehearsal, 'rehearsal'), 'of', 'rehearsal');
  return config;
}

export function loadConfig(dir: string): KeyringConfig {
  const abs = resolve(dir);
  const file = join(abs, CONFIG_FILE);
  if (!existsSync(file)) throw new RotationError('KEYRING_NOT_FOUND', `${file} not found: run halo-keys init first (or pass --dir)`);
  return parseConfig(Buffer.from(readFileBytes(file, CONFIG_FILE)).toString('utf8'), abs);
}

/** The YAML `init` writes: the given values, and the policy defaults spelled out so they are easy to change. */
export function renderConfig(values: {
  participant: string;
  subject: string;
  keyType?: KeyType;
  dnsNames: readonly string[];
  ipAddresses?: readonly string[];
  endpoint?: string;
  kingdom?: { target: string; trustedRoots: string; serverName?: string; apiKeyFile?: string };
  kustomization?: { dir: string; secretName: string; trustedRoots?: string; apply?: string[] | false };
  signingToken?: TokenKeyConfig;
}): string {
  const doc: Obj = {
    participant: values.participant,
    subject: values.subject,
    keyType: values.keyType ?? 'p256',
    ca: 'ca',
    tls: {
      dnsNames: [...values.dnsNames],
      ...(values.ipAddresses?.length ? { ipAddresses: [...values.ipAddresses] } : {}),
      days: 365,
      ...(values.endpoint ? { endpoint: values.endpoint } : {}),
    },
    signing: { days: 365, ...(values.signingToken ? { pkcs11: values.signingToken } : {}) },
    encryption: { template: 'ECIES_P256_HKDF_HMAC_SHA256_AES128_GCM' },
    ...(values.kingdom ? { kingdom: values.kingdom } : {}),
    ...(values.kustomization ? { kustomization: values.kustomization } : {}),
    policy: {
      tls: { every: '90d', jitter: '2d', minRemaining: '14d' },
      signing: { every: '90d', jitter: '2d', minRemaining: '14d' },
      encryption: { every: '30d', jitter: '1d' },
      overdueAfter: '7d',
      encryptionGrace: '7d',
      retiredCertificates: 'expire',
    },
  };
  return `# halo-keys participant keyring (see README, "Rotation")\n${stringifyYaml(doc)}`;
}
