import { HaloError } from '../lib/index.js';

/** Every failure of the participant keyring and its rotation; callers switch on `code`. */
export type RotationErrorCode =
  | 'CONFIG_INVALID' // halo-keys.yaml missing a field, or a field of the wrong shape
  | 'KEYRING_NOT_FOUND' // no keyring.json in the state directory
  | 'KEYRING_EXISTS' // init/import over an existing keyring
  | 'KEYRING_CORRUPT' // keyring.json does not parse or breaks an invariant
  | 'PASSPHRASE_REQUIRED' // private keys are encrypted and no passphrase was given
  | 'PASSPHRASE_WRONG' // a key file does not decrypt with the passphrase
  | 'IMPORT_INVALID' // files given to import do not fit together
  | 'LOCKED' // another rotation holds the lock
  | 'AUDIT_CHAIN_BROKEN' // the audit log was edited, reordered or truncated
  | 'JOURNAL_CORRUPT' // the rotation journal does not parse
  | 'NO_JOURNAL' // --resume with nothing to resume
  | 'KINGDOM_NOT_CONFIGURED' // a step needs the Kingdom and the config names none
  | 'PRECONDITION_FAILED' // a safety check refused the step (e.g. revoking too early)
  | 'TARGET_NOT_FOUND' // compromise: no keyring entry is the named certificate or key
  | 'PEER_UNTRUSTED' // compromise: another participant's key or certificate does not verify against the trusted roots
  | 'PLAINTEXT_MISSING' // compromise: the participant's own copy of a RequisitionSpec or EventGroup metadata is missing
  | 'REHEARSAL_ONLY' // --rehearsal DIR that cannot be made, or a Kingdom procedure in a rehearsal copy
  | 'ABORT_REFUSED' // rotate --abort on a journal whose done steps cannot be walked back safely
  | 'STEP_FAILED'; // a rotation step failed; the journal keeps its place

export class RotationError extends HaloError<RotationErrorCode> {}
