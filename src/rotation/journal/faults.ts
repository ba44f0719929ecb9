/**
 * Test hooks (documented in the README): `HALO_KEYS_FAULT_AFTER_STEP=n` makes
 * the process SIGKILL itself right after step n is recorded as done, and
 * `HALO_KEYS_FAULT_BEFORE_RECORD=n` right after step n has run but before it
 * is recorded, so tests can crash a journaled run at every point.
 * `HALO_KEYS_FAULT_AFTER_ITEM=n` does so inside a step that works through many
 * items (measurement replacement): right after the n-th item of this run took
 * effect, before the step recorded it.
 */
import { RotationError } from '../errors.js';

export interface FaultHooks {
  faultAfterStep?: number;
  faultBeforeRecord?: number;
  faultAfterItem?: number;
}

/** Reads the fault-injection hooks from the environment (tests only). */
export function faultHooks(env: NodeJS.ProcessEnv = process.env): FaultHooks {
  const num = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  const after = num(env.HALO_KEYS_FAULT_AFTER_STEP);
  const before = num(env.HALO_KEYS_FAULT_BEFORE_RECORD);
  const item = num(env.HALO_KEYS_FAULT_AFTER_ITEM);
  return {
    ...(after !== undefined ? { faultAfterStep: after } : {}),
    ...(before !== undefined ? { faultBeforeRecord: before } : {}),
    ...(item !== undefined ? { faultAfterItem: item } : {}),
  };
}

export function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not deliverable synchronously everywhere; never continue past it.
  throw new RotationError('STEP_FAILED', 'killed by fault injection');
}
