/**
 * When a key or certificate is due for rotation. Pure arithmetic on the
 * entry, the policy and an instant:
 *
 *   scheduled = notBefore + fraction x (notAfter - notBefore)   (fraction set, certificates)
 *             | createdAt + every                               (otherwise)
 *   jittered  = scheduled - jitter x u(id)     u in [0, 1), from SHA-256 of the id
 *   due       = min(jittered, notAfter - minRemaining)
 *
 * Jitter only moves a rotation earlier, never past the schedule, and depends
 * on the key alone, so the date does not move between runs while a fleet of
 * participants still spreads out. The validity-based bound makes a short-lived
 * certificate rotate in time whatever the schedule says.
 */
import { createHash } from 'node:crypto';
import type { KeyKind, KindPolicy, RotationPolicy } from './config.js';
import type { KeyEntry } from './keyring.js';

/** A fraction in [0, 1) derived from `seed`: the same seed always gives the same fraction. */
export function jitterFraction(seed: string): number {
  const h = createHash('sha256').update(seed).digest();
  // 48 bits are plenty and stay exact in a double.
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** What the schedule is keyed on: the SKID for certificates (stable across imports), else the entry id. */
export function jitterSeed(entry: Pick<KeyEntry, 'id' | 'skid' | 'tinkKeyId'>): string {
  if (entry.skid) return `skid:${entry.skid}`;
  if (entry.tinkKeyId !== undefined) return `tink:${entry.tinkKeyId}`;
  return `id:${entry.id}`;
}

export interface Schedule {
  /** The nominal date before jitter and the validity bound. */
  scheduledAt: Date;
  dueAt: Date;
  /** Why the due date is what it is. */
  basis: 'age' | 'fraction' | 'min-remaining';
}

type Timed = Pick<KeyEntry, 'id' | 'skid' | 'tinkKeyId' | 'createdAt' | 'notBefore' | 'notAfter'>;

export function scheduleFor(entry: Timed, policy: KindPolicy): Schedule {
  const created = Date.parse(entry.createdAt);
  const notBefore = entry.notBefore ? Date.parse(entry.notBefore) : undefined;
  const notAfter = entry.notAfter ? Date.parse(entry.notAfter) : undefined;
  let scheduled: number;
  let basis: Schedule['basis'];
  if (policy.fraction !== undefined && notBefore !== undefined && notAfter !== undefined) {
    scheduled = notBefore + policy.fraction * (notAfter - notBefore);
    basis = 'fraction';
  } else {
    scheduled = created + policy.everyMs;
    basis = 'age';
  }
  let due = scheduled - Math.floor(policy.jitterMs * jitterFraction(jitterSeed(entry)));
  if (notAfter !== undefined && policy.minRemainingMs > 0 && notAfter - policy.minRemainingMs < due) {
    due = notAfter - policy.minRemainingMs;
    basis = 'min-remaining';
  }
  return { scheduledAt: new Date(scheduled), dueAt: new Date(due), basis };
}

export function policyFor(policy: RotationPolicy, kind: KeyKind): KindPolicy {
  return policy[kind];
}

export type Urgency = 'ok' | 'due' | 'overdue' | 'expired';

/** ok before the due date; due from it; overdue `overdueAfter` later; expired past notAfter. */
export function urgency(entry: Timed, policy: RotationPolicy, kind: KeyKind, now: Date): { urgency: Urgency; schedule: Schedule } {
  const schedule = scheduleFor(entry, policyFor(policy, kind));
  const t = now.getTime();
  if (entry.notAfter && t >= Date.parse(entry.notAfter)) return { urgency: 'expired', schedule };
  if (t >= schedule.dueAt.getTime() + policy.overdueAfterMs) return { urgency: 'overdue', schedule };
  if (t >= schedule.dueAt.getTime()) return { urgency: 'due', schedule };
  return { urgency: 'ok', schedule };
}

/** True when a retiring encryption key has had its grace period. */
export function graceOver(retiringSince: Date, policy: RotationPolicy, now: Date): boolean {
  return now.getTime() >= retiringSince.getTime() + policy.encryptionGraceMs;
}

/** When the entry last entered its current state (its creation when it never changed). */
export function stateSince(entry: Pick<KeyEntry, 'history' | 'createdAt' | 'state'>): Date {
  for (let i = entry.history.length - 1; i >= 0; i--) {
    const h = entry.history[i]!;
    if (h.to === entry.state) return new Date(h.at);
  }
  return new Date(entry.createdAt);
}
