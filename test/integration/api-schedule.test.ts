/**
 * The API's consumer of the `schedule` queue: a `schedule.run` job (what a plan's job scheduler
 * adds when it fires) becomes a run with trigger `schedule` and its flow in Redis, or is skipped
 * with a reason. Jobs are added straight to the queue; the test waits for each to finish.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type JobResult, parseJobPayload, parseJobResult, QUEUES } from '@vaultline/contracts';
import { Queue, QueueEvents } from 'bullmq';
import { backupJobId, reportJobId } from '@vaultline/contracts';
import { startTestApi, type TestApi } from '../support/api-app';
import { tempDir } from '../support/fixtures';

const PASSWORD = 'plan password';
const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';

describe('API: scheduled runs (schedule queue consumer)', () => {
  let api: TestApi;
  let dir: ReturnType<typeof tempDir>;
  let schedule: Queue;
  let report: Queue;
  let backup: Queue;
  let maintenance: Queue;
  let events: QueueEvents;
  let targetId: string;
  let serviceId: string;
  let fired = 0;

  const createPlan = async (name: string): Promise<string> => {
    const res = await api.call('POST', '/v1/plans', {
      name,
      schedule: { frequency: 'weekly', time: '04:00', dayOfWeek: 0, timezone: 'UTC' },
      retention: { keepLast: 3 },
      targetIds: [targetId],
      serviceIds: [serviceId],
      password: PASSWORD,
      passwordConfirmation: PASSWORD,
    });
    assert.equal(res.status, 201, JSON.stringify(res.json));
    return (res.json as { id: string }).id;
  };

  /** What a scheduler firing adds; resolves with the consumer's validated result. */
  const fire = async (planId: string): Promise<JobResult<'schedule.run'>> => {
    fired += 1;
    const job = await schedule.add('schedule.run', parseJobPayload('schedule.run', { planId }), {
      jobId: `test-firing-${fired}`,
    });
    return parseJobResult('schedule.run', await job.waitUntilFinished(events));
  };

  before(async () => {
    api = await startTestApi('api_schedule');
    dir = tempDir('api-schedule');
    const opts = {
      connection: { url: api.config.redisUrl, maxRetriesPerRequest: null },
      prefix: api.config.queuePrefix,
    };
    schedule = new Queue(QUEUES.schedule, opts);
    report = new Queue(QUEUES.report, opts);
    backup = new Queue(QUEUES.backup, opts);
    maintenance = new Queue(QUEUES.maintenance, opts);
    events = new QueueEvents(QUEUES.schedule, opts);
    await events.waitUntilReady();
    mkdirSync(join(dir.path, 'disk'));
    const t = await api.call('POST', '/v1/targets', {
      name: 'disk',
      kind: 'local',
      path: join(dir.path, 'disk'),
    });
    targetId = (t.json as { id: string }).id;
    const s = await api.call('POST', '/v1/services', { name: 'svc', dataPath: dir.path, arch: 'x86_64' });
    serviceId = (s.json as { id: string }).id;
  });

  after(async () => {
    await events?.close();
    for (const q of [schedule, report, backup, maintenance]) {
      await q?.obliterate({ force: true }).catch(() => undefined);
      await q?.close();
    }
    await api?.close();
    dir?.cleanup();
  });

  test('a firing starts a run with trigger schedule and queues its flow; the next is skipped while it runs', async () => {
    const planId = await createPlan('scheduled');
    const result = await fire(planId);
    assert.equal(result.outcome, 'started', JSON.stringify(result));
    const runId = result.outcome === 'started' ? result.runId : '';

    const run = await api.prisma.run.findUniqueOrThrow({ where: { id: runId } });
    assert.equal(run.trigger, 'schedule');
    assert.equal(run.status, 'queued');
    assert.equal(run.flowJobId, reportJobId(runId));
    const parent = await report.getJob(reportJobId(runId));
    assert.ok(parent, 'the flow is in Redis');
    assert.equal(await parent.getState(), 'waiting-children');
    const child = await backup.getJob(backupJobId(runId, serviceId, targetId));
    assert.ok(child);
    assert.deepEqual(parseJobPayload('backup.run', child.data), { runId, planId, serviceId, targetId });
    assert.equal((await api.call('GET', `/v1/runs/${runId}`)).status, 200);

    // No worker runs the backup: the run is still queued, so the next firing skips.
    assert.deepEqual(await fire(planId), { outcome: 'skipped', reason: 'RUN_IN_PROGRESS' });
    assert.equal(await api.prisma.run.count({ where: { planId } }), 1);

    // A manual run is not held back by the schedule rule.
    const manual = await api.call('POST', `/v1/plans/${planId}/runs`);
    assert.equal(manual.status, 202);
  });

  test('a run whose flow is no longer in Redis does not block the schedule for ever', async () => {
    const planId = await createPlan('lost-flow');
    const first = await fire(planId);
    assert.equal(first.outcome, 'started');
    const runId = first.outcome === 'started' ? first.runId : '';
    // As after a Redis data loss: the catalog says queued, Redis knows nothing of its flow.
    await api.prisma.run.update({ where: { id: runId }, data: { flowJobId: `run-${UNKNOWN_ID}` } });
    const second = await fire(planId);
    assert.equal(second.outcome, 'started', JSON.stringify(second));
    assert.notEqual(second.outcome === 'started' ? second.runId : '', runId);
  });

  test('a paused, deleting or unknown plan is skipped with its reason, and no run is made', async () => {
    const paused = await createPlan('paused');
    assert.equal((await api.call('POST', `/v1/plans/${paused}/pause`)).status, 200);
    assert.deepEqual(await fire(paused), { outcome: 'skipped', reason: 'PLAN_PAUSED' });
    assert.equal(await api.prisma.run.count({ where: { planId: paused } }), 0);

    const deleting = await createPlan('deleting');
    assert.equal((await api.call('DELETE', `/v1/plans/${deleting}`)).status, 202);
    // A scheduler re-created by a resume that raced the deletion: the firing removes it for good.
    await schedule.upsertJobScheduler(
      deleting,
      { pattern: '0 4 * * 0', tz: 'UTC' },
      { name: 'schedule.run', data: { planId: deleting } },
    );
    assert.deepEqual(await fire(deleting), { outcome: 'skipped', reason: 'PLAN_DELETED' });
    assert.equal(await api.prisma.run.count({ where: { planId: deleting } }), 0);
    assert.equal(await schedule.getJobScheduler(deleting), undefined);

    assert.deepEqual(await fire(UNKNOWN_ID), { outcome: 'skipped', reason: 'PLAN_DELETED' });
  });

  test('a resumed plan runs again on its next firing', async () => {
    const planId = await createPlan('resumed');
    await api.call('POST', `/v1/plans/${planId}/pause`);
    assert.deepEqual(await fire(planId), { outcome: 'skipped', reason: 'PLAN_PAUSED' });
    await api.call('POST', `/v1/plans/${planId}/resume`);
    assert.equal((await fire(planId)).outcome, 'started');
  });
});
