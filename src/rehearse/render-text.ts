/** The rehearsal's report as text, for a terminal. */
import type { RehearsalReport } from './report.js';

const seconds = (from: string, to: string) => `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s`;

export function renderText(r: RehearsalReport): string {
  const lines: string[] = [];
  const checks = r.drills.flatMap((d) => d.checks);
  lines.push(`rehearsal ${r.ok ? 'PASSED' : 'FAILED'}: ${checks.filter((c) => c.ok).length}/${checks.length} checks in ${r.drills.length} drills, ${seconds(r.startedAt, r.endedAt)} (${r.engine} Kingdom, ${r.commands} commands)`);
  if (r.error) lines.push(`stopped early: ${r.error}`);
  for (const p of r.participants) lines.push(`  ${p.label.padEnd(6)} ${p.name}`);
  if (r.workload) {
    const m = r.workload.measurements;
    lines.push(
      `workload: ${r.workload.eventGroups.edp1 + r.workload.eventGroups.edp2} event groups; measurements ${Object.entries(m).map(([k, v]) => `${v.count} ${k}`).join(', ')}; requisitions ${r.workload.requisitions.fulfilled} fulfilled, ${r.workload.requisitions.unfulfilled} unfulfilled, ${r.workload.requisitions.refused} refused (${(r.workload.ms / 1000).toFixed(1)} s)`,
    );
  }
  for (const d of r.drills) {
    lines.push('', `${d.ok ? 'ok  ' : 'FAIL'} ${d.id}: ${d.title} (${seconds(d.startedAt, d.endedAt)})`);
    for (const c of d.checks) lines.push(`     ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? `: ${c.detail}` : ''} [${c.at.slice(11, 23)}, ${c.ms} ms]`);
    for (const [what, names] of Object.entries(d.blastRadius ?? {})) {
      lines.push(`     blast radius, ${what}: ${names.length === 0 ? 'none' : ''}`);
      for (const n of names) lines.push(`       ${n}`);
    }
  }
  if (r.failedChecks.length) lines.push('', 'failed checks:', ...r.failedChecks.map((f) => `  ${f}`));
  lines.push('', r.kept ? `kept: ${r.dir}` : 'scratch directory removed (--keep keeps it)');
  return `${lines.join('\n')}\n`;
}
