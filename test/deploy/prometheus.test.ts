/**
 * Prometheus files: deploy/prometheus/alerts.yml is a well-formed rule file whose every alert has
 * an expression Prometheus' grammar accepts, a severity, a summary, a description and a runbook
 * section in docs/operations.md; k8s/base/prometheusrule.yaml carries exactly the same groups; the
 * scrape config covers the three roles. With promtool installed (Debian package `prometheus`), it
 * also checks the config and rules and runs the unit tests of deploy/prometheus/alerts.test.yml;
 * without it those tests are skipped with the reason.
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
  repoPath,
  run,
  which,
  str,
} from './support';

const REQUIRED_ALERTS = [
  'VaultlineBackupFailed',
  'VaultlineBackupOverdue',
  'VaultlineQueueBacklogGrowing',
  'VaultlineNoWorker',
  'VaultlineTargetUnreachable',
  'VaultlineWebhookFailing',
  'VaultlineApiErrors',
];

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertGroups(): { name: string; rules: Rule[] }[] {
  const doc = loadYamlFile('deploy/prometheus/alerts.yml');
  assert.ok(isObject(doc) && Array.isArray(doc['groups']), 'alerts.yml has groups');
  return doc['groups'] as unknown as { name: string; rules: Rule[] }[];
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) =>
      (m[1] ?? '')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\s_-]/gu, '')
        .replace(/\s/g, '-'),
    ),
  );
}

const promtool = which('promtool');
const NO_PROMTOOL = promtool
  ? false
  : 'promtool is not installed (Debian: apt-get install prometheus); the rule files are still checked without it';

describe('Prometheus rule and scrape files', () => {
  test('alerts.yml: every rule is a named alert with an expression, severity, summary, description and runbook', () => {
    const groups = alertGroups();
    const names: string[] = [];
    const groupNames = groups.map((g) => g.name);
    assert.equal(new Set(groupNames).size, groupNames.length, 'group names are unique');
    const runbooks = anchors(readRepoFile('docs/operations.md'));
    for (const group of groups) {
      assert.ok(group.rules.length > 0, `${group.name} has rules`);
      for (const rule of group.rules) {
        const name = rule.alert;
        assert.ok(
          name && /^Vaultline[A-Z][A-Za-z]+$/.test(name),
          `an alert named Vaultline…: ${JSON.stringify(rule)}`,
        );
        names.push(name);
        assert.equal(typeof rule.expr, 'string', `${name}: expr`);
        assert.deepEqual(parsePromQL(rule.expr).errors, [], `${name}: the expression parses`);
        if (rule.for !== undefined) assert.match(rule.for, /^[0-9]+[smh]$/, `${name}: for`);
        assert.ok(
          ['warning', 'critical'].includes(rule.labels?.['severity'] ?? ''),
          `${name}: severity warning|critical`,
        );
        assert.ok(rule.annotations?.['summary'], `${name}: summary`);
        assert.ok(rule.annotations?.['description'], `${name}: description`);
        const runbook = rule.annotations?.['runbook_url'] ?? '';
        assert.equal(runbook, `docs/operations.md#${name.toLowerCase()}`, `${name}: runbook_url`);
        assert.ok(runbooks.has(name.toLowerCase()), `${name}: docs/operations.md has a "${name}" section`);
        for (const [key, text] of Object.entries({ ...rule.labels, ...rule.annotations })) {
          // Alert templates: balanced {{ }} and only $labels/$value.
          const opens = text.split('{{').length;
          assert.equal(opens, text.split('}}').length, `${name}.${key}: balanced {{ }}`);
          for (const m of text.matchAll(/\{\{(.*?)\}\}/g))
            assert.match(m[1] ?? '', /\$(labels\.[a-z_]+|value)\b/, `${name}.${key}: ${m[0]}`);
        }
      }
    }
    assert.equal(new Set(names).size, names.length, 'alert names are unique');
    for (const required of REQUIRED_ALERTS) assert.ok(names.includes(required), `alert ${required}`);
  });

  test('labels a templated annotation uses are kept by the expression', () => {
    // {{ $labels.plan }} is empty unless the expression's result keeps `plan`.
    for (const rule of alertGroups().flatMap((g) => g.rules)) {
      const used = [
        ...Object.values(rule.annotations ?? {})
          .join(' ')
          .matchAll(/\$labels\.([a-z_]+)/g),
      ].map((m) => m[1]);
      const by = [...rule.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((m) =>
        (m[1] ?? '').split(',').map((s) => s.trim()),
      );
      for (const label of used)
        assert.ok(by.includes(label as string), `${rule.alert}: $labels.${label} survives the aggregation`);
    }
  });

  test('k8s/base/prometheusrule.yaml carries exactly the groups of alerts.yml', () => {
    const rule = loadYamlFile('k8s/base/prometheusrule.yaml');
    assert.equal(at(rule, 'apiVersion'), 'monitoring.coreos.com/v1');
    assert.equal(at(rule, 'kind'), 'PrometheusRule');
    assert.deepEqual(at(rule, 'spec', 'groups'), alertGroups());
  });

  test('alerts.test.yml feeds only series the fleet exposes', () => {
    const allowed = allowedMetrics();
    const tests = at(loadYamlFile('deploy/prometheus/alerts.test.yml'), 'tests') as JsonObject[];
    const problems: string[] = [];
    for (const t of tests) {
      for (const s of (t['input_series'] ?? []) as JsonObject[]) {
        problems.push(...checkExpression(`alerts.test.yml "${str(t['name'])}"`, str(s['series']), allowed));
      }
    }
    assert.deepEqual(problems, []);
    const tested = new Set(
      tests.flatMap((t) => ((t['alert_rule_test'] ?? []) as JsonObject[]).map((a) => str(a['alertname']))),
    );
    for (const rule of alertGroups().flatMap((g) => g.rules))
      assert.ok(tested.has(rule.alert ?? ''), `${rule.alert} has a unit test`);
  });

  test('prometheus.yml: loads the rules and scrapes api, worker (DNS) and report with their role', () => {
    const config = loadYamlFile('deploy/prometheus/prometheus.yml');
    assert.deepEqual(at(config, 'rule_files'), ['alerts.yml']);
    const jobs = at(config, 'scrape_configs') as JsonObject[];
    const byName = new Map(jobs.map((j) => [j['job_name'], j]));
    const expect: Record<string, string> = { api: 'api:3000', worker: 'worker:9464', report: 'report:9464' };
    for (const [role, address] of Object.entries(expect)) {
      const job = byName.get(`vaultline-${role}`);
      assert.ok(job, `job vaultline-${role}`);
      assert.equal(job['metrics_path'], '/metrics');
      assert.equal(job['honor_labels'], true, 'the processes keep their own service/target/plan/role labels');
      const targets = [
        ...((at(job, 'static_configs', 0, 'targets') ?? []) as string[]),
        ...((at(job, 'dns_sd_configs', 0, 'names') ?? []) as string[]).map(
          (n) => `${n}:${String(at(job, 'dns_sd_configs', 0, 'port'))}`,
        ),
      ];
      assert.deepEqual(targets, [address]);
      assert.deepEqual(at(job, 'relabel_configs'), [{ target_label: 'role', replacement: role }]);
    }
    assert.equal(at(byName.get('vaultline-worker'), 'dns_sd_configs', 0, 'type'), 'A');
  });

  test('promtool check config / check rules', { skip: NO_PROMTOOL }, () => {
    const config = run(promtool as string, ['check', 'config', repoPath('deploy/prometheus/prometheus.yml')]);
    assert.equal(config.status, 0, config.stdout + config.stderr);
    const rules = run(promtool as string, ['check', 'rules', repoPath('deploy/prometheus/alerts.yml')]);
    assert.equal(rules.status, 0, rules.stdout + rules.stderr);
  });

  test('promtool test rules: each alert fires when it should and only then', { skip: NO_PROMTOOL }, () => {
    const r = run(promtool as string, ['test', 'rules', repoPath('deploy/prometheus/alerts.test.yml')]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });
});
