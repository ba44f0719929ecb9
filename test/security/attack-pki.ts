/**
 * Client certificates an attacker can make, made with the real `openssl` CLI
 * from the CMMS test PKI (../shared/testdata/cmms-secretfiles): a registered
 * participant (EDP 2) uses only its own root key; an operator-trusted root
 * (`--trusted-roots`) is made here.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCertificate } from '../../src/pki/certificate.js';
import { decodePem } from '../../src/lib/pem.js';

export const secretFiles = fileURLToPath(new URL('../../../shared/testdata/cmms-secretfiles/', import.meta.url));
export const cmms = (name: string): string => join(secretFiles, name);

/** A client credential: PEM of the certificate (with any chain after it) and of its key. */
export interface ClientTls {
  readonly certPem: string;
  readonly keyPem: string;
}

const LEAF_EXT = 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';
const CA_EXT = 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n';

/** SKID of a PEM certificate as openssl's extension syntax wants it (`AA:BB:...`). */
export function skidOf(pemFile: string): string {
  const der = decodePem(readFileSync(pemFile, 'latin1'))[0]!.der;
  const skid = parseCertificate(der).subjectKeyIdentifier!;
  return Buffer.from(skid).toString('hex').toUpperCase().match(/../g)!.join(':');
}

export class AttackPki {
  #serial = 0x70;

  constructor(readonly dir: string) {}

  #openssl(args: string[]): void {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }

  #path(name: string): string {
    return join(this.dir, name);
  }

  /** A self-signed root, as an operator would add with `--trusted-roots`. */
  root(name: string, subject: string): { pem: string; key: string } {
    this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
    writeFileSync(this.#path(`${name}.ext`), 'basicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    this.#openssl(['req', '-new', '-x509', '-key', `${name}.key`, '-subj', subject, '-days', '365', '-set_serial', String(++this.#serial),
      '-extensions', 'v3', '-config', this.#config(), '-out', `${name}.pem`]);
    return { pem: this.#path(`${name}.pem`), key: this.#path(`${name}.key`) };
  }

  #config(): string {
    const file = this.#path('root.cnf');
    writeFileSync(file, '[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n');
    return file;
  }

  /**
   * Issues a certificate for a new P-256 key under `ca`. `ext` is the
   * openssl extension text; returns the PEM file and key file.
   */
  issue(name: string, subject: string, ca: { pem: string; key: string }, ext: string): { pem: string; key: string } {
    this.#openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`]);
    this.#openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject, '-out', `${name}.csr`]);
    writeFileSync(this.#path(`${name}.ext`), ext);
    this.#openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', ca.pem, '-CAkey', ca.key, '-set_serial', `0x${(++this.#serial).toString(16)}`,
      '-days', '30', '-extfile', `${name}.ext`, '-out', `${name}.pem`]);
    return { pem: this.#path(`${name}.pem`), key: this.#path(`${name}.key`) };
  }

  /** A client leaf under `ca` (AKID = the CA's SKID), with optional extra extension text instead of the leaf profile. */
  leaf(name: string, ca: { pem: string; key: string }, ext = LEAF_EXT): ClientTls & { pem: string } {
    const leaf = this.issue(name, `/O=Attacker/CN=${name}`, ca, ext);
    return { pem: leaf.pem, certPem: readFileSync(leaf.pem, 'utf8'), keyPem: readFileSync(leaf.key, 'utf8') };
  }

  /**
   * The issue's attack: an intermediate under `attackerRoot` whose SKID
   * copies `victimRootPem`'s SKID, and a client leaf under it (its AKID is
   * now the victim root's SKID), sent with its chain.
   */
  forgedChain(name: string, attackerRoot: { pem: string; key: string }, victimRootPem: string): ClientTls {
    const ext = CA_EXT.replace('subjectKeyIdentifier=hash', `subjectKeyIdentifier=${skidOf(victimRootPem)}`);
    const evil = this.issue(`${name}-evil`, `/O=Attacker/CN=${name} intermediate`, attackerRoot, ext);
    const leaf = this.leaf(`${name}-leaf`, evil);
    return { certPem: leaf.certPem + readFileSync(evil.pem, 'utf8'), keyPem: leaf.keyPem };
  }

  /** A CA certificate (CA:TRUE, keyCertSign) under `ca`, used as a client certificate. */
  caAsLeaf(name: string, ca: { pem: string; key: string }): ClientTls {
    return this.leaf(name, ca, CA_EXT);
  }

  /** A leaf with keyCertSign but CA:FALSE. */
  keyCertSignLeaf(name: string, ca: { pem: string; key: string }): ClientTls {
    return this.leaf(name, ca, LEAF_EXT.replace('keyUsage=digitalSignature', 'keyUsage=digitalSignature,keyCertSign'));
  }

  /** A leaf whose EKU allows serverAuth only. */
  serverOnlyLeaf(name: string, ca: { pem: string; key: string }): ClientTls {
    return this.leaf(name, ca, LEAF_EXT.replace('extendedKeyUsage=clientAuth', 'extendedKeyUsage=serverAuth'));
  }

  /** A good leaf under `ca` with one bit of its signature flipped. */
  badSignatureLeaf(name: string, ca: { pem: string; key: string }): ClientTls {
    const good = this.leaf(name, ca);
    this.#openssl(['x509', '-in', good.pem, '-outform', 'DER', '-out', `${name}.der`]);
    const der = readFileSync(this.#path(`${name}.der`));
    der[der.length - 5]! ^= 0x01;
    const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
    return { certPem: pem, keyPem: good.keyPem };
  }
}
