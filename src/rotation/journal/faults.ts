/**
 * Test hooks (documented in the README): `HALO_KEYS_FAULT_AFTER_STEP=n` makes
 * the process SIGKILL itself right after step n is recorded as done, and
 * `HALO_KEYS_FAULT_BEFORE_RECORD=n` right after step n has run but before it
 * is recorded, so tests can crash a journaled run at every point.
 * `HALO_KEYS_FAULT_AFTER_PAGE=n` kills a step that works page by page
 * (`reencrypt.open-requests`) after the Kingdom took page n (groups updated,
 * requests closed), before it is recorded in the keyring;
 * (`compromise.refuse-requisitions`) after this run's n-th page was refused
 * at the Kingdom, before it was recorded.
 * `HALO_KEYS_FAULT_AFTER_ITEM=n` kills a step that works item by item
 * (`compromise.replace-measurements`, `compromise.refuse-requisitions`)
 * right after this run's n-th item took effect, before the step recorded it.
 */
import { RotationError } from '../errors.js';

export interface FaultHooks {
  faultAfterStep?: number;
  faultBeforeRecord?: number;
  faultAfterPage?: number;
  faultAfterItem?: number;
}

/** Reads the fault-injection hooks from the environment (tests only). */
export function faultHooks(env: NodeJS.ProcessEnv = process.env): FaultHooks {
  const num = (v: string | undefined) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  const after = num(env.HALO_KEYS_FAULT_AFTER_STEP);
  const before = num(env.HALO_KEYS_FAULT_BEFORE_RECORD);
  const page = num(env.HALO_KEYS_FAULT_AFTER_PAGE);
  const item = num(env.HALO_KEYS_FAULT_AFTER_ITEM);
  return {
    ...(after !== undefined ? { faultAfterStep: after } : {}),
    ...(before !== undefined ? { faultBeforeRecord: before } : {}),
    ...(page !== undefined ? { faultAfterPage: page } : {}),
    ...(item !== undefined ? { faultAfterItem: item } : {}),
  };
}

export function die(): never {
  process.kill(process.pid, 'SIGKILL');
  // SIGKILL is not deliverable synchronously everywhere; never continue past it.
  throw new RotationError('STEP_FAILED', 'killed by fault injection');
}
