/**
 * End to end: the real HTTP API, two real worker processes and the real report service
 * (scripts/fleet.ts), against real PostgreSQL, a private Redis (restarted by one test) and an
 * S3-protocol server. Everything goes through the HTTP API; the only direct looks are at what a
 * user could look at too — the repository folders on the target and the webhook's deliveries.
 *
 * Timing knobs for a test-sized fleet (documented in docs/configuration.md): JOB_LOCK_MS 3 s (a
 * killed worker's job moves on after about that long), BACKUP_RETRY_DELAY_MS 200 ms.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { Client } from 'pg';

import { applyMigrations } from '@vaultline/db';

import { ApiClient, LocalFleet } from '../../scripts/fleet';
import { loadYamlFile, parsePromQL, readRepoFile, substituteGrafanaVariables } from '../deploy/support';
import { assertSameTree, makeSource, pseudoRandom, snapshotOf, tempDir } from '../support/fixtures';
import { waitUntil } from '../support/e2e-fleet';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-server';
import { startS3Server, type S3TestServer } from '../support/s3server';

const PASSWORD = 'fleet e2e password';
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86_64';
const OTHER_ARCH = ARCH === 'arm64' ? 'x86_64' : 'arm64';

interface RunView {
  id: string;
  status: string;
  trigger: string;
  backups: {
    serviceName: string;
    targetName: string;
    status: string;
    snapshotId: string | null;
    error: string | null;
  }[];
}
interface ReportView {
  status: string;
}
interface RestoreView {
  id: string;
  status: string;
  error?: string | null;
}

/** Receives the report service's webhook posts. */
async function startWebhook(): Promise<{ url: string; bodies: unknown[]; close(): Promise<void> }> {
  const bodies: unknown[] = [];
  const server: Server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/backups?token=secret`,
    bodies,
    close: () => new Promise((ok) => server.close(() => ok())),
  };
}

/** Snapshot files in a plan's repository on a filesystem target (what a user sees on the drive). */
function repoSnapshots(targetPath: string, planId: string): string[] {
  const dir = join(targetPath, 'vaultline', planId, 'snapshots');
  return existsSync(dir) ? readdirSync(dir).filter((n) => !n.startsWith('.')) : [];
}

describe('the fleet, end to end', { timeout: 15 * 60_000 }, () => {
  let db: TestDatabase;
  let redis: PrivateRedis;
  let s3: S3TestServer;
  let webhook: Awaited<ReturnType<typeof startWebhook>>;
  let fleet: LocalFleet;
  let api: ApiClient;
  const tmp = tempDir('e2e');
  const fsTarget = join(tmp.path, 'drive');
  let fsTargetId: string;
  let s3TargetId: string;
  let scheduledPlanId: string;
  const services: Record<string, { id: string; path: string }> = {};

  async function createService(name: string, opts: { arch?: string; preHook?: unknown } = {}) {
    const path = join(tmp.path, 'services', name);
    mkdirSync(path, { recursive: true });
    const body = {
      name,
      dataPath: path,
      excludes: ['cache/'],
      arch: opts.arch ?? ARCH,
      preHook: opts.preHook,
    };
    const svc = await api.expect<{ id: string }>('POST', '/v1/services', body, 201);
    services[name] = { id: svc.id, path };
    return services[name];
  }

  async function createPlan(name: string, serviceIds: string[], targetIds: string[], schedule?: object) {
    return api.expect<{ id: string }>(
      'POST',
      '/v1/plans',
      {
        name,
        schedule: schedule ?? { frequency: 'daily', time: '03:00', timezone: 'UTC' },
        retention: { keepLast: 10 },
        targetIds,
        serviceIds,
        password: PASSWORD,
        passwordConfirmation: PASSWORD,
      },
      201,
    );
  }

  /** Triggers a run and waits for its report; returns the run as the API shows it then. */
  async function runAndReport(planId: string): Promise<{ run: RunView; report: ReportView }> {
    const started = await api.expect<{ id: string }>('POST', `/v1/plans/${planId}/runs`, undefined, 202);
    const report = await api.waitFor<ReportView>(`/v1/runs/${started.id}/report`, () => true, 180_000);
    const run = await api.expect<RunView>('GET', `/v1/runs/${started.id}`, undefined, 200);
    return { run, report };
  }

  async function restore(body: object): Promise<RestoreView> {
    const r = await api.expect<RestoreView>('POST', '/v1/restores', body, 202);
    return api.waitFor<RestoreView>(
      `/v1/restores/${r.id}`,
      (v) => v.status === 'success' || v.status === 'failed',
    );
  }

  before(async () => {
    [db, redis, s3, webhook] = await Promise.all([
      createTestDatabase('e2e'),
      startPrivateRedis(),
      startS3Server({ buckets: ['backups'] }),
      startWebhook(),
    ]);
    await applyMigrations(db.url, MIGRATIONS_DIR);
    mkdirSync(fsTarget, { recursive: true });
    fleet = await LocalFleet.start({
      databaseUrl: db.url,
      redisUrl: redis.url,
      logDir: join(tmp.path, 'logs'),
      workers: 2,
      env: { JOB_LOCK_MS: '3000', BACKUP_RETRY_DELAY_MS: '200' },
      roleEnv: { report: { VAULTLINE_WEBHOOK_URL: webhook.url } },
    });
    api = new ApiClient(fleet.baseUrl, await fleet.createToken('e2e'));
    fsTargetId = (
      await api.expect<{ id: string }>(
        'POST',
        '/v1/targets',
        { name: 'drive', kind: 'local', path: fsTarget },
        201,
      )
    ).id;
    s3TargetId = (
      await api.expect<{ id: string }>(
        'POST',
        '/v1/targets',
        {
          name: 'bucket',
          kind: 's3',
          endpoint: s3.endpoint,
          bucket: 'backups',
          prefix: 'fleet',
          accessKey: s3.accessKey,
          secretKey: s3.secretKey,
        },
        201,
      )
    ).id;
    // A daily plan due at the next whole minute (UTC) at least 5 s away: it fires while the other
    // tests run, and the last test checks that it did, once.
    const svc = await createService('scheduled');
    makeSource(svc.path);
    const at = new Date(Date.now() + 65_000);
    const time = `${String(at.getUTCHours()).padStart(2, '0')}:${String(at.getUTCMinutes()).padStart(2, '0')}`;
    scheduledPlanId = (
      await createPlan('scheduled', [svc.id], [fsTargetId], { frequency: 'daily', time, timezone: 'UTC' })
    ).id;
  });

  after(async () => {
    // Keep the processes' logs when something failed: they are the only record of what happened.
    if (process.exitCode) process.stderr.write(`e2e logs kept in ${join(tmp.path, 'logs')}\n`);
    await fleet?.stop();
    await Promise.all([redis?.stop(), s3?.stop(), webhook?.close(), db?.drop()]);
    if (!process.exitCode) tmp.cleanup();
  });

  test('two services to a folder and a bucket → report → restore is bit-exact; a wrong password writes nothing', async () => {
    const web = await createService('web');
    const db2 = await createService('database');
    makeSource(web.path);
    makeSource(db2.path, { largeBytes: 5 * 1024 * 1024 });
    const plan = await createPlan('both-targets', [web.id, db2.id], [fsTargetId, s3TargetId]);

    const { run, report } = await runAndReport(plan.id);
    assert.equal(report.status, 'success', JSON.stringify(run));
    assert.equal(run.status, 'success');
    assert.equal(run.backups.length, 4);
    assert.ok(run.backups.every((b) => b.status === 'success' && b.snapshotId));
    assert.equal(repoSnapshots(fsTarget, plan.id).length, 2, 'one snapshot per service on the drive');
    // The webhook got this run's report.
    await waitUntil(
      'the webhook to receive the report',
      () => webhook.bodies.some((b) => JSON.stringify(b).includes(run.id)),
      { timeoutMs: 30_000, everyMs: 100 },
    );

    // Restore the database service from the bucket into a new folder.
    const into = join(tmp.path, 'restored', 'database');
    const done = await restore({
      serviceId: db2.id,
      targetId: s3TargetId,
      password: PASSWORD,
      destination: into,
    });
    assert.equal(done.status, 'success', JSON.stringify(done));
    assertSameTree(
      snapshotOf(into),
      snapshotOf(db2.path, { exclude: (r) => r === 'cache' || r.startsWith('cache/') }),
    );

    // A wrong password: refused by the API, nothing queued, nothing written.
    const wrongInto = join(tmp.path, 'restored', 'wrong');
    const wrong = await api.call<{ error: { code: string } }>('POST', '/v1/restores', {
      serviceId: web.id,
      password: 'not the password',
      destination: wrongInto,
    });
    assert.ok(wrong.status >= 400 && wrong.status < 500, `status ${wrong.status}`);
    assert.equal(wrong.json.error.code, 'WRONG_PASSWORD');
    assert.equal(existsSync(wrongInto), false);
  });

  test('an unreachable target fails only its own backups; the report says partial', async () => {
    const svc = await createService('mail');
    makeSource(svc.path);
    const lost = await startS3Server({ buckets: ['lost'] });
    const lostTarget = await api.expect<{ id: string }>(
      'POST',
      '/v1/targets',
      {
        name: 'lost-bucket',
        kind: 's3',
        endpoint: lost.endpoint,
        bucket: 'lost',
        accessKey: lost.accessKey,
        secretKey: lost.secretKey,
      },
      201,
    );
    const plan = await createPlan('one-target-lost', [svc.id], [fsTargetId, lostTarget.id]);
    await lost.stop();

    const { run, report } = await runAndReport(plan.id);
    assert.equal(report.status, 'partial');
    const byTarget = Object.fromEntries(run.backups.map((b) => [b.targetName, b]));
    assert.equal(byTarget['drive']?.status, 'success');
    assert.equal(byTarget['lost-bucket']?.status, 'failed');
    assert.ok(byTarget['lost-bucket']?.error, 'the failure says why');
  });

  test('two runs at once over a shared service both complete, one backup of it at a time', async () => {
    const shared = await createService('shared');
    const a = await createService('only-a');
    const b = await createService('only-b');
    for (const s of [shared, a, b]) makeSource(s.path);
    const planA = await createPlan('concurrent-a', [shared.id, a.id], [fsTargetId]);
    const planB = await createPlan('concurrent-b', [shared.id, b.id], [fsTargetId]);
    const [ra, rb] = await Promise.all([runAndReport(planA.id), runAndReport(planB.id)]);
    assert.equal(ra.report.status, 'success');
    assert.equal(rb.report.status, 'success');
    assert.equal(repoSnapshots(fsTarget, planA.id).length, 2);
    assert.equal(repoSnapshots(fsTarget, planB.id).length, 2);
  });

  test('a worker killed mid-backup: the job is taken over and the run completes without a duplicate snapshot', async () => {
    // A pre-hook that takes a while gives the test a window in which the backup is surely running.
    const svc = await createService('slow', { preHook: { kind: 'command', argv: ['sleep', '2'] } });
    makeSource(svc.path);
    writeFileSync(join(svc.path, 'big.bin'), pseudoRandom(7, 20 * 1024 * 1024));
    const plan = await createPlan('killed-worker', [svc.id], [fsTargetId]);
    const started = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    await api.waitFor<{ state: string }>(
      `/v1/services/${svc.id}`,
      (s) => s.state === 'backing_up',
      60_000,
      50,
    );
    // Both workers die at once (we do not know which one holds the job); a new one starts.
    await Promise.all(fleet.workers().map((w) => w.stop('SIGKILL')));
    await fleet.spawn('worker');
    await fleet.spawn('worker');
    const report = await api.waitFor<ReportView>(`/v1/runs/${started.id}/report`, () => true, 180_000);
    assert.equal(report.status, 'success');
    assert.equal(repoSnapshots(fsTarget, plan.id).length, 1, 'exactly one snapshot');
  });

  test('Redis restarted mid-run: the run completes', async () => {
    const svc = await createService('redis-restart', { preHook: { kind: 'command', argv: ['sleep', '1'] } });
    makeSource(svc.path);
    const plan = await createPlan('redis-restart', [svc.id], [fsTargetId]);
    const started = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    await redis.restart(1_000);
    const report = await api.waitFor<ReportView>(`/v1/runs/${started.id}/report`, () => true, 180_000);
    assert.equal(report.status, 'success');
  });

  test('Postgres connections dropped mid-run: the run completes', async () => {
    const svc = await createService('pg-restart', { preHook: { kind: 'command', argv: ['sleep', '1'] } });
    makeSource(svc.path);
    const plan = await createPlan('pg-restart', [svc.id], [fsTargetId]);
    const started = await api.expect<{ id: string }>('POST', `/v1/plans/${plan.id}/runs`, undefined, 202);
    await api.waitFor<{ state: string }>(
      `/v1/services/${svc.id}`,
      (s) => s.state === 'backing_up',
      60_000,
      50,
    );
    // What a restart of PostgreSQL looks like to every process: each connection is cut.
    const admin = new Client({ connectionString: db.url.replace(/\/[^/]+$/, '/postgres') });
    await admin.connect();
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [db.name]);
    await admin.end();
    const report = await api.waitFor<ReportView>(`/v1/runs/${started.id}/report`, () => true, 180_000);
    assert.equal(report.status, 'success');
  });

  test('cross-architecture restore is refused unless asked', async () => {
    const svc = await createService('arm-app');
    makeSource(svc.path);
    const plan = await createPlan('cross-arch', [svc.id], [fsTargetId]);
    assert.equal((await runAndReport(plan.id)).report.status, 'success');
    // The service moves to a machine of another architecture.
    await api.expect('PATCH', `/v1/services/${svc.id}`, { arch: OTHER_ARCH }, 200);
    const refused = await api.call<{ error: { code: string; message: string } }>('POST', '/v1/restores', {
      serviceId: svc.id,
      password: PASSWORD,
      destination: join(tmp.path, 'restored', 'arm-refused'),
    });
    assert.equal(refused.status, 409);
    assert.match(refused.json.error.message, /reinstall/i);
    const into = join(tmp.path, 'restored', 'arm-allowed');
    const done = await restore({
      serviceId: svc.id,
      password: PASSWORD,
      destination: into,
      allowCrossArch: true,
    });
    assert.equal(done.status, 'success');
  });

  test('deleting a plan removes its snapshots from its targets', async () => {
    const svc = await createService('to-delete');
    makeSource(svc.path);
    const plan = await createPlan('to-delete', [svc.id], [fsTargetId]);
    assert.equal((await runAndReport(plan.id)).report.status, 'success');
    assert.equal(repoSnapshots(fsTarget, plan.id).length, 1);
    await api.expect('DELETE', `/v1/plans/${plan.id}`, undefined, 202);
    await waitUntil(
      'the deleted plan to be gone',
      async () => (await api.call('GET', `/v1/plans/${plan.id}`)).status === 404,
      { timeoutMs: 60_000, everyMs: 100 },
    );
    assert.deepEqual(repoSnapshots(fsTarget, plan.id), []);
  });
  test('the snapshot catalog is rebuilt from the repositories (the truth)', async () => {
    const svc = await createService('catalogued');
    makeSource(svc.path);
    const plan = await createPlan('catalog-sync', [svc.id], [fsTargetId, s3TargetId]);
    assert.equal((await runAndReport(plan.id)).report.status, 'success');
    type Snapshots = { items: { id: string; serviceId: string | null; targetId: string; files: number }[] };
    const before = await api.expect<Snapshots>('GET', `/v1/plans/${plan.id}/snapshots`, undefined, 200);
    assert.equal(before.items.length, 2);
    // The catalog loses its rows (a database restored from an older dump) and gains a bogus one.
    const pg = new Client({ connectionString: db.url });
    await pg.connect();
    await pg.query('DELETE FROM snapshots WHERE plan_id = $1', [plan.id]);
    await pg.query(
      `INSERT INTO snapshots (id, target_id, plan_id, time, arch, total_bytes, bytes_added, files)
       VALUES ($1, $2, $3, now(), 'x86_64', 1, 1, 1)`,
      ['f'.repeat(64), fsTargetId, plan.id],
    );
    await pg.end();
    const sync = await api.expect<{ targetIds: string[] }>(
      'POST',
      `/v1/plans/${plan.id}/catalog/sync`,
      undefined,
      202,
    );
    assert.equal(sync.targetIds.length, 2);
    const key = (x: Snapshots['items'][number]) => `${x.id}/${x.targetId}/${x.serviceId}/${x.files}`;
    const after = await api.waitFor<Snapshots>(
      `/v1/plans/${plan.id}/snapshots`,
      (r) => r.items.length === 2 && r.items.every((x) => before.items.some((b) => key(b) === key(x))),
      60_000,
    );
    assert.deepEqual(after.items.map(key).sort(), before.items.map(key).sort());
  });

  test('every metric the dashboard and the alert rules use is exposed by the running processes', async () => {
    const exposed = new Set<string>(['up']);
    for (const proc of fleet.processes.filter((p) => p.running)) {
      const text = await (await fetch(`http://127.0.0.1:${proc.port}/metrics`)).text();
      for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
        const [, name, type] = m;
        exposed.add(name!);
        if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(name! + s);
      }
    }
    const expressions: string[] = [];
    const dashboard = JSON.parse(readRepoFile('deploy/grafana/dashboards/vaultline.json')) as {
      panels: { targets?: { expr?: string }[]; panels?: { targets?: { expr?: string }[] }[] }[];
    };
    for (const panel of dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])])) {
      for (const t of panel.targets ?? []) if (t.expr) expressions.push(substituteGrafanaVariables(t.expr));
    }
    const alerts = loadYamlFile('deploy/prometheus/alerts.yml') as {
      groups: { rules: { expr: string }[] }[];
    };
    for (const g of alerts.groups) for (const r of g.rules) expressions.push(r.expr);
    const missing = new Set<string>();
    for (const expr of expressions) {
      for (const sel of parsePromQL(expr).selectors)
        if (sel.metric && !exposed.has(sel.metric)) missing.add(sel.metric);
    }
    assert.ok(expressions.length > 20);
    assert.deepEqual(
      [...missing],
      [],
      'metrics used by the dashboard or the alerts but exposed by no process',
    );
  });

  test('a schedule fires by itself (registered before the other tests ran)', async () => {
    const runs = await api.waitFor<{ items: RunView[] }>(
      `/v1/plans/${scheduledPlanId}/runs`,
      (r) => r.items.some((x) => x.trigger === 'schedule' && x.status === 'success'),
      150_000,
      1_000,
    );
    assert.equal(runs.items.filter((x) => x.trigger === 'schedule').length, 1, 'fired once');
  });
});
