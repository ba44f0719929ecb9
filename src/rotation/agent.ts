/**
 * `halo-keys agent`: the rotation on a schedule. Every interval it reopens the
 * keyring, rotates what the policy says is due (and finishes an interrupted
 * rotation), and exports Prometheus metrics: expiry and next-due time per key
 * and certificate, the last result, failures, whether the audit chain
 * verifies and since when a journal is unfinished. A failed round is retried
 * sooner, backing off exponentially up to the interval. The rotation lock is
 * the one `halo-keys rotate` takes, so agents for the same keyring (or an
 * agent and a person) never rotate at once: a round that finds it held is
 * skipped.
 */
import { join } from 'node:path';
import { Counter, Gauge, Registry } from 'prom-client';
import { type Clock, formatDuration } from '../lib/index.js';
import { AUDIT_FILES, verifyAuditLog } from './audit-log.js';
import { RotationError } from './errors.js';
import { readJournal } from './journal.js';
import type { KingdomPort } from './kingdom-port.js';
import { urgency } from './policy.js';
import { rotate } from './rotate.js';
import { KeyringSession } from './session.js';

export interface AgentOptions {
  dir: string;
  clock: Clock;
  passphrase: () => string;
  intervalMs: number;
  /** First retry delay after a failure (doubled per consecutive failure, capped at the interval). */
  retryBaseMs?: number;
  kingdom?: (session: KeyringSession) => KingdomPort;
  log?: (line: string) => void;
}

export type TickOutcome = 'rotated' | 'nothing-due' | 'locked' | 'failed';

export interface TickResult {
  outcome: TickOutcome;
  detail: string;
  /** When the next round should run, from now (ms). */
  nextDelayMs: number;
}

export class RotationAgent {
  readonly registry = new Registry();
  readonly #options: AgentOptions;
  readonly #expiry: Gauge;
  readonly #due: Gauge;
  readonly #lastResult: Gauge;
  readonly #lastRun: Gauge;
  readonly #failures: Counter;
  readonly #rotations: Counter;
  readonly #auditValid: Gauge;
  readonly #journalSince: Gauge;
  #consecutiveFailures = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;

  constructor(options: AgentOptions) {
    this.#options = options;
    const registers = [this.registry];
    this.#expiry = new Gauge({ name: 'halo_keys_key_expiry_timestamp_seconds', help: 'notAfter of each certificate in the keyring', labelNames: ['id', 'kind', 'state', 'participant'], registers });
    this.#due = new Gauge({ name: 'halo_keys_key_next_due_timestamp_seconds', help: 'When each active key or certificate is due for rotation', labelNames: ['id', 'kind', 'participant'], registers });
    this.#lastResult = new Gauge({ name: 'halo_keys_rotation_last_result', help: '1 for the outcome of the last round, 0 for the others', labelNames: ['outcome'], registers });
    this.#lastRun = new Gauge({ name: 'halo_keys_rotation_last_run_timestamp_seconds', help: 'When the last round ran', registers });
    this.#failures = new Counter({ name: 'halo_keys_rotation_failures_total', help: 'Rounds that failed', registers });
    this.#rotations = new Counter({ name: 'halo_keys_rotations_total', help: 'Rotations completed', registers });
    this.#auditValid = new Gauge({ name: 'halo_keys_audit_chain_valid', help: 'Whether audit.jsonl verified against its hash chain and anchor in the last round (1) or not (0)', registers });
    this.#journalSince = new Gauge({
      name: 'halo_keys_journal_unfinished_since_timestamp_seconds',
      help: 'Creation time of the unfinished journal (journal.json) found at the last round; absent when there is none',
      labelNames: ['id', 'procedure'],
      registers,
    });
  }

  #log(line: string): void {
    this.#options.log?.(line);
  }

  #observe(session: KeyringSession): void {
    const now = session.now();
    this.#expiry.reset();
    this.#due.reset();
    const participant = session.config.participant;
    for (const e of session.keyring.entries) {
      if (e.notAfter) this.#expiry.set({ id: e.id, kind: e.kind, state: e.state, participant }, Date.parse(e.notAfter) / 1000);
      if (e.state === 'active') this.#due.set({ id: e.id, kind: e.kind, participant }, urgency(e, session.config.policy, e.kind, now).schedule.dueAt.getTime() / 1000);
    }
  }

  /** The audit chain and the journal, read from the directory whatever the round did (no passphrase needed). */
  #observeFiles(): void {
    const dir = this.#options.dir;
    this.#auditValid.set(verifyAuditLog(join(dir, AUDIT_FILES.log), join(dir, AUDIT_FILES.anchor)).ok ? 1 : 0);
    this.#journalSince.reset();
    try {
      const journal = readJournal(dir);
      if (journal) this.#journalSince.set({ id: journal.id, procedure: journal.procedure ?? 'rotation' }, Date.parse(journal.createdAt) / 1000);
    } catch {
      // A corrupt journal fails the round itself, which the failure metrics report.
    }
  }

  #finish(outcome: TickOutcome, detail: string): TickResult {
    this.#observeFiles();
    for (const o of ['rotated', 'nothing-due', 'locked', 'failed'] as const) this.#lastResult.set({ outcome: o }, o === outcome ? 1 : 0);
    this.#lastRun.set(this.#options.clock.now().getTime() / 1000);
    let nextDelayMs = this.#options.intervalMs;
    if (outcome === 'failed') {
      this.#failures.inc();
      this.#consecutiveFailures++;
      const base = this.#options.retryBaseMs ?? 60_000;
      nextDelayMs = Math.min(this.#options.intervalMs, base * 2 ** (this.#consecutiveFailures - 1));
    } else {
      this.#consecutiveFailures = 0;
    }
    this.#log(`${outcome}: ${detail}; next round in ${formatDuration(nextDelayMs)}`);
    return { outcome, detail, nextDelayMs };
  }

  /** One round: reopen, rotate what is due, refresh the metrics. */
  async tick(): Promise<TickResult> {
    // Before the rotation too: a round can take minutes (rollout checks), and the gauge must not read 0 meanwhile.
    this.#observeFiles();
    let session: KeyringSession;
    try {
      session = KeyringSession.open(this.#options.dir, { clock: this.#options.clock, passphrase: this.#options.passphrase, actor: 'halo-keys agent' });
    } catch (err) {
      return this.#finish('failed', (err as Error).message);
    }
    this.#observe(session);
    try {
      const kingdom = this.#options.kingdom;
      const result = await rotate(session, kingdom ? { kingdom: () => kingdom(session) } : {});
      if (result.steps.length === 0) return this.#finish('nothing-due', 'nothing is due');
      this.#rotations.inc();
      this.#observe(KeyringSession.open(this.#options.dir, { clock: this.#options.clock, passphrase: this.#options.passphrase }));
      return this.#finish('rotated', `${result.resumed ? 'finished' : 'completed'} ${result.journalId} (${result.steps.length} steps)`);
    } catch (err) {
      if (err instanceof RotationError && err.code === 'LOCKED') return this.#finish('locked', err.message);
      return this.#finish('failed', (err as Error).message.split('\n')[0] ?? 'error');
    }
  }

  /** Runs rounds until `stop()`. */
  start(): void {
    const loop = async () => {
      if (this.#stopped) return;
      this.#running = this.tick();
      const result = (await this.#running) as TickResult;
      this.#running = undefined;
      if (!this.#stopped) this.#timer = setTimeout(loop, result.nextDelayMs);
    };
    void loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running;
  }
}
