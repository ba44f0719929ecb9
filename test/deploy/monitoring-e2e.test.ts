/**
 * End to end with the real Prometheus server (Debian's, installed by
 * scripts/test-tools.sh): it loads deploy/monitoring/alerts.yaml and
 * scrapes a running `halo-keys agent --metrics-listen` and a running
 * `halo-keys kingdom serve` (/metrics over TLS, trusted through the
 * Kingdom's root), all on 127.0.0.1. The agent's keyring was made 363 days
 * ago (HALO_KEYS_NOW), so its one-year certificates end in two days and the
 * expiry alerts must fire. Then every metric the alert rules and the
 * dashboard read must be one the two processes export.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { stringify as stringifyYaml } from 'yaml';
import { binary, runCli, scratchDir, startServerProcess, type ServerProcess } from '../kingdom/server-fixtures.js';
import { ALERTS_FILE, alertRules, dashboardQueries, exportedNames, metricNames } from './metric-names.js';

const DAY = 86_400_000;
const PASSPHRASE = 'monitoring e2e passphrase';
const work = scratchDir('halo-monitoring-');
const children: ChildProcess[] = [];
let kingdom: ServerProcess;
let agentPort: number;
let prometheusPort: number;
let prometheusLog = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts a child process and resolves with the first match of `ready` in its stdout. */
function startUntil(command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, stream: 'stdout' | 'stderr'): Promise<{ child: ChildProcess; match: RegExpExecArray; output: () => string }> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${command} not ready after 180 s:\n${out}`)), 180_000);
    const check = () => {
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        child[stream]!.off('data', check);
        resolve({ child, match: m, output: () => out });
      }
    };
    child[stream]!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

async function prometheusApi<T>(path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${prometheusPort}${path}`);
  const body = (await res.json()) as { status: string; data: T };
  assert.equal(body.status, 'success', `${path}: ${JSON.stringify(body)}`);
  return body.data;
}

/** Polls until `probe` returns a value (Prometheus scrapes and evaluates every second here). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; Prometheus said:\n${prometheusLog.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

function kingdomMetrics(): Promise<string> {
  return new Promise((resolve, reject) => {
    httpsGet({ host: '127.0.0.1', port: kingdom.port, path: '/metrics', ca: kingdom.kingdomRootPem, servername: 'localhost' }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
    }).on('error', reject);
  });
}

before(async () => {
  kingdom = await startServerProcess({ dataDir: work.path('kingdom') });
  const rootFile = work.path('kingdom/kingdom_root.pem');
  // A DataProvider keyring made 363 days ago: its one-year certificates have two days left.
  const init = runCli(
    ['init', '--dir', work.path('edp1'), '--participant', 'dataProviders', '--subject', '/O=EDP 1/CN=localhost', '--dns', 'localhost', '--create-ca',
      '--kingdom-target', kingdom.target, '--kingdom-roots', rootFile, '--kingdom-server-name', 'localhost'],
    { HALO_KEYS_PASSPHRASE: PASSPHRASE, HALO_KEYS_NOW: new Date(Date.now() - 363 * DAY).toISOString() },
  );
  assert.equal(init.status, 0, init.stderr);
  const agent = await startUntil(
    process.execPath,
    [binary, 'agent', '--dir', work.path('edp1'), '--interval', '1h', '--metrics-listen', '127.0.0.1:0'],
    { HALO_KEYS_PASSPHRASE: PASSPHRASE, HALO_KEYS_NOW: '' },
    /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/,
    'stdout',
  );
  agentPort = Number(agent.match[1]);

  prometheusPort = await freePort();
  const config = {
    global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
    rule_files: [ALERTS_FILE],
    scrape_configs: [
      { job_name: 'halo-keys-agent', static_configs: [{ targets: [`127.0.0.1:${agentPort}`] }] },
      {
        job_name: 'kingdom',
        scheme: 'https',
        tls_config: { ca_file: rootFile, server_name: 'localhost' },
        static_configs: [{ targets: [kingdom.target] }],
      },
    ],
  };
  mkdirSync(work.path('prometheus'));
  writeFileSync(work.path('prometheus/prometheus.yml'), stringifyYaml(config));
  const prometheus = await startUntil(
    'prometheus',
    [
      `--config.file=${work.path('prometheus/prometheus.yml')}`,
      `--storage.tsdb.path=${work.path('prometheus/data')}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
    ],
    {},
    /Server is ready to receive web requests/,
    'stderr',
  );
  prometheus.child.stderr!.on('data', (c: string) => (prometheusLog = (prometheusLog + c).slice(-8000)));
});

after(async () => {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          c.kill('SIGTERM');
        }),
    ),
  );
  await kingdom?.stop();
  work.remove();
});

interface Alert {
  labels: Record<string, string>;
  state: string;
}

describe('Prometheus scraping a running agent and Kingdom', () => {
  it('scrapes both (the Kingdom over TLS) and fires the expiry alerts for the keyring near its end', async () => {
    const targets = await eventually('both targets up', async () => {
      const t = await prometheusApi<{ activeTargets: { labels: { job: string }; health: string; lastError: string }[] }>('/api/v1/targets');
      const up = t.activeTargets.filter((x) => x.health === 'up').map((x) => x.labels.job).sort();
      return up.length === 2 ? up : undefined;
    });
    assert.deepEqual(targets, ['halo-keys-agent', 'kingdom']);

    const firing = await eventually('the expiry alerts firing', async () => {
      const { alerts } = await prometheusApi<{ alerts: Alert[] }>('/api/v1/alerts');
      const f = alerts.filter((a) => a.state === 'firing' && a.labels.alertname!.startsWith('HaloKeysCertificateExpiring'));
      return f.length === 4 ? f : undefined; // warning and critical, for the TLS and the signing certificate
    });
    for (const a of firing) {
      assert.equal(a.labels.participant, 'dataProviders');
      assert.equal(a.labels.state, 'active');
      assert.equal(a.labels.job, 'halo-keys-agent');
      assert.ok(['tls', 'signing'].includes(a.labels.kind!), a.labels.kind);
    }
    assert.deepEqual(firing.map((a) => `${a.labels.alertname} ${a.labels.severity}`).sort(), [
      'HaloKeysCertificateExpiringCritical critical',
      'HaloKeysCertificateExpiringCritical critical',
      'HaloKeysCertificateExpiringSoon warning',
      'HaloKeysCertificateExpiringSoon warning',
    ]);
    // The time left, as Prometheus computes it from the agent's gauge: two days, give or take the test's own run.
    const left = await prometheusApi<{ result: { value: [number, string] }[] }>(
      `/api/v1/query?query=${encodeURIComponent('min(halo_keys_key_expiry_timestamp_seconds{state="active"}) - time()')}`,
    );
    const days = Number(left.result[0]!.value[1]) / 86_400;
    assert.ok(days > 1.9 && days < 2.1, String(days));
    // Nothing else about the Kingdom is wrong, so none of its alerts fire.
    const { alerts } = await prometheusApi<{ alerts: Alert[] }>('/api/v1/alerts');
    assert.deepEqual(alerts.filter((a) => a.labels.alertname!.startsWith('Kingdom')), []);
  });

  it('every metric the alert rules and the dashboard read is one the agent or the Kingdom exports', async () => {
    const agentText = await (await fetch(`http://127.0.0.1:${agentPort}/metrics`)).text();
    const exported = new Set([...exportedNames(agentText), ...exportedNames(await kingdomMetrics())]);
    assert.ok(exported.has('halo_keys_audit_chain_valid') && exported.has('kingdom_rpc_duration_seconds_bucket'), [...exported].join(' '));
    const missing: string[] = [];
    const read = new Set<string>();
    for (const { what, expr } of [...alertRules().map((r) => ({ what: `alert ${r.alert}`, expr: r.expr })), ...dashboardQueries().map((q) => ({ what: `panel "${q.panel}"`, expr: q.expr }))]) {
      for (const name of metricNames(expr)) {
        read.add(name);
        if (!exported.has(name)) missing.push(`${what}: ${name}`);
      }
    }
    assert.deepEqual(missing, []);
    assert.ok(read.size >= 15, [...read].join(' '));
  });
});
