/**
 * The Grafana dashboard and every alert/autoscaling query use only what the fleet exposes: each
 * PromQL expression parses (Prometheus' own grammar, @prometheus-io/lezer-promql) and each selector
 * names a metric of libs/observability/src/metrics.ts (histogram series and `up` included) with
 * labels that metric has. A later test checks the same names against a live scrape.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import {
  allowedMetrics,
  at,
  checkExpression,
  isObject,
  type JsonObject,
  loadYamlFile,
  parsePromQL,
  readRepoFile,
  substituteGrafanaVariables,
  str,
} from './support';

const DASHBOARD = 'deploy/grafana/dashboards/vaultline.json';

interface Panel {
  id?: number;
  type: string;
  title: string;
  datasource?: unknown;
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr?: string; refId?: string; datasource?: unknown }[];
  panels?: Panel[];
}

function loadDashboard(): JsonObject {
  const parsed: unknown = JSON.parse(readRepoFile(DASHBOARD));
  assert.ok(isObject(parsed), 'the dashboard is a JSON object');
  return parsed;
}

function panelsOf(dashboard: JsonObject): Panel[] {
  const top = (dashboard['panels'] ?? []) as unknown as Panel[];
  return top.flatMap((p) => [p, ...(p.panels ?? [])]);
}

describe('metric names in the dashboard and the alerts', () => {
  const allowed = allowedMetrics();

  test('the checker itself: it sees unknown metrics, unknown labels and syntax errors', () => {
    assert.deepEqual(
      checkExpression('x', 'sum by (plan) (rate(vaultline_backups_total{status="failed"}[5m]))', allowed),
      [],
    );
    assert.deepEqual(
      checkExpression(
        'x',
        'histogram_quantile(0.9, rate(vaultline_http_request_duration_seconds_bucket{le="1"}[5m]))',
        allowed,
      ),
      [],
    );
    assert.match(
      checkExpression('x', 'rate(vaultline_backup_total[5m])', allowed).join(),
      /unknown metric vaultline_backup_total/,
    );
    assert.match(
      checkExpression('x', 'vaultline_target_reachable{plan="a"}', allowed).join(),
      /has no label "plan"/,
    );
    assert.match(checkExpression('x', 'rate(vaultline_backups_total[5m]', allowed).join(), /syntax error/);
    assert.match(checkExpression('x', '{__name__="up"}', allowed).join(), /without a metric name/);
    assert.deepEqual(parsePromQL('time() - vaultline_last_successful_backup_timestamp_seconds').selectors, [
      { metric: 'vaultline_last_successful_backup_timestamp_seconds', labels: [] },
    ]);
  });

  test('the dashboard: valid JSON, variables, datasource, layout and known metrics only', () => {
    const dashboard = loadDashboard();
    assert.equal(typeof dashboard['uid'], 'string');
    assert.equal(typeof dashboard['title'], 'string');

    const variables = (at(dashboard, 'templating', 'list') ?? []) as JsonObject[];
    const byName = new Map(variables.map((v) => [v['name'], v]));
    assert.equal(at(byName.get('datasource'), 'type'), 'datasource', '$datasource variable');
    assert.equal(at(byName.get('datasource'), 'query'), 'prometheus');
    for (const name of ['plan', 'target']) {
      const v = byName.get(name);
      assert.ok(v, `$${name} variable`);
      assert.equal(v['type'], 'query');
      const query = String(at(v, 'definition'));
      const inner = /^label_values\((.*),\s*(\w+)\)$/.exec(query);
      assert.ok(inner, `$${name} is a label_values() query: ${query}`);
      assert.equal(inner[2], name);
      assert.deepEqual(checkExpression(`$${name}`, substituteGrafanaVariables(inner[1] ?? ''), allowed), []);
    }

    const panels = panelsOf(dashboard);
    const ids = panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');

    const problems: string[] = [];
    const cells = new Map<string, string>();
    let expressions = 0;
    for (const panel of panels) {
      const { x, y, w, h } = panel.gridPos;
      if (x < 0 || w <= 0 || x + w > 24) problems.push(`${panel.title}: gridPos outside the 24 columns`);
      for (let cx = x; cx < x + w; cx++) {
        for (let cy = y; cy < y + h; cy++) {
          const other = cells.get(`${cx},${cy}`);
          if (other) problems.push(`${panel.title} overlaps ${other}`);
          cells.set(`${cx},${cy}`, panel.title);
        }
      }
      if (panel.type === 'row') continue;
      assert.deepEqual(
        panel.datasource,
        { type: 'prometheus', uid: '${datasource}' },
        `${panel.title}: uses $datasource`,
      );
      assert.ok(panel.targets?.length, `${panel.title}: has queries`);
      for (const t of panel.targets ?? []) {
        assert.ok(t.expr, `${panel.title}: query ${t.refId} has an expression`);
        expressions++;
        problems.push(
          ...checkExpression(
            `panel "${panel.title}" ${t.refId}`,
            substituteGrafanaVariables(t.expr),
            allowed,
          ),
        );
      }
    }
    assert.deepEqual([...new Set(problems)], []);
    assert.ok(expressions >= 20, `the dashboard has its queries (${expressions})`);
  });

  test('the dashboard covers the fleet: every panel the runbooks refer to exists', () => {
    const titles = panelsOf(loadDashboard()).map((p) => p.title);
    for (const title of [
      'Backups, last 24h',
      'Runs, last 24h',
      'Workers up / job slots',
      'Waiting jobs',
      'Runs by status',
      'Throughput',
      'Deduplication ratio',
      'Freshness per service × target',
      'Queue depth by queue and state',
      'Backup failures by code',
      'Restores by status',
      'API requests by status',
      'API latency',
    ]) {
      assert.ok(titles.includes(title), `panel "${title}"`);
    }
    const used = new Set(
      panelsOf(loadDashboard()).flatMap((p) =>
        (p.targets ?? []).flatMap((t) =>
          parsePromQL(substituteGrafanaVariables(t.expr ?? '')).selectors.map((s) => s.metric),
        ),
      ),
    );
    for (const metric of [
      'vaultline_backups_total',
      'vaultline_runs_total',
      'vaultline_backup_read_bytes_total',
      'vaultline_backup_added_bytes_total',
      'vaultline_backup_dedup_ratio',
      'vaultline_last_successful_backup_timestamp_seconds',
      'vaultline_backup_expected_interval_seconds',
      'vaultline_queue_jobs',
      'vaultline_backup_failures_total',
      'vaultline_restores_total',
      'vaultline_http_request_duration_seconds_bucket',
      'vaultline_worker_job_slots',
    ]) {
      assert.ok(used.has(metric), `the dashboard shows ${metric}`);
    }
  });

  test('the alert rules use known metrics and labels only', () => {
    const groups = at(loadYamlFile('deploy/prometheus/alerts.yml'), 'groups') as JsonObject[];
    const problems: string[] = [];
    for (const group of groups) {
      for (const rule of (group['rules'] ?? []) as JsonObject[]) {
        problems.push(...checkExpression(`alert ${str(rule['alert'])}`, str(rule['expr']), allowed));
      }
    }
    assert.deepEqual(problems, []);
  });

  test('the HPA alternative scales on a known metric and labels', () => {
    const hpa = loadYamlFile('k8s/components/hpa-prometheus-adapter/hpa.yaml');
    const metrics = at(hpa, 'spec', 'metrics') as JsonObject[];
    for (const m of metrics) {
      const name = String(at(m, 'external', 'metric', 'name'));
      const labels = Object.keys(at(m, 'external', 'metric', 'selector', 'matchLabels') ?? {});
      assert.ok(allowed.has(name), `${name} is a fleet metric`);
      for (const label of labels) assert.ok(allowed.get(name)?.has(label), `${name} has label ${label}`);
    }
  });
});
