/**
 * What a journaled step gets to work with, and the contract every step keeps:
 * `run` first looks for its own effect and only does what is missing, so
 * running it twice (after a crash between doing and recording) is safe;
 * `preview` only reads, and says what `run` would change.
 */
import type { KingdomClient } from '../../client/index.js';
import { RotationError } from '../errors.js';
import { findEntry, type KeyEntry } from '../keyring.js';
import { connectKingdomClient } from '../kingdom-connect.js';
import { kingdomPortOver, type KingdomPort } from '../kingdom-port.js';
import type { KeyringSession } from '../session.js';
import type { JournalStep, StepType } from './journal.js';

/** The Kingdom of one journaled run. */
export interface KingdomAccess {
  /** The port the rotation steps use, connected on first use. */
  kingdom(): KingdomPort;
  /** The typed client under `kingdom()`, for steps and plans that need more than the port (compromise procedures). */
  client(): KingdomClient;
}

export interface StepContext extends KingdomAccess {
  readonly session: KeyringSession;
  readonly journalId: string;
  /** Waits between rollout probes; tests shorten it. */
  readonly rolloutDelayMs?: number;
  /** Progress of a step that works through many items: items done of those it knows of. */
  readonly items?: (done: number, total: number) => void;
  /** Test hook: SIGKILL after this page of a paged step (see faults.ts). */
  readonly faultAfterPage?: number;
  /** Test hook: SIGKILL right after this run's n-th item of an item-by-item step took effect, before it is recorded (see faults.ts). */
  readonly faultAfterItem?: number;
}

export interface StepHandler {
  run(ctx: StepContext, step: JournalStep): Promise<string>;
  preview(ctx: StepContext, step: JournalStep): Promise<string>;
}

/** A procedure's handlers, by the step types its journals hold. */
export type StepHandlers = Partial<Record<StepType, StepHandler>>;

/**
 * How a journaled run reaches the Kingdom, decided here only: through what
 * the caller gave (tests, the agent), else one connection made from the
 * keyring's config on first use and shared by the plan and every step. The
 * port is the client's unless a port was given.
 */
export function kingdomAccess(session: KeyringSession, given: { kingdom?: () => KingdomPort; client?: () => KingdomClient }): KingdomAccess {
  let port: KingdomPort | undefined;
  let client: KingdomClient | undefined;
  const clientOf = () => (client ??= given.client ? given.client() : connectKingdomClient(session));
  return {
    client: clientOf,
    kingdom: () => (port ??= given.kingdom ? given.kingdom() : kingdomPortOver(clientOf())),
  };
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
