/**
 * `halo-keys cert inspect` and `halo-keys cert verify`: read any X.509
 * certificate (ours or OpenSSL's, PEM or DER) and validate a leaf to a set
 * of trusted roots the way the Kingdom and the participants do.
 */
import { createHash, createPublicKey } from 'node:crypto';
import { type Command, Option } from 'commander';
import { readFileBytes } from '../../lib/index.js';
import {
  type Certificate,
  OID,
  parseCertificatesFrom,
  readCertificatesFile,
  CrlRevocationChecker,
  parseCrls,
  PkiError,
  formatGeneralName,
  TrustStore,
  type Purpose,
  validatePath,
  DEFAULT_VALIDATION_PROFILE,
  VALIDATION_PROFILE_NAMES,
  type ValidationProfileName,
} from '../../pki/index.js';
import { collect, isoTime, nonNegativeInt } from '../option-values.js';
import { UsageError, output } from '../run.js';
import { colonHex } from './ca.js';

const SIGNATURE_NAMES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

const CURVE_NAMES: Record<string, string> = { [OID.p256]: 'P-256', [OID.p384]: 'P-384', [OID.p521]: 'P-521' };

const EKU_NAMES: Record<string, string> = {
  [OID.serverAuth]: 'serverAuth',
  [OID.clientAuth]: 'clientAuth',
  [OID.codeSigning]: 'codeSigning',
  [OID.emailProtection]: 'emailProtection',
  [OID.timeStamping]: 'timeStamping',
  [OID.ocspSigning]: 'OCSPSigning',
  [OID.anyExtendedKeyUsage]: 'anyExtendedKeyUsage',
};

function publicKeyName(cert: Certificate): string {
  switch (cert.publicKeyAlgorithm) {
    case OID.ecPublicKey:
      return `EC ${cert.publicKeyCurve ? (CURVE_NAMES[cert.publicKeyCurve] ?? cert.publicKeyCurve) : 'explicit parameters'}`;
    case OID.rsaEncryption:
    case OID.rsassaPss: {
      // RSAPublicKey ::= SEQUENCE { modulus, exponent }; the modulus length gives the size.
      const bits = rsaBits(cert.publicKeyBytes);
      return `${cert.publicKeyAlgorithm === OID.rsassaPss ? 'RSA-PSS' : 'RSA'}${bits ? ` ${bits}` : ''}`;
    }
    case OID.ed25519:
      return 'Ed25519';
    case OID.ed448:
      return 'Ed448';
    default:
      return cert.publicKeyAlgorithm;
  }
}

function rsaBits(bytes: Uint8Array): number | undefined {
  try {
    const key = createPublicKey({ key: Buffer.from(bytes), format: 'der', type: 'pkcs1' });
    return key.asymmetricKeyDetails?.modulusLength;
  } catch {
    return undefined;
  }
}

const hex = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('hex') : undefined);

/** The inspectable view of a certificate, for text and JSON output. */
export function describeCertificate(cert: Certificate) {
  const ext = (oid: string) => cert.extensions.get(oid);
  return {
    subject: cert.subject.text,
    issuer: cert.issuer.text,
    serialNumber: cert.serialHex,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    version: cert.version,
    publicKey: publicKeyName(cert),
    signatureAlgorithm: SIGNATURE_NAMES[cert.signatureAlgorithm.oid] ?? cert.signatureAlgorithm.oid,
    subjectKeyIdentifier: hex(cert.subjectKeyIdentifier),
    authorityKeyIdentifier: hex(cert.authorityKeyIdentifier),
    basicConstraints: cert.basicConstraints
      ? { ...cert.basicConstraints, critical: ext(OID.basicConstraints)?.critical ?? false }
      : undefined,
    keyUsage: cert.keyUsage ? { usages: [...cert.keyUsage], critical: ext(OID.keyUsage)?.critical ?? false } : undefined,
    extKeyUsage: cert.extKeyUsage?.map((o) => EKU_NAMES[o] ?? o),
    subjectAltNames: cert.subjectAltNames?.map(formatGeneralName),
    nameConstraints: cert.nameConstraints
      ? { permitted: cert.nameConstraints.permitted.map(formatGeneralName), excluded: cert.nameConstraints.excluded.map(formatGeneralName) }
      : undefined,
    selfIssued: cert.isSelfIssued,
    fingerprints: {
      sha256: cert.fingerprintSha256,
      sha1: createHash('sha1').update(cert.der).digest('hex'),
    },
  };
}

export type CertificateDescription = ReturnType<typeof describeCertificate>;

export function certificateText(d: CertificateDescription): string {
  const lines = [
    `subject:            ${d.subject}`,
    `issuer:             ${d.issuer}`,
    `serial:             ${colonHex(d.serialNumber)}`,
    `valid:              ${d.notBefore} to ${d.notAfter}`,
    `public key:         ${d.publicKey}`,
    `signature:          ${d.signatureAlgorithm}`,
    `SKID:               ${d.subjectKeyIdentifier ? colonHex(d.subjectKeyIdentifier) : '(none)'}`,
    `AKID:               ${d.authorityKeyIdentifier ? colonHex(d.authorityKeyIdentifier) : '(none)'}`,
  ];
  if (d.basicConstraints) {
    const bc = d.basicConstraints;
    lines.push(
      `basic constraints:  CA:${bc.ca ? 'TRUE' : 'FALSE'}${bc.pathLenConstraint !== undefined ? `, pathlen:${bc.pathLenConstraint}` : ''}${bc.critical ? ' (critical)' : ''}`,
    );
  }
  if (d.keyUsage) lines.push(`key usage:          ${d.keyUsage.usages.join(', ')}${d.keyUsage.critical ? ' (critical)' : ''}`);
  if (d.extKeyUsage) lines.push(`extended key usage: ${d.extKeyUsage.join(', ')}`);
  if (d.subjectAltNames) lines.push(`SAN:                ${d.subjectAltNames.join(', ')}`);
  if (d.nameConstraints) {
    if (d.nameConstraints.permitted.length) lines.push(`permitted names:    ${d.nameConstraints.permitted.join(', ')}`);
    if (d.nameConstraints.excluded.length) lines.push(`excluded names:     ${d.nameConstraints.excluded.join(', ')}`);
  }
  lines.push(`SHA-256:            ${colonHex(d.fingerprints.sha256)}`, `SHA-1:              ${colonHex(d.fingerprints.sha1)}`);
  return lines.join('\n');
}

export function registerCertCommands(program: Command): void {
  const cert = program
    .command('cert')
    .description('Inspect and verify X.509 certificates')
    .addHelpText('after', '\nExample:\n  halo-keys cert inspect edp1_cs_cert.der\n  halo-keys cert verify edp1_tls.pem --trust edp1_root.pem --host localhost');

  cert
    .command('inspect')
    .description('Show subject, issuer, validity, SKID, AKID, key usages, SANs and fingerprints')
    .argument('<file>', 'certificate file: PEM (one or more) or DER')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nExample:\n  halo-keys cert inspect edp1_root.pem --json')
    .action((file: string, opts: { json?: boolean }) => {
      const certs = readCertificatesFile(file).map(describeCertificate);
      output(opts.json, certs.length === 1 ? certs[0] : certs, () => certs.map(certificateText).join('\n\n'));
    });

  cert
    .command('verify')
    .description('Validate a certificate to trusted roots (RFC 5280 path validation under a profile); exit 0 when valid, 1 when not')
    .argument('<leaf>', 'the certificate to verify (PEM or DER); more PEM blocks after it are used as intermediates')
    .requiredOption('--trust <file>', 'trusted root certificates (PEM bundle)')
    .option('--untrusted <file>', 'intermediate certificates to build the path through (PEM bundle)')
    .option('--at <iso-time>', 'validate at this instant instead of now', isoTime)
    .option('--host <name>', 'DNS name or IP address the leaf must be valid for')
    .addOption(new Option('--purpose <purpose>', 'what the leaf is used for').choices(['server', 'client', 'signing']))
    .addOption(
      new Option(
        '--profile <profile>',
        'rules to judge by: cmms (RFC 5280 + RFC 6125, no CA certificate as a TLS or signing end entity), rfc5280 (the RFC alone), webpki (CA/Browser Forum rules)',
      )
        .choices([...VALIDATION_PROFILE_NAMES])
        .default(DEFAULT_VALIDATION_PROFILE),
    )
    .option('--max-depth <n>', 'most intermediates in the path', nonNegativeInt)
    .option('--crl <file>', 'CRL to check revocation against (repeatable)', collect, [])
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Examples:
  halo-keys cert verify kingdom_tls.pem --trust all_root_certs.pem --host localhost --purpose server
  halo-keys cert verify leaf.pem --trust root.pem --untrusted intermediate.pem --crl ca.crl --at 2030-01-01T00:00:00Z --json
  halo-keys cert verify www.pem --trust roots.pem --host www.example.com --profile webpki

With --json every outcome is one JSON verdict on stdout, a malformed input included:
  {"valid": false, "code": "CERT_MALFORMED", "reason": "...", "certificate": null}`,
    )
    .action(async (leafFile: string, opts: VerifyFlags) => {
      // Files that cannot be read are usage errors; what they hold is judged below.
      const leafBytes = readFileBytes(leafFile, 'certificate');
      const trustBytes = readFileBytes(opts.trust, 'trust bundle');
      const untrustedBytes = opts.untrusted ? readFileBytes(opts.untrusted, 'untrusted bundle') : undefined;
      const crlBytes = opts.crl.map((f) => readFileBytes(f, 'CRL'));
      // A malformed input names its file; only what follows is a verification failure.
      let parsed = false;
      try {
        const [leaf, ...bundled] = parseCertificatesFrom(leafBytes, leafFile);
        if (!leaf) throw new UsageError(`${leafFile} holds no certificate`);
        const trustStore = new TrustStore(parseCertificatesFrom(trustBytes, opts.trust));
        if (trustStore.size === 0) throw new UsageError(`${opts.trust} holds no certificate`);
        const intermediates = [...bundled, ...(untrustedBytes && opts.untrusted ? parseCertificatesFrom(untrustedBytes, opts.untrusted) : [])];
        parsed = true;
        const crls = crlBytes.flatMap((b) => parseCrls(b));
        const path = await validatePath(leaf, {
          trustStore,
          profile: opts.profile,
          intermediates,
          ...(opts.at ? { at: opts.at } : {}),
          ...(opts.host !== undefined ? { host: opts.host } : {}),
          ...(opts.purpose ? { purpose: opts.purpose } : {}),
          ...(opts.maxDepth !== undefined ? { maxDepth: opts.maxDepth } : {}),
          ...(crls.length ? { revocation: new CrlRevocationChecker(crls) } : {}),
        });
        const chain = path.certificates.map((c) => ({
          subject: c.subject.text,
          issuer: c.issuer.text,
          serialNumber: c.serialHex,
          subjectKeyIdentifier: c.subjectKeyIdentifier ? Buffer.from(c.subjectKeyIdentifier).toString('hex') : undefined,
          notAfter: c.notAfter.toISOString(),
          fingerprintSha256: c.fingerprintSha256,
        }));
        output(opts.json, { valid: true, profile: path.profile, at: path.at.toISOString(), path: chain }, () =>
          [
            `${leafFile}: OK at ${path.at.toISOString()} (${path.profile} profile)`,
            ...chain.map((c, i) => `  ${i}: ${c.subject}${c.subjectKeyIdentifier ? ` [SKID ${colonHex(c.subjectKeyIdentifier)}]` : ''}${i === chain.length - 1 ? ' (trust anchor)' : ''}`),
          ].join('\n'),
        );
      } catch (err) {
        if (!(err instanceof PkiError)) throw err;
        if (opts.json) {
          output(true, { valid: false, profile: opts.profile, code: err.code, reason: err.message, certificate: err.certificate ?? null }, () => '');
        }
        if (!parsed) throw err;
        throw new PkiError(err.code, `${leafFile}: verification failed: ${err.code}: ${err.message}`, { cause: err });
      }
    });
}

interface VerifyFlags {
  trust: string;
  untrusted?: string;
  at?: Date;
  host?: string;
  purpose?: Purpose;
  profile: ValidationProfileName;
  maxDepth?: number;
  crl: string[];
  json?: boolean;
}
