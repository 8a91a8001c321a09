/**
 * Workers and the report service have no HTTP API: this tiny listener on METRICS_PORT answers `/health` for the
 * orchestrator (200 when Redis and Postgres answer, 503 naming what does not) and `/metrics` for
 * Prometheus.
 */
import { createServer, type Server } from 'node:http';

export type HealthCheck = () => Promise<unknown>;

const CHECK_TIMEOUT_MS = 2_000;

function withTimeout(check: HealthCheck): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS);
    check().then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(false);
      },
    );
  });
}

/** What /metrics serves: the Prometheus exposition of the process's registry. */
export type MetricsSource = () => Promise<{ contentType: string; body: string }>;

export async function startHealthServer(
  port: number,
  checks: Readonly<Record<string, HealthCheck>>,
  host = '0.0.0.0',
  metrics?: MetricsSource,
): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/metrics' && metrics) {
      metrics().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
      );
      return;
    }
    if (req.method !== 'GET' || path !== '/health') {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
      return;
    }
    const names = Object.keys(checks);
    void Promise.all(names.map((n) => withTimeout(checks[n]!))).then((results) => {
      const status = Object.fromEntries(names.map((n, i) => [n, results[i] ? 'up' : 'down']));
      const ok = results.every(Boolean);
      res
        .writeHead(ok ? 200 : 503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks: status }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
