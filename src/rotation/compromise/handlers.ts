/** The handler of each compromise step type, merged into the rotation's table (steps/index.ts). */
import type { StepType } from '../journal/journal.js';
import type { StepHandler } from '../journal/context.js';
import {
  assessCertificateStep,
  destroyPrivateKeyStep,
  markCertificateStep,
  releaseCrlStep,
  releaseKingdomStep,
  releaseMarkStep,
  revokeCrlStep,
  revokeKingdomStep,
} from './certificate-steps.js';
import { assessEncryptionKeyStep, refuseRequisitionStep, removeEncryptionKeyStep, requestReencryptionStep } from './encryption-key-steps.js';
import { reencryptEventGroupStep } from './reencrypt-steps.js';
import { replaceMeasurementStep } from './replace-measurement.js';
import { reportStep } from './report.js';

export type CompromiseStepType = Extract<StepType, `compromise.${string}` | `reencrypt.${string}`>;

export const COMPROMISE_HANDLERS: Record<CompromiseStepType, StepHandler> = {
  'compromise.assess-certificate': assessCertificateStep,
  'compromise.revoke-kingdom': revokeKingdomStep,
  'compromise.mark-certificate': markCertificateStep,
  'compromise.destroy-private-key': destroyPrivateKeyStep,
  'compromise.revoke-crl': revokeCrlStep,
  'compromise.release-kingdom': releaseKingdomStep,
  'compromise.release-crl': releaseCrlStep,
  'compromise.release-mark': releaseMarkStep,
  'compromise.assess-encryption-key': assessEncryptionKeyStep,
  'compromise.remove-encryption-key': removeEncryptionKeyStep,
  'compromise.request-reencryption': requestReencryptionStep,
  'compromise.replace-measurement': replaceMeasurementStep,
  'compromise.refuse-requisition': refuseRequisitionStep,
  'compromise.report': reportStep,
  'reencrypt.event-group': reencryptEventGroupStep,
};
