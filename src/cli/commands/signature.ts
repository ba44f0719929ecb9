/**
 * `halo-keys sign` and `halo-keys verify`: raw signatures over a file's exact
 * bytes, as upstream's `EncryptionPublicKeys sign` writes them for
 * `MeasurementSystem public-keys update --public-key-signature`.
 */
import type { Command } from 'commander';
import {
  CryptoError,
  assertKeyMatchesCertificate,
  publicKeyFromCertificate,
  defaultSignatureAlgorithm,
  describeSignatureAlgorithm,
  signatureAlgorithmFromIdentifier,
  type SignatureAlgorithm,
  signBytes,
  verifyBytes,
} from '../../crypto/index.js';
import { readFileBytes, writeFileAtomic } from '../../lib/index.js';
import { output } from '../run.js';
import { PASSPHRASE_ENV, parseSignatureAlgorithmOption, readCertificateFile, readSigningKeyFile } from '../signing-files.js';

interface SignOptions {
  certificate: string;
  signingKey: string;
  in: string;
  out: string;
  signatureAlgorithm?: string;
  passphraseFile?: string;
  json?: boolean;
}

interface VerifyOptions {
  certificate: string;
  in: string;
  signature: string;
  signatureAlgorithm?: string;
  json?: boolean;
}

/** The algorithm a verifier uses for a SignedMessage with an empty OID, or why there is none. */
function certificateFallback(signatureAlgorithm: Parameters<typeof signatureAlgorithmFromIdentifier>[0]): SignatureAlgorithm | string {
  try {
    return signatureAlgorithmFromIdentifier(signatureAlgorithm);
  } catch (err) {
    if (err instanceof CryptoError) return err.message;
    throw err;
  }
}

export function registerSignatureCommands(program: Command): void {
  program
    .command('sign')
    .description("sign a file's exact bytes with a certificate's private key; writes the raw signature (DER for ECDSA)")
    .requiredOption('--certificate <file>', 'X.509 certificate of the signing key (DER or PEM)')
    .requiredOption('--signing-key <file>', 'private key: PKCS#8 DER or PEM, encrypted PKCS#8, or SEC1 PEM')
    .requiredOption('-i, --in <file>', 'file to sign, e.g. a serialized EncryptionPublicKey')
    .requiredOption('-o, --out <file>', 'where to write the signature')
    .option('--signature-algorithm <name>', 'e.g. ECDSA_WITH_SHA256 (default: the key type with SHA-256)')
    .option('--passphrase-file <file>', `passphrase of an encrypted signing key (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Prints "Signature algorithm: NAME (OID)". The OID is not written anywhere:
a SignedMessage registered without it is verified with the certificate's own
signature algorithm, so a note is printed when the two differ.

Example:
  halo-keys sign --certificate edp1_cs_cert.der --signing-key edp1_cs_private.der \\
    --in edp1_enc_public.pb --out edp1_enc_public.sig`,
    )
    .action((opts: SignOptions) => {
      const algorithmOption = parseSignatureAlgorithmOption(opts.signatureAlgorithm);
      const certificate = readCertificateFile(opts.certificate);
      const key = readSigningKeyFile(opts.signingKey, opts.passphraseFile);
      assertKeyMatchesCertificate(key, certificate);
      const data = readFileBytes(opts.in, 'input');
      const algorithm = algorithmOption ?? defaultSignatureAlgorithm(key);
      const signature = signBytes(data, key, algorithm);
      writeFileAtomic(opts.out, signature);
      output(opts.json, { out: opts.out, signatureAlgorithm: algorithm.name, signatureAlgorithmOid: algorithm.oid }, () => `Signature algorithm: ${describeSignatureAlgorithm(algorithm)}`);
      const fallback = certificateFallback(certificate.signatureAlgorithm);
      if (typeof fallback === 'string' || describeSignatureAlgorithm(fallback) !== describeSignatureAlgorithm(algorithm)) {
        const what = typeof fallback === 'string' ? `none (${fallback})` : describeSignatureAlgorithm(fallback);
        process.stderr.write(`note: without the OID, verifiers use the certificate's signature algorithm: ${what}\n`);
      }
    });

  program
    .command('verify')
    .description("verify a raw signature over a file's exact bytes against a certificate")
    .requiredOption('--certificate <file>', 'X.509 certificate of the signer (DER or PEM)')
    .requiredOption('-i, --in <file>', 'the signed file')
    .requiredOption('--signature <file>', 'the raw signature (DER for ECDSA)')
    .option(
      '--signature-algorithm <name>',
      "e.g. ECDSA_WITH_SHA256 (default: the certificate's own signature algorithm, as CMMS does for an empty OID)",
    )
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Exit 0 and "Signature OK" when the signature verifies; exit 1 and one line
saying why when it does not.

Example:
  halo-keys verify --certificate edp1_cs_cert.der --in edp1_enc_public.pb --signature edp1_enc_public.sig`,
    )
    .action((opts: VerifyOptions) => {
      const algorithmOption = parseSignatureAlgorithmOption(opts.signatureAlgorithm);
      const certificate = readCertificateFile(opts.certificate);
      const publicKey = publicKeyFromCertificate(certificate);
      const data = readFileBytes(opts.in, 'input');
      const signature = readFileBytes(opts.signature, 'signature');
      const algorithm = algorithmOption ?? signatureAlgorithmFromIdentifier(certificate.signatureAlgorithm);
      try {
        verifyBytes(data, signature, publicKey, algorithm);
      } catch (err) {
        if (err instanceof CryptoError && err.code === 'SIGNATURE_INVALID') {
          throw new CryptoError(err.code, `${err.message} (certificate ${opts.certificate}, ${algorithm.name})`, { cause: err });
        }
        throw err;
      }
      output(opts.json, { verified: true, signatureAlgorithm: algorithm.name, signatureAlgorithmOid: algorithm.oid }, () => `Signature OK\nSignature algorithm: ${describeSignatureAlgorithm(algorithm)}`);
    });
}
