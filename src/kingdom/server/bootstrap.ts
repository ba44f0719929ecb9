/**
 * First start with no TLS flags: a development Kingdom CA and a server TLS
 * certificate for `localhost` / `127.0.0.1`, made once in the data dir and
 * reused afterwards. Production deployments pass `--tls-cert-file` and
 * `--tls-key-file` instead and none of this runs.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, writeFileAtomic, writeSecretFile, decodePem, encodePem } from '../../lib/index.js';
import { initRoot, issueLeaf, parseCertificate } from '../../pki/index.js';
import { ServerError } from './errors.js';

export const DATA_DIR_FILES = {
  caCertificate: 'kingdom-ca/root.pem',
  caKey: 'kingdom-ca/root.key',
  kingdomRoot: 'kingdom_root.pem',
  serverCertificate: 'server_tls.pem',
  serverKey: 'server_tls.key',
  database: 'db',
  serverInfo: 'server.json',
} as const;

export const DEV_SERVER_NAMES = { dns: ['localhost'], ip: ['127.0.0.1', '::1'] } as const;

/** Reissue the dev server certificate when it has less than this left. */
const RENEW_BEFORE_MS = 7 * 24 * 3600 * 1000;

export interface ServerTlsMaterial {
  /** PEM certificate chain (server leaf first). */
  readonly certPem: string;
  /** PEM private key; never logged. */
  readonly keyPem: string;
  /** Path of the root clients should trust, when the dev CA made the certificate. */
  readonly kingdomRootPath?: string;
  /** True when the dev CA or certificate was created during this start. */
  readonly created: boolean;
}

function pemKey(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function firstCertificate(path: string): Uint8Array {
  const block = decodePem(readFileSync(path, 'utf8')).find((b) => b.label === 'CERTIFICATE');
  if (!block) throw new ServerError('DATA_DIR_UNUSABLE', `${path} holds no PEM certificate`);
  return block.der;
}

function prepareDir(dataDir: string): void {
  try {
    mkdirSync(join(dataDir, 'kingdom-ca'), { recursive: true, mode: 0o700 });
  } catch (cause) {
    throw new ServerError('DATA_DIR_UNUSABLE', `cannot create the data directory ${dataDir}`, { cause });
  }
}

/** Creates (once) the dev Kingdom CA and server certificate, renewing the latter near expiry. */
export function ensureDevTls(dataDir: string, clock: Clock): ServerTlsMaterial {
  prepareDir(dataDir);
  const f = (name: string) => join(dataDir, name);
  let created = false;
  let caKey: KeyObject;
  let caDer: Uint8Array;
  if (existsSync(f(DATA_DIR_FILES.caKey)) && existsSync(f(DATA_DIR_FILES.caCertificate))) {
    caKey = createPrivateKey(readFileSync(f(DATA_DIR_FILES.caKey)));
    caDer = firstCertificate(f(DATA_DIR_FILES.caCertificate));
  } else {
    const root = initRoot({ subject: '/O=Halo Kingdom (development)/CN=Kingdom Development Root CA', clock });
    caKey = root.privateKey;
    caDer = root.der;
    writeSecretFile(f(DATA_DIR_FILES.caKey), pemKey(caKey));
    writeFileAtomic(f(DATA_DIR_FILES.caCertificate), encodePem('CERTIFICATE', caDer));
    created = true;
  }
  const caCertificate = parseCertificate(caDer);
  if (created || !existsSync(f(DATA_DIR_FILES.kingdomRoot))) {
    writeFileAtomic(f(DATA_DIR_FILES.kingdomRoot), encodePem('CERTIFICATE', caDer));
  }
  const certPath = f(DATA_DIR_FILES.serverCertificate);
  const keyPath = f(DATA_DIR_FILES.serverKey);
  let renew = created || !existsSync(certPath) || !existsSync(keyPath);
  if (!renew) {
    try {
      const leaf = parseCertificate(firstCertificate(certPath));
      renew = leaf.notAfter.getTime() - clock.now().getTime() < RENEW_BEFORE_MS;
    } catch {
      renew = true;
    }
  }
  if (renew) {
    const leaf = issueLeaf(
      { certificate: caCertificate, privateKey: caKey },
      {
        profile: 'tls-server',
        subject: '/O=Halo Kingdom (development)/CN=localhost',
        altNames: [...DEV_SERVER_NAMES.dns.map((value) => ({ type: 'dns' as const, value })), ...DEV_SERVER_NAMES.ip.map((value) => ({ type: 'ip' as const, value }))],
        clipToIssuer: true,
        clock,
      },
    );
    if (!leaf.privateKey) throw new ServerError('TLS_MATERIAL_INVALID', 'the development CA did not return a server key');
    writeSecretFile(keyPath, pemKey(leaf.privateKey));
    writeFileAtomic(certPath, encodePem('CERTIFICATE', leaf.der) + encodePem('CERTIFICATE', caDer));
    created = true;
  }
  return {
    certPem: readFileSync(certPath, 'utf8'),
    keyPem: readFileSync(keyPath, 'utf8'),
    kingdomRootPath: f(DATA_DIR_FILES.kingdomRoot),
    created,
  };
}

/** Production TLS from files; errors name the file, never its content. */
export function readTlsFiles(certFile: string, keyFile: string): ServerTlsMaterial {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (cause) {
      throw new ServerError('TLS_MATERIAL_INVALID', `cannot read the ${what} ${path}`, { cause });
    }
  };
  const certPem = read(certFile, 'server certificate (--tls-cert-file)');
  const keyPem = read(keyFile, 'server key (--tls-key-file)');
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ServerError('TLS_MATERIAL_INVALID', `--tls-cert-file ${certFile} holds no PEM certificate`);
  }
  try {
    createPrivateKey(keyPem);
  } catch (cause) {
    throw new ServerError('TLS_MATERIAL_INVALID', `--tls-key-file ${keyFile} holds no readable PEM private key`, { cause });
  }
  return { certPem, keyPem, created: false };
}
