/** Expectations on the typed errors of the PKI: the code, and the error itself for further checks. */
import assert from 'node:assert/strict';
import { PkiError } from '../../src/pki/errors.js';

/** `p` rejects with a PkiError of `code`; returns it. */
export async function rejectsWith(p: Promise<unknown>, code: string): Promise<PkiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PkiError, `expected a PkiError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}, but it succeeded`);
}

/** `fn` throws a PkiError of `code`; `what` names the input in a failure. */
export function throwsWith(fn: () => unknown, code: string, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof PkiError, `${what}: ${String(err)}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return;
  }
  assert.fail(`${what}: no error`);
}
