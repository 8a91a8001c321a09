/**
 * Workers and the report service have no HTTP API: this tiny listener on METRICS_PORT answers `/health` for the
 * orchestrator (200 when Redis and Postgres answer, 503 naming what does not). `/metrics` joins it
 * once the metrics lib exists.
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

export async function startHealthServer(
  port: number,
  checks: Readonly<Record<string, HealthCheck>>,
  host = '0.0.0.0',
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/health') {
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
