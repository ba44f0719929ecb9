/**
 * The error boundary of the PKI parsers: whatever a strict decoder throws
 * (a `DerError`, or anything unforeseen) leaves as one `PkiError` code, so a
 * caller never sees a TypeError for bad input.
 */
import { DerError, PemError, derBlocks } from '../lib/index.js';
import { PkiError, type PkiErrorCode } from './errors.js';

/** Runs `decode`; anything but a `PkiError` becomes `code` with "`what` is malformed: ...". */
export function decodeStrictly<T>(code: PkiErrorCode, what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof PkiError) throw err;
    const detail = err instanceof DerError ? err.message : 'unexpected structure';
    throw new PkiError(code, `${what} is malformed: ${detail}`, { cause: err });
  }
}

/** The DER of each PEM block with one of `labels`, or the input itself when it is DER. */
export function readDerBlocks(bytes: Uint8Array, labels: readonly string[], code: PkiErrorCode, what: string): Uint8Array[] {
  try {
    return derBlocks(bytes, labels);
  } catch (err) {
    // The PEM reader's message names the problem ("not a DER or PEM certificate") itself.
    if (err instanceof PemError) throw new PkiError(code, err.message, { cause: err });
    throw new PkiError(code, `${what} is malformed: not PEM or DER`, { cause: err });
  }
}
