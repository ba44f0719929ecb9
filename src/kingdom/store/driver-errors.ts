/** Driver errors (SQLSTATE codes) translated into StoreErrors. */
import { StoreError } from './errors.js';

/** Unique indexes whose violation is a caller's mistake, not a fault. */
const UNIQUE_VIOLATIONS: Record<string, () => StoreError> = {
  certificates_subject_key_identifier: () =>
    new StoreError(
      'ALREADY_EXISTS',
      'CERT_SUBJECT_KEY_ID_ALREADY_EXISTS',
      'Certificate with the subject key identifier (SKID) already exists.',
    ),
  parties_duchy_id: () => new StoreError('ALREADY_EXISTS', 'DUCHY_ALREADY_EXISTS', 'A Duchy with that id already exists.'),
  parties_duchy_root_skid: () =>
    new StoreError('ALREADY_EXISTS', 'DUCHY_ALREADY_EXISTS', 'A Duchy with that root certificate SKID already exists.'),
  // Two concurrent requests with one idempotency key: the loser may simply retry.
  measurements_create_request_id: () =>
    new StoreError('ABORTED', 'TRANSACTION_ABORTED', 'A concurrent request with the same request id is in progress.'),
};

/**
 * Turns a driver error (PGlite or pg, both carrying SQLSTATE in `code`) into
 * a StoreError; StoreErrors pass through.
 */
export function translateDatabaseError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = err as { code?: unknown; constraint?: unknown };
  const state = typeof e?.code === 'string' ? e.code : '';
  if (state === '23505' && typeof e.constraint === 'string') {
    const make = UNIQUE_VIOLATIONS[e.constraint];
    if (make !== undefined) {
      const out = make();
      return new StoreError(out.code, out.reason, out.message, { metadata: { ...out.metadata }, cause: err });
    }
  }
  // Class 22 (data exception): a value the database cannot hold, e.g. NUL in text.
  if (state.startsWith('22')) {
    return new StoreError('INVALID_ARGUMENT', 'INVALID_FIELD_VALUE', 'A value cannot be stored.', { cause: err });
  }
  if (state === '40001' || state === '40P01') {
    return new StoreError('ABORTED', 'TRANSACTION_ABORTED', 'The transaction conflicted with another one.', { cause: err });
  }
  // Connection failures (class 08, shutdown 57P0x) and socket errors.
  if (state.startsWith('08') || state.startsWith('57P') || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(state)) {
    return new StoreError('UNAVAILABLE', 'DATABASE_UNAVAILABLE', 'The database is unavailable.', { cause: err });
  }
  return new StoreError('INTERNAL', 'DATABASE_ERROR', 'The database failed the operation.', { cause: err });
}
