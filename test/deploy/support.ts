/**
 * Helpers of the deployment-file tests (test/deploy/*.test.ts): the repository's files, YAML, the
 * PromQL parser that finds the metric names an expression uses, and external tools that may be
 * absent (kubectl/kustomize, promtool) — a test that needs one is skipped with the reason.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

import { FleetMetrics, metricNames } from '@vaultline/observability';

type SyntaxNode = ReturnType<typeof promqlParser.parse>['topNode'];

/** dist/test/deploy → the repository root. */
export const ROOT = path.resolve(__dirname, '../../..');

export const repoPath = (...parts: string[]): string => path.join(ROOT, ...parts);
export const readRepoFile = (...parts: string[]): string => readFileSync(repoPath(...parts), 'utf8');

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** One YAML document; `<<` merge keys resolved (docker compose supports them); duplicate keys fail. */
export function loadYaml(text: string): unknown {
  return parseYaml(text, { merge: true, prettyErrors: true });
}

export function loadYamlFile(...parts: string[]): unknown {
  return loadYaml(readRepoFile(...parts));
}

/** Every document of a multi-document YAML stream (kustomize output); a syntax error throws. */
export function loadYamlDocuments(text: string): unknown[] {
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true });
  if (!Array.isArray(docs)) throw new Error('not a YAML stream');
  return docs
    .map((doc) => {
      if (doc.errors.length) throw new Error(doc.errors.map((e) => e.message).join('\n'));
      return doc.toJSON() as unknown;
    })
    .filter((doc) => doc !== null && doc !== undefined);
}

/** A value as text: strings as they are, anything else as JSON. */
export function str(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** The value at a path of plain objects, or undefined. */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let cur: unknown = value;
  for (const key of keys) {
    if (typeof key === 'number') cur = Array.isArray(cur) ? (cur as unknown[])[key] : undefined;
    else cur = isObject(cur) ? cur[key] : undefined;
  }
  return cur;
}

// ── external tools ────────────────────────────────────────────────────────────────────────────

/** The path of an executable on PATH, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): RunResult {
  const r = spawnSync(command, args, {
    cwd: opts.cwd ?? ROOT,
    env: opts.env ?? process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

// ── PromQL ────────────────────────────────────────────────────────────────────────────────────

export interface Selector {
  /** The metric name, or undefined for a selector without one (`{__name__=~…}` is not allowed). */
  metric: string | undefined;
  /** Label names used in the selector's matchers. */
  labels: string[];
}

export interface ParsedPromQL {
  /** Syntax errors as `offset: text`; empty when the expression parses. */
  errors: string[];
  selectors: Selector[];
}

/**
 * Parses an expression with Prometheus' own PromQL grammar (@prometheus-io/lezer-promql, the parser
 * of Prometheus' web UI) and returns its vector selectors.
 */
export function parsePromQL(expr: string): ParsedPromQL {
  const errors: string[] = [];
  const selectors: Selector[] = [];
  const text = (node: SyntaxNode): string => expr.slice(node.from, node.to);
  const walk = (node: SyntaxNode, visit: (n: SyntaxNode) => void): void => {
    visit(node);
    for (let child = node.firstChild; child; child = child.nextSibling) walk(child, visit);
  };
  walk(promqlParser.parse(expr).topNode, (node) => {
    if (node.type.isError) {
      errors.push(`offset ${node.from} ("${expr.slice(Math.max(0, node.from - 20), node.to + 20)}")`);
    }
    if (node.name !== 'VectorSelector') return;
    const ident = node.getChild('Identifier');
    const labels: string[] = [];
    const matchers = node.getChild('LabelMatchers');
    if (matchers) walk(matchers, (n) => n.name === 'LabelName' && labels.push(text(n)));
    selectors.push({ metric: ident ? text(ident) : undefined, labels });
  });
  return { errors, selectors };
}

/**
 * Grafana's variables, replaced by values of the same PromQL type so that the expression parses:
 * range variables become durations; template variables only ever appear inside label values.
 */
export function substituteGrafanaVariables(expr: string): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, '5m')
    .replace(/\$\{__(rate_interval|interval|range)\}/g, '5m')
    .replace(/\$__range_s\b/g, '300');
}

/** Labels every scraped series may carry besides its own: `role` (set by every process), `job`, `instance`. */
export const COMMON_LABELS = ['role', 'job', 'instance'];

/**
 * The metrics (and their labels) that the dashboard and the alerts may reference: every name of
 * libs/observability's FleetMetrics (default process metrics included), histograms' `_bucket`,
 * `_sum` and `_count` series, and Prometheus' synthetic `up`.
 */
export function allowedMetrics(): Map<string, Set<string>> {
  const fleet = new FleetMetrics('api');
  const names = new Set(metricNames(fleet));
  const allowed = new Map<string, Set<string>>();
  for (const metric of fleet.registry.getMetricsAsArray()) {
    const own = (metric as unknown as { labelNames?: readonly string[] }).labelNames ?? [];
    const labels = new Set([...own, ...COMMON_LABELS]);
    allowed.set(metric.name, labels);
    const type = (metric as unknown as { type?: string }).type;
    if (type === 'histogram') {
      allowed.set(`${metric.name}_bucket`, new Set([...labels, 'le']));
      allowed.set(`${metric.name}_sum`, labels);
      allowed.set(`${metric.name}_count`, labels);
    }
  }
  const missing = [...names].filter((n) => !allowed.has(n));
  if (missing.length)
    throw new Error(`metricNames() names metrics the registry does not list: ${missing.join(', ')}`);
  allowed.set('up', new Set(COMMON_LABELS));
  return allowed;
}

/** Problems of one expression: syntax errors, unknown metrics, labels a metric does not have. */
export function checkExpression(where: string, expr: string, allowed: Map<string, Set<string>>): string[] {
  const { errors, selectors } = parsePromQL(expr);
  const problems = errors.map((e) => `${where}: PromQL syntax error at ${e} in: ${expr}`);
  for (const sel of selectors) {
    if (sel.metric === undefined) {
      problems.push(`${where}: a selector without a metric name in ${expr}`);
      continue;
    }
    const labels = allowed.get(sel.metric);
    if (!labels) {
      problems.push(`${where}: unknown metric ${sel.metric} (not in libs/observability/src/metrics.ts)`);
      continue;
    }
    for (const label of sel.labels) {
      if (!labels.has(label)) problems.push(`${where}: ${sel.metric} has no label "${label}"`);
    }
  }
  return problems;
}
