/**
 * The handler of each compromise step type, and the table of each procedure:
 * the certificate and encryption-key procedures begin with the rotation's
 * own steps for the kind they replace.
 */
import type { StepHandler, StepHandlers } from '../journal/context.js';
import type { StepType } from '../journal/journal.js';
import { ROTATION_HANDLERS } from '../steps/index.js';
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
import { assessEncryptionKeyStep, removeEncryptionKeyStep, requestReencryptionStep } from './encryption-key-steps.js';
import { reencryptEventGroupStep, reencryptOpenRequestsStep } from './reencrypt-steps.js';
import { replaceMeasurementStep, replaceMeasurementsStep } from './replace-measurement.js';
import { refuseRequisitionStep, refuseRequisitionsStep } from './refuse-requisitions.js';
import { reportStep } from './report.js';

export type CompromiseStepType = Extract<StepType, `compromise.${string}` | `reencrypt.${string}`>;

const COMPROMISE_HANDLERS: Record<CompromiseStepType, StepHandler> = {
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
  'compromise.replace-measurements': replaceMeasurementsStep,
  'compromise.refuse-requisition': refuseRequisitionStep,
  'compromise.refuse-requisitions': refuseRequisitionsStep,
  'compromise.report': reportStep,
  'reencrypt.open-requests': reencryptOpenRequestsStep,
  'reencrypt.event-group': reencryptEventGroupStep,
};

const only = (...types: CompromiseStepType[]): StepHandlers => Object.fromEntries(types.map((t) => [t, COMPROMISE_HANDLERS[t]]));

export const CERTIFICATE_COMPROMISE_HANDLERS: StepHandlers = {
  ...ROTATION_HANDLERS,
  ...only('compromise.assess-certificate', 'compromise.revoke-kingdom', 'compromise.mark-certificate', 'compromise.destroy-private-key', 'compromise.revoke-crl', 'compromise.report'),
};

export const RELEASE_HOLD_HANDLERS: StepHandlers = only('compromise.release-kingdom', 'compromise.release-crl', 'compromise.release-mark');

export const ENCRYPTION_KEY_COMPROMISE_HANDLERS: StepHandlers = {
  ...ROTATION_HANDLERS,
  ...only(
    'compromise.assess-encryption-key',
    'compromise.remove-encryption-key',
    'compromise.request-reencryption',
    'compromise.replace-measurement',
    'compromise.replace-measurements',
    'compromise.refuse-requisition',
    'compromise.refuse-requisitions',
    'compromise.report',
  ),
};

export const REENCRYPTION_HANDLERS: StepHandlers = only('reencrypt.open-requests', 'reencrypt.event-group', 'compromise.report');
