/** The rehearsal's report: what every renderer (text, JSON, HTML) reads. */
import { readKeyring, type KeyState, type KeyKind } from '../rotation/index.js';
import type { DrillResult } from './checks.js';
import type { Participant } from './participants.js';
import type { WorkloadSize, WorkloadSummary } from './workload.js';

export interface Phase {
  readonly name: string;
  readonly startedAt: string;
  readonly endedAt: string;
}

/** One key or certificate of a keyring, from its creation to its last state change. */
export interface Lifetime {
  readonly participant: string;
  readonly kind: KeyKind;
  readonly id: string;
  readonly state: KeyState;
  readonly createdAt: string;
  /** When it became active and when it stopped being active (absent while active). */
  readonly activeFrom?: string;
  readonly activeUntil?: string;
  readonly notAfter?: string;
}

export interface RehearsalReport {
  readonly version: 1;
  ok: boolean;
  readonly startedAt: string;
  endedAt: string;
  readonly engine: 'embedded' | 'postgresql';
  readonly dir: string;
  kept: boolean;
  readonly size: WorkloadSize;
  workload?: WorkloadSummary;
  participants: Array<{ label: string; kind: string; name: string }>;
  readonly phases: Phase[];
  readonly drills: DrillResult[];
  lifetimes: Lifetime[];
  /** `drill: check` of every failed check. */
  failedChecks: string[];
  commands: number;
  /** What stopped the rehearsal before its drills ran to the end. */
  error?: string;
}

export function lifetimesOf(participants: readonly Participant[]): Lifetime[] {
  const out: Lifetime[] = [];
  for (const p of participants) {
    for (const e of readKeyring(p.dir).entries) {
      const activated = e.history.find((h) => h.to === 'active');
      const left = activated ? e.history.find((h) => h.from === 'active' && h.at >= activated.at) : undefined;
      out.push({
        participant: p.label,
        kind: e.kind,
        id: e.id,
        state: e.state,
        createdAt: e.createdAt,
        ...(activated ? { activeFrom: activated.at } : {}),
        ...(left ? { activeUntil: left.at } : {}),
        ...(e.notAfter ? { notAfter: e.notAfter } : {}),
      });
    }
  }
  return out;
}

export function failedChecks(drills: readonly DrillResult[]): string[] {
  return drills.flatMap((d) => d.checks.filter((c) => !c.ok).map((c) => `${d.id}: ${c.name}${c.detail ? ` (${c.detail})` : ''}`));
}
