/**
 * Benchmark helpers: every figure is printed beside a baseline measured in the
 * same run, with the ratio, so a noisy machine moves both together.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';

export interface Figure {
  name: string;
  ours: number;
  baseline: number;
  /** 'ops/s' (higher is better) or 'ms' (lower is better). */
  unit: 'ops/s' | 'ms';
  baselineName: string;
  /** Optional target text, e.g. '>= 0.9'. */
  target?: string;
}

/** Runs `fn` repeatedly for about `ms` milliseconds (after a warm-up) and returns ops/s. */
export async function opsPerSecond(fn: () => unknown | Promise<unknown>, ms = 1000): Promise<number> {
  const warmUntil = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmUntil) await fn();
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) await fn();
    count += 16;
    now = performance.now();
  }
  return (count * 1000) / (now - start);
}

/** Same as `opsPerSecond` for synchronous functions, without await overhead. */
export function opsPerSecondSync(fn: () => unknown, ms = 1000): number {
  const warmUntil = performance.now() + Math.min(200, ms / 4);
  while (performance.now() < warmUntil) fn();
  let count = 0;
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    for (let i = 0; i < 16; i++) fn();
    count += 16;
    now = performance.now();
  }
  return (count * 1000) / (now - start);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function fmt(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

/** Prints figures as an aligned table: ours, baseline, ratio (>1 means ours is better). */
export function printFigures(section: string, figures: Figure[]): void {
  console.log(`\n## ${section}`);
  const rows = figures.map((f) => {
    const ratio = f.unit === 'ops/s' ? f.ours / f.baseline : f.baseline / f.ours;
    return [
      f.name,
      `${fmt(f.ours)} ${f.unit}`,
      `${fmt(f.baseline)} ${f.unit} (${f.baselineName})`,
      `${ratio.toFixed(2)}x`,
      f.target ?? '',
    ];
  });
  const header = ['figure', 'ours', 'baseline', 'ratio', 'target'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

/** Whether this machine shows processes' CPU time in /proc (Linux); elsewhere the CPU figures are left out. */
export const hasProcCpu = existsSync('/proc/self/stat');

/** Linux clock ticks per second, the unit of utime and stime in /proc/PID/stat. */
const CLOCK_TICKS = 100;

/** CPU seconds (user and system, all threads) a process has used so far, from /proc/PID/stat. */
export function processCpuSeconds(pid: number): number {
  try {
    // Fields after the parenthesised command name: state is field 3, utime 14 and stime 15.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0; // gone: a PostgreSQL backend that exited between the listing and the read
  }
}

/** CPU seconds used so far by each process of this machine named `comm` (e.g. PostgreSQL's), by pid. */
export function commandCpuSeconds(comm: string): Map<number, number> {
  const used = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) used.set(Number(entry), processCpuSeconds(Number(entry)));
    } catch {
      // exited while listed
    }
  }
  return used;
}

/** CPU seconds the processes named `comm` used between two readings; those that exited in between lose their last part. */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}
