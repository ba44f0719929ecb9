/**
 * `rotate --abort`: leave a journal that cannot finish. What the journal
 * created and did not make active is walked back, as far as its records
 * allow, through a journal of its own (crash-safe and audited like any
 * other): the previous TLS certificate goes back into the Secret (and is
 * applied again), the previous encryption key becomes primary again, and,
 * when an UpdatePublicKey may have reached the Kingdom, the previous key is
 * published again under the previous certificate; then every pending entry
 * is retired (an encryption key destroyed).
 *
 * What cannot be undone is said, with what happens to it: a certificate
 * registered at the Kingdom cannot be deleted, so it is left `retiring` and
 * the next rotation retires it (revokes it under `retiredCertificates:
 * revoke`); a public key the Kingdom already publishes is kept, its entries
 * made active. A compromise procedure is aborted only while nothing but its
 * assessment and rotation steps has run: a revocation, a destroyed key or a
 * replaced measurement cannot be walked back, so the procedure must finish.
 */
import { RotationError } from './errors.js';
import { type Journal, type JournalStep, type PlannedStep, type StepType, journalProcedure } from './journal/journal.js';
import { type RunOptions, runJournaled } from './journal/run.js';
import type { StepPreview } from './journal/steps.js';
import { findEntry } from './keyring.js';
import { ROTATION_ABORT, procedureOf } from './procedures.js';
import type { KeyringSession } from './session.js';

/** Compromise steps whose effect outlives an abort: once one has run, the procedure has to finish. */
const IRREVERSIBLE: ReadonlySet<StepType> = new Set<StepType>([
  'compromise.revoke-kingdom',
  'compromise.mark-certificate',
  'compromise.destroy-private-key',
  'compromise.revoke-crl',
  'compromise.release-kingdom',
  'compromise.release-crl',
  'compromise.release-mark',
  'compromise.remove-encryption-key',
  'compromise.request-reencryption',
  'compromise.replace-measurement',
  'compromise.replace-measurements',
  'compromise.refuse-requisition',
  'compromise.refuse-requisitions',
  'reencrypt.open-requests',
  'reencrypt.event-group',
]);

export interface AbortPlan {
  steps: PlannedStep[];
  /** What cannot be undone, and what happens to it. */
  notes: string[];
}

export interface AbortResult {
  /** The journal walked back. */
  aborted: string;
  /** What that journal ran (`rotation` or a compromise procedure); `rotation.abort` when an interrupted abort was finished. */
  procedure: string;
  /** The abort's own journal. */
  journalId: string;
  dryRun: boolean;
  steps: JournalStep[];
  previews?: StepPreview[];
  notes: string[];
  archived?: string;
}

const ran = (step: JournalStep | undefined): step is JournalStep => step !== undefined && step.status !== 'pending';

/** The steps that walk `journal` back, decided from its records and the keyring as they are now. */
export function planAbort(session: KeyringSession, journal: Journal): AbortPlan {
  const label = `${journal.procedure ?? 'rotation'} ${journal.id}`;
  const blocking = journal.steps.find((s) => ran(s) && IRREVERSIBLE.has(s.type));
  if (blocking) {
    throw new RotationError(
      'ABORT_REFUSED',
      `${label} has run step ${blocking.n} (${blocking.type}), which cannot be undone: finish it by running the same command again (or with --resume)`,
    );
  }
  const find = (type: StepType) => journal.steps.find((s) => s.type === type);
  const steps: PlannedStep[] = [];
  const notes: string[] = [];
  const add = (type: StepType, summary: string, extra: Partial<PlannedStep> = {}) => steps.push({ n: steps.length + 1, type, summary, ...extra });
  const discard = (id: string, what: string) => add('abort.discard', `retire ${what} ${id} (never active)`, { entry: id, args: { aborted: journal.id } });

  // TLS: put the previous certificate back where the new one went.
  const tlsIssue = find('tls.issue');
  const tlsActivate = find('tls.activate');
  if (tlsActivate?.status === 'done') notes.push(`TLS: the new certificate ${tlsActivate.entry} was already made active (step ${tlsActivate.n}); kept`);
  else if (ran(tlsIssue)) {
    const previous = tlsActivate?.previous;
    const wrote = find('tls.write-secret');
    if (ran(wrote)) {
      if (previous) {
        add('tls.write-secret', `write the previous certificate ${previous} back into the Secret`, { entry: previous });
        const applied = find('tls.apply');
        if (ran(applied)) add('tls.apply', `apply the Kustomization again with ${previous}`, { entry: previous });
      } else {
        notes.push('TLS: the Secret holds the new certificate and there is no earlier one to put back; it stays there, retired in the keyring');
      }
    }
    discard(tlsIssue.entry!, 'the new TLS certificate');
  }

  // Signing and encryption meet at the public key: once the Kingdom publishes the new pair, it is kept.
  const publish = find('public-key.publish');
  const signingActivate = find('signing.activate');
  const encryptionActivate = find('encryption.activate');
  if (publish?.status === 'done') {
    for (const activate of [signingActivate, encryptionActivate]) {
      if (activate && activate.status !== 'done') add(activate.type, `${activate.summary} (the Kingdom already publishes it)`, { ...(activate.entry ? { entry: activate.entry } : {}), ...(activate.previous ? { previous: activate.previous } : {}) });
    }
    if (signingActivate || encryptionActivate) {
      notes.push(`the Kingdom already publishes the new public key (step ${publish.n}): it cannot be taken back safely, so the new entries are made active; what they replace is left retiring for the next rotation`);
    }
    return { steps, notes };
  }
  const encryptionAdd = find('encryption.add');
  if (encryptionActivate?.status !== 'done' && ran(encryptionAdd)) {
    const previous = encryptionActivate?.previous;
    if (ran(find('encryption.promote')) || ran(publish)) {
      if (!previous) throw new RotationError('ABORT_REFUSED', `${label}: the new encryption key is primary and there is no earlier key to make primary again`);
      add('encryption.promote', `make the previous encryption key ${previous} primary again`, { entry: previous });
    }
  }
  if (ran(publish) && journal.procedure) {
    throw new RotationError('ABORT_REFUSED', `${label}: UpdatePublicKey (step ${publish.n}) may have reached the Kingdom, and walking it back would publish the leaked key again: finish it by running the same command again (or with --resume)`);
  }
  if (ran(publish)) {
    // UpdatePublicKey may have reached the Kingdom: publish what was published before, under the previous certificate.
    const signing = signingActivate?.previous ?? (signingActivate ? undefined : publish.signingEntry);
    const encryption = encryptionActivate?.previous ?? (encryptionActivate ? undefined : publish.encryptionEntry);
    if (!signing || !encryption) throw new RotationError('ABORT_REFUSED', `${label}: UpdatePublicKey may have reached the Kingdom and there is no earlier key and certificate to publish instead`);
    add('public-key.publish', 'UpdatePublicKey with the previous key and certificate (the interrupted one may have reached the Kingdom)', { signingEntry: signing, encryptionEntry: encryption });
    notes.push(`step ${publish.n} (UpdatePublicKey) did not finish: the previous public key is published again, so nobody encrypts to a key that is about to be destroyed`);
  }
  if (encryptionActivate?.status !== 'done' && ran(encryptionAdd)) {
    add('abort.discard', `destroy the new encryption key ${encryptionAdd.entry} (never published)`, { entry: encryptionAdd.entry!, args: { aborted: journal.id } });
  }

  const signingIssue = find('signing.issue');
  if (signingActivate?.status === 'done') notes.push(`signing: the new certificate ${signingActivate.entry} was already made active (step ${signingActivate.n}); kept`);
  else if (ran(signingIssue)) {
    const id = signingIssue.entry!;
    const registered = findEntry(session.keyring, id)?.kingdomCertificate;
    const register = find('signing.register');
    if (registered) {
      notes.push(
        `signing: ${registered} is registered at the Kingdom, which cannot delete a certificate: it is left retiring, and the next rotation retires it once nothing references it${session.config.policy.retiredCertificates === 'revoke' ? ' and revokes it' : ' (revoke it sooner with MeasurementSystem certificates revoke)'}`,
      );
    } else if (ran(register)) {
      notes.push(`signing: CreateCertificate (step ${register.n}) did not finish; if it reached the Kingdom, that certificate stays registered and unused (halo-keys sync finds it; MeasurementSystem certificates revoke revokes it)`);
    }
    add('abort.discard', registered ? `leave the new signing certificate ${id} retiring (registered as ${registered})` : `retire the new signing certificate ${id} (never active)`, { entry: id, args: { aborted: journal.id, ...tokenObjectOf(signingIssue) } });
  }
  if (journal.procedure) notes.push(`${journal.procedure} was not completed: nothing it was to revoke or destroy has been, so run it again when it can finish`);
  return { steps, notes };
}

/** The token key an issue step was to generate (its journal recorded it), for the discard step to delete if unrecorded. */
function tokenObjectOf(step: JournalStep): { tokenObject?: string } {
  return typeof step.args?.tokenObject === 'string' ? { tokenObject: step.args.tokenObject } : {};
}

export async function abortJournal(session: KeyringSession, options: Omit<RunOptions, 'resume'> = {}): Promise<AbortResult> {
  let walkedBack: { journal: Journal; notes: string[] } | undefined;
  const { journal, steps, dryRun, previews, archived } = await runJournaled({
    session,
    procedure: ROTATION_ABORT,
    procedureOf,
    options,
    plan: async ({ journalId, aborting }) => {
      const aborted = aborting!;
      const plan = planAbort(session, aborted);
      walkedBack = { journal: aborted, notes: plan.notes };
      return {
        kinds: aborted.kinds,
        steps: plan.steps,
        fields: { aborts: aborted.id, notes: plan.notes },
        start: {
          resource: aborted.id,
          before: { procedure: journalProcedure(aborted), status: aborted.status, done: aborted.steps.filter((s) => s.status === 'done').map((s) => s.type) },
          after: { journal: journalId, steps: plan.steps.map((s) => s.type) },
          detail: plan.notes.join('; ').slice(0, 1000),
        },
      };
    },
  });
  // Either a fresh walk-back of `walkedBack`, or an interrupted abort journal finished.
  return {
    aborted: walkedBack ? walkedBack.journal.id : (journal!.aborts ?? journal!.id),
    procedure: walkedBack ? journalProcedure(walkedBack.journal) : ROTATION_ABORT.name,
    journalId: journal?.id ?? 'dry-run',
    dryRun,
    steps,
    ...(previews ? { previews } : {}),
    notes: walkedBack ? walkedBack.notes : (journal!.notes ?? []),
    ...(archived ? { archived } : {}),
  };
}
