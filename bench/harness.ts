/**
 * Benchmark helpers: every figure is printed beside a baseline measured in the
 * same run, with the ratio, so a noisy machine moves both together.
 */

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
