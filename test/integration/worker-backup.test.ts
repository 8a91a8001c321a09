/**
 * apps/worker against real Redis, Postgres and a filesystem target: `backup.run` jobs enqueued
 * with BullMQ, processed by the worker booted in-process as its Nest application context.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { INestApplicationContext } from '@nestjs/common';
import type { Queue } from 'bullmq';

import type { WorkerConfig } from '@vaultline/config';
import { parseJobResult, QUEUES } from '@vaultline/contracts';
import { type PrismaClient } from '@vaultline/db';
import { Repository } from '@vaultline/engine';
import { FsBackend } from '@vaultline/storage';

import { WorkerRuntime } from '../../apps/worker/src/runtime';
import { makeSource, PASSWORD, pseudoRandom } from '../support/fixtures';
import {
  createPlan,
  createRun,
  createService,
  TEST_JOB_OPTS,
  waitForJob,
  type PlanFixture,
} from '../support/worker-fleet';
import { startWorkerSuite, type WorkerSuite } from '../support/worker-suite';

async function listWithPassword(repoDir: string) {
  const repo = await Repository.open(await FsBackend.open(repoDir), { password: PASSWORD });
  return repo.listSnapshots();
}

describe('worker: backup.run', () => {
  let suite: WorkerSuite<'backup'>;
  let prisma: PrismaClient;
  let dir: { path: string };
  let config: WorkerConfig;
  let app: INestApplicationContext;
  let queue: Queue;
  let plan: PlanFixture;

  before(async () => {
    suite = await startWorkerSuite('worker', {
      queues: [QUEUES.backup],
      // Hooks as root: the hook tests write into this test's private (0700) temporary folder; the
      // default identity of hooks under root (nobody) is covered by apps/worker/src/hooks.spec.ts.
      env: { HOOK_UID: '0', HOOK_GID: '0' },
      runtime: { poolSize: 2, lockRetryMinMs: 50, lockRetryMaxMs: 200 },
    });
    ({ prisma, dir, config, app } = suite);
    queue = suite.queues.backup;
    plan = await createPlan(prisma, config, join(dir.path, 'targets'));
  });

  after(() => suite?.stop());

  test('/health answers 200 while Redis and Postgres answer', async () => {
    const port = app.get(WorkerRuntime).healthPort;
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', checks: { redis: 'up', postgres: 'up' } });
    assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
  });

  test('a backup succeeds: row with stats, snapshot in the repository, service idle again', async () => {
    const source = join(dir.path, 'src-ok');
    mkdirSync(source);
    makeSource(source);
    const serviceId = await createService(prisma, plan, source);
    const payload = await createRun(prisma, plan, serviceId);

    const job = await queue.add('backup.run', payload, TEST_JOB_OPTS);
    const done = await waitForJob(queue, job.id!);
    assert.equal(await done.getState(), 'completed');
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'success');
    if (result.status !== 'success') return;

    const row = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
    assert.equal(row.status, 'success');
    assert.equal(row.snapshotId, result.snapshot.id);
    assert.equal(row.attempts, 1);
    assert.equal(row.error, null);
    assert.ok(row.files > 0 && row.files === result.stats.files);
    assert.equal(row.totalBytes, BigInt(result.stats.totalBytes));
    assert.ok(row.bytesAdded > 0n);
    assert.ok(row.startedAt && row.finishedAt && row.durationMs !== null);

    const snapshots = await listWithPassword(plan.repoDir);
    const snap = snapshots.find((s) => s.id === result.snapshot.id);
    assert.ok(snap, 'the snapshot is in the repository');
    assert.equal(snap.service, serviceId);
    assert.equal(snap.plan, plan.planId);
    assert.equal(snap.arch, 'x86_64');
    assert.equal(snap.writer, 'writer-key');

    const service = await prisma.service.findUniqueOrThrow({ where: { id: serviceId } });
    assert.equal(service.state, 'idle');
  });

  test('a missing data folder: a failed result and row with the error, no retry', async () => {
    const serviceId = await createService(prisma, plan, join(dir.path, 'does-not-exist'));
    const payload = await createRun(prisma, plan, serviceId);

    const job = await queue.add('backup.run', payload, TEST_JOB_OPTS);
    const done = await waitForJob(queue, job.id!);
    assert.equal(await done.getState(), 'completed', 'a permanent failure completes with a failed result');
    assert.equal(done.attemptsMade, 1, 'one attempt (BullMQ counts the completed one), not retried');
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.equal(result.error.code, 'SOURCE_UNREADABLE');
    assert.match(result.error.message, /does-not-exist/);

    const row = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, 1);
    assert.match(row.error ?? '', /^SOURCE_UNREADABLE: .*does-not-exist/);
    assert.ok(row.finishedAt);
    const service = await prisma.service.findUniqueOrThrow({ where: { id: serviceId } });
    assert.equal(service.state, 'idle');
  });

  test('an invalid payload fails at once with the contract error', async () => {
    const job = await queue.add('backup.run', { runId: 'x' }, TEST_JOB_OPTS);
    const done = await waitForJob(queue, job.id!);
    assert.equal(await done.getState(), 'failed');
    assert.equal(done.attemptsMade, 1, 'one attempt, no retry');
    assert.match(done.failedReason, /job backup\.run payload: planId: is required/);
  });

  test('an unreachable target is retried with backoff, then ends as a failed result', async () => {
    const source = join(dir.path, 'src-unreachable');
    mkdirSync(source);
    writeFileSync(join(source, 'data.txt'), 'service data\n');
    // A plan whose target folder is gone (an unplugged drive, an unmounted share).
    const gone = await createPlan(prisma, config, join(dir.path, 'gone-target'));
    rmSync(gone.repoDir, { recursive: true, force: true });
    const serviceId = await createService(prisma, gone, source);
    const payload = await createRun(prisma, gone, serviceId);

    const done = await waitForJob(queue, (await queue.add('backup.run', payload, TEST_JOB_OPTS)).id!);
    assert.equal(await done.getState(), 'completed', 'the last attempt returns a failed result');
    assert.equal(done.attemptsMade, TEST_JOB_OPTS.attempts, 'every attempt was used');
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.equal(result.error.code, 'UNREACHABLE');
    const row = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
    assert.equal(row.status, 'failed');
    assert.equal(row.attempts, TEST_JOB_OPTS.attempts);
    assert.match(row.error ?? '', /^UNREACHABLE: backup target .* does not exist/);
    assert.equal((await prisma.service.findUniqueOrThrow({ where: { id: serviceId } })).state, 'idle');
  });

  test('pre- and post-hooks run around the backup (commands, no shell)', async () => {
    const source = join(dir.path, 'src-hooks');
    mkdirSync(source);
    writeFileSync(join(source, 'data.txt'), 'service data\n');
    const log = join(dir.path, 'hooks.log');
    const node = (code: string) => ({ kind: 'command', argv: [process.execPath, '-e', code] });
    const serviceId = await createService(prisma, plan, source);
    await prisma.service.update({
      where: { id: serviceId },
      data: {
        // The pre-hook dumps the service's database into its folder: the snapshot must contain it.
        preHook: node(
          `const fs=require('fs');fs.writeFileSync(${JSON.stringify(join(source, 'dump.sql'))},'dump');fs.appendFileSync(${JSON.stringify(log)},'pre\\n')`,
        ),
        postHook: node(`require('fs').appendFileSync(${JSON.stringify(log)},'post\\n')`),
      },
    });
    const payload = await createRun(prisma, plan, serviceId);
    const done = await waitForJob(queue, (await queue.add('backup.run', payload, TEST_JOB_OPTS)).id!);
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'success');
    if (result.status !== 'success') return;
    assert.equal(result.stats.files, 2, 'data.txt and the dump written by the pre-hook');
    assert.equal(readFileSync(log, 'utf8'), 'pre\npost\n');
  });

  test('a failing pre-hook: HOOK_FAILED result, no snapshot, and the post-hook still runs', async () => {
    const source = join(dir.path, 'src-hook-fails');
    mkdirSync(source);
    writeFileSync(join(source, 'data.txt'), 'service data\n');
    const log = join(dir.path, 'hooks-fail.log');
    const serviceId = await createService(prisma, plan, source);
    await prisma.service.update({
      where: { id: serviceId },
      data: {
        preHook: {
          kind: 'command',
          argv: [process.execPath, '-e', `process.stderr.write('maintenance mode refused');process.exit(3)`],
        },
        postHook: {
          kind: 'command',
          argv: [process.execPath, '-e', `require('fs').appendFileSync(${JSON.stringify(log)},'post\\n')`],
        },
      },
    });
    const payload = await createRun(prisma, plan, serviceId);
    const done = await waitForJob(queue, (await queue.add('backup.run', payload, TEST_JOB_OPTS)).id!);
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.equal(result.error.code, 'HOOK_FAILED');
    assert.match(result.error.message, /pre-hook exited with code 3: maintenance mode refused/);
    assert.equal(done.attemptsMade, 1, 'not retried');
    assert.equal(readFileSync(log, 'utf8'), 'post\n');
    const snapshots = await listWithPassword(plan.repoDir);
    assert.ok(!snapshots.some((s) => s.service === serviceId), 'no snapshot of the service');
    const row = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
    assert.equal(row.status, 'failed');
  });

  test('one service backs up one job at a time while another service goes on meanwhile', async () => {
    const srcA = join(dir.path, 'src-a');
    const srcB = join(dir.path, 'src-b');
    for (const [i, src] of [srcA, srcB].entries()) {
      mkdirSync(src);
      // Enough incompressible data that each backup takes a noticeable time.
      for (let f = 0; f < 6; f++) writeFileSync(join(src, `f${f}.bin`), pseudoRandom(100 * i + f, 6 << 20));
    }
    const serviceA = await createService(prisma, plan, srcA);
    const serviceB = await createService(prisma, plan, srcB);
    const a1 = await createRun(prisma, plan, serviceA);
    const a2 = await createRun(prisma, plan, serviceA);
    const b = await createRun(prisma, plan, serviceB);

    const jobs = await queue.addBulk([
      { name: 'backup.run', data: a1, opts: TEST_JOB_OPTS },
      { name: 'backup.run', data: a2, opts: TEST_JOB_OPTS },
      { name: 'backup.run', data: b, opts: TEST_JOB_OPTS },
    ]);
    for (const j of jobs) {
      const done = await waitForJob(queue, j.id!);
      assert.equal(parseJobResult('backup.run', done.returnvalue).status, 'success');
    }
    const row = (runId: string) => prisma.serviceBackup.findFirstOrThrow({ where: { runId } });
    const [rA1, rA2, rB] = await Promise.all([row(a1.runId), row(a2.runId), row(b.runId)]);
    const span = (r: typeof rA1) => ({ start: r.startedAt!.getTime(), end: r.finishedAt!.getTime() });
    const [sA1, sA2, sB] = [span(rA1), span(rA2), span(rB)];
    // Same service: one after the other (whichever got the lock first).
    const [first, second] = sA1.start <= sA2.start ? [sA1, sA2] : [sA2, sA1];
    assert.ok(second.start >= first.end, `service A's backups overlap: ${JSON.stringify([first, second])}`);
    // The other service ran while A's first backup did.
    const overlaps = (x: typeof sA1, y: typeof sA1) => x.start < y.end && y.start < x.end;
    assert.ok(
      overlaps(sB, first) || overlaps(sB, second),
      `service B never ran beside A: ${JSON.stringify([sA1, sA2, sB])}`,
    );
    assert.equal(rA1.attempts + rA2.attempts, 2, 'waiting for the lock is not a failed attempt');
    assert.equal((await prisma.service.findUniqueOrThrow({ where: { id: serviceA } })).state, 'idle');
  });
});
