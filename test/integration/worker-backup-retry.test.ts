/**
 * A backup job retried after its snapshot was published (issue 9): Postgres becomes unreachable
 * for the worker between the engine writing the snapshot and the worker recording it. The retry
 * must record the snapshot the first attempt wrote, not write a second one. The worker (booted
 * in-process) reaches Postgres through a TCP proxy the test cuts; the system server stays up.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Queue } from 'bullmq';

import type { WorkerConfig } from '@vaultline/config';
import { parseJobResult, QUEUES } from '@vaultline/contracts';
import { type PrismaClient } from '@vaultline/db';
import { Repository } from '@vaultline/engine';
import { FsBackend } from '@vaultline/storage';

import { makeSource, PASSWORD } from '../support/fixtures';
import { startTcpProxy, viaProxy, type TcpProxy } from '../support/tcp-proxy';
import { createPlan, createRun, createService, waitForJob, type PlanFixture } from '../support/worker-fleet';
import { startWorkerSuite, type WorkerSuite } from '../support/worker-suite';

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('worker: a retried backup.run is idempotent', () => {
  let suite: WorkerSuite<'backup'>;
  let prisma: PrismaClient;
  let proxy: TcpProxy | undefined;
  let dir: { path: string };
  let config: WorkerConfig;
  let queue: Queue;
  let plan: PlanFixture;

  before(async () => {
    suite = await startWorkerSuite('worker-retry', {
      queues: [QUEUES.backup],
      // The hook writes its marker into this test's root-only temp folder: run it as root.
      env: { HOOK_UID: '0', HOOK_GID: '0' },
      // The test's own client goes straight to Postgres; only the worker's goes through the proxy.
      workerDatabaseUrl: async (db) => {
        const u = new URL(db.url);
        proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
        return viaProxy(db.url, proxy);
      },
      runtime: { poolSize: 2, lockRetryMinMs: 50, lockRetryMaxMs: 200 },
    });
    ({ prisma, dir, config } = suite);
    queue = suite.queues.backup;
    plan = await createPlan(prisma, config, join(dir.path, 'targets'));
  });

  after(async () => {
    await suite?.stop();
    await proxy?.close();
  });

  test('Postgres down after the snapshot is written: the retry records that snapshot, no second one', async () => {
    const source = join(dir.path, 'src');
    mkdirSync(source);
    makeSource(source);
    // The post-hook runs after the engine published the snapshot and before the worker writes
    // the row: it signals the test (which cuts Postgres) and gives it time to do so.
    const marker = join(dir.path, 'snapshot-written');
    const serviceId = await createService(prisma, plan, source);
    await prisma.service.update({
      where: { id: serviceId },
      data: {
        postHook: {
          kind: 'command',
          argv: [
            process.execPath,
            '-e',
            `require('fs').writeFileSync(${JSON.stringify(marker)},'');setTimeout(()=>{},1000)`,
          ],
        },
      },
    });
    const payload = await createRun(prisma, plan, serviceId);
    const job = await queue.add('backup.run', payload, {
      attempts: 4,
      backoff: { type: 'fixed', delay: 300 },
    });

    await waitFor('the post-hook of the first attempt', () => existsSync(marker));
    proxy!.cut();
    // Back up once the first attempt has failed (BullMQ counted it), before the retry's delay ends.
    await waitFor(
      'the first attempt to fail',
      async () => ((await queue.getJob(job.id!))?.attemptsMade ?? 0) >= 1,
    );
    proxy!.restore();

    const done = await waitForJob(queue, job.id!);
    assert.equal(await done.getState(), 'completed');
    const result = parseJobResult('backup.run', done.returnvalue);
    assert.equal(result.status, 'success', JSON.stringify(result));
    if (result.status !== 'success') return;
    assert.ok(done.attemptsMade >= 2, 'the job was retried');

    const repo = await Repository.open(await FsBackend.open(plan.repoDir), { password: PASSWORD });
    const snapshots = await repo.listSnapshots();
    assert.equal(snapshots.length, 1, 'exactly one snapshot in the repository');
    const [snap] = snapshots;
    assert.equal(snap!.id, result.snapshot.id, 'the result names the repository snapshot');
    assert.equal(snap!.time, result.snapshot.time);
    assert.deepEqual(result.stats, snap!.stats);

    const rows = await prisma.serviceBackup.findMany({ where: { runId: payload.runId } });
    assert.equal(rows.length, 1);
    const row = rows[0]!;
    assert.equal(row.status, 'success');
    assert.equal(row.snapshotId, snap!.id, 'catalog = repository');
    assert.equal(row.error, null);
    assert.equal(row.files, snap!.stats.files);
    assert.equal(row.totalBytes, BigInt(snap!.stats.totalBytes));
    assert.equal(row.bytesAdded, BigInt(snap!.stats.bytesAdded));
    assert.ok(row.attempts >= 2);
    assert.equal((await prisma.service.findUniqueOrThrow({ where: { id: serviceId } })).state, 'idle');
  });
});
