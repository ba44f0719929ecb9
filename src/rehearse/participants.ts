/**
 * The rehearsal's participants, made and registered as their operators
 * would: `halo-keys init --create-ca` (each with its own CA), `register`
 * with the Kingdom's admin token (DataProviders, the MeasurementConsumer,
 * the ModelProvider), `registration` + `kingdom admin create-duchy` + `sync`
 * for the Duchy, then `config set` for the TLS Secret's cluster and endpoint
 * and the compromise procedures' plaintext copies.
 *
 * The keyrings are born 91 days in the past (`init --at`, which backdates a
 * new keyring), so that now is day 91 of their life: every scheduled
 * rotation is due, and the real Kingdom takes every certificate, all of them
 * valid now.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { APPLY_COMMAND, serveRenderedSecret, renderedPath, type TlsEndpoint } from './cluster.js';
import type { CommandRunner } from './commands.js';
import type { RehearsalKingdom } from './kingdom.js';

export type ParticipantKind = 'dataProviders' | 'measurementConsumers' | 'modelProviders' | 'duchies';

export interface Participant {
  readonly label: string;
  readonly kind: ParticipantKind;
  /** The keyring's state directory (absolute). */
  readonly dir: string;
  /** The Kingdom resource name, e.g. `dataProviders/AAAAAAAAAHs`. */
  readonly name: string;
  readonly kustomizationDir: string;
  /** The rendered Secret the participant's endpoint serves. */
  readonly rendered: string;
  readonly endpoint: TlsEndpoint;
}

export const AGE_DAYS = 91;
const DAY_MS = 86_400_000;

const CAST: ReadonlyArray<{ label: string; kind: ParticipantKind }> = [
  { label: 'edp1', kind: 'dataProviders' },
  { label: 'edp2', kind: 'dataProviders' },
  { label: 'mc', kind: 'measurementConsumers' },
  { label: 'mp', kind: 'modelProviders' },
  { label: 'duchy', kind: 'duchies' },
];

export interface Cast {
  readonly edp1: Participant;
  readonly edp2: Participant;
  readonly mc: Participant;
  readonly mp: Participant;
  readonly duchy: Participant;
  readonly all: readonly Participant[];
}

async function makeParticipant(root: string, run: CommandRunner, kingdom: RehearsalKingdom, endpoints: TlsEndpoint[], label: string, kind: ParticipantKind, born: Date): Promise<Participant> {
  const dir = join(root, label);
  const kustomizationDir = join(root, 'k8s', `${label}-tls`);
  await run.ok([
    'init', '--dir', dir, '--participant', kind, '--subject', `/O=Halo Rehearsal/CN=${label}`, '--dns', 'localhost', '--ip', '127.0.0.1', '--create-ca',
    '--kingdom-target', kingdom.target, '--kingdom-roots', kingdom.rootPem, '--kustomization-dir', kustomizationDir, '--secret-name', `${label}-tls`,
    '--at', born.toISOString(),
  ]);
  let name: string;
  if (kind === 'duchies') {
    // No `register` for a Duchy: the files for the operator, the operator's command, then sync.
    const out = join(dir, 'registration');
    await run.ok(['registration', '--dir', dir, '--out-dir', out]);
    const duchyId = `worker-${randomBytes(3).toString('hex')}`;
    name = (await run.ok(['kingdom', 'admin', '--data-dir', kingdom.dataDir, 'create-duchy', '--duchy-id', duchyId, '--root-cert', join(out, 'root.pem'), '--certificate', join(out, 'signing_cert.der')])).trim();
    await run.ok(['sync', '--dir', dir, '--participant', name]);
  } else {
    name = (await run.json<{ participant: string }>(['register', '--dir', dir, '--admin-token-file', kingdom.adminTokenFile, '--display-name', `rehearsal ${label}`])).participant;
  }
  const rendered = renderedPath(root, kustomizationDir);
  const endpoint = await serveRenderedSecret(rendered);
  endpoints.push(endpoint);
  // The Kustomization and its Secret are first written by the first TLS rotation; until then the endpoint refuses connections.
  await run.ok(['config', 'set', '--dir', dir, `kustomization.apply=${APPLY_COMMAND}`, `tls.endpoint=${endpoint.address}`, 'tls.endpointServerName=localhost', 'tls.rolloutTimeout=60s']);
  return { label, kind, dir, name, kustomizationDir, rendered, endpoint };
}

/**
 * Makes and registers the five participants; `born` defaults to AGE_DAYS ago.
 * Each endpoint started is added to `endpoints` at once, for the caller to close even when a later step fails.
 */
export async function makeCast(root: string, run: CommandRunner, kingdom: RehearsalKingdom, endpoints: TlsEndpoint[], born = new Date(Date.now() - AGE_DAYS * DAY_MS)): Promise<Cast> {
  const made: Participant[] = [];
  for (const c of CAST) made.push(await makeParticipant(root, run, kingdom, endpoints, c.label, c.kind, born));
  const [edp1, edp2, mc, mp, duchy] = made as [Participant, Participant, Participant, Participant, Participant];
  // The compromise procedures read the peers' roots and the plaintext copies the participants keep.
  const rootOf = (p: Participant) => readFileSync(join(p.dir, 'ca', 'ca.pem'), 'utf8');
  const configure = async (p: Participant, peers: Participant[], copies: string, key: string) => {
    writeFileSync(join(p.dir, 'peer-roots.pem'), peers.map(rootOf).join(''));
    mkdirSync(join(p.dir, copies), { recursive: true, mode: 0o700 });
    await run.ok(['config', 'set', '--dir', p.dir, `compromise.trustedRoots=${join(p.dir, 'peer-roots.pem')}`, `${key}=${join(p.dir, copies)}`]);
  };
  await configure(mc, [edp1, edp2], 'specs', 'compromise.requisitionSpecs');
  for (const dp of [edp1, edp2]) await configure(dp, [mc], 'metadata', 'compromise.eventGroupMetadata');
  return { edp1, edp2, mc, mp, duchy, all: made };
}

/** The directory of a participant's plaintext copies (RequisitionSpecs for the MC, EventGroup metadata for DataProviders). */
export function copiesDir(p: Participant): string {
  return join(p.dir, p.kind === 'measurementConsumers' ? 'specs' : 'metadata');
}
