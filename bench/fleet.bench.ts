/**
 * Fleet benchmark (`npm run bench:fleet`): the system overhead of a run, end to end through the
 * real processes. A plan with BENCH_SERVICES (default 500) small services and one filesystem
 * target is triggered through the HTTP API; the clock stops when its report is in Postgres (GET
 * /v1/runs/:id/report answers 200). Measured with 1 and with 2 worker processes, each on a fresh
 * catalog, Redis prefix and target, in the same run. Target: ≤ 10 s with 2 workers (≤ 20 ms of
 * overhead per service job). Writes bench/results/fleet-latest.md.
 *
 * Environment: BENCH_SERVICES (500), BENCH_WORKER_COUNTS ("1,2"), BENCH_CONCURRENCY (jobs per
 * worker process, default 8: small jobs wait on I/O, not CPU), BENCH_DIR (/tmp/vaultline-fleet-bench),
 * DATABASE_URL's server (default local PostgreSQL), REDIS_URL (default local Redis).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';

import { withDatabase } from '@vaultline/db';

import { ApiClient, freshDatabase, LocalFleet, REPO_ROOT } from '../scripts/fleet';
import { prettify } from './report';

const SERVICES = Number(process.env['BENCH_SERVICES'] ?? 500);
const WORKER_COUNTS = (process.env['BENCH_WORKER_COUNTS'] ?? '1,2').split(',').map(Number);
const CONCURRENCY = process.env['BENCH_CONCURRENCY'] ?? '8';
const BENCH_DIR = resolve(process.env['BENCH_DIR'] ?? '/tmp/vaultline-fleet-bench');
const SERVER_URL = process.env['DATABASE_URL'] || 'postgresql://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env['REDIS_URL'] || 'redis://127.0.0.1:6379';
const PASSWORD = 'bench fleet password';
const TARGET_SECONDS = 10;
const GROUPS = ['api', 'worker', 'report', 'postgres', 'redis'];
const arch = process.arch === 'arm64' ? 'arm64' : 'x86_64';

/** CPU seconds (user + system) used so far by each process group we care about, from /proc. */
function cpuByGroup(fleetPids: Map<number, string>): Map<string, number> {
  const tick = 100; // USER_HZ on Linux
  const out = new Map<string, number>();
  for (const pid of readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)) {
    let stat: string;
    let cmd: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    const group =
      fleetPids.get(pid) ??
      (cmd.startsWith('postgres') ? 'postgres' : cmd.startsWith('redis-server') ? 'redis' : undefined);
    if (!group) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const seconds = (Number(fields[11]) + Number(fields[12])) / tick;
    out.set(group, (out.get(group) ?? 0) + seconds);
  }
  return out;
}

interface Measurement {
  workers: number;
  cpu: Map<string, number>;
  seconds: number;
  perJobMs: number;
  status: string;
  succeeded: number;
}

async function measure(workers: number): Promise<Measurement> {
  const dir = join(BENCH_DIR, `workers-${workers}`);
  rmSync(dir, { recursive: true, force: true });
  const servicesDir = join(dir, 'services');
  const targetDir = join(dir, 'target');
  mkdirSync(targetDir, { recursive: true });
  // Small services: a config file, a little database and a log each — what the overhead is about.
  for (let i = 0; i < SERVICES; i++) {
    const s = join(servicesDir, `svc-${i}`);
    mkdirSync(join(s, 'data'), { recursive: true });
    writeFileSync(join(s, 'config.yml'), `name: svc-${i}\nport: ${8000 + i}\n`);
    writeFileSync(join(s, 'data', 'app.db'), Buffer.alloc(16 * 1024, i % 251));
    writeFileSync(join(s, 'data', 'events.log'), `service ${i} started\n`.repeat(100));
  }
  const databaseUrl = withDatabase(SERVER_URL, `vaultline_bench_fleet_${workers}`);
  await freshDatabase(databaseUrl);
  const fleet = await LocalFleet.start({
    databaseUrl,
    redisUrl: REDIS_URL,
    logDir: join(dir, 'logs'),
    workers,
    logLevel: process.env['BENCH_LOG_LEVEL'] ?? 'warn',
    roleEnv: {
      worker: {
        WORKER_CONCURRENCY: CONCURRENCY,
        // e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a worker's time goes.
        ...(process.env['BENCH_WORKER_NODE_OPTIONS']
          ? { NODE_OPTIONS: process.env['BENCH_WORKER_NODE_OPTIONS'] }
          : {}),
      },
    },
  });
  try {
    const api = new ApiClient(fleet.baseUrl, await fleet.createToken('bench'));
    const target = await api.expect<{ id: string }>(
      'POST',
      '/v1/targets',
      { name: 'drive', kind: 'local', path: targetDir },
      201,
    );
    const ids: string[] = [];
    for (let i = 0; i < SERVICES; i++) {
      const svc = await api.expect<{ id: string }>(
        'POST',
        '/v1/services',
        { name: `svc-${i}`, dataPath: join(servicesDir, `svc-${i}`), arch },
        201,
      );
      ids.push(svc.id);
    }
    const plan = await api.expect<{ id: string }>(
      'POST',
      '/v1/plans',
      {
        name: 'bench',
        schedule: { frequency: 'daily', time: '03:00', timezone: 'UTC' },
        retention: { keepLast: 3 },
        targetIds: [target.id],
        serviceIds: ids,
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      },
      201,
    );
    const pids = new Map(fleet.processes.map((p) => [p.child.pid ?? -1, p.role as string]));
    const cpu0 = cpuByGroup(pids);
    const t0 = performance.now();
    const run = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    const report = await api.waitFor<{ status: string }>(
      `/v1/runs/${run.id}/report`,
      () => true,
      600_000,
      50,
    );
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = cpuByGroup(pids);
    const cpu = new Map([...cpu1].map(([g, v]) => [g, v - (cpu0.get(g) ?? 0)]));
    const view = await api.expect<{ backups: { status: string }[] }>(
      'GET',
      `/v1/runs/${run.id}`,
      undefined,
      200,
    );
    return {
      workers,
      cpu,
      seconds,
      perJobMs: (seconds * 1000 * workers) / SERVICES,
      status: report.status,
      succeeded: view.backups.filter((b) => b.status === 'success').length,
    };
  } finally {
    await fleet.stop();
  }
}

async function main(): Promise<void> {
  const results: Measurement[] = [];
  for (const w of WORKER_COUNTS) {
    process.stdout.write(`measuring ${SERVICES} services with ${w} worker process(es)…\n`);
    const m = await measure(w);
    process.stdout.write(
      `  ${m.seconds.toFixed(2)} s, report ${m.status}, ${m.succeeded}/${SERVICES} succeeded\n`,
    );
    results.push(m);
  }
  const two = results.find((r) => r.workers === 2);
  const lines = [
    `# Fleet benchmark — ${new Date().toISOString()}`,
    '',
    `${SERVICES} small services (3 files, ~20 KiB each), one filesystem target, one plan triggered through ` +
      `the HTTP API; wall time until the report is in Postgres. WORKER_CONCURRENCY=${CONCURRENCY}. ` +
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB.`,
    '',
    '| worker processes | wall time | per service job × worker | report | backups succeeded |',
    '| --- | --- | --- | --- | --- |',
    ...results.map(
      (r) =>
        `| ${r.workers} | ${r.seconds.toFixed(2)} s | ${r.perJobMs.toFixed(1)} ms | ${r.status} | ${r.succeeded}/${SERVICES} |`,
    ),
    '',
    'CPU seconds used during the run, by process (all workers together; Postgres and Redis servers included):',
    '',
    `| worker processes | ${GROUPS.join(' | ')} | total |`,
    `| --- | ${GROUPS.map(() => '---').join(' | ')} | --- |`,
    ...results.map((r) => {
      const cells = GROUPS.map((g) => (r.cpu.get(g) ?? 0).toFixed(1));
      const total = [...r.cpu.values()].reduce((a, b) => a + b, 0);
      return `| ${r.workers} | ${cells.join(' | ')} | ${total.toFixed(1)} |`;
    }),
    '',
    two
      ? `Target ≤ ${TARGET_SECONDS} s with 2 workers: ${two.seconds <= TARGET_SECONDS ? 'met' : 'NOT met'} ` +
        `(${two.seconds.toFixed(2)} s).`
      : '',
    '',
  ];
  const out = join(REPO_ROOT, 'bench', 'results', 'fleet-latest.md');
  const md = await prettify(lines.join('\n'), out);
  writeFileSync(out, md);
  process.stdout.write(`\n${md}\nwritten to ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:fleet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
