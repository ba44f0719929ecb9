/**
 * CA keys on a PKCS#11 token (an HSM, or SoftHSM2). The token is reached
 * through two Debian tools rather than a native Node addon: `pkcs11-tool`
 * (opensc) generates key pairs, and the real `openssl` CLI with the pkcs11
 * engine (libengine-pkcs11-openssl) exports public keys and signs
 * (pkcs11-tool 0.23 cannot export a P-384 public key).
 * Each signature is one `openssl` process (tens of milliseconds), fine for a
 * CA. The PIN reaches both tools through the child's environment, never argv;
 * the private key is generated on the token and never read back.
 */
import { createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PkiError } from './errors.js';
import { type KeyType, keyTypeOf, signatureSchemeOf } from './key-types.js';
import type { KeySigner } from './signer.js';

export const PKCS11_PIN_ENV = 'HALO_KEYS_PKCS11_PIN';
export const PKCS11_MODULE_ENV = 'HALO_KEYS_PKCS11_MODULE';
/** The variable the child tools read the PIN from (`--pin env:`, `-passin env:`). */
const CHILD_PIN_ENV = 'HALO_KEYS_PKCS11_CHILD_PIN';

/** The key types a token CA may hold (the engine signs no Ed25519). */
export const TOKEN_KEY_TYPES: readonly KeyType[] = ['p256', 'p384', 'rsa3072'];

export interface Pkcs11Uri {
  /** The URI as recorded: path attributes only, no query (so never a PIN). */
  uri: string;
  token: string;
  object: string;
  /** `module-path` from the query, when given there. */
  modulePath?: string;
}

function pctDecode(value: string, uri: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new PkiError('INVALID_REQUEST', `${uri} is not a valid PKCS#11 URI (bad percent-encoding)`);
  }
}

/** RFC 7512: `pkcs11:token=...;object=...[?module-path=...]`; a `pin-value` is refused. */
export function parsePkcs11Uri(text: string): Pkcs11Uri {
  if (!text.startsWith('pkcs11:')) throw new PkiError('INVALID_REQUEST', `"${text}" is not a PKCS#11 URI (it must start with pkcs11:)`);
  const [path = '', query] = text.slice('pkcs11:'.length).split('?', 2);
  const attrs = new Map<string, string>();
  for (const part of path.split(';').filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new PkiError('INVALID_REQUEST', `"${part}" in the PKCS#11 URI is not name=value`);
    attrs.set(part.slice(0, eq), pctDecode(part.slice(eq + 1), text));
  }
  let modulePath: string | undefined;
  for (const part of (query ?? '').split('&').filter(Boolean)) {
    const [name, value = ''] = part.split('=', 2);
    if (name === 'pin-value') throw new PkiError('INVALID_REQUEST', 'a PIN does not belong in the PKCS#11 URI; give --pin-file or $' + PKCS11_PIN_ENV);
    if (name === 'module-path') modulePath = pctDecode(value, text);
  }
  const token = attrs.get('token');
  const object = attrs.get('object');
  if (!token || !object) throw new PkiError('INVALID_REQUEST', 'the PKCS#11 URI must name the token and the object (pkcs11:token=...;object=...)');
  const uri = `pkcs11:${[...attrs].filter(([k]) => k !== 'type').map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join(';')}`;
  return modulePath ? { uri, token, object, modulePath } : { uri, token, object };
}

export interface TokenAccess {
  /** Path of the PKCS#11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  pin: string;
}

interface Run {
  status: number;
  stdout: Buffer;
  stderr: string;
}

function run(command: string, args: string[], access: TokenAccess, input?: Uint8Array, env: NodeJS.ProcessEnv = {}): Run {
  const result = spawnSync(command, args, {
    input,
    env: { ...process.env, ...env, [CHILD_PIN_ENV]: access.pin },
    maxBuffer: 1 << 20,
  });
  if (result.error) throw new PkiError('INVALID_REQUEST', `cannot run ${command}: ${(result.error as NodeJS.ErrnoException).code ?? 'error'} (install opensc and libengine-pkcs11-openssl)`);
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr.toString('utf8') };
}

/** One line for what the token said, in the CLI's vocabulary; never echoes the PIN (the tools never see it in argv). */
function tokenError(r: Run, key: Pkcs11Uri, access: TokenAccess, doing: string): PkiError {
  const e = r.stderr;
  if (/Failed to load pkcs11 module|sc_dlopen failed|Unable to load module|DSO support routines/i.test(e)) {
    return new PkiError('INVALID_REQUEST', `cannot load the PKCS#11 module ${access.module}`);
  }
  if (/No slot with token|No matching initialized token/i.test(e)) return new PkiError('INVALID_REQUEST', `no PKCS#11 token labelled "${key.token}"`);
  if (/CKR_PIN_INCORRECT|CKR_PIN_LEN_RANGE|Login failed|Login to token failed/i.test(e)) {
    return new PkiError('CA_KEY_LOCKED', `login to PKCS#11 token "${key.token}" failed: wrong PIN`);
  }
  if (/object not found|key was not found/i.test(e)) {
    return new PkiError('INVALID_REQUEST', `no key "${key.object}" on PKCS#11 token "${key.token}"`);
  }
  const last = e.trim().split('\n').filter((l) => !/^Engine "pkcs11" set/.test(l)).pop() ?? `exit ${r.status}`;
  return new PkiError('INVALID_REQUEST', `PKCS#11 ${doing} on token "${key.token}" failed: ${last.slice(0, 200)}`);
}

function tokenArgs(key: Pkcs11Uri, access: TokenAccess): string[] {
  return ['--module', access.module, '--token-label', key.token];
}

/** The public key of the token object; refuses a key of a type the CA does not sign with. */
export function readTokenPublicKey(key: Pkcs11Uri, access: TokenAccess): KeyObject {
  const args = ['pkey', '-engine', 'pkcs11', '-pubin', '-inform', 'engine', '-in', `${key.uri};type=public`];
  args.push('-passin', `env:${CHILD_PIN_ENV}`, '-pubout', '-outform', 'DER');
  const r = run('openssl', args, access, undefined, { OPENSSL_CONF: engineConfig(access.module) });
  if (r.status !== 0 || r.stdout.length === 0) throw tokenError(r, key, access, 'public key export');
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({ key: r.stdout, format: 'der', type: 'spki' });
  } catch (err) {
    throw new PkiError('UNSUPPORTED_ALGORITHM', `"${key.object}" on token "${key.token}" is not a key this CA can read`, { cause: err });
  }
  const type = keyTypeOf(publicKey);
  if (!type || !TOKEN_KEY_TYPES.includes(type)) {
    const found = publicKey.asymmetricKeyType === 'rsa' ? `RSA-${publicKey.asymmetricKeyDetails?.modulusLength}` : (publicKey.asymmetricKeyDetails?.namedCurve ?? publicKey.asymmetricKeyType);
    throw new PkiError('UNSUPPORTED_ALGORITHM', `"${key.object}" on token "${key.token}" is a ${found} key; a token CA key must be ${TOKEN_KEY_TYPES.join(', ')}`);
  }
  return publicKey;
}

const KEYPAIRGEN: Record<string, string> = { p256: 'EC:prime256v1', p384: 'EC:secp384r1', rsa3072: 'rsa:3072' };

/** Generates a key pair on the token (private half sensitive, never extractable); refuses to reuse a label. */
export function generateTokenKey(key: Pkcs11Uri, access: TokenAccess, type: KeyType): KeyObject {
  const spec = KEYPAIRGEN[type];
  if (!spec) throw new PkiError('UNSUPPORTED_ALGORITHM', `a token CA key must be ${TOKEN_KEY_TYPES.join(', ')}, not ${type}`);
  const id = randomBytes(8).toString('hex');
  const args = [...tokenArgs(key, access), '--login', '--pin', `env:${CHILD_PIN_ENV}`, '--keypairgen', '--key-type', spec, '--label', key.object, '--id', id, '--sensitive'];
  const r = run('pkcs11-tool', args, access);
  if (r.status !== 0) throw tokenError(r, key, access, 'key generation');
  return readTokenPublicKey(key, access);
}

/** The public key under the object label, or undefined when the token has none (so `ca init` generates one). */
export function findTokenPublicKey(key: Pkcs11Uri, access: TokenAccess): KeyObject | undefined {
  try {
    return readTokenPublicKey(key, access);
  } catch (err) {
    if (err instanceof PkiError && err.message.startsWith('no key ')) return undefined;
    throw err;
  }
}

/** Logs in to the token (and nothing else), so a wrong PIN or a missing token is found before anything is written. */
export function checkTokenLogin(key: Pkcs11Uri, access: TokenAccess): void {
  const r = run('pkcs11-tool', [...tokenArgs(key, access), '--login', '--pin', `env:${CHILD_PIN_ENV}`, '--list-objects', '--type', 'privkey'], access);
  if (r.status !== 0) throw tokenError(r, key, access, 'login');
}

/** Deletes the key pair under the object label (private half first); false when the token held neither half. */
export function deleteTokenKey(key: Pkcs11Uri, access: TokenAccess): boolean {
  let deleted = false;
  for (const type of ['privkey', 'pubkey']) {
    const r = run('pkcs11-tool', [...tokenArgs(key, access), '--login', '--pin', `env:${CHILD_PIN_ENV}`, '--delete-object', '--type', type, '--label', key.object], access);
    if (r.status === 0) deleted = true;
    else if (!/object not found/i.test(r.stderr)) throw tokenError(r, key, access, 'key deletion');
  }
  return deleted;
}

/** The engine takes its module path from an OpenSSL config; one small file per process, no secret in it. */
let engineConfigDir: string | undefined;
function engineConfig(module: string): string {
  if (!engineConfigDir) {
    engineConfigDir = mkdtempSync(join(tmpdir(), 'halo-keys-pkcs11-'));
    const dir = engineConfigDir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(engineConfigDir, `${Buffer.from(module).toString('hex').slice(0, 64)}.cnf`);
  writeFileSync(
    file,
    [
      'openssl_conf = openssl_init',
      '[openssl_init]',
      'engines = engine_section',
      '[engine_section]',
      'pkcs11 = pkcs11_section',
      '[pkcs11_section]',
      'engine_id = pkcs11',
      `MODULE_PATH = ${module.replace(/[\\$"]/g, '\\$&')}`,
      'init = 0',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

/** Signs on the token: `openssl pkeyutl -engine pkcs11`, data on stdin, signature (DER for ECDSA) on stdout. */
function signOnToken(key: Pkcs11Uri, access: TokenAccess, hash: string | null, data: Uint8Array): Uint8Array {
  if (!hash) throw new PkiError('UNSUPPORTED_ALGORITHM', 'the token signs ECDSA and RSA only');
  const args = ['pkeyutl', '-engine', 'pkcs11', '-keyform', 'engine', '-inkey', `${key.uri};type=private`];
  args.push('-passin', `env:${CHILD_PIN_ENV}`, '-sign', '-rawin', '-digest', hash);
  const r = run('openssl', args, access, data, { OPENSSL_CONF: engineConfig(access.module) });
  if (r.status !== 0 || r.stdout.length === 0) throw tokenError(r, key, access, 'signing');
  return new Uint8Array(r.stdout);
}

/** A signer for a key on the token; `publicKey` as read from it. */
export function pkcs11Signer(key: Pkcs11Uri, access: TokenAccess, publicKey: KeyObject): KeySigner {
  return {
    publicKey,
    custody: key.uri,
    scheme: signatureSchemeOf(publicKey, (hash, data) => signOnToken(key, access, hash, data)),
  };
}
