/**
 * The base of every error the library throws. Each part defines its own closed
 * union of codes (see `crypto/errors.ts`) so callers can `switch (err.code)`
 * and the compiler checks the cases.
 *
 * Messages never contain key material: they name what failed, not the secret.
 */
export class HaloError<Code extends string = string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** True when `err` is a HaloError (of any part). */
export function isHaloError(err: unknown): err is HaloError {
  return err instanceof HaloError;
}
