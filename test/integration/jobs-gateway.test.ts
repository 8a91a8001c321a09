/**
 * @vaultline/jobs against a real Redis: producers name a job and the gateway picks its queue and
 * the registry's options; consumers register a handler map and the dispatcher validates each job.
 * Every queue here is inspected with BullMQ directly (under a prefix of its own), so the test
 * sees what is really stored.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Queue, type Job, type Worker } from 'bullmq';

import { ContractError, JOBS, QUEUE_NAMES, QUEUES, type QueueName } from '@vaultline/contracts';
import { JobGateway, jobWorker } from '@vaultline/jobs';

import { REDIS_URL } from '../support/worker-fleet';

const ID = '01900000-0000-7000-8000-000000000001';
const ID2 = '01900000-0000-7000-8000-000000000002';

describe('jobs: the gateway and the handler maps (real Redis)', () => {
  const prefix = `vl-test-jobs-${randomUUID()}`;
  const errors: string[] = [];
  let jobs: JobGateway;
  const inspect = new Map<QueueName, Queue>();
  const workers: Worker[] = [];
  const queueOf = (name: QueueName): Queue => inspect.get(name)!;

  before(() => {
    jobs = new JobGateway({
      redisUrl: REDIS_URL,
      prefix,
      onError: (err, q) => errors.push(`${q}: ${err.message}`),
    });
    for (const q of QUEUE_NAMES) {
      inspect.set(q, new Queue(q, { connection: { url: REDIS_URL, maxRetriesPerRequest: null }, prefix }));
    }
  });
  after(async () => {
    for (const w of workers) await w.close();
    await jobs?.close();
    for (const q of inspect.values()) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    assert.deepEqual(errors, []);
  });

  test("queue: the job goes to its queue with the registry's options, the producer's on top", async () => {
    const added = await jobs.queue({
      name: 'maintenance.syncCatalog',
      data: { planId: ID, targetId: ID2 },
      opts: { jobId: 'sync-1', attempts: 7 },
    });
    assert.equal(added.queueName, QUEUES.maintenance);
    const stored = await queueOf('maintenance').getJob('sync-1');
    assert.ok(stored);
    assert.equal(stored.name, 'maintenance.syncCatalog');
    assert.deepEqual(stored.data, { planId: ID, targetId: ID2 });
    assert.equal(stored.opts.attempts, 7);
    assert.deepEqual(stored.opts.backoff, JOBS['maintenance.syncCatalog'].defaults.backoff);
    assert.equal(stored.opts.removeOnComplete, true);
    assert.equal(await jobs.state('maintenance.syncCatalog', 'sync-1'), 'waiting');
    assert.equal((await jobs.find('maintenance.retention', 'sync-1'))?.name, 'maintenance.syncCatalog');
    assert.equal(await jobs.state('report.aggregate', 'sync-1'), 'unknown');
  });

  test('queue: invalid data is refused before anything is stored; unknown keys never reach Redis', async () => {
    await assert.rejects(
      jobs.queue({ name: 'restore.run', data: { restoreId: ID } as never, opts: { jobId: 'bad' } }),
      (err: unknown) => err instanceof ContractError && err.code === 'INVALID_JOB_PAYLOAD',
    );
    assert.equal(await queueOf('restore').getJob('bad'), undefined);
    const data = { planId: ID, targetId: ID2, password: 'hunter22' };
    await jobs.queue({ name: 'maintenance.retention', data, opts: { jobId: 'ret-1' } });
    assert.deepEqual((await queueOf('maintenance').getJob('ret-1'))?.data, { planId: ID, targetId: ID2 });
  });

  test('queueBulk: each job in its own queue', async () => {
    const added = await jobs.queueBulk([
      { name: 'maintenance.deletePlan', data: { planId: ID, targetId: ID }, opts: { jobId: 'del-1' } },
      { name: 'schedule.run', data: { planId: ID }, opts: { jobId: 'fire-1' } },
      { name: 'maintenance.deletePlan', data: { planId: ID, targetId: ID2 }, opts: { jobId: 'del-2' } },
    ]);
    assert.deepEqual(added.map((j) => j.id).sort(), ['del-1', 'del-2', 'fire-1']);
    assert.equal((await queueOf('maintenance').getJob('del-2'))?.opts.attempts, 5);
    assert.equal((await queueOf('schedule').getJob('fire-1'))?.name, 'schedule.run');
  });

  test('queueFlow: the parent and its children each in their own queue, with their own options', async () => {
    const flow = await jobs.queueFlow({
      name: 'report.aggregate',
      data: { runId: ID, planId: ID2 },
      opts: { jobId: 'run-1' },
      children: [
        {
          name: 'backup.run',
          data: { runId: ID, planId: ID2, serviceId: ID, targetId: ID2 },
          opts: { jobId: 'child-1', backoff: { type: 'exponential', delay: 5 } },
        },
      ],
    });
    assert.equal(flow.job.id, 'run-1');
    assert.equal(await queueOf('report').getJobState('run-1'), 'waiting-children');
    const child = await queueOf('backup').getJob('child-1');
    assert.ok(child);
    assert.equal(child.opts.attempts, 4);
    assert.deepEqual(child.opts.backoff, { type: 'exponential', delay: 5 });
    assert.equal(child.parent?.id, 'run-1');
    assert.equal(child.opts.ignoreDependencyOnFailure, true);
  });

  test("upsertScheduler / removeScheduler: the job scheduler of the job's queue", async () => {
    await jobs.upsertScheduler(
      ID,
      { pattern: '0 3 * * *', tz: 'UTC' },
      { name: 'schedule.run', data: { planId: ID } },
    );
    const scheduler = await queueOf('schedule').getJobScheduler(ID);
    assert.equal(scheduler?.name, 'schedule.run');
    assert.equal(scheduler?.pattern, '0 3 * * *');
    assert.equal(await jobs.removeScheduler('schedule.run', ID), true);
    assert.equal(await queueOf('schedule').getJobScheduler(ID), undefined);
  });

  test('counts: job counts of a queue by state', async () => {
    const counts = await jobs.counts('maintenance', ['waiting', 'failed']);
    assert.ok((counts.waiting ?? 0) >= 3);
    assert.equal(counts.failed ?? 0, 0);
  });

  test('jobWorker: handlers get parsed payloads; a stray job fails for good, without retries', async () => {
    const seen: string[] = [];
    const worker = jobWorker(
      'restore',
      {
        'restore.run': (p) => {
          seen.push(p.restoreId);
          return Promise.resolve({
            status: 'failed',
            error: { code: 'NOT_FOUND', message: 'x' },
            durationMs: 0,
          });
        },
      },
      { redisUrl: REDIS_URL, prefix, concurrency: 1 },
    );
    workers.push(worker);
    const q = queueOf('restore');
    // Added behind the gateway's back, as a producer of another version could.
    await q.add('restore.nope', {}, { jobId: 'stray', attempts: 3 });
    await q.add('restore.run', { restoreId: ID }, { jobId: 'invalid', attempts: 3 });
    const done = async (id: string): Promise<Job> => {
      for (let i = 0; i < 200; i++) {
        const j = await q.getJob(id);
        if (j && (j.finishedOn || j.failedReason)) return j;
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.fail(`job ${id} did not finish`);
    };
    const stray = await done('stray');
    assert.equal(stray.failedReason, 'job restore.nope is not a job of the restore queue');
    assert.equal(stray.attemptsMade, 1);
    const invalid = await done('invalid');
    assert.match(invalid.failedReason, /^job restore\.run payload: /);
    assert.equal(invalid.attemptsMade, 1);
    assert.deepEqual(seen, []);
  });

  test("node routing: a node's jobs go to <queue>@<node>, taken only by that node's workers", async () => {
    const backup = (id: string) => ({ runId: ID, planId: ID2, serviceId: id, targetId: ID2 });
    const flow = await jobs.queueFlow({
      name: 'report.aggregate',
      data: { runId: ID2, planId: ID2 },
      opts: { jobId: 'report-node' },
      children: [
        { name: 'backup.run', data: backup(ID), opts: { jobId: 'on-a' }, node: 'node-a' },
        { name: 'backup.run', data: backup(ID2), opts: { jobId: 'shared' } },
      ],
    });
    assert.deepEqual(flow.children?.map((c) => c.job.queueName).sort(), ['backup', 'backup@node-a']);
    assert.equal(await queueOf('backup').getJob('on-a'), undefined, 'not on the shared queue');
    assert.equal(await jobs.state('backup.run', 'on-a', 'node-a'), 'waiting');
    assert.equal(
      ((await jobs.find('backup.run', 'on-a', 'node-a'))?.data as { serviceId: string }).serviceId,
      ID,
    );
    assert.equal((await jobs.counts('backup@node-a', ['waiting'])).waiting, 1);
    assert.equal(await jobs.workerCount('backup@node-a'), 0);
    assert.deepEqual(
      (await jobs.waitingJobs('backup@node-a', 10)).map((j) => j.id),
      ['on-a'],
    );

    // Neither a shared worker nor node-b's takes node-a's job; node-a's worker does.
    const took: string[] = [];
    const handlers = (who: string) => ({
      'backup.run': (_p: unknown, job: Job) => {
        took.push(`${who}:${job.id}`);
        return Promise.resolve({
          status: 'failed' as const,
          error: { code: 'X', message: 'x' },
          durationMs: 0,
        });
      },
    });
    workers.push(jobWorker('backup', handlers('shared'), { redisUrl: REDIS_URL, prefix, concurrency: 1 }));
    workers.push(
      jobWorker('backup', handlers('b'), { redisUrl: REDIS_URL, prefix, concurrency: 1, node: 'node-b' }),
    );
    for (let i = 0; i < 100 && !took.includes('shared:shared'); i++)
      await new Promise((r) => setTimeout(r, 50));
    // (Earlier tests left other jobs on the shared queue: only these two ids matter.)
    const ours = () => took.filter((t) => t.endsWith(':on-a') || t.endsWith(':shared')).sort();
    assert.deepEqual(ours(), ['shared:shared']);
    assert.equal(await jobs.state('backup.run', 'on-a', 'node-a'), 'waiting');
    const a = jobWorker('backup', handlers('a'), {
      redisUrl: REDIS_URL,
      prefix,
      concurrency: 1,
      node: 'node-a',
    });
    workers.push(a);
    await a.waitUntilReady();
    for (let i = 0; i < 100 && !took.includes('a:on-a'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(ours(), ['a:on-a', 'shared:shared']);
    assert.ok((await jobs.workerCount('backup@node-a')) >= 1);
    const nodeQueue = new Queue('backup@node-a', {
      connection: { url: REDIS_URL, maxRetriesPerRequest: null },
      prefix,
    });
    await nodeQueue.obliterate({ force: true }).catch(() => undefined);
    await nodeQueue.close();
  });

  test('node routing: only backups and restores, and only node names', async () => {
    await assert.rejects(
      jobs.queue({ name: 'schedule.run', data: { planId: ID }, node: 'node-a' }),
      /the schedule queue is not routed per node/,
    );
    await assert.rejects(
      jobs.queue({
        name: 'backup.run',
        data: { runId: ID, planId: ID, serviceId: ID, targetId: ID },
        node: 'Node_A',
      }),
      /invalid node name or label "Node_A"/,
    );
    await assert.rejects(jobs.counts('backup@Node_A', ['waiting']), /no queue backup@Node_A/);
    await assert.rejects(jobs.counts('report@node-a', ['waiting']), /no queue report@node-a/);
  });
});
