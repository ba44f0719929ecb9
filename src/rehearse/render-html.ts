/**
 * The rehearsal's report as one self-contained HTML page: the drills and
 * their checks, and an inline SVG timeline of the phases, the drills and
 * every key's and certificate's active lifetime. No scripts, no external
 * resources; every text is escaped.
 */
import type { Lifetime, RehearsalReport } from './report.js';

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const WIDTH = 1000;
const LABEL = 230;
const ROW = 18;

interface Bar {
  label: string;
  from: number;
  to: number;
  cls: string;
  title: string;
}

function timeline(r: RehearsalReport): string {
  const start = Date.parse(r.startedAt);
  const end = Date.parse(r.endedAt);
  const bars: Bar[] = [
    ...r.phases.map((p) => ({ label: p.name, from: Date.parse(p.startedAt), to: Date.parse(p.endedAt), cls: 'phase', title: p.name })),
    ...r.drills.map((d) => ({ label: d.id, from: Date.parse(d.startedAt), to: Date.parse(d.endedAt), cls: d.ok ? 'ok' : 'fail', title: `${d.title}: ${d.checks.filter((c) => c.ok).length}/${d.checks.length} checks` })),
    // Keys born before the rehearsal (the keyrings are backdated) start at its left edge.
    ...r.lifetimes
      .filter((l: Lifetime) => l.activeFrom)
      .map((l) => ({
        label: `${l.participant} ${l.kind}`,
        from: Math.max(start, Date.parse(l.activeFrom!)),
        to: l.activeUntil ? Date.parse(l.activeUntil) : end,
        cls: l.state === 'compromised' ? 'compromised' : 'key',
        title: `${l.id} (${l.state})${l.activeFrom! < r.startedAt ? `, active since ${l.activeFrom}` : ''}`,
      })),
  ];
  const span = Math.max(1, end - start);
  const x = (t: number) => LABEL + ((Math.min(Math.max(t, start), end) - start) / span) * (WIDTH - LABEL - 10);
  const height = bars.length * ROW + 30;
  const rows = bars.map((b, i) => {
    const y = i * ROW + 4;
    const w = Math.max(2, x(b.to) - x(b.from));
    return `<text x="4" y="${y + 12}">${esc(b.label)}</text><rect class="${b.cls}" x="${x(b.from).toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${ROW - 5}"><title>${esc(b.title)}</title></rect>`;
  });
  const ticks = Array.from({ length: 5 }, (_, i) => {
    const t = start + (span * i) / 4;
    return `<text x="${x(t).toFixed(1)}" y="${height - 6}" text-anchor="middle">${((t - start) / 1000).toFixed(0)} s</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="timeline">${rows.join('')}${ticks.join('')}</svg>`;
}

export function renderHtml(r: RehearsalReport): string {
  const checks = r.drills.flatMap((d) => d.checks);
  const drills = r.drills
    .map(
      (d) => `<h3 class="${d.ok ? 'ok' : 'fail'}">${d.ok ? 'passed' : 'FAILED'}: ${esc(d.id)}</h3><p>${esc(d.title)}</p>
<table><tr><th>check</th><th>outcome</th><th>detail</th><th>at</th><th>ms</th></tr>${d.checks
        .map((c) => `<tr class="${c.ok ? 'ok' : 'fail'}"><td>${esc(c.name)}</td><td>${c.ok ? 'ok' : 'FAIL'}</td><td>${esc(c.detail)}</td><td>${esc(c.at)}</td><td>${c.ms}</td></tr>`)
        .join('')}</table>${Object.entries(d.blastRadius ?? {})
        .map(([what, names]) => `<p>blast radius, ${esc(what)}: ${names.length === 0 ? 'none' : `<ul>${names.map((n) => `<li><code>${esc(n)}</code></li>`).join('')}</ul>`}</p>`)
        .join('')}`,
    )
    .join('\n');
  const lifetimes = r.lifetimes
    .map((l) => `<tr><td>${esc(l.participant)}</td><td>${esc(l.kind)}</td><td><code>${esc(l.id)}</code></td><td>${esc(l.state)}</td><td>${esc(l.activeFrom ?? '')}</td><td>${esc(l.activeUntil ?? '')}</td><td>${esc(l.notAfter ?? '')}</td></tr>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>halo-keys rehearsal ${r.ok ? 'passed' : 'FAILED'}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
.ok{color:#1a7f37}.fail{color:#cf222e;font-weight:bold}
svg text{font:11px sans-serif;fill:#333}
rect.phase{fill:#8c959f}rect.ok{fill:#2da44e}rect.fail{fill:#cf222e}rect.key{fill:#54aeff}rect.compromised{fill:#fb8f44}
</style></head><body>
<h1 class="${r.ok ? 'ok' : 'fail'}">halo-keys rehearsal ${r.ok ? 'passed' : 'FAILED'}</h1>
<p>${checks.filter((c) => c.ok).length}/${checks.length} checks in ${r.drills.length} drills; ${esc(r.engine)} Kingdom; ${esc(r.startedAt)} to ${esc(r.endedAt)}; ${r.commands} commands.${r.error ? ` Stopped early: ${esc(r.error)}` : ''}</p>
${r.failedChecks.length ? `<h2>Failed checks</h2><ul>${r.failedChecks.map((f) => `<li class="fail">${esc(f)}</li>`).join('')}</ul>` : ''}
<h2>Timeline</h2>
<p>Grey: phases; green/red: drills; blue: the time each key or certificate was active (orange: compromised). Keyrings are born 91 days before the rehearsal, so their first keys start at the left edge.</p>
${timeline(r)}
<h2>Drills</h2>
${drills}
<h2>Keys and certificates</h2>
<table><tr><th>participant</th><th>kind</th><th>entry</th><th>state</th><th>active from</th><th>active until</th><th>not after</th></tr>${lifetimes}</table>
</body></html>
`;
}
