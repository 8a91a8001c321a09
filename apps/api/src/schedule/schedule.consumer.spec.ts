import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ApiConfig } from '@vaultline/config';
import type { JobResult } from '@vaultline/contracts';
import { type Job, UnrecoverableError } from 'bullmq';
import pino from 'pino';
import type { QueuesService } from '../common/queues.service';
import type { RunsService } from '../runs/runs.service';
import { ScheduleConsumer } from './schedule.consumer';

const PLAN = '01900000-0000-7000-8000-000000000001';

function consumer(result: JobResult<'schedule.run'>) {
  const started: string[] = [];
  const removed: string[] = [];
  const runs = {
    startScheduled: (planId: string) => {
      started.push(planId);
      return Promise.resolve(result);
    },
  } as unknown as RunsService;
  const queues = {
    run: <T>(op: () => Promise<T>) => op(),
    jobs: {
      removeScheduler: (_name: string, id: string) => {
        removed.push(id);
        return Promise.resolve(true);
      },
    },
  } as unknown as QueuesService;
  const c = new ScheduleConsumer(runs, queues, {} as ApiConfig, pino({ level: 'silent' }), false);
  return { c, started, removed };
}

const job = (name: string, data: unknown): Job => ({ id: 'j1', name, data }) as unknown as Job;

describe('ScheduleConsumer.handle', () => {
  test('schedule.run starts the plan and returns the validated result', async () => {
    const runId = '01900000-0000-7000-8000-000000000002';
    const { c, started, removed } = consumer({ outcome: 'started', runId });
    assert.deepEqual(await c.handle(job('schedule.run', { planId: PLAN })), { outcome: 'started', runId });
    assert.deepEqual(started, [PLAN]);
    assert.deepEqual(removed, []);
  });

  test('a deleted plan: skipped, and its leftover scheduler removed; a paused one keeps it', async () => {
    const deleted = consumer({ outcome: 'skipped', reason: 'PLAN_DELETED' });
    await deleted.c.handle(job('schedule.run', { planId: PLAN }));
    assert.deepEqual(deleted.removed, [PLAN]);
    const paused = consumer({ outcome: 'skipped', reason: 'PLAN_PAUSED' });
    await paused.c.handle(job('schedule.run', { planId: PLAN }));
    assert.deepEqual(paused.removed, []);
  });

  test('an unknown job or an invalid payload fails for good (no retry), before any run', async () => {
    const { c, started } = consumer({ outcome: 'skipped', reason: 'PLAN_PAUSED' });
    await assert.rejects(c.handle(job('backup.run', {})), UnrecoverableError);
    await assert.rejects(c.handle(job('nope', {})), UnrecoverableError);
    await assert.rejects(c.handle(job('schedule.run', { planId: 'has:colon' })), (err: unknown) => {
      assert.ok(err instanceof UnrecoverableError);
      assert.match(err.message, /planId/);
      return true;
    });
    assert.deepEqual(started, []);
  });
});
