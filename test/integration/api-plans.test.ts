/**
 * /v1/plans and /v1/runs against the real API, Postgres, Redis (the app's own queue prefix) and
 * filesystem targets in a temp folder; the last test runs the real worker on the queued flow.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FlowProducer, Queue } from 'bullmq';
import { parseJobPayload, QUEUES } from '@vaultline/contracts';
import { parseWriterKey, Repository } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, serverKeys } from '@vaultline/secrets';
import { FsBackend, openBackend } from '@vaultline/storage';
import { createWorkerApp } from '../../apps/worker/src/main';
import { backupJobId, reportJobId } from '../../apps/api/src/runs/runs.service';
import { startTestApi, type TestApi } from '../support/api-app';
import { makeSource, tempDir } from '../support/fixtures';
import { startS3Server, type S3TestServer } from '../support/s3server';
import { freePort, workerConfig, workerEnv } from '../support/worker-fleet';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
interface PlanJson {
  id: string;
  name: string;
  schedule: { frequency: string; time: string; dayOfWeek?: number; timezone: string };
  paused: boolean;
  targets: { id: string; name: string; repoId: string; repoLocation: string; sizeBytes: number }[];
  services: { id: string; name: string }[];
}
interface RunJson {
  id: string;
  status: string;
  backups: { serviceId: string; targetId: string; status: string; files: number }[];
}

const PASSWORD = 'plan password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

describe('API: plans and runs', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let schedule: Queue;
  let backup: Queue;
  let report: Queue;
  const targetIds: string[] = [];
  const serviceIds: string[] = [];

  const fieldsOf = (json: unknown): string[] => ((json as ErrorJson).error.fields ?? []).map((f) => f.path);
  const body = (over: Record<string, unknown> = {}) => ({
    name: `plan-${Math.random().toString(36).slice(2, 8)}`,
    schedule: { frequency: 'daily', time: '02:30', timezone: 'Europe/Paris' },
    retention: { keepDaily: 7 },
    targetIds,
    serviceIds,
    password: PASSWORD,
    passwordConfirmation: PASSWORD,
    ...over,
  });

  before(async () => {
    api = await startTestApi('api_plans');
    dir = tempDir('api-plans');
    const queueOpts = {
      connection: { url: api.config.redisUrl, maxRetriesPerRequest: null },
      prefix: api.config.queuePrefix,
    };
    schedule = new Queue(QUEUES.schedule, queueOpts);
    backup = new Queue(QUEUES.backup, queueOpts);
    report = new Queue(QUEUES.report, queueOpts);
    for (const name of ['disk-a', 'disk-b']) {
      mkdirSync(join(dir.path, name));
      const res = await api.call('POST', '/v1/targets', { name, kind: 'local', path: join(dir.path, name) });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      targetIds.push((res.json as { id: string }).id);
    }
    for (const name of ['nextcloud', 'gitea']) {
      const source = join(dir.path, 'src', name);
      mkdirSync(source, { recursive: true });
      makeSource(source);
      const res = await api.call('POST', '/v1/services', { name, dataPath: source, arch: 'x86_64' });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      serviceIds.push((res.json as { id: string }).id);
    }
  });

  after(async () => {
    for (const q of [schedule, backup, report]) {
      await q?.obliterate({ force: true }).catch(() => undefined);
      await q?.close();
    }
    await api?.close();
    dir?.cleanup();
  });

  test('create: a repository per target, the writer key sealed, the password nowhere', async () => {
    const res = await api.call('POST', '/v1/plans', body({ name: 'nightly' }));
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const plan = res.json as PlanJson;
    assert.equal(plan.name, 'nightly');
    assert.deepEqual(plan.schedule, { frequency: 'daily', time: '02:30', timezone: 'Europe/Paris' });
    assert.equal(plan.targets.length, 2);
    assert.deepEqual(plan.services.map((s) => s.name).sort(), ['gitea', 'nextcloud']);
    assert.ok(plan.targets.every((t) => t.sizeBytes === 0));
    assert.ok(!JSON.stringify(plan).includes('writerKey'), 'no secret in the response');

    const rows = await api.prisma.planTarget.findMany({ where: { planId: plan.id } });
    assert.equal(rows.length, 2);
    const keys = serverKeys(api.config);
    for (const row of rows) {
      assert.equal(
        row.repoLocation,
        join(dir.path, row.targetId === targetIds[0] ? 'disk-a' : 'disk-b', 'vaultline', plan.id),
      );
      assert.ok(existsSync(join(row.repoLocation, 'config')), 'the repository exists on disk');
      assert.ok(!row.writerKeyEnc.includes('vlwk1.'), 'the writer key is sealed');
      assert.ok(!row.writerKeyEnc.includes(PASSWORD));

      const owner = await Repository.open(await FsBackend.open(row.repoLocation), { password: PASSWORD });
      assert.equal(owner.canRead, true);
      assert.equal(owner.config.id, row.repoId);
      const writerKey = parseWriterKey(
        openWithServerKey(
          keys,
          'writer-key',
          recordIds.writerKey(plan.id, row.targetId),
          parseSealed(row.writerKeyEnc),
        ).toString('utf8'),
      );
      const writer = await Repository.open(await FsBackend.open(row.repoLocation), { writerKey });
      assert.equal(writer.canRead, false, 'the stored key only writes');
    }
    const stored = JSON.stringify(await api.prisma.plan.findUniqueOrThrow({ where: { id: plan.id } }));
    assert.ok(!stored.includes(PASSWORD));

    assert.equal((await api.call('GET', `/v1/plans/${plan.id}`)).status, 200);
    const list = (await api.call('GET', '/v1/plans')).json as PlanJson[];
    assert.ok(list.some((p) => p.id === plan.id));
  });

  test('bad input: 400 naming the field, and nothing created', async () => {
    const before = await api.prisma.plan.count();
    const cases: [Record<string, unknown>, string][] = [
      [{ password: 'abc', passwordConfirmation: 'abc' }, 'password'],
      [{ passwordConfirmation: 'something else' }, 'passwordConfirmation'],
      [{ schedule: { frequency: 'weekly', time: '02:00', timezone: 'UTC' } }, 'schedule.dayOfWeek'],
      [{ targetIds: [UNKNOWN_ID] }, 'targetIds'],
      [{ serviceIds: [UNKNOWN_ID] }, 'serviceIds'],
      [{ targetIds: [] }, 'targetIds'],
      [{ name: '' }, 'name'],
    ];
    for (const [over, field] of cases) {
      const res = await api.call('POST', '/v1/plans', body(over));
      assert.equal(res.status, 400, `${field}: ${JSON.stringify(res.json)}`);
      assert.equal((res.json as ErrorJson).error.code, 'VALIDATION_FAILED');
      assert.ok(fieldsOf(res.json).includes(field), `${field} in ${JSON.stringify(res.json)}`);
      assert.ok(!JSON.stringify(res.json).includes('abc'), 'the password is never echoed');
    }
    assert.equal(await api.prisma.plan.count(), before);
    const dup = await api.call('POST', '/v1/plans', body({ name: 'nightly' }));
    assert.equal(dup.status, 409);
  });

  test('a target that fails leaves nothing behind', async () => {
    const gone = await api.call('POST', '/v1/targets', {
      name: 'gone',
      kind: 'local',
      path: join(dir.path, 'gone'),
    });
    const goneId = (gone.json as { id: string }).id;
    const before = await api.prisma.plan.count();
    const res = await api.call(
      'POST',
      '/v1/plans',
      body({ name: 'half', targetIds: [targetIds[0], goneId] }),
    );
    assert.equal(res.status, 503, JSON.stringify(res.json));
    assert.equal(await api.prisma.plan.count(), before);
    const plans = readdirSync(join(dir.path, 'disk-a', 'vaultline'));
    const rows = await api.prisma.planTarget.findMany({ where: { targetId: targetIds[0] } });
    assert.deepEqual(plans.sort(), rows.map((r) => r.planId).sort(), 'the first repository was removed');
    await api.call('DELETE', `/v1/targets/${goneId}`);
  });

  test('the job scheduler follows the schedule, pause and resume', async () => {
    const res = await api.call(
      'POST',
      '/v1/plans',
      body({
        name: 'weekly',
        schedule: { frequency: 'weekly', time: '23:05', dayOfWeek: 6, timezone: 'America/New_York' },
      }),
    );
    assert.equal(res.status, 201, JSON.stringify(res.json));
    const id = (res.json as PlanJson).id;
    const scheduler = await schedule.getJobScheduler(id);
    assert.equal(scheduler?.pattern, '5 23 * * 6');
    assert.equal(scheduler?.tz, 'America/New_York');
    assert.equal(scheduler?.name, 'schedule.run');
    assert.deepEqual(parseJobPayload('schedule.run', scheduler?.template?.data), { planId: id });

    const paused = await api.call('POST', `/v1/plans/${id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal((paused.json as PlanJson).paused, true);
    assert.equal(await schedule.getJobScheduler(id), undefined);

    const resumed = await api.call('POST', `/v1/plans/${id}/resume`);
    assert.equal((resumed.json as PlanJson).paused, false);
    assert.equal((await schedule.getJobScheduler(id))?.pattern, '5 23 * * 6');

    const patched = await api.call('PATCH', `/v1/plans/${id}`, {
      schedule: { frequency: 'daily', time: '04:00', timezone: 'UTC' },
      retention: { keepLast: 3 },
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const after = await schedule.getJobScheduler(id);
    assert.equal(after?.pattern, '0 4 * * *');
    assert.equal(after?.tz, 'UTC');

    const rename = await api.call('PATCH', `/v1/plans/${id}`, { name: 'other' });
    assert.equal(rename.status, 400);
    assert.deepEqual(fieldsOf(rename.json), ['name']);
    assert.equal((await api.call('POST', `/v1/plans/${UNKNOWN_ID}/pause`)).status, 404);
  });

  test('PATCH targets: adding one needs the plan password; removing one detaches it', async () => {
    const res = await api.call('POST', '/v1/plans', body({ name: 'grow', targetIds: [targetIds[0]] }));
    const id = (res.json as PlanJson).id;
    const noPassword = await api.call('PATCH', `/v1/plans/${id}`, { targetIds });
    assert.equal(noPassword.status, 400);
    assert.deepEqual(fieldsOf(noPassword.json), ['password']);
    const wrong = await api.call('PATCH', `/v1/plans/${id}`, { targetIds, password: 'not the password' });
    assert.equal(wrong.status, 400);
    assert.deepEqual(fieldsOf(wrong.json), ['password']);

    const grown = await api.call('PATCH', `/v1/plans/${id}`, { targetIds, password: PASSWORD });
    assert.equal(grown.status, 200, JSON.stringify(grown.json));
    const added = (grown.json as PlanJson).targets.find((t) => t.id === targetIds[1]);
    assert.ok(added);
    await Repository.open(await FsBackend.open(added.repoLocation), { password: PASSWORD });

    const shrunk = await api.call('PATCH', `/v1/plans/${id}`, {
      targetIds: [targetIds[1]],
      serviceIds: [serviceIds[0]],
    });
    assert.equal(shrunk.status, 200);
    assert.deepEqual(
      (shrunk.json as PlanJson).targets.map((t) => t.id),
      [targetIds[1]],
    );
    assert.deepEqual(
      (shrunk.json as PlanJson).services.map((s) => s.id),
      [serviceIds[0]],
    );
  });

  test('POST /plans/:id/runs queues the flow; the worker completes the children', async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'manual' }))).json as PlanJson;
    const res = await api.call('POST', `/v1/plans/${plan.id}/runs`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    const run = res.json as RunJson;
    assert.equal(run.status, 'queued');
    assert.equal(run.backups.length, 4, '2 services × 2 targets');
    assert.ok(run.backups.every((b) => b.status === 'queued'));

    const row = await api.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    assert.equal(row.trigger, 'manual');
    assert.equal(row.flowJobId, reportJobId(run.id));
    const parent = await report.getJob(reportJobId(run.id));
    assert.ok(parent);
    assert.equal(await parent.getState(), 'waiting-children');
    assert.deepEqual(parseJobPayload('report.aggregate', parent.data), { runId: run.id, planId: plan.id });
    for (const b of run.backups) {
      const child = await backup.getJob(backupJobId(run.id, b.serviceId, b.targetId));
      assert.ok(child, 'a child per service × target');
      assert.equal(await child.getState(), 'waiting');
      assert.deepEqual(parseJobPayload('backup.run', child.data), {
        runId: run.id,
        planId: plan.id,
        serviceId: b.serviceId,
        targetId: b.targetId,
      });
      assert.equal(child.opts.attempts, 4);
      assert.equal(child.opts.ignoreDependencyOnFailure, true);
    }
    assert.equal(await backup.getWaitingCount(), 4);

    // Re-adding the same flow (a retried enqueue) cannot duplicate a job: the ids are deterministic.
    const flows = new FlowProducer({
      connection: { url: api.config.redisUrl, maxRetriesPerRequest: null },
      prefix: api.config.queuePrefix,
    });
    await flows.add({
      name: 'report.aggregate',
      queueName: QUEUES.report,
      data: { runId: run.id, planId: plan.id },
      opts: { jobId: reportJobId(run.id) },
      children: run.backups.map((b) => ({
        name: 'backup.run',
        queueName: QUEUES.backup,
        data: { runId: run.id, planId: plan.id, serviceId: b.serviceId, targetId: b.targetId },
        opts: { jobId: backupJobId(run.id, b.serviceId, b.targetId) },
      })),
    });
    await flows.close();
    assert.equal(await backup.getWaitingCount(), 4);

    const worker = await createWorkerApp(
      workerConfig(workerEnv(api.databaseUrl, { ...api.env, METRICS_PORT: String(await freePort()) })),
      { poolSize: 2 },
    );
    try {
      const deadline = Date.now() + 60_000;
      while ((await parent.getState()) !== 'waiting') {
        assert.ok(Date.now() < deadline, 'the children finished within 60 s');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await worker.close();
    }
    const done = (await api.call('GET', `/v1/runs/${run.id}`)).json as RunJson;
    assert.deepEqual(
      done.backups.map((b) => b.status),
      ['success', 'success', 'success', 'success'],
    );
    assert.ok(done.backups.every((b) => b.files > 0));
    assert.equal((await api.call('GET', `/v1/runs/${UNKNOWN_ID}`)).status, 404);
    assert.equal((await api.call('POST', `/v1/plans/${UNKNOWN_ID}/runs`)).status, 404);
  });
  test('an S3 target: the repository goes under <prefix>/vaultline/<planId> in the bucket', async () => {
    let s3: S3TestServer | undefined;
    try {
      s3 = await startS3Server({ buckets: ['backups'] });
      const t = await api.call('POST', '/v1/targets', {
        name: 'minio',
        kind: 's3',
        endpoint: s3.endpoint,
        bucket: 'backups',
        prefix: 'fleet',
        accessKey: s3.accessKey,
        secretKey: s3.secretKey,
      });
      assert.equal(t.status, 201, JSON.stringify(t.json));
      const targetId = (t.json as { id: string }).id;
      const res = await api.call('POST', '/v1/plans', body({ name: 'offsite', targetIds: [targetId] }));
      assert.equal(res.status, 201, JSON.stringify(res.json));
      const plan = res.json as PlanJson;
      const location = `s3://backups/fleet/vaultline/${plan.id}`;
      assert.equal(plan.targets[0]?.repoLocation, location);
      const repo = await Repository.open(await openBackend(location, s3.env), { password: PASSWORD });
      assert.equal(repo.config.id, plan.targets[0]?.repoId);
    } finally {
      await s3?.stop();
    }
  });

  test("a plan's size per target is the sum of its catalogued snapshots' bytesAdded", async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'sized' }))).json as PlanJson;
    const snapshot = (n: number, targetId: string, bytesAdded: bigint) => ({
      id: n.toString(16).padStart(64, '0'),
      targetId,
      planId: plan.id,
      serviceId: serviceIds[0],
      time: new Date(),
      arch: 'x86_64' as const,
      totalBytes: 10_000n,
      bytesAdded,
      files: 3,
    });
    await api.prisma.snapshot.createMany({
      data: [
        snapshot(1, targetIds[0] ?? '', 1000n),
        snapshot(2, targetIds[0] ?? '', 234n),
        snapshot(3, targetIds[1] ?? '', 5n),
      ],
    });
    const got = (await api.call('GET', `/v1/plans/${plan.id}`)).json as PlanJson;
    const size = (id: string | undefined) => got.targets.find((t) => t.id === id)?.sizeBytes;
    assert.equal(size(targetIds[0]), 1234);
    assert.equal(size(targetIds[1]), 5);
  });
});

describe('API: plans while Redis is down', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  before(async () => {
    // Port 1: nothing listens, so every Redis command waits until the API gives up.
    api = await startTestApi('api_plans_noredis', { REDIS_URL: 'redis://127.0.0.1:1' });
    dir = tempDir('api-plans-noredis');
  });
  after(async () => {
    await api?.close();
    dir?.cleanup();
  });

  test('creating a plan answers 503 and leaves no plan and no repository', async () => {
    const t = await api.call('POST', '/v1/targets', { name: 'disk', kind: 'local', path: dir.path });
    const s = await api.call('POST', '/v1/services', { name: 'svc', dataPath: dir.path, arch: 'x86_64' });
    assert.equal(t.status, 201, 'routes without queues still work');
    const res = await api.call('POST', '/v1/plans', {
      name: 'p',
      schedule: { frequency: 'daily', time: '01:00', timezone: 'UTC' },
      retention: { keepLast: 1 },
      targetIds: [(t.json as { id: string }).id],
      serviceIds: [(s.json as { id: string }).id],
      password: PASSWORD,
      passwordConfirmation: PASSWORD,
    });
    assert.equal(res.status, 503, JSON.stringify(res.json));
    assert.equal((res.json as ErrorJson).error.code, 'UNAVAILABLE');
    assert.equal(await api.prisma.plan.count(), 0);
    assert.deepEqual(readdirSync(join(dir.path, 'vaultline')), []);
  });
});
