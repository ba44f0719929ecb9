/**
 * `MeasurementSystem public-keys update`: upstream's command, plus
 * `--public-key-signature-algorithm` (sent as `signature_algorithm_oid`,
 * which upstream's tool never sets) and a local check that the signature
 * verifies against the named Certificate before anything is sent.
 */
import { create } from '@bufbuild/protobuf';
import { Option, type Command } from 'commander';
import { typeUrlOf } from '../../../api/index.js';
import {
  readCertificateInfo,
  CryptoError,
  publicKeyFromCertificate,
  SIGNATURE_ALGORITHM_NAMES,
  signatureAlgorithmFromIdentifier,
  verifyBytes,
} from '../../../crypto/index.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { PublicKeySchema } from '../../../gen/wfa/measurement/api/v2alpha/public_key_pb.js';
import { readFileBytes } from '../../../lib/files.js';
import { readEncryptionPublicKeyFile } from '../../encryption-public-keys.js';
import { UsageError } from '../../run.js';
import { parseSignatureAlgorithmOption } from '../../signing-files.js';
import { connect, rpcAction } from './connection.js';
import { printMessage } from './print.js';

interface UpdateOptions {
  publicKey: string;
  publicKeySignature: string;
  publicKeySignatureAlgorithm?: string;
  certificate: string;
  skipVerify?: boolean;
  json?: boolean;
}

export function registerPublicKeysCommands(program: Command): void {
  const group = program
    .command('public-keys')
    .description('PublicKey resources: update')
    .option('--api-key <apiKey>', 'API authentication key. Required when parent type is MeasurementConsumer.');

  group
    .command('update')
    .description('Updates a PublicKey resource')
    .argument('<name>', 'Resource name, e.g. dataProviders/OljiQHRz-E4/publicKey')
    .requiredOption('--public-key <publicKeyFile>', 'Path to serialized EncryptionPublicKey message')
    .requiredOption('--public-key-signature <publicKeySignatureFile>', 'Path to signature of public key')
    .requiredOption('--certificate <certificate>', 'Name of Certificate resource to verify public key signature')
    .addOption(
      new Option('--public-key-signature-algorithm <name>', 'the algorithm EncryptionPublicKeys sign printed; sent as signature_algorithm_oid').choices(SIGNATURE_ALGORITHM_NAMES),
    )
    .option('--skip-verify', 'do not check the signature against the Certificate before sending')
    .option('--json', 'print the PublicKey as JSON')
    .addHelpText(
      'after',
      `
Prints the returned PublicKey in protobuf text format. Before sending, the
signature is verified against the named Certificate (fetched from the
Kingdom) with the given algorithm, or the certificate's own as CMMS does for
an empty OID.

Example:
  MeasurementSystem ... public-keys update dataProviders/OljiQHRz-E4/publicKey \\
    --public-key edp1_enc_public.pb --public-key-signature edp1_enc_public.sig \\
    --certificate dataProviders/OljiQHRz-E4/certificates/Yq3gxMqCxuM`,
    )
    .action(rpcAction(async (name: string, opts: UpdateOptions, cmd: Command) => {
      const algorithm = parseSignatureAlgorithmOption(opts.publicKeySignatureAlgorithm);
      const { bytes } = readEncryptionPublicKeyFile(opts.publicKey, 'public key');
      const signature = readFileBytes(opts.publicKeySignature, 'public key signature');
      if (signature.length === 0) throw new UsageError(`--public-key-signature ${opts.publicKeySignature} is empty`);
      const client = connect(cmd, cmd.parent!.opts<{ apiKey?: string }>().apiKey);

      if (!opts.skipVerify) {
        const certificate = await client.certificates.getCertificate({ name: opts.certificate });
        const info = readCertificateInfo(certificate.x509Der);
        const used = algorithm ?? signatureAlgorithmFromIdentifier(info.signatureAlgorithm);
        try {
          verifyBytes(bytes, signature, publicKeyFromCertificate(info), used);
        } catch (err) {
          if (err instanceof CryptoError && err.code === 'SIGNATURE_INVALID') {
            throw new CryptoError(
              err.code,
              `${opts.publicKeySignature} is not a ${used.name} signature of ${opts.publicKey} by ${opts.certificate}: sign with that certificate's key (EncryptionPublicKeys sign)`,
              { cause: err },
            );
          }
          throw err;
        }
      }

      const updated = await client.publicKeys.updatePublicKey({
        publicKey: {
          name,
          certificate: opts.certificate,
          publicKey: create(SignedMessageSchema, {
            message: { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: bytes },
            // Upstream still fills the deprecated `data` beside `message`.
            data: bytes,
            signature,
            signatureAlgorithmOid: algorithm?.oid ?? '',
          }),
        },
      });
      printMessage(opts.json, PublicKeySchema, updated);
    }));
}
