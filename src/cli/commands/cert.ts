/**
 * `halo-keys cert inspect` and `halo-keys cert verify`: read any X.509
 * certificate (ours or OpenSSL's, PEM or DER) and validate a leaf to a set
 * of trusted roots the way the Kingdom and the participants do.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { Command } from 'commander';
import { readFileBytes } from '../../lib/files.js';
import { type Certificate, OID, parseCertificates } from '../../pki/certificate.js';
import { formatGeneralName } from '../../pki/general-name.js';
import { output } from '../run.js';
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
      const certs = parseCertificates(readFileBytes(file, 'certificate')).map(describeCertificate);
      output(opts.json, certs.length === 1 ? certs[0] : certs, () => certs.map(certificateText).join('\n\n'));
    });
}
