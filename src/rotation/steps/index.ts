/** The handler of each rotation step type, and of the steps that walk a journal back (`rotate --abort`). */
import type { StepHandler, StepHandlers } from '../journal/context.js';
import type { StepType } from '../journal/journal.js';
import { activateStep, issueStep } from './certificate-steps.js';
import { discardStep } from './discard-step.js';
import { activateEncryptionKeyStep, addEncryptionKeyStep, destroyEncryptionKeyStep, promoteEncryptionKeyStep } from './encryption-steps.js';
import { publishStep } from './publish-step.js';
import { registerStep, retireStep } from './signing-steps.js';
import { applyStep, checkRolloutStep, writeSecretStep } from './tls-steps.js';

export type RotationStepType = Exclude<StepType, `compromise.${string}` | `reencrypt.${string}` | `abort.${string}`>;

export const ROTATION_HANDLERS: Record<RotationStepType, StepHandler> = {
  'tls.issue': issueStep('tls'),
  'tls.write-secret': writeSecretStep,
  'tls.apply': applyStep,
  'tls.check-rollout': checkRolloutStep,
  'tls.activate': activateStep('tls', 'retired'),
  'signing.issue': issueStep('signing'),
  'signing.register': registerStep,
  'encryption.add': addEncryptionKeyStep,
  'encryption.promote': promoteEncryptionKeyStep,
  'public-key.publish': publishStep,
  'signing.activate': activateStep('signing', 'retiring'),
  'encryption.activate': activateEncryptionKeyStep,
  'signing.retire': retireStep,
  'encryption.destroy': destroyEncryptionKeyStep,
};

/** An abort puts back what came before with the rotation's own steps, then discards what the aborted journal created. */
export const ABORT_HANDLERS: StepHandlers = { ...ROTATION_HANDLERS, 'abort.discard': discardStep };
