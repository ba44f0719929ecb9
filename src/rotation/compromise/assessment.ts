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
  /** MeasurementConsumer: measurements not finished whose measurement_public_key carries the key. */
  measurements: Array<{ name: string; state: string; referenceId: string }>;
  /** MeasurementConsumer: EventGroups shared with it whose metadata is encrypted to the key. */
  eventGroups: string[];
  /** DataProvider: UNFULFILLED requisitions whose requisition spec was encrypted to the key. */
  requisitions: Array<{ name: string; measurement: string }>;
}
