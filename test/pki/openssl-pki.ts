/**
 * Builds certificates with the real `openssl` CLI in a temporary directory,
 * for tests and benchmarks that need chains the fixtures do not have (deep
 * chains, cross-signatures, huge SAN lists, many leaves).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Certificate, parseCertificates } from '../../src/pki/certificate.js';

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:leaf.example.com,DNS:*.leaf.example.com,IP:10.0.0.1
`;

export interface Issued {
  readonly name: string;
  /** PEM file path. */
  readonly cert: string;
  readonly key: string;
  readonly csr: string;
}

/** Key and signing choices; default a P-256 key and ECDSA-SHA256. */
export interface KeyChoice {
  /** `openssl req` key arguments, e.g. `['-newkey', 'ed25519']`. */
  readonly newkey?: readonly string[];
  /** Signing options for the issuer, e.g. RSA-PSS padding. */
  readonly sigopt?: readonly string[];
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

export class OpensslPki {
  readonly dir = mkdtempSync(join(tmpdir(), 'halo-pki-'));
  readonly #config = join(this.dir, 'openssl.cnf');
  #serial = 1;

  constructor(extraSections = '') {
    writeFileSync(this.#config, CONFIG + extraSections);
  }

  #run(...args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'] });
  }

  /** A new P-256 key and CSR for `subject` (e.g. `/CN=Root`). */
  keyAndCsr(name: string, subject: string, choice: KeyChoice = {}): { key: string; csr: string } {
    const key = join(this.dir, `${name}.key`);
    const csr = join(this.dir, `${name}.csr`);
    this.#run('req', '-new', ...(choice.newkey ?? P256), '-nodes', '-keyout', key, '-subj', subject, '-config', this.#config, '-out', csr);
    return { key, csr };
  }

  /** A self-signed root CA. */
  root(name: string, subject = `/CN=${name}`, choice: KeyChoice = {}, ext = 'ca'): Issued {
    const { key, csr } = this.keyAndCsr(name, subject, choice);
    const cert = join(this.dir, `${name}.pem`);
    this.#run('x509', '-req', '-in', csr, '-key', key, ...(choice.sigopt ?? []), '-days', '3650', '-set_serial', String(this.#serial++), '-extfile', this.#config, '-extensions', ext, '-out', cert);
    return { name, cert, key, csr };
  }

  /** Signs `subject`'s CSR (new key unless `reuse` is given) with `issuer`, using config section `ext`. */
  issue(
    name: string,
    issuer: Issued,
    ext: string,
    subject = `/CN=${name}`,
    reuse?: { key: string; csr: string },
    choice: KeyChoice & { days?: number } = {},
  ): Issued {
    const { key, csr } = reuse ?? this.keyAndCsr(name, subject, choice);
    const cert = join(this.dir, `${name}.pem`);
    this.#run(
      'x509', '-req', '-in', csr, '-CA', issuer.cert, '-CAkey', issuer.key, ...(choice.sigopt ?? []), '-days', String(choice.days ?? 3650),
      '-set_serial', String(this.#serial++), '-extfile', this.#config, '-extensions', ext, '-out', cert,
    );
    return { name, cert, key, csr };
  }

  read(issued: Issued): Uint8Array {
    return readFileSync(issued.cert);
  }

  /** The issued certificate, parsed. */
  certificate(issued: Issued): Certificate {
    return parseCertificates(this.read(issued))[0]!;
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
