/**
 * `MeasurementSystem certificates`: upstream's `create` and `revoke`, plus
 * `get`, `list` and `release-hold`.
 */
import { Option, type Command } from 'commander';
import { parseResourceName } from '../../../api/index.js';
import { CertificateSchema, Certificate_RevocationState, type Certificate } from '../../../gen/wfa/measurement/api/v2alpha/certificate_pb.js';
import { parseCertificate } from '../../../pki/index.js';
import { pageSize } from '../../option-values.js';
import { output, UsageError } from '../../run.js';
import { readCertificateFile } from '../../signing-files.js';
import { connect, rpcAction } from './connection.js';
import { enumName, messageJson, printMessage } from './print.js';

interface GroupOptions {
  apiKey?: string;
}

const API_KEY_REQUIRED = 'API authentication key is required when parent type is MeasurementConsumer';

/** Upstream refuses to call without `--api-key` when the resource belongs to a MeasurementConsumer. */
export function requireApiKeyForMeasurementConsumer(name: string, apiKey: string | undefined): void {
  if (apiKey !== undefined) return;
  const key = parseResourceName(name);
  const owner = key?.kind === 'certificate' ? key.parent.kind : key?.kind;
  if (owner === 'measurementConsumer') throw new UsageError(API_KEY_REQUIRED);
}

/** Upstream's picocli takes any name of the enum, case-sensitively; the Kingdom answers an unspecified state. */
const REVOCATION_STATES = ['REVOCATION_STATE_UNSPECIFIED', 'HOLD', 'REVOKED'] as const;

function parseSkid(value: string, previous: Uint8Array[] = []): Uint8Array[] {
  const hex = value.replace(/:/g, '');
  if (hex.length === 0 || !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError(`--skid ${JSON.stringify(value)} is not hex (e.g. 90C1D3BD... or 90:C1:...)`);
  return [...previous, new Uint8Array(Buffer.from(hex, 'hex'))];
}

/** One line per certificate: name, revocation state, SKID and validity end (when the DER parses). */
function certificateLine(c: Certificate): string {
  let notAfter = '';
  try {
    notAfter = ` not_after=${parseCertificate(c.x509Der).notAfter.toISOString()}`;
  } catch {
    notAfter = '';
  }
  const skid = Buffer.from(c.subjectKeyIdentifier).toString('hex').toUpperCase();
  return `${c.name} ${enumName(Certificate_RevocationState, c.revocationState)} skid=${skid}${notAfter}`;
}

export function registerCertificatesCommands(program: Command): void {
  const group = program
    .command('certificates')
    .description('Certificate resources: create, revoke, get, list, release-hold')
    .option('--api-key <apiKey>', 'API authentication key. Required when parent type is MeasurementConsumer.');
  const apiKeyOf = (cmd: Command) => (cmd.parent!.opts<GroupOptions>()).apiKey;

  group
    .command('create')
    .description('Creates a Certificate resource')
    .requiredOption('--parent <parent>', 'Name of parent resource')
    .requiredOption('--certificate <certPath>', 'Path to X.509 certificate in PEM or DER format')
    .option('--json', 'print the created Certificate as JSON')
    .addHelpText('after', '\nPrints "Certificate name: NAME".\n\nExample:\n  MeasurementSystem ... certificates create --parent dataProviders/OljiQHRz-E4 --certificate edp1_cs_cert.der')
    .action(rpcAction(async (opts: { parent: string; certificate: string; json?: boolean }, cmd: Command) => {
      const apiKey = apiKeyOf(cmd);
      requireApiKeyForMeasurementConsumer(opts.parent, apiKey);
      const certificate = readCertificateFile(opts.certificate);
      const client = connect(cmd, apiKey);
      const created = await client.certificates.createCertificate({ parent: opts.parent, certificate: { x509Der: certificate.der } });
      output(opts.json, messageJson(CertificateSchema, created), () => `Certificate name: ${created.name}`);
    }));

  group
    .command('revoke')
    .description('Revokes a Certificate')
    .addOption(new Option('--revocation-state <revocationState>').choices(REVOCATION_STATES).makeOptionMandatory())
    .argument('<name>', 'Resource name')
    .option('--json', 'print the Certificate as JSON')
    .addHelpText(
      'after',
      '\nPrints the Certificate in protobuf text format. The Kingdom fails the pending\nMeasurements that depend on it.\n\nExample:\n  MeasurementSystem ... certificates revoke --revocation-state REVOKED dataProviders/OljiQHRz-E4/certificates/Yq3gxMqCxuM',
    )
    .action(rpcAction(async (name: string, opts: { revocationState: (typeof REVOCATION_STATES)[number]; json?: boolean }, cmd: Command) => {
      const revocationState = Certificate_RevocationState[opts.revocationState];
      const apiKey = apiKeyOf(cmd);
      requireApiKeyForMeasurementConsumer(name, apiKey);
      const revoked = await connect(cmd, apiKey).certificates.revokeCertificate({ name, revocationState });
      printMessage(opts.json, CertificateSchema, revoked);
    }));

  group
    .command('release-hold')
    .description('Releases a Certificate from HOLD')
    .argument('<name>', 'Resource name')
    .option('--json', 'print the Certificate as JSON')
    .addHelpText('after', '\nExample:\n  MeasurementSystem ... certificates release-hold dataProviders/OljiQHRz-E4/certificates/Yq3gxMqCxuM')
    .action(rpcAction(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const apiKey = apiKeyOf(cmd);
      requireApiKeyForMeasurementConsumer(name, apiKey);
      printMessage(opts.json, CertificateSchema, await connect(cmd, apiKey).certificates.releaseCertificateHold({ name }));
    }));

  group
    .command('get')
    .description('Gets a Certificate')
    .argument('<name>', 'Resource name')
    .option('--json', 'print the Certificate as JSON')
    .addHelpText('after', '\nExample:\n  MeasurementSystem ... certificates get dataProviders/OljiQHRz-E4/certificates/Yq3gxMqCxuM')
    .action(rpcAction(async (name: string, opts: { json?: boolean }, cmd: Command) => {
      const apiKey = apiKeyOf(cmd);
      printMessage(opts.json, CertificateSchema, await connect(cmd, apiKey).certificates.getCertificate({ name }));
    }));

  group
    .command('list')
    .description("Lists a parent's Certificates, newest first")
    .requiredOption('--parent <parent>', 'Name of parent resource')
    .option('--skid <hex>', 'only certificates with this subject key identifier (repeatable)', parseSkid)
    .option('--page-size <n>', 'one page of at most this many (default: every page)', pageSize)
    .option('--page-token <token>', 'the page after a previous list')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      '\nPrints one line per Certificate: name, revocation state, SKID and notAfter.\n\nExample:\n  MeasurementSystem ... certificates list --parent dataProviders/OljiQHRz-E4 --skid 90C1D3BD...',
    )
    .action(rpcAction(async (opts: { parent: string; skid?: Uint8Array[]; pageSize?: number; pageToken?: string; json?: boolean }, cmd: Command) => {
      const apiKey = apiKeyOf(cmd);
      requireApiKeyForMeasurementConsumer(opts.parent, apiKey);
      const client = connect(cmd, apiKey);
      const certificates: Certificate[] = [];
      let pageToken = opts.pageToken ?? '';
      let nextPageToken = '';
      for (;;) {
        const page = await client.certificates.listCertificates({
          parent: opts.parent,
          pageSize: opts.pageSize ?? 0,
          pageToken,
          ...(opts.skid ? { filter: { subjectKeyIdentifiers: opts.skid } } : {}),
        });
        certificates.push(...page.certificates);
        nextPageToken = page.nextPageToken;
        if (opts.pageSize !== undefined || nextPageToken === '') break;
        pageToken = nextPageToken;
      }
      output(
        opts.json,
        { certificates: certificates.map((c) => messageJson(CertificateSchema, c)), ...(nextPageToken ? { nextPageToken } : {}) },
        () => [...certificates.map(certificateLine), ...(nextPageToken ? [`Next page token: ${nextPageToken}`] : [])].join('\n'),
      );
    }));
}
