/**
 * `MeasurementSystem measurements create`, upstream's CreateMeasurement: the
 * MeasurementConsumer signs a MeasurementSpec and, per DataProvider, a
 * RequisitionSpec it encrypts to that DataProvider's EncryptionPublicKey,
 * then prints `Measurement Name: NAME`.
 */
import { create } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Command } from 'commander';
import { nonceHash, randomNonce, unpackAny } from '../../../api/index.js';
import type { KingdomClient } from '../../../client/index.js';
import { assertKeyMatchesCertificate, CryptoError, encryptMessage, parseKeyset, readCertificateInfo, signMessage } from '../../../crypto/index.js';
import { EncryptionPublicKeySchema, EncryptionPublicKey_Format, SignedMessageSchema } from '../../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import { MeasurementSchema, Measurement_DataProviderEntrySchema, type Measurement_DataProviderEntry } from '../../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { MeasurementSpecSchema } from '../../../gen/wfa/measurement/api/v2alpha/measurement_spec_pb.js';
import { RequisitionSpecSchema, type RequisitionSpec } from '../../../gen/wfa/measurement/api/v2alpha/requisition_spec_pb.js';
import { HaloError } from '../../../lib/errors.js';
import { output } from '../../run.js';
import { PASSPHRASE_ENV, readSigningKeyFile } from '../../signing-files.js';
import { connect, rpcAction } from './connection.js';
import { addCreateMeasurementOptions, readCreateMeasurementFlags } from './create-measurement-flags.js';
import { messageJson } from './print.js';

/** A party's published key that cannot be used: nothing is sent. */
class PublicKeyError extends HaloError<'PUBLIC_KEY_UNUSABLE'> {}

/** The Tink keyset inside a DataProvider's published EncryptionPublicKey. */
function encryptionKeyset(owner: string, message: Any | undefined) {
  try {
    const key = unpackAny(EncryptionPublicKeySchema, message);
    if (key.format !== EncryptionPublicKey_Format.TINK_KEYSET) throw new PublicKeyError('PUBLIC_KEY_UNUSABLE', `format ${EncryptionPublicKey_Format[key.format] ?? key.format}`);
    return parseKeyset(key.data);
  } catch (err) {
    if (err instanceof HaloError) throw new PublicKeyError('PUBLIC_KEY_UNUSABLE', `the EncryptionPublicKey of ${owner} cannot be used: ${err.message}`, { cause: err });
    throw err;
  }
}

export function registerCreateMeasurementCommand(group: Command, apiKeyOf: (cmd: Command) => string | undefined): void {
  addCreateMeasurementOptions(group.command('create').description('Creates a Single Measurement'))
    .option('--passphrase-file <file>', `passphrase of an encrypted --private-key-der-file (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print the created Measurement as JSON')
    .addHelpText(
      'after',
      `
Prints "Measurement Name: NAME". Either an event measurement: one or more
--event-data-provider, each followed by its --event-filter and one or more
--event-group with --event-start-time and --event-end-time; the
--vid-sampling-start and --vid-sampling-width; and one measurement type with
its privacy parameters. Or --population with --population-data-provider and
its times. The MeasurementSpec and each RequisitionSpec are signed with
--private-key-der-file (the key of the MeasurementConsumer's certificate).

Example:
  MeasurementSystem ... measurements --api-key KEY create \\
    --measurement-consumer measurementConsumers/TjyUnormbAg --private-key-der-file mc_cs_private.der \\
    --reach --reach-privacy-epsilon 0.0072 --reach-privacy-delta 0 \\
    --vid-sampling-start 0 --vid-sampling-width 1 \\
    --event-data-provider dataProviders/OljiQHRz-E4 --event-filter 'person.age_group == 1' \\
    --event-group dataProviders/OljiQHRz-E4/eventGroups/AAAAAAAAAHs \\
    --event-start-time 2024-01-01T00:00:00Z --event-end-time 2024-01-31T00:00:00Z`,
    )
    .action(rpcAction(async (opts: Record<string, unknown>, cmd: Command) => {
      const flags = readCreateMeasurementFlags(opts);
      const signingKey = readSigningKeyFile(flags.privateKeyDerFile, opts.passphraseFile as string | undefined);
      const client = connect(cmd, apiKeyOf(cmd));
      const mc = await client.measurementConsumers.getMeasurementConsumer({ name: flags.measurementConsumer });
      try {
        assertKeyMatchesCertificate(signingKey, readCertificateInfo(mc.certificateDer));
      } catch (err) {
        if (err instanceof CryptoError) {
          throw new CryptoError(err.code, `--private-key-der-file ${flags.privateKeyDerFile} is not the key of ${mc.certificate}`, { cause: err });
        }
        throw err;
      }
      const measurementPublicKey = mc.publicKey?.message;
      if (measurementPublicKey === undefined) throw new PublicKeyError('PUBLIC_KEY_UNUSABLE', `${mc.name} has no EncryptionPublicKey`);
      const sign = (spec: RequisitionSpec) => signMessage(RequisitionSpecSchema, spec, signingKey);

      const params = flags.params;
      const requisitions: [string, RequisitionSpec][] =
        params.kind === 'population'
          ? [
              [
                params.dataProvider,
                create(RequisitionSpecSchema, {
                  requisitionType: {
                    case: 'population',
                    value: {
                      interval: { startTime: params.startTime, endTime: params.endTime },
                      ...(params.filter !== '' ? { filter: { expression: params.filter } } : {}),
                    },
                  },
                }),
              ],
            ]
          : params.dataProviders.map((dp) => [
              dp.name,
              create(RequisitionSpecSchema, {
                requisitionType: {
                  case: 'events',
                  value: {
                    eventGroups: dp.eventGroups.map((g) => ({
                      key: g.name,
                      value: { collectionInterval: { startTime: g.startTime, endTime: g.endTime }, filter: { expression: dp.filter } },
                    })),
                  },
                },
              }),
            ]);
      const dataProviders: Measurement_DataProviderEntry[] = [];
      for (const [name, spec] of requisitions) {
        spec.measurementPublicKey = measurementPublicKey;
        // Upstream still fills the deprecated copy of the key's bytes.
        spec.serializedMeasurementPublicKey = measurementPublicKey.value;
        spec.nonce = randomNonce();
        dataProviders.push(await dataProviderEntry(client, name, sign(spec), spec.nonce));
      }

      const spec = create(MeasurementSpecSchema, {
        measurementPublicKey,
        serializedMeasurementPublicKey: measurementPublicKey.value,
        nonceHashes: dataProviders.map((e) => e.value!.nonceHash),
        ...(params.kind === 'event'
          ? { vidSamplingInterval: params.vidSamplingInterval, measurementType: params.measurementType }
          : { measurementType: { case: 'population', value: {} } }),
        modelLine: flags.modelLine,
      });
      const created = await client.measurements.createMeasurement({
        parent: mc.name,
        requestId: flags.requestId,
        measurement: create(MeasurementSchema, {
          measurementConsumerCertificate: mc.certificate,
          dataProviders,
          measurementSpec: signMessage(MeasurementSpecSchema, spec, signingKey),
          measurementReferenceId: flags.measurementReferenceId,
        }),
      });
      output(opts.json as boolean | undefined, messageJson(MeasurementSchema, created), () => `Measurement Name: ${created.name}`);
    }));
}

/** The DataProvider's entry: its certificate and key as the Kingdom publishes them, and the spec encrypted to that key. */
async function dataProviderEntry(client: KingdomClient, name: string, signedSpec: ReturnType<typeof signMessage>, nonce: bigint): Promise<Measurement_DataProviderEntry> {
  const dataProvider = await client.dataProviders.getDataProvider({ name });
  const publicKey = dataProvider.publicKey?.message;
  return create(Measurement_DataProviderEntrySchema, {
    key: name,
    value: {
      dataProviderCertificate: dataProvider.certificate,
      ...(publicKey ? { dataProviderPublicKey: publicKey } : {}),
      encryptedRequisitionSpec: encryptMessage(encryptionKeyset(name, publicKey), SignedMessageSchema, signedSpec),
      nonceHash: nonceHash(nonce),
    },
  });
}
