/**
 * The steps of each compromise procedure, fixed before anything changes and
 * stored in the journal. The rotation part is the rotation's own plan for
 * that kind, without its clean-up steps (retiring or destroying on a grace
 * schedule makes no sense for what is being revoked or removed at once).
 */
import type { KingdomClient } from '../../client/index.js';
import type { KeyKind } from '../config.js';
import { RotationError } from '../errors.js';
import type { PlannedStep, StepType } from '../journal/journal.js';
import { activeEntry, type KeyEntry } from '../keyring.js';
import { planRotation } from '../plan.js';
import type { KeyringSession } from '../session.js';
import { eventGroupCountOf, measurementCountOf, requisitionCountOf } from './assessment.js';
import { assessEncryptionKey } from './encryption-key-steps.js';
import { requireSetting, type CompromiseSettings } from './settings.js';
import { writeRecord } from './workspace.js';
import { hex } from '../../lib/bytes.js';

export interface ProcedurePlan {
  kinds: KeyKind[];
  steps: PlannedStep[];
  /** One line for the operator before the steps run (e.g. the target). */
  summary: string;
}

type Args = Record<string, string | number | boolean>;

class Steps {
  readonly list: PlannedStep[] = [];
  add(type: StepType, summary: string, extra: Partial<PlannedStep> = {}): void {
    this.list.push({ ...extra, n: this.list.length + 1, type, summary });
  }
}

const ROTATION_STEPS: Record<'tls' | 'signing' | 'encryption', readonly StepType[]> = {
  tls: ['tls.issue', 'tls.write-secret', 'tls.apply', 'tls.check-rollout', 'tls.activate'],
  signing: ['signing.issue', 'signing.register', 'public-key.publish', 'signing.activate'],
  encryption: ['encryption.add', 'encryption.promote', 'public-key.publish', 'encryption.activate'],
};

/** The rotation's steps for one kind; returns the id of the entry they create. */
function addRotation(session: KeyringSession, steps: Steps, kind: 'tls' | 'signing' | 'encryption'): string | undefined {
  const plan = planRotation(session, { kinds: [kind] });
  let created: string | undefined;
  for (const s of plan.steps) {
    if (!ROTATION_STEPS[kind].includes(s.type)) continue;
    const { n: _n, type, summary, ...extra } = s;
    steps.add(type, summary, extra);
    if (type === 'tls.issue' || type === 'signing.issue' || type === 'encryption.add') created = s.entry;
  }
  return created;
}

export interface CertificateCompromiseRequest {
  target: KeyEntry;
  hold: boolean;
  keepKeyMaterial: boolean;
  reportFile?: string;
}

export function planCertificateCompromise(session: KeyringSession, req: CertificateCompromiseRequest): ProcedurePlan {
  const { target } = req;
  const kind = target.kind as 'tls' | 'signing';
  const revocation = req.hold ? 'HOLD' : 'REVOKED';
  const entry = target.id;
  const steps = new Steps();
  steps.add('compromise.assess-certificate', 'report the blast radius before changing anything', { entry });
  let newEntry: string | undefined;
  const active = activeEntry(session.keyring, kind);
  if (active?.id === entry) {
    newEntry = addRotation(session, steps, kind);
  } else if (kind === 'signing' && session.keyring.publication?.signingEntryId === entry) {
    // Not active, yet the public key is still signed with it: re-sign with the active one first.
    const signing = active;
    const encryption = activeEntry(session.keyring, 'encryption');
    if (!signing || !encryption) throw new RotationError('PRECONDITION_FAILED', 'the public key names the compromised certificate and there is no active signing certificate and encryption key to re-publish with');
    steps.add('public-key.publish', `UpdatePublicKey ${session.participant}/publicKey signed with the active ${signing.id}`, { signingEntry: signing.id, encryptionEntry: encryption.id });
  }
  const reason = req.hold ? 'suspected compromise' : 'key compromise';
  if (kind === 'signing') steps.add('compromise.revoke-kingdom', `RevokeCertificate ${revocation} ${target.kingdomCertificate ?? '(not registered)'}`, { entry, args: { revocation, reason } });
  steps.add('compromise.mark-certificate', `mark ${entry} compromised`, { entry, args: { revocation } });
  if (!req.keepKeyMaterial) steps.add('compromise.destroy-private-key', `destroy the private key of ${entry}`, { entry });
  steps.add('compromise.revoke-crl', `revoke serial ${target.serialHex ?? '-'} in the CA's CRL (${req.hold ? 'certificateHold' : 'keyCompromise'})`, { entry, args: { revocation } });
  const args: Args = { procedure: 'compromise.certificate', revocation };
  if (newEntry) args.newEntry = newEntry;
  if (req.reportFile) args.reportFile = req.reportFile;
  steps.add('compromise.report', 'write the report: what failed, what is untrusted, what to re-run', { args });
  return {
    kinds: newEntry ? [kind] : [],
    steps: steps.list,
    summary: `${reason}: ${kind} certificate ${entry}${target.kingdomCertificate ? ` (${target.kingdomCertificate})` : ''}, SKID ${target.skid ?? '-'}`,
  };
}

export function planReleaseHold(target: KeyEntry): ProcedurePlan {
  const steps = new Steps();
  const entry = target.id;
  if (target.kind === 'signing') steps.add('compromise.release-kingdom', `ReleaseCertificateHold ${target.kingdomCertificate ?? '(not registered)'}`, { entry });
  steps.add('compromise.release-crl', `lift the certificateHold of serial ${target.serialHex ?? '-'} in the CA's CRL`, { entry });
  steps.add('compromise.release-mark', `${entry} no longer compromised`, { entry });
  return { kinds: [], steps: steps.list, summary: `release the hold on ${entry}${target.kingdomCertificate ? ` (${target.kingdomCertificate})` : ''}` };
}

export interface EncryptionKeyCompromiseRequest {
  target: KeyEntry;
  settings: CompromiseSettings;
  reportFile?: string;
}

export async function planEncryptionKeyCompromise(
  session: KeyringSession,
  client: KingdomClient,
  journalId: string,
  write: boolean,
  req: EncryptionKeyCompromiseRequest,
): Promise<ProcedurePlan> {
  const kind = session.config.participantKind;
  if (kind !== 'measurementConsumer' && kind !== 'dataProvider') throw new RotationError('PRECONDITION_FAILED', 'only DataProviders and MeasurementConsumers have encryption keys at the Kingdom');
  const { target } = req;
  const entry = target.id;
  const assessment = await assessEncryptionKey(session, client, target, write ? { session, journalId } : undefined);
  if (write) writeRecord(session, journalId, 'assessment', assessment);
  const measurements = measurementCountOf(assessment);
  const requisitions = requisitionCountOf(assessment);
  const steps = new Steps();
  steps.add('compromise.assess-encryption-key', 'report what is encrypted to the key, found before any change', { entry });
  let newEntry: string | undefined;
  if (activeEntry(session.keyring, 'encryption')?.id === entry) newEntry = addRotation(session, steps, 'encryption');
  steps.add('compromise.remove-encryption-key', `destroy Tink key ${target.tinkKeyId} in the private keyset now, mark ${entry} compromised`, { entry });
  if (kind === 'measurementConsumer') {
    if (assessment.publishedKeySha256) {
      steps.add('compromise.request-reencryption', 'CreateMetadataReencryptionRequests for the EventGroups encrypted to the key', { args: { publishedKeySha256: assessment.publishedKeySha256 } });
    }
    if (measurements > 0) {
      const requisitionSpecs = requireSetting(req.settings, 'requisitionSpecs', '--requisition-specs DIR', `${measurements} measurement(s) must be replaced from the MC's own RequisitionSpecs`);
      const trustedRoots = requireSetting(req.settings, 'trustedRoots', '--trusted-roots FILE', "the replacements are encrypted to the DataProviders' keys, checked against their roots");
      // One step for all of them, paging at the Kingdom: the journal stays the same size whatever their number.
      steps.add('compromise.replace-measurements', `replace the ${measurements} ongoing measurement(s) encrypted to the key with ones using the new key, then cancel them`, {
        args: { requisitionSpecs, trustedRoots, compromisedKeyId: target.tinkKeyId!, fingerprint: target.fingerprint, expected: measurements },
      });
    }
  } else if (requisitions > 0) {
    // One step for all of them, paging at the Kingdom, as the MC's replacements.
    steps.add('compromise.refuse-requisitions', `refuse the ${requisitions} UNFULFILLED requisition(s) whose spec was encrypted to the key`, {
      args: { fingerprint: target.fingerprint, expected: requisitions },
    });
  }
  const args: Args = { procedure: 'compromise.encryption-key' };
  if (newEntry) args.newEntry = newEntry;
  if (req.reportFile) args.reportFile = req.reportFile;
  steps.add('compromise.report', 'write the report: what was replaced, refused and re-encrypted', { args });
  return {
    kinds: newEntry ? ['encryption'] : [],
    steps: steps.list,
    summary: `encryption key compromise: Tink key ${target.tinkKeyId} (${entry}); ${measurements} measurement(s) to replace, ${eventGroupCountOf(assessment)} EventGroup(s) to re-encrypt, ${requisitions} requisition(s) to refuse`,
  };
}

export interface ReencryptionRequest {
  settings: CompromiseSettings;
  reportFile?: string;
  /** Requests per page, each answered with one call (1..1000; the step's default otherwise). */
  pageSize?: number;
}

export async function planReencryption(session: KeyringSession, client: KingdomClient, req: ReencryptionRequest): Promise<ProcedurePlan> {
  if (session.config.participantKind !== 'dataProvider') throw new RotationError('PRECONDITION_FAILED', 'EventGroup metadata is re-encrypted by the DataProvider that owns it');
  // One request is enough to know whether there is work; the count comes with the first page.
  const open = await client.metadataReencryption.listMetadataReencryptionRequests({ parent: session.participant, pageSize: 1 });
  const count = open.requests.length === 0 ? 0 : Math.max(open.totalSize, open.requests.length);
  const steps = new Steps();
  if (count > 0) {
    const metadataDir = requireSetting(req.settings, 'eventGroupMetadata', '--metadata-dir DIR', 'the metadata is re-encrypted from the DataProvider\'s own plaintext copies');
    const trustedRoots = requireSetting(req.settings, 'trustedRoots', '--trusted-roots FILE', "the MeasurementConsumer's new key is checked against its root");
    // One step for all requests, page by page: the journal stays small and a re-run lists only what is still open.
    steps.add('reencrypt.open-requests', `re-encrypt the EventGroups of the open requests for each MeasurementConsumer's current key, close the requests`, {
      args: { metadataDir, trustedRoots, ...(req.pageSize !== undefined ? { pageSize: req.pageSize } : {}) },
    });
    const args: Args = { procedure: 'reencrypt.event-groups' };
    if (req.reportFile) args.reportFile = req.reportFile;
    steps.add('compromise.report', 'write the report of the re-encrypted EventGroups', { args });
  }
  return { kinds: [], steps: steps.list, summary: `${count} open metadata re-encryption request(s)` };
}
