/**
 * `MeasurementSystem measurement-consumers`: upstream's `create` (an
 * Account's ID token and a creation token make a MeasurementConsumer), and
 * `--name NAME get`.
 */
import { create } from '@bufbuild/protobuf';
import type { Command } from 'commander';
import { typeUrlOf } from '../../../api/index.js';
import { EncryptionPublicKeySchema, SignedMessageSchema } from '../../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementConsumerSchema } from '../../../gen/wfa/measurement/api/v2alpha/measurement_consumer_pb.js';
import { readFileBytes } from '../../../lib/files.js';
import { readEncryptionPublicKeyFile } from '../../encryption-public-keys.js';
import { UsageError } from '../../run.js';
import { readCertificateFile } from '../../signing-files.js';
import { connect, rpcAction } from './connection.js';
import { readIdToken, withIdToken } from './id-token.js';
import { printMessage } from './print.js';

interface CreateOptions {
  creationToken: string;
  certificate: string;
  publicKey: string;
  publicKeySignature: string;
  displayName: string;
  idToken?: string;
  json?: boolean;
}

export function registerMeasurementConsumersCommands(program: Command): void {
  const group = program
    .command('measurement-consumers')
    .description('MeasurementConsumer resources: create, get')
    .option('--name <name>', 'API resource name of the MeasurementConsumer (for get)')
    .option('--api-key <apiKey>', 'API authentication key of the MeasurementConsumer (for get)');

  group
    .command('create')
    .description('Creates a MeasurementConsumer resource. Use the EncryptionPublicKeys tool to serialize/sign the encryption public key.')
    .requiredOption('--creation-token <creationToken>', 'the measurement_consumer_creation_token the Kingdom operator issued')
    .requiredOption('--certificate <certPath>', 'Path to X.509 certificate in PEM or DER format')
    .requiredOption('--public-key <pubKeyPath>', 'Path to serialized EncryptionPublicKey message')
    .requiredOption('--public-key-signature <pubKeySigPath>', 'Path to public key signature')
    .option('--display-name <displayName>', 'display name', '')
    .option('--id-token <idToken>', "the Account's OpenID Connect ID token (asked for on the terminal when not given)")
    .option('--json', 'print the MeasurementConsumer as JSON')
    .addHelpText(
      'after',
      `
Prints the created MeasurementConsumer in protobuf text format; the calling
Account becomes its owner.

Example:
  MeasurementSystem ... measurement-consumers create --id-token "$ID_TOKEN" --creation-token TOKEN \\
    --certificate mc_cs_cert.der --public-key mc_enc_public.pb --public-key-signature mc_enc_public.sig`,
    )
    .action(rpcAction(async (opts: CreateOptions, cmd: Command) => {
      const idToken = await readIdToken(opts.idToken);
      const { bytes } = readEncryptionPublicKeyFile(opts.publicKey, 'public key');
      const signature = readFileBytes(opts.publicKeySignature, 'public key signature');
      const certificate = readCertificateFile(opts.certificate);
      const created = await connect(cmd).measurementConsumers.createMeasurementConsumer(
        {
          measurementConsumer: {
            measurementConsumerCreationToken: opts.creationToken,
            certificateDer: certificate.der,
            // As upstream: the key packed in `message`, its bytes also in the deprecated `data`.
            publicKey: create(SignedMessageSchema, { message: { typeUrl: typeUrlOf(EncryptionPublicKeySchema), value: bytes }, data: bytes, signature }),
            displayName: opts.displayName,
          },
        },
        withIdToken(idToken),
      );
      printMessage(opts.json, MeasurementConsumerSchema, created);
    }));

  group
    .command('get')
    .description('gets a MeasurementConsumer')
    .option('--json', 'print the MeasurementConsumer as JSON')
    .addHelpText('after', '\nExample:\n  MeasurementSystem ... measurement-consumers --name measurementConsumers/TjyUnormbAg --api-key KEY get')
    .action(rpcAction(async (opts: { json?: boolean }, cmd: Command) => {
      const { name, apiKey } = cmd.parent!.opts<{ name?: string; apiKey?: string }>();
      if (name === undefined) throw new UsageError("required option '--name <name>' not specified");
      const mc = await connect(cmd, apiKey).measurementConsumers.getMeasurementConsumer({ name });
      printMessage(opts.json, MeasurementConsumerSchema, mc, [`Measurement Consumer Resource: ${mc.name}`]);
    }));
}
