/**
 * What a rotation will do, step by step, decided before anything changes.
 * The ids of the entries a rotation creates are fixed here and stored in the
 * journal, so a step that is run again after a crash finds its own earlier
 * work instead of making a second key.
 */
import { isRegisteredName, keyKindsOf, publishesPublicKey, type KeyKind } from './config.js';
import { RotationError } from './errors.js';
import type { PlannedStep, StepType } from './journal/journal.js';
import { activeEntry, entriesOf, type KeyEntry } from './keyring.js';
import { graceOver, stateSince, urgency, type Urgency } from './policy.js';
import type { KeyringSession } from './session.js';
import { tokenObjectUri } from './token-keys.js';

export interface PlanRequest {
  /** Kinds to rotate whatever the schedule; undefined = only what is due. */
  kinds?: readonly KeyKind[];
}

export interface Plan {
  kinds: KeyKind[];
  /** Why each kind is (or is not) in the plan. */
  reasons: Array<{ kind: KeyKind; urgency: Urgency | 'missing' | 'requested'; included: boolean }>;
  steps: PlannedStep[];
}

function needsKingdom(kinds: readonly KeyKind[], publishes: boolean): boolean {
  return kinds.includes('signing') || (publishes && kinds.includes('encryption'));
}

export function planRotation(session: KeyringSession, request: PlanRequest = {}): Plan {
  const now = session.now();
  const { keyring, config } = session;
  const reasons: Plan['reasons'] = [];
  const kinds: KeyKind[] = [];
  const held = keyKindsOf(config.participantKind);
  const foreign = request.kinds?.find((k) => !held.includes(k));
  if (foreign) {
    throw new RotationError('PRECONDITION_FAILED', `a ${config.participantKind} holds no ${foreign} key: only DataProviders and MeasurementConsumers publish an encryption key`);
  }
  for (const kind of held) {
    const active = activeEntry(keyring, kind);
    const u = active ? urgency(active, config.policy, kind, now).urgency : 'missing';
    // A rehearsal copy has no Kingdom: what is due there beyond TLS is listed, not rotated.
    const rehearsable = !config.rehearsalOf || !needsKingdom([kind], publishesPublicKey(config.participantKind));
    const included = request.kinds ? request.kinds.includes(kind) : u !== 'ok' && rehearsable;
    reasons.push({ kind, urgency: request.kinds?.includes(kind) ? 'requested' : u, included });
    if (included) kinds.push(kind);
  }
  const kingdomReady = config.kingdom !== undefined && isRegisteredName(session.participant);
  if (needsKingdom(kinds, publishesPublicKey(config.participantKind)) && !kingdomReady) {
    throw new RotationError(
      'KINGDOM_NOT_CONFIGURED',
      config.rehearsalOf
        ? 'a rehearsal copy has no Kingdom, so it rotates only TLS certificates: rehearse with --tls'
        : config.kingdom
          ? `${session.participant} is not a registered participant name: register it, then run halo-keys sync --participant NAME`
          : 'rotating signing certificates or encryption keys needs the kingdom section in halo-keys.yaml',
    );
  }

  const steps: PlannedStep[] = [];
  const add = (type: StepType, summary: string, extra: Partial<PlannedStep> = {}) => steps.push({ n: steps.length + 1, type, summary, ...extra });
  const prev = (kind: KeyKind): KeyEntry | undefined => activeEntry(keyring, kind);

  if (kinds.includes('tls')) {
    const entry = session.newEntryId('tls');
    const previous = prev('tls')?.id;
    const names = [...config.tls.dnsNames, ...config.tls.ipAddresses].join(', ');
    add('tls.issue', `new TLS key and certificate from the CA for ${names}`, { entry });
    if (config.kustomization) {
      add('tls.write-secret', `write tls.crt and tls.key into ${config.kustomization.dir} (Secret ${config.kustomization.secretName})`, { entry });
      if (config.kustomization.apply.length) add('tls.apply', `${config.kustomization.apply.join(' ')} ${config.kustomization.dir}`, { entry });
    }
    if (config.tls.endpoint) add('tls.check-rollout', `check that ${config.tls.endpoint} serves the new certificate`, { entry, ...(previous ? { previous } : {}) });
    add('tls.activate', `new TLS certificate active${previous ? `, ${previous} retired` : ''}`, { entry, ...(previous ? { previous } : {}) });
  }

  let signingEntry = prev('signing')?.id;
  let encryptionEntry = prev('encryption')?.id;
  const newSigning = kinds.includes('signing') ? session.newEntryId('signing') : undefined;
  const newEncryption = kinds.includes('encryption') ? session.newEntryId('encryption') : undefined;
  if (newSigning) {
    // A token key's URI is fixed here, so the journal names the object before it exists.
    const token = config.signingToken ? { args: { tokenObject: tokenObjectUri(config.signingToken, newSigning) } } : {};
    add('signing.issue', `new signing key${config.signingToken ? ' on the PKCS#11 token' : ''} and certificate from the CA`, { entry: newSigning, ...token });
    add('signing.register', `CreateCertificate under ${session.participant} (unless already registered with this SKID)`, { entry: newSigning });
    signingEntry = newSigning;
  }
  if (newEncryption) {
    add('encryption.add', 'add a new key to the private encryption keyset', { entry: newEncryption });
    add('encryption.promote', 'make the new key primary in the private keyset (older keys keep decrypting)', { entry: newEncryption });
    encryptionEntry = newEncryption;
  }
  // ModelProviders and Duchies have no public key to re-sign: CreateCertificate is all the Kingdom needs.
  if ((newSigning || newEncryption) && publishesPublicKey(config.participantKind)) {
    if (!signingEntry) throw new RotationError('PRECONDITION_FAILED', 'no signing certificate to sign the public key with: rotate --signing too');
    if (!encryptionEntry) throw new RotationError('PRECONDITION_FAILED', 'no encryption key to publish: rotate --encryption too');
    add(
      'public-key.publish',
      `UpdatePublicKey ${session.participant}/publicKey: ${newEncryption ? 'the new encryption key' : 'the current encryption key'} signed with ${newSigning ? 'the new' : 'the current'} signing certificate`,
      { signingEntry, encryptionEntry },
    );
  }
  const previousSigning = prev('signing')?.id;
  const previousEncryption = prev('encryption')?.id;
  if (newSigning) add('signing.activate', `new signing certificate active${previousSigning ? `, ${previousSigning} retiring` : ''}`, { entry: newSigning, ...(previousSigning ? { previous: previousSigning } : {}) });
  if (newEncryption) add('encryption.activate', `new encryption key active${previousEncryption ? `, ${previousEncryption} retiring` : ''}`, { entry: newEncryption, ...(previousEncryption ? { previous: previousEncryption } : {}) });

  // Clean-up of what earlier rotations left retiring: it needs the Kingdom to know nothing depends on it.
  if (kingdomReady) {
    const retiring = new Set(entriesOf(keyring, 'signing', 'retiring').map((e) => e.id));
    if (newSigning && previousSigning) retiring.add(previousSigning);
    for (const id of retiring) add('signing.retire', `retire ${id} once nothing pending references it${config.policy.retiredCertificates === 'revoke' ? ', then revoke it' : ' (left to expire)'}`, { entry: id });
    const candidates = entriesOf(keyring, 'encryption', 'retiring').filter((e) => graceOver(stateSince(e), config.policy, now));
    const destroy = new Set(candidates.map((e) => e.id));
    if (newEncryption && previousEncryption && config.policy.encryptionGraceMs === 0) destroy.add(previousEncryption);
    for (const id of destroy) add('encryption.destroy', `destroy the private key of ${id} once no pending work is encrypted to it`, { entry: id });
  }
  return { kinds, reasons, steps };
}
