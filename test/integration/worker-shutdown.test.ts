/**
 * A worker process stopped with SIGTERM in the middle of a backup: it cancels the backup, hands the
 * job back to the queue and exits 0; a second worker then completes the job, and the repository
 * holds exactly one snapshot of it (the cancelled attempt wrote none). Likewise a restore stopped
 * by a graceful stop goes back to the queue and another worker restores it completely.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { parseJobResult, QUEUES } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
import { backup, Repository } from '@vaultline/engine';
import { sealPasswordEnvelope, serverKeys } from '@vaultline/secrets';
import { FsBackend } from '@vaultline/storage';

import { createWorkerApp } from '../../apps/worker/src/main';
import { assertSameTree, PASSWORD, pseudoRandom, snapshotOf, tempDir } from '../support/fixtures';
import { createTestDatabase, MIGRATIONS_DIR, ROOT, type TestDatabase } from '../support/postgres';
import {
  backupQueue,
  createPlan,
  createRestore,
  createRun,
  createService,
  freePort,
  TEST_JOB_OPTS,
  waitForJob,
  workerConfig,
  workerEnv,
  workerQueue,
} from '../support/worker-fleet';

const MAIN = join(ROOT, 'dist/apps/worker/src/main.js');

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('worker: stopped mid-job', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let dir: ReturnType<typeof tempDir>;

  before(async () => {
    db = await createTestDatabase('worker_stop');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
    dir = tempDir('worker-stop');
  });

  after(async () => {
    await prisma?.$disconnect();
    await db?.drop();
    dir?.cleanup();
  });

  test('the job returns to the queue and a second worker completes it without a duplicate snapshot', async () => {
    const env = workerEnv(db.url, { METRICS_PORT: String(await freePort()), WORKER_CONCURRENCY: '1' });
    const config = workerConfig(env);
    const plan = await createPlan(prisma, config, join(dir.path, 'targets'));
    const source = join(dir.path, 'big');
    mkdirSync(source);
    // Large enough that the backup is still running when the signal arrives.
    for (let f = 0; f < 16; f++) writeFileSync(join(source, `f${f}.bin`), pseudoRandom(f, 16 << 20));
    const serviceId = await createService(prisma, plan, source);
    const payload = await createRun(prisma, plan, serviceId);
    const queue = backupQueue(config);
    try {
      const job = await queue.add('backup.run', payload, TEST_JOB_OPTS);

      const child = spawn(process.execPath, [MAIN], {
        env: { ...env, PATH: process.env['PATH'] ?? '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

      await until('the backup to start', async () => {
        const s = await prisma.service.findUniqueOrThrow({ where: { id: serviceId } });
        return s.state === 'backing_up';
      });
      await new Promise((r) => setTimeout(r, 150));
      child.kill('SIGTERM');
      assert.equal(await exited, 0, `worker exit code (stderr: ${stderr})`);

      const back = await queue.getJob(job.id!);
      assert.ok(back);
      assert.equal(await back.getState(), 'waiting', 'the job is back in the queue');
      assert.equal(back.attemptsMade, 0, 'a cancelled attempt is not a failed one');
      const row = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
      assert.equal(row.status, 'queued');
      assert.equal((await prisma.service.findUniqueOrThrow({ where: { id: serviceId } })).state, 'idle');
      const repo = await Repository.open(await FsBackend.open(plan.repoDir), { password: PASSWORD });
      assert.equal((await repo.listSnapshots()).length, 0, 'the cancelled backup wrote no snapshot');

      const app = await createWorkerApp(config, { poolSize: 2 });
      try {
        const done = await waitForJob(queue, job.id!);
        const result = parseJobResult('backup.run', done.returnvalue);
        assert.equal(result.status, 'success');
      } finally {
        await app.close();
      }
      const snapshots = await repo.listSnapshots();
      assert.equal(snapshots.length, 1, 'exactly one snapshot');
      const finalRow = await prisma.serviceBackup.findFirstOrThrow({ where: { runId: payload.runId } });
      assert.equal(finalRow.status, 'success');
      assert.equal(finalRow.snapshotId, snapshots[0]!.id);
      assert.equal(finalRow.attempts, 2);
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  test('a restore stopped by a graceful stop goes back to wait; another worker restores it all', async () => {
    const config = workerConfig(
      workerEnv(db.url, { METRICS_PORT: String(await freePort()), WORKER_CONCURRENCY: '1' }),
    );
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-restore'));
    const source = join(dir.path, 'big-restore');
    mkdirSync(source);
    // Large enough that the restore is still running when the stop comes.
    for (let f = 0; f < 12; f++) writeFileSync(join(source, `f${f}.bin`), pseudoRandom(100 + f, 16 << 20));
    const serviceId = await createService(prisma, plan, source);
    // The snapshot is written directly with the engine (as the backup job would, ids as names).
    const repo = await Repository.open(await FsBackend.open(plan.repoDir), { password: PASSWORD });
    await backup(repo, { source, service: serviceId, plan: plan.planId, arch: 'x86_64' });

    const destination = join(dir.path, 'restored-big');
    const restoreId = await createRestore(prisma, plan, serviceId, destination);
    const queue = workerQueue(config, QUEUES.restore);
    try {
      const job = await queue.add(
        'restore.run',
        {
          restoreId,
          planId: plan.planId,
          serviceId,
          targetId: plan.targetId,
          snapshot: 'latest',
          destination,
          allowCrossArch: false,
          verify: true,
          passwordEnvelope: sealPasswordEnvelope(serverKeys(config), restoreId, PASSWORD),
        },
        TEST_JOB_OPTS,
      );
      const first = await createWorkerApp(config, { poolSize: 2 });
      try {
        await until('the restore to start', async () => {
          const r = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
          return r.status === 'running';
        });
      } finally {
        await first.close();
      }
      const back = await queue.getJob(job.id!);
      assert.ok(back);
      assert.equal(await back.getState(), 'waiting', 'the job is back in the queue');
      assert.equal(back.attemptsMade, 0, 'a cancelled attempt is not a failed one');
      assert.equal((await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } })).status, 'queued');
      assert.equal((await prisma.service.findUniqueOrThrow({ where: { id: serviceId } })).state, 'idle');

      const second = await createWorkerApp(config, { poolSize: 2 });
      try {
        const done = await waitForJob(queue, job.id!);
        const result = parseJobResult('restore.run', done.returnvalue);
        assert.equal(result.status, 'success');
      } finally {
        await second.close();
      }
      assertSameTree(snapshotOf(destination), snapshotOf(source));
      assert.equal((await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } })).status, 'success');
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });
});
