/**
 * Durations as people write them: `90d`, `12h`, `30m`, `45s`, `2w`. One
 * reader and one printer, so a policy, a flag default, a plan and a log line
 * all show `1h` and `30d` rather than `3600000`.
 */
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const UNITS: Record<string, number> = { s: SECOND, m: MINUTE, h: HOUR, d: DAY, w: 7 * DAY };

/** Milliseconds of `90d`, `12h`, `30m`, `45s`, `2w` (or `1.5h`); undefined when `text` is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([smhdw])$/.exec(text.trim());
  return m ? Number(m[1]) * UNITS[m[2]!]! : undefined;
}

/**
 * `ms` in its two largest units, largest first: `90d`, `1h`, `1d12h`, `2m30s`;
 * `units: 1` keeps only the largest (`45d`). Smaller parts are dropped, not
 * rounded; under a second prints as `250ms`, nothing as `0s`.
 */
export function formatDuration(ms: number, units: 1 | 2 = 2): string {
  const sign = ms < 0 ? '-' : '';
  let rest = Math.abs(ms);
  if (rest === 0) return '0s';
  if (rest < SECOND) return `${sign}${Math.round(rest)}ms`;
  const parts: string[] = [];
  for (const [unit, size] of [['d', DAY], ['h', HOUR], ['m', MINUTE], ['s', SECOND]] as const) {
    const n = Math.floor(rest / size);
    if (n === 0 && parts.length === 0) continue;
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
    if (parts.length === units || (parts.length > 0 && n === 0)) break;
  }
  return sign + parts.join('');
}
