/** The handler of each step type. */
import { COMPROMISE_HANDLERS } from '../compromise/handlers.js';
import type { StepType } from '../journal/journal.js';
import { activateStep, issueStep } from './certificate-steps.js';
import type { StepHandler } from '../journal/context.js';
import { discardStep } from './discard-step.js';
import { activateEncryptionKeyStep, addEncryptionKeyStep, destroyEncryptionKeyStep, promoteEncryptionKeyStep } from './encryption-steps.js';
import { publishStep } from './publish-step.js';
import { registerStep, retireStep } from './signing-steps.js';
import { applyStep, checkRolloutStep, writeSecretStep } from './tls-steps.js';

const HANDLERS: Record<StepType, StepHandler> = {
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
  'abort.discard': discardStep,
  ...COMPROMISE_HANDLERS,
};

export function stepHandler(type: StepType): StepHandler {
  return HANDLERS[type];
}
