/**
 * Metric names on both sides of the monitoring files: the names a PromQL
 * expression reads, and the sample names an exposition (`/metrics`) can
 * carry, from its `# TYPE` lines (so a labelled metric with no sample yet
 * still counts as exported).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { DEPLOY_DIR } from './deploy-fixtures.js';

const NOT_METRICS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan']);

/** The metric names an expression selects (not functions, keywords, labels, durations or strings). */
export function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const before = m.index > 0 ? s[m.index - 1]! : ' ';
    if (/[0-9.]/.test(before)) continue; // 14e3, 5m
    if (s.slice(m.index + m[0].length).trimStart().startsWith('(')) continue; // a function
    if (NOT_METRICS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Every sample name the exposition declares: counters and gauges as named, histograms and summaries with their suffixes. */
export function exportedNames(exposition: string): Set<string> {
  const out = new Set<string>();
  for (const m of exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [name, type] = [m[1]!, m[2]!];
    out.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s);
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name + s);
  }
  return out;
}

export const ALERTS_FILE = join(DEPLOY_DIR, 'monitoring/alerts.yaml');
export const DASHBOARD_FILE = join(DEPLOY_DIR, 'monitoring/dashboard.json');

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
}

export function alertRules(): AlertRule[] {
  const doc = parseYaml(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: AlertRule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/** Every query of the dashboard, with its panel's title. */
export function dashboardQueries(): { panel: string; expr: string }[] {
  const doc = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as { panels: Panel[] };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? '', expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(doc.panels);
  return out;
}
