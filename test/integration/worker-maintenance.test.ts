/**
 * apps/worker `maintenance.retention` and `maintenance.deletePlan` against real Redis, Postgres and
 * filesystem targets: snapshots made through the backup queue (writer key), catalogued as the
 * report service does, then forgotten and pruned with the writer key only.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { Queue } from 'bullmq';

import { Catalog } from '@vaultline/catalog';
import type { WorkerConfig } from '@vaultline/config';
import { parseJobResult, QUEUES, type JobResult } from '@vaultline/contracts';
import { type PrismaClient } from '@vaultline/db';
import { DEFAULT_LOCK_TIMING, Lock, Repository } from '@vaultline/engine';
import { FsBackend } from '@vaultline/storage';

import { retentionFromColumn } from '../../apps/worker/src/maintenance-processor';
import { CatalogFactories } from '../support/factories';
import { PASSWORD, pseudoRandom } from '../support/fixtures';
import {
  addPlanTarget,
  createPlan,
  createRun,
  createService,
  TEST_JOB_OPTS,
  waitForJob,
  type PlanFixture,
} from '../support/worker-fleet';
import { startWorkerSuite, type WorkerSuite } from '../support/worker-suite';

async function snapshotIdsIn(repoDir: string): Promise<string[]> {
  const repo = await Repository.open(await FsBackend.open(repoDir), { password: PASSWORD });
  return (await repo.listSnapshots()).map((s) => s.id).sort();
}

describe('worker: maintenance', () => {
  let suite: WorkerSuite<'backup' | 'maintenance'>;
  let prisma: PrismaClient;
  let catalog: Catalog;
  let factories: CatalogFactories;
  let dir: { path: string };
  let config: WorkerConfig;
  let backups: Queue;
  let maintenance: Queue;

  before(async () => {
    suite = await startWorkerSuite('worker_maint', {
      queues: [QUEUES.backup, QUEUES.maintenance],
      // No safety margin: the packs of forgotten snapshots are freed at once, so the tests see them go.
      runtime: { poolSize: 2, pruneSafetyMarginMs: 0 },
    });
    ({ prisma, dir, config } = suite);
    catalog = new Catalog(prisma);
    factories = new CatalogFactories(prisma);
    ({ backup: backups, maintenance } = suite.queues);
  });

  after(() => suite?.stop());

  /**
   * `count` backups of one service into `fixtures` (every target of the plan), each with new data
   * so that each adds its own pack; every snapshot is catalogued as the report service would.
   * Returns the snapshot ids per target, oldest first.
   */
  async function backUp(
    fixtures: PlanFixture[],
    label: string,
    count: number,
  ): Promise<Map<string, string[]>> {
    const source = join(dir.path, `src-${label}`);
    mkdirSync(source, { recursive: true });
    const serviceId = await createService(prisma, fixtures[0]!, source);
    const ids = new Map<string, string[]>(fixtures.map((f) => [f.targetId, []]));
    for (let i = 0; i < count; i++) {
      writeFileSync(join(source, `data-${i}.bin`), pseudoRandom(1000 + i, 64 * 1024));
      for (const fixture of fixtures) {
        const payload = await createRun(prisma, fixture, serviceId);
        const job = await backups.add('backup.run', payload, TEST_JOB_OPTS);
        const result = parseJobResult('backup.run', (await waitForJob(backups, job.id!)).returnvalue);
        assert.equal(result.status, 'success');
        if (result.status !== 'success') throw new Error('backup failed');
        await factories.newSnapshot(
          { planId: fixture.planId, targetId: fixture.targetId, serviceId },
          {
            id: result.snapshot.id,
            runId: payload.runId,
            time: new Date(result.snapshot.time),
            arch: result.snapshot.arch,
            totalBytes: BigInt(result.stats.totalBytes),
            bytesAdded: BigInt(result.stats.bytesAdded),
            files: result.stats.files,
          },
        );
        ids.get(fixture.targetId)!.push(result.snapshot.id);
      }
    }
    return ids;
  }

  async function runMaintenance(
    name: 'maintenance.retention' | 'maintenance.deletePlan',
    fixture: PlanFixture,
    jobId?: string,
  ): Promise<JobResult<'maintenance.retention'>> {
    const job = await maintenance.add(
      name,
      { planId: fixture.planId, targetId: fixture.targetId },
      { ...TEST_JOB_OPTS, ...(jobId ? { jobId } : {}) },
    );
    const done = await waitForJob(maintenance, job.id!);
    assert.equal(await done.getState(), 'completed', done.failedReason);
    return parseJobResult(name, done.returnvalue);
  }

  async function catalogIds(fixture: PlanFixture): Promise<string[]> {
    const rows = await prisma.snapshot.findMany({
      where: { planId: fixture.planId, targetId: fixture.targetId },
    });
    return rows.map((r) => r.id).sort();
  }

  test('retention keeps exactly keepLast snapshots of the service; the catalog follows', async () => {
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-retention'));
    await prisma.plan.update({ where: { id: plan.planId }, data: { retention: { keepLast: 2 } } });
    const ids = (await backUp([plan], 'retention', 4)).get(plan.targetId)!;
    assert.equal(new Set(ids).size, 4);

    const result = await runMaintenance('maintenance.retention', plan);
    assert.equal(result.skipped, undefined);
    assert.deepEqual([...result.forgotten].sort(), ids.slice(0, 2).sort(), 'the two oldest are forgotten');
    assert.equal(result.kept, 2);
    const newest = ids.slice(2).sort();
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), newest);
    assert.deepEqual(await catalogIds(plan), newest);

    // Applying it again changes nothing.
    const again = await runMaintenance('maintenance.retention', plan);
    assert.deepEqual(again.forgotten, []);
    assert.equal(again.kept, 2);
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), newest);
  });

  test('retention: a plan without rules, or being deleted, is skipped and nothing is forgotten', async () => {
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-norules'));
    await prisma.plan.update({ where: { id: plan.planId }, data: { retention: {} } });
    const ids = (await backUp([plan], 'norules', 2)).get(plan.targetId)!;

    const none = await runMaintenance('maintenance.retention', plan);
    assert.equal(none.skipped, 'NO_RETENTION');
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), [...ids].sort());

    await prisma.plan.update({
      where: { id: plan.planId },
      data: { retention: { keepLast: 1 }, deletedAt: new Date() },
    });
    const deleting = await runMaintenance('maintenance.retention', plan);
    assert.equal(deleting.skipped, 'PLAN_DELETED');
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), [...ids].sort());
  });

  test('retention column mapping: empty means no rules; invalid is refused, not guessed', () => {
    assert.equal(retentionFromColumn({}), null);
    assert.equal(retentionFromColumn({ keepLast: 0, keepTags: [] }), null);
    assert.deepEqual(retentionFromColumn({ keepLast: 3, keepDaily: 7 }), { keepLast: 3, keepDaily: 7 });
    assert.throws(
      () => retentionFromColumn({ keepLast: -1 }),
      (err: Error & { code?: string }) => err.code === 'INVALID_RETENTION' && /keepLast/.test(err.message),
    );
  });

  test('deletePlan refuses a plan that is not being deleted', async () => {
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-live'));
    const ids = (await backUp([plan], 'live', 1)).get(plan.targetId)!;
    const job = await maintenance.add(
      'maintenance.deletePlan',
      { planId: plan.planId, targetId: plan.targetId },
      TEST_JOB_OPTS,
    );
    const done = await waitForJob(maintenance, job.id!);
    assert.equal(await done.getState(), 'failed');
    assert.equal(done.attemptsMade, 1, 'permanent: not retried');
    assert.match(done.failedReason, /^PLAN_NOT_DELETED: /);
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), ids);
    assert.ok(await prisma.plan.findUnique({ where: { id: plan.planId } }));
  });

  test('deletePlan empties each target; the last target removes plan_targets and the plan row', async () => {
    const first = await createPlan(prisma, config, join(dir.path, 'targets-delete-a'));
    const second = await addPlanTarget(prisma, config, first.planId, join(dir.path, 'targets-delete-b'));
    const ids = await backUp([first, second], 'delete', 2);
    const run = await prisma.run.findFirstOrThrow({ where: { planId: first.planId } });
    await catalog.plans.markDeleting(first.planId);

    const a = await runMaintenance(
      'maintenance.deletePlan',
      first,
      `delete-${first.planId}-${first.targetId}`,
    );
    assert.deepEqual([...a.forgotten].sort(), [...ids.get(first.targetId)!].sort());
    assert.equal(a.kept, 0);
    assert.ok(a.prune.packsDeleted > 0, 'the packs of the plan are gone');
    assert.deepEqual(await snapshotIdsIn(first.repoDir), []);
    assert.deepEqual(
      readdirSync(join(first.repoDir, 'data')).flatMap((d) => readdirSync(join(first.repoDir, 'data', d))),
      [],
    );
    assert.deepEqual(await catalogIds(first), []);
    assert.equal(
      await prisma.planTarget.count({ where: { planId: first.planId, targetId: first.targetId } }),
      0,
    );
    // Another target still holds the plan's snapshots: the plan row (and its history) stays.
    assert.ok(await prisma.plan.findUnique({ where: { id: first.planId } }));
    assert.deepEqual(await catalogIds(second), [...ids.get(second.targetId)!].sort());

    const b = await runMaintenance(
      'maintenance.deletePlan',
      second,
      `delete-${second.planId}-${second.targetId}`,
    );
    assert.equal(b.forgotten.length, 2);
    assert.deepEqual(await snapshotIdsIn(second.repoDir), []);
    assert.equal(await prisma.planTarget.count({ where: { planId: first.planId } }), 0);
    assert.equal(await prisma.plan.findUnique({ where: { id: first.planId } }), null, 'the plan row is gone');
    assert.equal(await prisma.run.findUnique({ where: { id: run.id } }), null, 'its runs cascade');
    assert.equal(await prisma.snapshot.count({ where: { planId: first.planId } }), 0);

    // A re-delivered job (the plan already gone) succeeds doing nothing.
    const again = await runMaintenance('maintenance.deletePlan', second);
    assert.equal(again.skipped, 'NOT_ON_TARGET');
  });

  test('a deletePlan meeting a prune of its repository waits for it: no failed attempt, no backoff', async () => {
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-busy'));
    const ids = await backUp([plan], 'busy', 1);
    await catalog.plans.markDeleting(plan.planId);
    // A retention job's prune of the same repository (another worker) holds the exclusive lock.
    const backend = await FsBackend.open(plan.repoDir);
    const pruning = await Lock.acquire(backend, 'exclusive', 'prune', DEFAULT_LOCK_TIMING);
    const job = await maintenance.add(
      'maintenance.deletePlan',
      { planId: plan.planId, targetId: plan.targetId },
      // One attempt: a LOCKED failure would end the job, not hide behind a retry.
      { ...TEST_JOB_OPTS, attempts: 1 },
    );
    setTimeout(() => void pruning.release(), 1500);
    const done = await waitForJob(maintenance, job.id!);
    assert.equal(await done.getState(), 'completed', done.failedReason);
    const result = parseJobResult('maintenance.deletePlan', done.returnvalue);
    assert.deepEqual(result.forgotten, ids.get(plan.targetId));
    assert.deepEqual(await snapshotIdsIn(plan.repoDir), []);
  });

  test('an unreachable target is retried, then the job fails (the plan stays for a later try)', async () => {
    const plan = await createPlan(prisma, config, join(dir.path, 'targets-gone'));
    await catalog.plans.markDeleting(plan.planId);
    // The drive is unplugged: the target's folder (and the repository in it) is gone.
    rmSync(join(dir.path, 'targets-gone'), { recursive: true, force: true });
    const job = await maintenance.add(
      'maintenance.deletePlan',
      { planId: plan.planId, targetId: plan.targetId },
      TEST_JOB_OPTS,
    );
    const done = await waitForJob(maintenance, job.id!);
    assert.equal(await done.getState(), 'failed');
    assert.equal(done.attemptsMade, TEST_JOB_OPTS.attempts, 'transient: every attempt was used');
    assert.match(done.failedReason, /does not exist|not found|no such|ENOENT/i);
    assert.ok(await prisma.plan.findUnique({ where: { id: plan.planId } }));
    assert.equal(await prisma.planTarget.count({ where: { planId: plan.planId } }), 1);
  });
});
