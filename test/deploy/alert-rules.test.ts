/**
 * deploy/monitoring/alerts.yaml with Debian's Prometheus tooling
 * (scripts/test-tools.sh installs it): `promtool check rules`, and
 * `promtool test rules` with a firing unit test for every alert.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { scratchDir } from '../kingdom/server-fixtures.js';
import { DEPLOY_DIR } from './deploy-fixtures.js';
import { ALERTS_FILE, alertRules, dashboardQueries, metricNames } from './metric-names.js';

const TESTS_FILE = join(DEPLOY_DIR, 'monitoring/alerts.test.yaml');
const scratch = scratchDir('halo-promtool-');
after(() => scratch.remove());

function promtool(...args: string[]): { status: number | null; out: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

interface UnitTests {
  tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

describe('alert rules', () => {
  it('the rules the issue asks for are there, each with a severity', () => {
    const rules = alertRules();
    assert.deepEqual(rules.map((r) => r.alert).sort(), [
      'HaloKeysAuditChainBroken',
      'HaloKeysCertificateExpiringCritical',
      'HaloKeysCertificateExpiringSoon',
      'HaloKeysJournalUnfinished',
      'HaloKeysRotationFailing',
      'HaloKeysRotationOverdue',
      'KingdomCertificateCacheDisabled',
      'KingdomRpcErrorRatio',
    ]);
    for (const r of rules) assert.ok(['warning', 'critical'].includes(r.labels?.severity ?? ''), r.alert);
  });

  it('promtool check rules accepts them', () => {
    const r = promtool('check', 'rules', ALERTS_FILE);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`SUCCESS: ${alertRules().length} rules found`));
  });

  it('promtool test rules: every alert has a unit test in which it fires, and all pass', () => {
    const tests = parseYaml(readFileSync(TESTS_FILE, 'utf8')) as UnitTests;
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    assert.deepEqual([...firing].sort(), alertRules().map((r) => r.alert).sort());
    const r = promtool('test', 'rules', TESTS_FILE);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /SUCCESS/);
  });

  it('promtool test rules fails when an expectation is wrong (the tests are evaluated)', () => {
    copyFileSync(ALERTS_FILE, scratch.path('alerts.yaml'));
    // The 3-day alert expected already at 3 days and 1 hour left.
    const text = readFileSync(TESTS_FILE, 'utf8').replace(
      '      - eval_time: 1h\n        alertname: HaloKeysCertificateExpiringCritical\n        exp_alerts: []',
      '      - eval_time: 1h\n        alertname: HaloKeysCertificateExpiringCritical\n        exp_alerts:\n          - exp_labels: { severity: critical, id: signing-1, kind: signing, state: active, participant: dataProviders/AAAAAAAAAHs, instance: edp1 }',
    );
    assert.notEqual(text, readFileSync(TESTS_FILE, 'utf8'));
    writeFileSync(scratch.path('alerts.test.yaml'), text);
    const r = promtool('test', 'rules', scratch.path('alerts.test.yaml'));
    assert.notEqual(r.status, 0, r.out);
    assert.match(r.out, /FAILED/);
  });

  it('metric names are read out of rules and dashboard queries (the extraction the e2e test relies on)', () => {
    assert.deepEqual(metricNames('sum by (job) (rate(kingdom_rpc_requests_total{code=~"A|B"}[5m])) / sum by (job) (rate(kingdom_rpc_requests_total[5m])) > 0.05'), ['kingdom_rpc_requests_total']);
    assert.deepEqual(metricNames('histogram_quantile(0.99, sum by (method, le) (rate(kingdom_rpc_duration_seconds_bucket[5m])))'), ['kingdom_rpc_duration_seconds_bucket']);
    assert.deepEqual(metricNames('time() - halo_keys_journal_unfinished_since_timestamp_seconds > 3600'), ['halo_keys_journal_unfinished_since_timestamp_seconds']);
    for (const r of alertRules()) assert.ok(metricNames(r.expr).length > 0, r.alert);
    for (const q of dashboardQueries()) assert.ok(metricNames(q.expr).length > 0, q.panel);
  });
});
