/**
 * `halo-keys ca ...`: run a participant's private CA from a directory
 * (see `pki/ca-store.ts` for the layout). The CA key passphrase comes from
 * `--passphrase-file` or HALO_KEYS_CA_PASSPHRASE, never a flag value.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { systemClock, readFileBytes, writeFileAtomic, writeSecretFile, encodePem } from '../../lib/index.js';
import {
  type CertificateAuthority,
  crossSign,
  initRoot,
  issueIntermediate,
  issueLeaf,
  encodeConstraintBase,
  type GeneralNameInput,
  PASSPHRASE_ENV,
  resolvePassphrase,
  subjectToDer,
  type ValidityRequest,
  LEAF_PROFILES,
  type LeafProfile,
  CA_FILES,
  addRevocation,
  createCaDirectory,
  normalizeSerial,
  openCa,
  openTokenCa,
  readCaKeyCustody,
  readCaCertificate,
  readCaState,
  recordFor,
  releaseHold,
  takeCrlNumber,
  withCaLock,
  writeCaState,
  type IssuedKind,
  type Certificate,
  readCertificatesFile,
  buildCrl,
  parseCsr,
  PkiError,
  CRL_REASONS,
  type CrlReason,
  type NameConstraintsInput,
  KEY_TYPES,
  type KeyType,
  PKCS11_MODULE_ENV,
  PKCS11_PIN_ENV,
  TOKEN_KEY_TYPES,
  type TokenAccess,
  findTokenPublicKey,
  generateTokenKey,
  parsePkcs11Uri,
  pkcs11Signer,
  type KeySigner,
} from '../../pki/index.js';
import { dnsName, email, ipAddress, serialHex, subject, uri } from '../name-option-values.js';
import { checked, days, isoTime, nonNegativeInt, positiveInt, repeatable } from '../option-values.js';
import { UsageError, output } from '../run.js';

/** Colon-separated uppercase hex, the way fingerprints are read aloud and compared out of band. */
export function colonHex(hex: string): string {
  return (hex.toUpperCase().match(/../g) ?? []).join(':');
}

interface ValidityFlags {
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

function validity(opts: ValidityFlags): ValidityRequest {
  if (opts.days !== undefined && (opts.notBefore || opts.notAfter)) throw new UsageError('give --days or --not-before/--not-after, not both');
  if ((opts.notBefore === undefined) !== (opts.notAfter === undefined)) throw new UsageError('--not-before and --not-after go together');
  return opts.notBefore ? { notBefore: opts.notBefore, notAfter: opts.notAfter! } : opts.days !== undefined ? { days: opts.days } : {};
}

function addValidityOptions(cmd: Command, defaultDays: number): Command {
  return cmd
    .option('--days <n>', `validity in days from now (default ${defaultDays})`, days)
    .option('--not-before <iso>', 'explicit start of validity (with --not-after)', isoTime)
    .option('--not-after <iso>', 'explicit end of validity (with --not-before)', isoTime);
}

function addPassphraseOption(cmd: Command): Command {
  return cmd
    .option('--passphrase-file <file>', `file whose first line is the CA key passphrase (default: $${PASSPHRASE_ENV})`)
    .option('--pkcs11-module <path>', `PKCS#11 module of a token CA (default: module-path in the URI, the one recorded, or $${PKCS11_MODULE_ENV})`)
    .option('--pin-file <file>', `file whose first line is the token PIN of a token CA (default: $${PKCS11_PIN_ENV})`);
}

interface TokenFlags {
  pkcs11Module?: string;
  pinFile?: string;
}

/** Module and PIN for a token; the PIN from a file or the environment, never a flag value. */
function tokenAccess(opts: TokenFlags, fallbackModule?: string): TokenAccess {
  const module = opts.pkcs11Module ?? fallbackModule ?? process.env[PKCS11_MODULE_ENV];
  if (!module) throw new UsageError(`name the PKCS#11 module: --pkcs11-module, module-path in the URI, or $${PKCS11_MODULE_ENV}`);
  const pin = opts.pinFile
    ? Buffer.from(readFileBytes(opts.pinFile, 'PIN file')).toString('utf8').split(/\r?\n/)[0]
    : process.env[PKCS11_PIN_ENV];
  if (!pin) throw new UsageError(`the token needs a PIN: set $${PKCS11_PIN_ENV} or pass --pin-file FILE`);
  return { module, pin };
}

/** The CA of a directory, with its key decrypted from the key file or reached on its token. */
function openAuthority(opts: TokenFlags & { dir: string; passphraseFile?: string }): CertificateAuthority {
  const custody = readCaKeyCustody(opts.dir);
  return custody ? openTokenCa(opts.dir, tokenAccess(opts, custody.module)) : openCa(opts.dir, passphrase(opts));
}

/** `ca init --pkcs11-uri`: the token key of that label, generated first when the token has none. */
function tokenRootKey(opts: TokenFlags & { pkcs11Uri: string; keyType: string }): { signer: KeySigner; module: string } {
  const key = parsePkcs11Uri(opts.pkcs11Uri);
  const access = tokenAccess(opts, key.modulePath);
  if (!TOKEN_KEY_TYPES.includes(opts.keyType as KeyType)) throw new UsageError(`a token CA key must be ${TOKEN_KEY_TYPES.join(', ')}`);
  const publicKey = findTokenPublicKey(key, access) ?? generateTokenKey(key, access, opts.keyType as KeyType);
  return { signer: pkcs11Signer(key, access, publicKey), module: access.module };
}

function keyTypeOption(): Option {
  return new Option('--key-type <type>', 'key type').choices(KEY_TYPES as string[]).default('p256');
}

function passphrase(opts: { passphraseFile?: string }): string {
  return resolvePassphrase(opts.passphraseFile ? { file: opts.passphraseFile } : {});
}

function record(dir: string, cert: Certificate, kind: IssuedKind): void {
  withCaLock(dir, () => {
    const state = readCaState(dir);
    state.issued.push(recordFor(cert, kind));
    writeCaState(dir, state);
  });
}

interface ConstraintFlags {
  permitDns: string[];
  excludeDns: string[];
  permitIp: string[];
  excludeIp: string[];
  permitEmail: string[];
  excludeEmail: string[];
  permitDn: string[];
  excludeDn: string[];
}

function constraints(opts: ConstraintFlags): NameConstraintsInput | undefined {
  const names = (dns: string[], ip: string[], email: string[], dn: string[]): GeneralNameInput[] => [
    ...dns.map((value) => ({ type: 'dns' as const, value })),
    ...ip.map((value) => ({ type: 'ip' as const, value })),
    ...email.map((value) => ({ type: 'email' as const, value })),
    ...dn.map((value) => ({ type: 'dn' as const, der: subjectToDer(value) })),
  ];
  const permitted = names(opts.permitDns, opts.permitIp, opts.permitEmail, opts.permitDn);
  const excluded = names(opts.excludeDns, opts.excludeIp, opts.excludeEmail, opts.excludeDn);
  return permitted.length || excluded.length ? { permitted, excluded } : undefined;
}

function addConstraintOptions(cmd: Command): Command {
  for (const kind of ['dns', 'ip', 'email', 'dn'] as const) {
    const what = { dns: 'DNS domain', ip: 'IP range addr/len', email: 'e-mail address or domain', dn: 'subject subtree /O=...' }[kind];
    const base = repeatable(checked((value: string) => (kind === 'dn' ? subject(value) : (encodeConstraintBase({ type: kind, value }), value))));
    cmd.option(`--permit-${kind} <value>`, `name constraint: permit ${what} (repeatable)`, base, []);
    cmd.option(`--exclude-${kind} <value>`, `name constraint: exclude ${what} (repeatable)`, base, []);
  }
  return cmd;
}

function caSummary(cert: Certificate, dir: string) {
  return {
    dir,
    subject: cert.subject.text,
    serialNumber: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    subjectKeyIdentifier: cert.subjectKeyIdentifier ? Buffer.from(cert.subjectKeyIdentifier).toString('hex') : undefined,
    fingerprintSha256: cert.fingerprintSha256,
    /** Where the CA key lives: the PKCS#11 URI of a token key, or absent for the key file. */
    pkcs11Uri: readCaKeyCustody(dir)?.uri,
  };
}

function caText(s: ReturnType<typeof caSummary>, heading: string): string {
  return [
    heading,
    `  certificate:  ${join(s.dir, CA_FILES.certificate)}`,
    s.pkcs11Uri ? `  key:          ${s.pkcs11Uri} (on the token)` : `  key:          ${join(s.dir, CA_FILES.key)} (encrypted, mode 0600)`,
    `  subject:      ${s.subject}`,
    `  valid:        ${s.notBefore} to ${s.notAfter}`,
    `  SKID:         ${colonHex(s.subjectKeyIdentifier ?? '')}`,
    `SHA-256 fingerprint (compare out of band before trusting this CA):`,
    `  ${colonHex(s.fingerprintSha256)}`,
  ].join('\n');
}

function writeCertificate(path: string, ders: Uint8Array[], der: boolean): void {
  if (der && ders.length > 1) throw new UsageError('--der writes one certificate; drop --chain');
  writeFileAtomic(path, der ? ders[0]! : ders.map((d) => encodePem('CERTIFICATE', d)).join(''));
}

export function registerCaCommands(program: Command): void {
  const ca = program
    .command('ca')
    .description('Run a private CA: root, intermediates, cross-signing, leaf issuance, revocation and CRLs')
    .addHelpText(
      'after',
      `
The CA lives in a directory: ca.pem, ca.key (encrypted PKCS#8, mode 0600),
chain.pem (intermediates), ca-state.json (issued and revoked serials).
The key passphrase is read from --passphrase-file or $${PASSPHRASE_ENV}.
A CA made with \`init --pkcs11-uri\` keeps its key on a PKCS#11 token instead
(ca-pkcs11.json records the URI and module); its PIN is read from --pin-file
or $${PKCS11_PIN_ENV}.

Example:
  export ${PASSPHRASE_ENV}="$(cat /secure/edp1-ca-passphrase)"
  halo-keys ca init --dir edp1-ca --subject "/O=Halo CMM/CN=Edp1 CA" --host dev.halo-cmm.org
  halo-keys ca issue --dir edp1-ca --profile signing --subject "/O=Halo CMM/CN=Edp1" --key-out edp1_cs.key --out edp1_cs_cert.der --der`,
    );

  addPassphraseOption(
    addValidityOptions(
      ca
        .command('init')
        .description('Create a self-signed root CA and print its SHA-256 fingerprint')
        .requiredOption('--dir <dir>', 'CA directory to create')
        .requiredOption('--subject <dn>', 'subject, e.g. "/O=Halo CMM/CN=Edp1 CA"', subject)
        .addOption(keyTypeOption())
        .option('--host <name>', 'DNS name for the root SAN (repeatable)', repeatable(dnsName), [])
        .option('--path-len <n>', 'pathLenConstraint for the root', nonNegativeInt)
        .option('--pkcs11-uri <uri>', 'keep the key on a PKCS#11 token: pkcs11:token=...;object=... (used if present, else generated there)'),
      3650,
    ),
  )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  halo-keys ca init --dir edp1-ca --subject "/O=Halo CMM/CN=Edp1 CA" --key-type p256 --days 3650 --host dev.halo-cmm.org')
    .action((opts) => {
      const pass = opts.pkcs11Uri ? undefined : passphrase(opts);
      if (existsSync(join(opts.dir, CA_FILES.certificate))) throw new PkiError('INVALID_REQUEST', `${opts.dir} already holds a CA`);
      const token = opts.pkcs11Uri ? tokenRootKey(opts) : undefined;
      const root = initRoot({
        subject: opts.subject,
        keyType: opts.keyType as KeyType,
        hostNames: opts.host,
        pathLength: opts.pathLen,
        ...(token ? { privateKey: token.signer } : {}),
        ...validity(opts),
        clock: systemClock,
      });
      createCaDirectory(opts.dir, { certificateDer: root.der, privateKey: root.privateKey, passphrase: pass, pkcs11Module: token?.module });
      const s = caSummary(root.certificate, opts.dir);
      output(opts.json, s, () => caText(s, 'Created root CA'));
    });

  addConstraintOptions(
    addPassphraseOption(
      addValidityOptions(
        ca
          .command('intermediate')
          .description('Create an intermediate CA directory signed by the CA in --dir')
          .requiredOption('--dir <dir>', 'issuing CA directory')
          .requiredOption('--out-dir <dir>', 'new intermediate CA directory')
          .requiredOption('--subject <dn>', 'subject of the intermediate', subject)
          .addOption(keyTypeOption())
          .option('--path-len <n>', 'pathLenConstraint (default: one less than the issuer, if it has one)', nonNegativeInt)
          .option('--host <name>', 'DNS name for the SAN (repeatable)', repeatable(dnsName), [])
          .option('--clip-to-issuer', 'cut the validity to the issuer instead of refusing'),
        1825,
      ),
    ).option('--new-passphrase-file <file>', 'passphrase for the new CA key (default: the issuer passphrase)'),
  )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  halo-keys ca intermediate --dir edp1-ca --out-dir edp1-tls-ca --subject "/O=Halo CMM/CN=Edp1 TLS CA" --path-len 0 --permit-dns edp1.dev.halo-cmm.org',
    )
    .action((opts) => {
      const issuer = openAuthority(opts);
      const newPass = opts.newPassphraseFile ? resolvePassphrase({ file: opts.newPassphraseFile }) : passphrase(opts);
      const nc = constraints(opts);
      const inter = issueIntermediate(issuer, {
        subject: opts.subject,
        keyType: opts.keyType as KeyType,
        pathLength: opts.pathLen,
        hostNames: opts.host,
        ...(nc ? { nameConstraints: nc } : {}),
        clipToIssuer: Boolean(opts.clipToIssuer),
        ...validity(opts),
        clock: systemClock,
      });
      createCaDirectory(opts.outDir, {
        certificateDer: inter.der,
        privateKey: inter.privateKey!,
        passphrase: newPass,
        chain: [issuer.certificate.der, ...(issuer.chain ?? []).map((c) => c.der)],
      });
      record(opts.dir, inter.certificate, 'intermediate');
      const s = caSummary(inter.certificate, opts.outDir);
      output(opts.json, s, () => caText(s, `Created intermediate CA under ${issuer.certificate.subject.text}`));
    });

  addPassphraseOption(
    addValidityOptions(
      ca
        .command('cross-sign')
        .description("Certify a new root's subject and key with the CA in --dir (root rotation with overlap)")
        .requiredOption('--dir <dir>', 'the old (issuing) CA directory')
        .requiredOption('--new-root <file>', "the new root's self-signed certificate (PEM or DER)")
        .requiredOption('--out <file>', 'where to write the cross certificate')
        .option('--der', 'write DER instead of PEM')
        .option('--clip-to-issuer', 'cut an explicit validity to the issuer instead of refusing'),
      3650,
    ),
  )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nExample:\n  halo-keys ca cross-sign --dir edp1-ca --new-root edp1-ca-2026/ca.pem --out edp1-ca-2026-cross.pem\n\nRelying parties that trust only the old root then accept the new root\'s leaves\nwhen the cross certificate is sent as an intermediate.',
    )
    .action((opts) => {
      const issuer: CertificateAuthority = openAuthority(opts);
      const roots = readCertificatesFile(opts.newRoot, 'new root certificate');
      if (roots.length !== 1) throw new UsageError('--new-root must hold exactly one certificate');
      const cross = crossSign(issuer, roots[0]!, { clipToIssuer: Boolean(opts.clipToIssuer), ...validity(opts), clock: systemClock });
      writeCertificate(opts.out, [cross.der], Boolean(opts.der));
      record(opts.dir, cross.certificate, 'cross-sign');
      const s = { out: opts.out, ...caSummary(cross.certificate, opts.dir), issuer: cross.certificate.issuer.text };
      output(opts.json, s, () => `Wrote cross certificate ${opts.out}\n  subject: ${s.subject}\n  issuer:  ${s.issuer}\n  valid:   ${s.notBefore} to ${s.notAfter}`);
    });

  addPassphraseOption(
    addValidityOptions(
      ca
        .command('issue')
        .description('Issue a leaf certificate from a CSR or a freshly generated key')
        .requiredOption('--dir <dir>', 'issuing CA directory')
        .addOption(new Option('--profile <profile>', 'certificate profile').choices(LEAF_PROFILES as string[]).makeOptionMandatory())
        .option('--csr <file>', 'PKCS#10 request (PEM or DER); its signature is checked')
        .option('--csr-sans', "copy the SANs the CSR asks for (off by default: the CA decides names)")
        .option('--key-out <file>', 'generate a key and write it here (PKCS#8 PEM, mode 0600)')
        .addOption(keyTypeOption())
        .option('--subject <dn>', 'subject (default: the CSR subject)', subject)
        .option('--dns <name>', 'DNS SAN (repeatable)', repeatable(dnsName), [])
        .option('--ip <addr>', 'IP SAN (repeatable)', repeatable(ipAddress), [])
        .option('--uri <uri>', 'URI SAN (repeatable)', repeatable(uri), [])
        .option('--email <addr>', 'e-mail SAN (repeatable)', repeatable(email), [])
        .option('--clip-to-issuer', 'cut the validity to the issuer instead of refusing')
        .requiredOption('--out <file>', 'where to write the certificate')
        .option('--der', 'write DER instead of PEM')
        .option('--chain', 'append the CA certificates after the leaf (PEM only)'),
      365,
    ),
  )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  halo-keys ca issue --dir kingdom-ca --profile tls-server --subject "/O=Halo CMM/CN=Kingdom" \\
    --dns localhost --dns '*.kingdom.dev.halo-cmm.org' --ip 127.0.0.1 --key-out kingdom_tls.key --out kingdom_tls.pem
  halo-keys ca issue --dir edp1-ca --profile signing --csr edp1_cs.csr --days 365 --out edp1_cs_cert.der --der`,
    )
    .action((opts) => {
      if (Boolean(opts.csr) === Boolean(opts.keyOut)) throw new UsageError('give exactly one of --csr FILE or --key-out FILE');
      if (opts.csrSans && !opts.csr) throw new UsageError('--csr-sans needs --csr');
      if (opts.chain && opts.der) throw new UsageError('--chain writes PEM; drop --der');
      if (opts.keyOut && existsSync(opts.keyOut)) throw new UsageError(`${opts.keyOut} exists; refusing to overwrite a private key`);
      const csr = opts.csr ? parseCsr(readFileBytes(opts.csr, 'certificate request')) : undefined;
      const altNames: GeneralNameInput[] = [
        ...(opts.dns as string[]).map((value) => ({ type: 'dns' as const, value })),
        ...(opts.ip as string[]).map((value) => ({ type: 'ip' as const, value })),
        ...(opts.uri as string[]).map((value) => ({ type: 'uri' as const, value })),
        ...(opts.email as string[]).map((value) => ({ type: 'email' as const, value })),
      ];
      const authority = openAuthority(opts);
      const leaf = issueLeaf(authority, {
        profile: opts.profile as LeafProfile,
        ...(opts.subject !== undefined ? { subject: opts.subject } : {}),
        ...(csr ? { csr, copyCsrAltNames: Boolean(opts.csrSans) } : { keyType: opts.keyType as KeyType }),
        altNames,
        clipToIssuer: Boolean(opts.clipToIssuer),
        ...validity(opts),
        clock: systemClock,
      });
      // Record before writing files, so no certificate exists that the CA cannot revoke.
      record(opts.dir, leaf.certificate, opts.profile as IssuedKind);
      if (leaf.privateKey && opts.keyOut) {
        writeSecretFile(opts.keyOut, leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
      }
      const chain = opts.chain ? [authority.certificate.der, ...(authority.chain ?? []).map((c) => c.der)] : [];
      writeCertificate(opts.out, [leaf.der, ...chain], Boolean(opts.der));
      const c = leaf.certificate;
      const s = {
        out: opts.out,
        keyOut: opts.keyOut,
        profile: opts.profile,
        subject: c.subject.text,
        serialNumber: c.serialHex,
        notBefore: c.notBefore.toISOString(),
        notAfter: c.notAfter.toISOString(),
        fingerprintSha256: c.fingerprintSha256,
      };
      output(opts.json, s, () =>
        [
          `Issued ${s.profile} certificate ${s.out}${s.keyOut ? ` (key ${s.keyOut}, mode 0600)` : ''}`,
          `  subject: ${s.subject}`,
          `  serial:  ${s.serialNumber}`,
          `  valid:   ${s.notBefore} to ${s.notAfter}`,
          `  SHA-256: ${colonHex(s.fingerprintSha256)}`,
        ].join('\n'),
      );
    });

  ca.command('revoke')
    .description('Revoke a certificate this CA issued (it appears on the next CRL)')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--serial <hex>', 'serial number in hex (colons allowed)', serialHex)
    .addOption(
      new Option('--reason <reason>', 'CRL reason')
        .choices(CRL_REASONS.filter((r): r is CrlReason => r !== undefined && r !== 'removeFromCRL'))
        .default('unspecified'),
    )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  halo-keys ca revoke --dir edp1-ca --serial 4f:1a:...:09 --reason keyCompromise\n  halo-keys ca crl --dir edp1-ca --out edp1-ca.crl')
    .action((opts) => {
      const entry = withCaLock(opts.dir, () => {
        readCaCertificate(opts.dir);
        const state = readCaState(opts.dir);
        const r = addRevocation(state, opts.serial, opts.reason as CrlReason, systemClock.now());
        writeCaState(opts.dir, state);
        return r;
      });
      output(opts.json, entry, () => `Revoked serial ${entry.serialHex} (${entry.reason}); publish a new CRL with "halo-keys ca crl"`);
    });

  ca.command('release-hold')
    .description('Lift a certificateHold revocation')
    .requiredOption('--dir <dir>', 'CA directory')
    .requiredOption('--serial <hex>', 'serial number in hex', serialHex)
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  halo-keys ca release-hold --dir edp1-ca --serial 4f1a...09')
    .action((opts) => {
      const serialHex = normalizeSerial(opts.serial);
      withCaLock(opts.dir, () => {
        const state = readCaState(opts.dir);
        releaseHold(state, serialHex);
        writeCaState(opts.dir, state);
      });
      output(opts.json, { serialHex, released: true }, () => `Released hold on serial ${serialHex}; publish a new CRL with "halo-keys ca crl"`);
    });

  addPassphraseOption(
    ca
      .command('crl')
      .description('Produce a signed CRL of every certificate this CA has revoked')
      .requiredOption('--dir <dir>', 'CA directory')
      .requiredOption('--out <file>', 'where to write the CRL')
      .option('--next-update-days <n>', 'days until nextUpdate', positiveInt, 7)
      .option('--der', 'write DER instead of PEM'),
  )
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  halo-keys ca crl --dir edp1-ca --out edp1-ca.crl --next-update-days 7')
    .action((opts) => {
      const authority = openAuthority(opts);
      const thisUpdate = systemClock.now();
      const nextUpdate = new Date(thisUpdate.getTime() + opts.nextUpdateDays * 86_400_000);
      const { der, number, count } = withCaLock(opts.dir, () => {
        const state = readCaState(opts.dir);
        const n = takeCrlNumber(state);
        const crl = buildCrl({
          issuer: authority.certificate,
          issuerKey: authority.privateKey,
          entries: state.revoked.map((r) => ({ serialHex: r.serialHex, revocationDate: new Date(r.revokedAt), reason: r.reason })),
          crlNumber: n,
          thisUpdate,
          nextUpdate,
        });
        writeCaState(opts.dir, state);
        return { der: crl, number: n, count: state.revoked.length };
      });
      writeFileAtomic(opts.out, opts.der ? der : encodePem('X509 CRL', der));
      const s = { out: opts.out, crlNumber: number, revoked: count, thisUpdate: thisUpdate.toISOString(), nextUpdate: nextUpdate.toISOString() };
      output(opts.json, s, () => `Wrote CRL #${number} with ${count} revoked certificate(s) to ${opts.out}; next update ${s.nextUpdate}`);
    });
}
