/**
 * `MeasurementSystem measurements create|list|get|cancel` with upstream's output
 * lines. `get` decrypts each result with the MeasurementConsumer's private
 * keyset, validates the signing certificate against `--cert-collection-file`,
 * verifies the signature, and says whether the certificate is still trusted
 * (its revocation state and the Kingdom's MeasurementTrust answer), which
 * upstream does not.
 */
import { Code } from '@connectrpc/connect';
import type { Command } from 'commander';
import { KingdomClientError, type KingdomClient } from '../../../client/index.js';
import { decryptMessage, CryptoError, loadKeyset, type Keyset, verifyAndUnpack } from '../../../crypto/index.js';
import type { MeasurementTrustInfo } from '../../../gen/halo/keys/v1/measurement_trust_pb.js';
import { javaFloatingPoint } from '../../../api/index.js';
import { Certificate_RevocationState } from '../../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { SignedMessageSchema } from '../../../gen/wfa/measurement/api/v2alpha/crypto_pb.js';
import {
  Measurement_Failure_Reason,
  Measurement_ResultSchema,
  Measurement_State,
  type Measurement,
  type Measurement_Result,
} from '../../../gen/wfa/measurement/api/v2alpha/measurement_pb.js';
import { HaloError } from '../../../lib/errors.js';
import { parseCertificate, type TrustStore, validatePath } from '../../../pki/index.js';
import { output, UsageError } from '../../run.js';
import { PASSPHRASE_ENV, readPassphrase } from '../../signing-files.js';
import { connect, globalOptions, readCertCollection, rpcAction } from './connection.js';
import { registerCreateMeasurementCommand } from './create-measurement.js';
import { enumName, messageJson } from './print.js';

/** A result that does not check out: upstream fails the command the same way. */
class ResultError extends HaloError<'RESULT_UNVERIFIED'> {}

/** Upstream's `printState`. */
export function stateLine(m: Measurement, prefix = 'State: '): string {
  if (m.state === Measurement_State.FAILED) {
    return `${prefix}FAILED - ${enumName(Measurement_Failure_Reason, m.failure?.reason ?? 0)}: ${m.failure?.message ?? ''}`;
  }
  return `${prefix}${enumName(Measurement_State, m.state)}`;
}

/** Upstream's result lines (`Reach - 1234`, ...). */
export function resultLines(result: Measurement_Result): string[] {
  const lines: string[] = [];
  if (result.reach) lines.push(`Reach - ${result.reach.value}`);
  if (result.frequency) {
    lines.push('Frequency - ');
    const entries = Object.entries(result.frequency.relativeFrequencyDistribution).sort(([a], [b]) => Number(a) - Number(b));
    // Kotlin's string template prints the Double as Java's Double.toString.
    for (const [k, v] of entries) lines.push(`\t${k}  ${javaFloatingPoint(v, false)}`);
  }
  if (result.impression) lines.push(`Impression - ${result.impression.value}`);
  if (result.watchDuration) {
    const d = result.watchDuration.value;
    lines.push(`WatchDuration - ${d?.seconds ?? 0n} seconds ${d?.nanos ?? 0} nanos`);
  }
  if (result.population) lines.push(`Population - ${result.population.value}`);
  return lines;
}

interface CheckedResult {
  certificate: string;
  revocationState: string;
  trusted: boolean;
  result?: Measurement_Result;
}

async function checkResult(
  client: KingdomClient,
  resultOutput: Measurement['results'][number],
  keyset: Keyset | undefined,
  trustStore: TrustStore,
  trust: MeasurementTrustInfo | undefined,
): Promise<CheckedResult> {
  const certificate = await client.certificates.getCertificate({ name: resultOutput.certificate });
  const revoked = certificate.revocationState !== Certificate_RevocationState.REVOCATION_STATE_UNSPECIFIED;
  const trusted = !revoked && !(trust?.untrustedResultCertificates.includes(resultOutput.certificate) ?? false);
  const checked: CheckedResult = {
    certificate: resultOutput.certificate,
    revocationState: enumName(Certificate_RevocationState, certificate.revocationState),
    trusted,
  };
  if (!keyset) return checked;
  if (!resultOutput.encryptedResult) throw new ResultError('RESULT_UNVERIFIED', `a result of ${resultOutput.certificate} has no encrypted_result`);
  const signedResult = decryptMessage(keyset, resultOutput.encryptedResult, SignedMessageSchema);
  let leaf;
  try {
    leaf = parseCertificate(certificate.x509Der);
    // The revocation state is reported above; the path check is upstream's (anchor by AKID, validity now).
    await validatePath(leaf, { trustStore, purpose: 'signing', profile: 'cmms' });
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ResultError('RESULT_UNVERIFIED', `Certificate path of ${certificate.name} is invalid: ${why}`, { cause: err });
  }
  try {
    checked.result = verifyAndUnpack(Measurement_ResultSchema, signedResult, certificate.x509Der);
  } catch (err) {
    if (err instanceof CryptoError) throw new ResultError('RESULT_UNVERIFIED', `Measurement result signature is invalid (${certificate.name}): ${err.message}`, { cause: err });
    throw err;
  }
  return checked;
}

/** The Kingdom's MeasurementTrust answer, or undefined from a Kingdom without that service (upstream's). */
async function measurementTrust(client: KingdomClient, name: string): Promise<MeasurementTrustInfo | undefined> {
  try {
    return await client.measurementTrust.getMeasurementTrust({ measurement: name });
  } catch (err) {
    if (err instanceof KingdomClientError && err.grpcCode === Code.Unimplemented) return undefined;
    throw err;
  }
}

export function registerMeasurementsCommands(program: Command): void {
  const group = program
    .command('measurements')
    .description('Measurement resources: create, list, get, cancel')
    .option('--api-key <apiKey>', 'API authentication key for the MeasurementConsumer');
  const apiKeyOf = (cmd: Command) => cmd.parent!.opts<{ apiKey?: string }>().apiKey;
  registerCreateMeasurementCommand(group, apiKeyOf);

  group
    .command('list')
    .description('Lists Measurements')
    .option('--measurement-consumer <name>', 'API resource name of the Measurement Consumer')
    .option('--parent <name>', 'same as --measurement-consumer')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nPrints "NAME STATE" per Measurement (FAILED ones with reason and message).\n\nExample:\n  MeasurementSystem ... measurements --api-key KEY list --measurement-consumer measurementConsumers/TjyUnormbAg')
    .action(rpcAction(async (opts: { measurementConsumer?: string; parent?: string; json?: boolean }, cmd: Command) => {
      const parent = opts.measurementConsumer ?? opts.parent;
      if (parent === undefined) throw new UsageError('--measurement-consumer (or --parent) is required');
      if (opts.measurementConsumer !== undefined && opts.parent !== undefined && opts.parent !== opts.measurementConsumer) {
        throw new UsageError('--measurement-consumer and --parent name different resources');
      }
      const client = connect(cmd, apiKeyOf(cmd));
      const measurements: Measurement[] = [];
      let pageToken = '';
      do {
        const page = await client.measurements.listMeasurements({ parent, pageToken });
        measurements.push(...page.measurements);
        pageToken = page.nextPageToken;
      } while (pageToken !== '');
      output(
        opts.json,
        {
          measurements: measurements.map((m) => ({
            name: m.name,
            state: enumName(Measurement_State, m.state),
            ...(m.failure ? { failure: { reason: enumName(Measurement_Failure_Reason, m.failure.reason), message: m.failure.message } } : {}),
          })),
        },
        () => measurements.map((m) => stateLine(m, `${m.name} `)).join('\n'),
      );
    }));

  group
    .command('get')
    .description('Gets a Single Measurement')
    .argument('<name>', 'API resource name of the Measurement')
    .option('--encryption-private-key-file <file>', "MeasurementConsumer's private Tink keyset, to decrypt and verify the results")
    .option('--passphrase-file <file>', `passphrase of an encrypted private keyset (or set ${PASSPHRASE_ENV})`)
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      `
Prints "State: STATE". For each result: its certificate, revocation state
and whether it is still trusted, then (with --encryption-private-key-file)
the decrypted, verified result ("Reach - N", ...). A result whose certificate
does not chain to --cert-collection-file or whose signature does not verify
fails the command, as upstream.

Example:
  MeasurementSystem ... measurements --api-key KEY get measurementConsumers/TjyUnormbAg/measurements/AAAAAAAAAHs \\
    --encryption-private-key-file mc_enc_private.tink`,
    )
    .action(rpcAction(async (name: string, opts: { encryptionPrivateKeyFile?: string; passphraseFile?: string; json?: boolean }, cmd: Command) => {
      const keyset = opts.encryptionPrivateKeyFile
        ? (() => {
            const passphrase = readPassphrase(opts.passphraseFile);
            try {
              return loadKeyset(opts.encryptionPrivateKeyFile!, passphrase === undefined ? {} : { passphrase }).keyset;
            } catch (err) {
              if (err instanceof CryptoError) throw new CryptoError(err.code, `${opts.encryptionPrivateKeyFile}: ${err.message}`, { cause: err });
              throw err;
            }
          })()
        : undefined;
      const { trustStore } = readCertCollection(globalOptions(cmd));
      const client = connect(cmd, apiKeyOf(cmd));
      const measurement = await client.measurements.getMeasurement({ name });
      const trust = measurement.results.length > 0 ? await measurementTrust(client, name) : undefined;
      const results: CheckedResult[] = [];
      for (const r of measurement.results) results.push(await checkResult(client, r, keyset, trustStore, trust));
      const json = {
        name: measurement.name,
        state: enumName(Measurement_State, measurement.state),
        ...(measurement.failure
          ? { failure: { reason: enumName(Measurement_Failure_Reason, measurement.failure.reason), message: measurement.failure.message } }
          : {}),
        ...(trust ? { trusted: trust.trusted } : {}),
        results: results.map((r) => ({
          certificate: r.certificate,
          revocationState: r.revocationState,
          trusted: r.trusted,
          ...(r.result ? { result: messageJson(Measurement_ResultSchema, r.result) } : {}),
        })),
      };
      output(opts.json, json, () =>
        [
          stateLine(measurement),
          ...results.flatMap((r) => [
            `Result certificate: ${r.certificate} ${r.revocationState} - ${r.trusted ? 'trusted' : 'NOT TRUSTED'}`,
            ...(r.result ? resultLines(r.result) : []),
          ]),
        ].join('\n'),
      );
    }));

  group
    .command('cancel')
    .description('Cancels a Measurement')
    .argument('<name>', 'API resource name of the Measurement')
    .option('--json', 'print JSON')
    .addHelpText('after', '\nPrints "State: STATE".\n\nExample:\n  MeasurementSystem ... measurements --api-key KEY cancel measurementConsumers/TjyUnormbAg/measurements/AAAAAAAAAHs')
    .action(rpcAction(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const m = await connect(cmd, apiKeyOf(cmd)).measurements.cancelMeasurement({ name });
      output(opts.json, { name: m.name, state: enumName(Measurement_State, m.state) }, () => stateLine(m));
    }));
}
