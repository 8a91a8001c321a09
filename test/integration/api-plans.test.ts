/**
 * /v1/plans and /v1/runs against the real API, Postgres, Redis (the app's own queue prefix) and
 * filesystem targets in a temp folder; the last test runs the real worker on the queued flow.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { FlowProducer, Queue } from 'bullmq';
import { parseJobPayload, QUEUES } from '@vaultline/contracts';
import { backup as engineBackup, EngineError, parseWriterKey, Repository } from '@vaultline/engine';
import { openWithServerKey, parseSealed, recordIds, serverKeys } from '@vaultline/secrets';
import { FsBackend, openBackend } from '@vaultline/storage';
import { createWorkerApp } from '../../apps/worker/src/main';
import { backupJobId, deletePlanJobId, reportJobId } from '@vaultline/contracts';
import { startTestApi, type TestApi } from '../support/api-app';
import type { SnapshotRow } from '../support/factories';
import { makeSource, TEST_KDF, tempDir } from '../support/fixtures';
import { startS3Server, type S3TestServer } from '../support/s3server';
import { freePort, workerConfig, workerEnv } from '../support/worker-fleet';

interface ErrorJson {
  error: { code: string; message: string; fields?: { path: string; message: string }[] };
}
interface PlanJson {
  id: string;
  name: string;
  state: 'active' | 'paused' | 'deleting';
  schedule: { frequency: string; time: string; dayOfWeek?: number; timezone: string };
  paused: boolean;
  deletedAt: string | null;
  targets: {
    id: string;
    name: string;
    repoId: string;
    repoLocation: string;
    sizeBytes: number;
    snapshotCount: number;
    lastSuccessAt: string | null;
  }[];
  services: { id: string; name: string }[];
}
interface SnapshotJson {
  id: string;
  time: string;
  serviceId: string | null;
  serviceName: string | null;
  targetId: string;
  targetName: string;
  runId: string | null;
  totalBytes: number;
  bytesAdded: number;
  status: string;
  unreadable: number;
}
interface PageJson<T> {
  items: T[];
  nextCursor: string | null;
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
  let maintenance: Queue;
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
    maintenance = new Queue(QUEUES.maintenance, queueOpts);
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
    for (const q of [schedule, backup, report, maintenance]) {
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
    assert.equal(wrong.status, 422);
    assert.equal((wrong.json as ErrorJson).error.code, 'WRONG_PASSWORD');
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
      id: hexId(n),
      targetId,
      planId: plan.id,
      serviceId: serviceIds[0] ?? null,
      totalBytes: 10_000n,
      bytesAdded,
    });
    await api.factories.newSnapshots([
      snapshot(1, targetIds[0] ?? '', 1000n),
      snapshot(2, targetIds[0] ?? '', 234n),
      snapshot(3, targetIds[1] ?? '', 5n),
    ]);
    const got = (await api.call('GET', `/v1/plans/${plan.id}`)).json as PlanJson;
    const size = (id: string | undefined) => got.targets.find((t) => t.id === id)?.sizeBytes;
    assert.equal(size(targetIds[0]), 1234);
    assert.equal(size(targetIds[1]), 5);
  });
  test('DELETE: 202, state deleting, a maintenance job per target, no scheduler, no runs or changes', async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'doomed' }))).json as PlanJson;
    assert.ok(await schedule.getJobScheduler(plan.id));

    const res = await api.call('DELETE', `/v1/plans/${plan.id}`);
    assert.equal(res.status, 202, JSON.stringify(res.json));
    assert.equal((res.json as PlanJson).state, 'deleting');
    const got = await api.call('GET', `/v1/plans/${plan.id}`);
    assert.equal(got.status, 200);
    assert.equal((got.json as PlanJson).state, 'deleting');
    const deletedAt = (got.json as PlanJson).deletedAt;
    assert.ok(deletedAt);
    const listed = ((await api.call('GET', '/v1/plans')).json as PlanJson[]).find((p) => p.id === plan.id);
    assert.equal(listed?.state, 'deleting', 'listed until the worker is done: its name stays taken');

    assert.equal(await schedule.getJobScheduler(plan.id), undefined, 'the scheduler is gone');
    for (const targetId of targetIds) {
      const job = await maintenance.getJob(deletePlanJobId(plan.id, targetId));
      assert.ok(job, `a job for target ${targetId}`);
      assert.equal(job.name, 'maintenance.deletePlan');
      assert.deepEqual(parseJobPayload('maintenance.deletePlan', job.data), { planId: plan.id, targetId });
      assert.equal(job.opts.attempts, 5);
      assert.equal((job.opts.backoff as { type: string }).type, 'exponential');
    }

    for (const [method, path, payload] of [
      ['POST', `/v1/plans/${plan.id}/runs`, undefined],
      ['PATCH', `/v1/plans/${plan.id}`, { retention: { keepLast: 1 } }],
      ['POST', `/v1/plans/${plan.id}/pause`, undefined],
      ['POST', `/v1/plans/${plan.id}/resume`, undefined],
      [
        'POST',
        `/v1/plans/${plan.id}/password`,
        { oldPassword: PASSWORD, newPassword: 'new one', newPasswordConfirmation: 'new one' },
      ],
    ] as const) {
      const r = await api.call(method, path, payload);
      assert.equal(r.status, 409, `${method} ${path}: ${JSON.stringify(r.json)}`);
      assert.equal((r.json as ErrorJson).error.code, 'CONFLICT');
    }
    assert.equal(await api.prisma.run.count({ where: { planId: plan.id } }), 0);
    const repo = await Repository.open(await FsBackend.open(plan.targets[0]?.repoLocation ?? ''), {
      password: PASSWORD,
    });
    assert.ok(repo.canRead, 'the password was not changed');

    // Idempotent, and re-triable: a job that went missing is queued again, the others stay single.
    await (await maintenance.getJob(deletePlanJobId(plan.id, targetIds[0] ?? '')))?.remove();
    const again = await api.call('DELETE', `/v1/plans/${plan.id}`);
    assert.equal(again.status, 202);
    assert.equal((again.json as PlanJson).deletedAt, deletedAt, 'the first deletion time is kept');
    const jobs = (await maintenance.getJobs(['waiting', 'delayed', 'failed'])).filter(
      (j) => (j.data as { planId?: string }).planId === plan.id,
    );
    assert.deepEqual(jobs.map((j) => j.id).sort(), targetIds.map((t) => deletePlanJobId(plan.id, t)).sort());
    assert.equal((await api.call('DELETE', `/v1/plans/${UNKNOWN_ID}`)).status, 404);
  });

  test('password change: a wrong old password changes nothing; the right one re-keys every target', async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'rekey' }))).json as PlanJson;
    const locations = plan.targets.map((t) => t.repoLocation);
    const keyFiles = () => locations.map((l) => readdirSync(join(l, 'keys')).sort());
    // A snapshot written before the change: it must open with the new password afterwards.
    const before = await Repository.open(await FsBackend.open(locations[0] ?? ''), { password: PASSWORD });
    const { snapshot } = await engineBackup(before, {
      source: join(dir.path, 'src', 'gitea'),
      service: 'gitea',
    });
    const filesBefore = keyFiles();

    const NEW = 'a new plan password';
    const change = (over: Record<string, unknown>) =>
      api.call('POST', `/v1/plans/${plan.id}/password`, {
        oldPassword: PASSWORD,
        newPassword: NEW,
        newPasswordConfirmation: NEW,
        ...over,
      });
    const cases: [Record<string, unknown>, string][] = [
      [{ newPassword: 'abc', newPasswordConfirmation: 'abc' }, 'newPassword'],
      [{ newPasswordConfirmation: 'not the same' }, 'newPasswordConfirmation'],
      [{ oldPassword: undefined }, 'oldPassword'],
    ];
    for (const [over, field] of cases) {
      const res = await change(over);
      assert.equal(res.status, 400, `${field}: ${JSON.stringify(res.json)}`);
      assert.equal((res.json as ErrorJson).error.code, 'VALIDATION_FAILED');
      assert.deepEqual(fieldsOf(res.json), [field]);
    }
    const wrong = await change({ oldPassword: 'not the password' });
    assert.equal(wrong.status, 422, JSON.stringify(wrong.json));
    assert.equal((wrong.json as ErrorJson).error.code, 'WRONG_PASSWORD', 'a stable code');
    assert.deepEqual(fieldsOf(wrong.json), ['oldPassword']);
    assert.ok(!JSON.stringify(wrong.json).includes('not the password'), 'never echoed');
    assert.deepEqual(keyFiles(), filesBefore, 'no key file added or removed');
    for (const l of locations) await Repository.open(await FsBackend.open(l), { password: PASSWORD });

    const res = await change({});
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(res.json, {
      planId: plan.id,
      targets: plan.targets.map((t) => ({
        id: t.id,
        name: t.name,
        oldKeyRemoved: true,
        alreadyChanged: false,
      })),
    });
    const filesAfter = keyFiles();
    for (const [i, l] of locations.entries()) {
      assert.equal(filesAfter[i]?.length, 1, 'one key file: the new one');
      assert.notDeepEqual(filesAfter[i], filesBefore[i]);
      const repo = await Repository.open(await FsBackend.open(l), { password: NEW });
      assert.equal(repo.config.id, plan.targets[i]?.repoId);
      await assert.rejects(
        Repository.open(await FsBackend.open(l), { password: PASSWORD }),
        (err: unknown) => err instanceof EngineError && err.code === 'WRONG_PASSWORD',
      );
    }
    const reopened = await Repository.open(await FsBackend.open(locations[0] ?? ''), { password: NEW });
    const read = await reopened.readSnapshotBody(snapshot.id);
    assert.equal(read.info.id, snapshot.id, 'an old snapshot opens with the new password');
    const stored = JSON.stringify(await api.prisma.planTarget.findMany({ where: { planId: plan.id } }));
    assert.ok(!stored.includes(NEW) && !stored.includes(PASSWORD));

    // As if removing the old key file had failed on the first target: the old password still opens
    // it. Repeating the request finishes the change there and leaves the other target as it is.
    await reopened.addKey(PASSWORD, TEST_KDF);
    const filesOther = readdirSync(join(locations[1] ?? '', 'keys'));
    const repeat = await change({});
    assert.equal(repeat.status, 200, JSON.stringify(repeat.json));
    assert.deepEqual(
      (repeat.json as { targets: { alreadyChanged: boolean }[] }).targets.map((t) => t.alreadyChanged),
      [false, true],
    );
    assert.deepEqual(readdirSync(join(locations[1] ?? '', 'keys')), filesOther);
    for (const l of locations) {
      await Repository.open(await FsBackend.open(l), { password: NEW });
      await assert.rejects(Repository.open(await FsBackend.open(l), { password: PASSWORD }));
    }
  });

  test('password change with an unreachable target is refused up front: nothing changes anywhere', async () => {
    mkdirSync(join(dir.path, 'flaky'));
    const t = await api.call('POST', '/v1/targets', {
      name: 'flaky',
      kind: 'local',
      path: join(dir.path, 'flaky'),
    });
    const flakyId = (t.json as { id: string }).id;
    const plan = (
      await api.call(
        'POST',
        '/v1/plans',
        body({ name: 'half-reachable', targetIds: [targetIds[0], flakyId] }),
      )
    ).json as PlanJson;
    const reachable = plan.targets[0]?.repoLocation ?? '';
    const filesBefore = readdirSync(join(reachable, 'keys'));
    renameSync(join(dir.path, 'flaky'), join(dir.path, 'flaky-away'));
    try {
      const res = await api.call('POST', `/v1/plans/${plan.id}/password`, {
        oldPassword: PASSWORD,
        newPassword: 'another password',
        newPasswordConfirmation: 'another password',
      });
      assert.equal(res.status, 503, JSON.stringify(res.json));
      assert.equal((res.json as ErrorJson).error.code, 'UNAVAILABLE');
      assert.match((res.json as ErrorJson).error.message, /flaky/);
    } finally {
      renameSync(join(dir.path, 'flaky-away'), join(dir.path, 'flaky'));
    }
    assert.deepEqual(readdirSync(join(reachable, 'keys')), filesBefore);
    await Repository.open(await FsBackend.open(reachable), { password: PASSWORD });
  });

  test('plan log: per target snapshot count, space added and last success; state', async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'logged' }))).json as PlanJson;
    const [a, b] = targetIds as [string, string];
    const t0 = Date.parse('2026-01-10T02:30:00Z');
    await api.factories.newSnapshots([
      snapshotRow(plan.id, 101, a, serviceIds[0], t0, 1000n),
      snapshotRow(plan.id, 102, a, serviceIds[1], t0 + 3_600_000, 24n),
      snapshotRow(plan.id, 103, b, serviceIds[0], t0 - 86_400_000, 7n),
    ]);
    const got = (await api.call('GET', `/v1/plans/${plan.id}`)).json as PlanJson;
    assert.equal(got.state, 'active');
    const ta = got.targets.find((t) => t.id === a);
    const tb = got.targets.find((t) => t.id === b);
    assert.deepEqual(
      { count: ta?.snapshotCount, size: ta?.sizeBytes, last: ta?.lastSuccessAt },
      { count: 2, size: 1024, last: new Date(t0 + 3_600_000).toISOString() },
    );
    assert.deepEqual(
      { count: tb?.snapshotCount, size: tb?.sizeBytes, last: tb?.lastSuccessAt },
      { count: 1, size: 7, last: new Date(t0 - 86_400_000).toISOString() },
    );

    // A success known from the run results before its catalog row is newer: it counts.
    const run = await api.factories.newRun(plan.id, [], { status: 'success' });
    const finished = new Date(t0 + 7_200_000);
    await api.factories.newBackup(
      { runId: run.id, serviceId: serviceIds[0] ?? '', targetId: b },
      { status: 'success', finishedAt: finished },
    );
    const again = (await api.call('GET', `/v1/plans/${plan.id}`)).json as PlanJson;
    assert.equal(again.targets.find((t) => t.id === b)?.lastSuccessAt, finished.toISOString());

    const paused = (await api.call('POST', `/v1/plans/${plan.id}/pause`)).json as PlanJson;
    assert.equal(paused.state, 'paused');
  });

  test('plan snapshots: newest first, filtered by service or target, paged with a cursor', async () => {
    const plan = (await api.call('POST', '/v1/plans', body({ name: 'listed' }))).json as PlanJson;
    const other = (await api.call('POST', '/v1/plans', body({ name: 'listed-other' }))).json as PlanJson;
    const [a, b] = targetIds as [string, string];
    const [s0, s1] = serviceIds as [string, string];
    const t0 = Date.parse('2026-02-01T00:00:00Z');
    const run = await api.factories.newRun(plan.id, [], { trigger: 'schedule', status: 'partial' });
    await api.factories.newSnapshots([
      snapshotRow(plan.id, 201, a, s0, t0, 10n, run.id),
      // The same snapshot id on two targets, at one time: the cursor must tell them apart.
      snapshotRow(plan.id, 201, b, s0, t0, 11n, run.id),
      snapshotRow(plan.id, 203, a, s1, t0 + 1000, 12n),
      snapshotRow(plan.id, 204, a, s0, t0 + 2000, 13n),
      snapshotRow(plan.id, 205, b, s1, t0 + 3000, 14n),
      snapshotRow(other.id, 206, a, s0, t0 + 4000, 15n),
    ]);
    await api.factories.newBackup(
      { runId: run.id, serviceId: s0, targetId: a },
      { status: 'success', snapshotId: hexId(201), unreadable: [{ path: 'locked.db', error: 'EACCES' }] },
    );

    const list = async (query: string) => {
      const res = await api.call('GET', `/v1/plans/${plan.id}/snapshots${query}`);
      assert.equal(res.status, 200, JSON.stringify(res.json));
      return res.json as PageJson<SnapshotJson>;
    };
    const all = await list('');
    assert.equal(all.nextCursor, null);
    assert.deepEqual(
      all.items.map((i) => [i.id, i.targetId]),
      [
        [hexId(205), b],
        [hexId(204), a],
        [hexId(203), a],
        [hexId(201), b],
        [hexId(201), a],
      ],
      'newest first, ties by id then target; the other plan left out',
    );
    const first = all.items.find((i) => i.id === hexId(201) && i.targetId === a);
    assert.deepEqual(
      {
        service: first?.serviceName,
        target: first?.targetName,
        run: first?.runId,
        size: first?.totalBytes,
        added: first?.bytesAdded,
        status: first?.status,
        unreadable: first?.unreadable,
      },
      {
        service: 'nextcloud',
        target: 'disk-a',
        run: run.id,
        size: 10_000,
        added: 10,
        status: 'partial',
        unreadable: 1,
      },
    );
    assert.ok(all.items.filter((i) => i !== first).every((i) => i.status === 'success'));

    assert.deepEqual(
      (await list(`?serviceId=${s1}`)).items.map((i) => i.id),
      [hexId(205), hexId(203)],
    );
    assert.deepEqual(
      (await list(`?targetId=${b}`)).items.map((i) => i.id),
      [hexId(205), hexId(201)],
    );
    assert.deepEqual(
      (await list(`?serviceId=${s0}&targetId=${a}`)).items.map((i) => i.id),
      [hexId(204), hexId(201)],
    );

    const paged: [string, string][] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: PageJson<SnapshotJson> = await list(`?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.ok(page.items.length <= 2);
      paged.push(...page.items.map((i): [string, string] => [i.id, i.targetId]));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(
      paged,
      all.items.map((i) => [i.id, i.targetId]),
      'pages add up to the list, no repeats',
    );

    for (const [query, field] of [
      ['?limit=0', 'limit'],
      ['?limit=abc', 'limit'],
      ['?cursor=bm90IGEgY3Vyc29y', 'cursor'],
      ['?serviceId=nope', 'serviceId'],
    ] as const) {
      const res = await api.call('GET', `/v1/plans/${plan.id}/snapshots${query}`);
      assert.equal(res.status, 400, `${query}: ${JSON.stringify(res.json)}`);
      assert.deepEqual(fieldsOf(res.json), [field]);
    }
    assert.equal((await api.call('GET', `/v1/plans/${UNKNOWN_ID}/snapshots`)).status, 404);
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

const hexId = (n: number): string => n.toString(16).padStart(64, '0');

/** A catalog row as the report service writes it (for `factories.newSnapshots`). */
function snapshotRow(
  planId: string,
  n: number,
  targetId: string,
  serviceId: string | undefined,
  time: number,
  bytesAdded: bigint,
  runId?: string,
): SnapshotRow {
  return {
    id: hexId(n),
    targetId,
    planId,
    serviceId: serviceId ?? null,
    time: new Date(time),
    totalBytes: 10_000n,
    bytesAdded,
    runId: runId ?? null,
  };
}
