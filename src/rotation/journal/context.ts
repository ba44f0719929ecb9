/**
 * What a rotation step gets to work with, and the contract every step keeps:
 * `run` first looks for its own effect and only does what is missing, so
 * running it twice (after a crash between doing and recording) is safe;
 * `preview` only reads, and says what `run` would change.
 */
import { RotationError } from '../errors.js';
import type { JournalStep } from './journal.js';
import { findEntry, type KeyEntry } from '../keyring.js';
import type { KingdomClient } from '../../client/index.js';
import type { KingdomPort } from '../kingdom-port.js';
import type { KeyringSession } from '../session.js';

export interface StepContext {
  readonly session: KeyringSession;
  /** The Kingdom, connected on first use. */
  kingdom(): KingdomPort;
  /** The typed client under `kingdom()`, for steps that need more than the port (compromise procedures). */
  client?(): KingdomClient;
  readonly journalId: string;
  /** Waits between rollout probes; tests shorten it. */
  readonly rolloutDelayMs?: number;
}

export interface StepHandler {
  run(ctx: StepContext, step: JournalStep): Promise<string>;
  preview(ctx: StepContext, step: JournalStep): Promise<string>;
}

export function stepEntry(ctx: StepContext, step: JournalStep, which: 'entry' | 'previous' | 'signingEntry' | 'encryptionEntry' = 'entry'): KeyEntry {
  const id = step[which];
  const entry = id ? findEntry(ctx.session.keyring, id) : undefined;
  if (!entry) throw new RotationError('STEP_FAILED', `step ${step.n} (${step.type}): keyring entry ${id ?? '(none)'} not found; an earlier step did not complete`);
  return entry;
}

export function optionalEntry(ctx: StepContext, id: string | undefined): KeyEntry | undefined {
  return id ? findEntry(ctx.session.keyring, id) : undefined;
}
