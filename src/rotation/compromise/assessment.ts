/** The assessments the compromise procedures make before changing anything, as stored in their workspace. */
import type { KeyKind } from '../config.js';
import type { KeyState } from '../keyring.js';

export interface CertificateAssessment {
  at: string;
  target: {
    entry: string;
    kind: KeyKind;
    subject?: string;
    skid?: string;
    fingerprint: string;
    serialHex?: string;
    kingdomCertificate?: string;
    stateBefore: KeyState;
  };
  /** Absent for TLS certificates: the Kingdom never sees them. */
  kingdom?: {
    revocationState: 'NONE' | 'HOLD' | 'REVOKED';
    pendingMeasurements: string[];
    pendingRequisitions: string[];
    signedResultMeasurements: string[];
    publicKeyReferences: boolean;
  };
  /** The participant's other certificates of the same kind (Kingdom names when registered). */
  otherCertificates: Array<{ entry?: string; name?: string; state?: string; revocation?: string }>;
}

export interface EncryptionKeyAssessment {
  at: string;
  target: { entry: string; tinkKeyId: number; fingerprint: string; stateBefore: KeyState };
  /** SHA-256 (hex) of the serialized EncryptionPublicKey as published with this key primary: how EventGroups name the key. */
  publishedKeySha256?: string;
  /**
   * MeasurementConsumer: measurements not finished whose measurement_public_key carries the key.
   * The first ASSESSMENT_SAMPLE when `measurementCount` is set (every one is in `measurements.jsonl`); older records list all.
   */
  measurements: AssessedMeasurement[];
  /** How many measurements were found; absent in older records (then `measurements` is all of them). */
  measurementCount?: number;
  /** MeasurementConsumer: EventGroups shared with it whose metadata is encrypted to the key; a sample as `measurements` is (all in `event-groups.jsonl`). */
  eventGroups: string[];
  eventGroupCount?: number;
  /**
   * DataProvider: UNFULFILLED requisitions whose requisition spec was encrypted to the key.
   * A sample as `measurements` is when `requisitionCount` is set (all in `requisitions.jsonl`); older records list all.
   */
  requisitions: AssessedRequisition[];
  requisitionCount?: number;
}

export interface AssessedRequisition {
  name: string;
  measurement: string;
}

export interface AssessedMeasurement {
  name: string;
  state: string;
  referenceId: string;
}

/** How many names an assessment or report carries inline; the rest are in the workspace's .jsonl lists. */
export const ASSESSMENT_SAMPLE = 20;

/** The workspace lists (`<name>.jsonl`) of everything an MC's assessment found. */
export const ASSESSED_MEASUREMENTS = 'measurements';
export const ASSESSED_EVENT_GROUPS = 'event-groups';
/** The workspace list of every requisition a DataProvider's assessment found. */
export const ASSESSED_REQUISITIONS = 'requisitions';

export const measurementCountOf = (a: EncryptionKeyAssessment): number => a.measurementCount ?? a.measurements.length;
export const eventGroupCountOf = (a: EncryptionKeyAssessment): number => a.eventGroupCount ?? a.eventGroups.length;
export const requisitionCountOf = (a: EncryptionKeyAssessment): number => a.requisitionCount ?? a.requisitions.length;
