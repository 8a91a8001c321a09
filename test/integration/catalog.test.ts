/**
 * The catalog's repositories against real Postgres: rows made by the factories, read and written
 * through the repositories as the apps call them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { Catalog, CatalogError, createCatalog } from '@vaultline/catalog';
import type { PrismaClient } from '@vaultline/db';

import { type CatalogTestContext, startCatalogContext } from '../support/factories';

const isCode = (code: string) => (err: unknown) => err instanceof CatalogError && err.code === code;

describe('catalog repositories', () => {
  let ctx: CatalogTestContext;

  before(async () => {
    ctx = await startCatalogContext('catalog');
  });

  after(async () => {
    await ctx?.close();
  });

  test('plans.listWithTargets: a constant number of queries for any number of plans', async () => {
    // A catalog over a client that counts what it sends.
    let queries = 0;
    const counting = ctx.prisma.$extends({
      query: {
        $allOperations({ args, query }) {
          queries += 1;
          return query(args);
        },
      },
    }) as unknown as PrismaClient;
    const counted = new Catalog(counting);
    const makePlans = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const targets = [await ctx.newTarget(), await ctx.newTarget()];
        const services = [await ctx.newService(), await ctx.newService()];
        await ctx.newPlan({ targets, services });
      }
    };
    const countList = async (): Promise<{ queries: number; plans: number }> => {
      queries = 0;
      const plans = await counted.plans.listWithTargets();
      return { queries, plans: plans.length };
    };

    await makePlans(2);
    const few = await countList();
    await makePlans(6);
    const many = await countList();
    assert.equal(many.plans, few.plans + 6);
    assert.equal(many.queries, few.queries, 'the same queries for 8 plans as for 2');
    assert.ok(many.queries <= 3, `${many.queries} queries`);
  });

  test('plans.findWithTargets: targets oldest first with their catalog figures and last success', async () => {
    const [a, b] = [await ctx.newTarget(), await ctx.newTarget()];
    const service = await ctx.newService();
    const plan = await ctx.newPlan({ targets: [a, b], services: [service] });
    const t0 = Date.parse('2026-03-01T00:00:00Z');
    await ctx.newSnapshot(
      { planId: plan.id, targetId: a.id, serviceId: service.id },
      { time: new Date(t0), bytesAdded: 100n },
    );
    await ctx.newSnapshot(
      { planId: plan.id, targetId: a.id, serviceId: service.id },
      { time: new Date(t0 + 1000), bytesAdded: 23n },
    );
    // b: nothing catalogued, but a success in the run results.
    const run = await ctx.newRun(plan.id, [], { status: 'success' });
    const finished = new Date(t0 + 5000);
    await ctx.newBackup(
      { runId: run.id, serviceId: service.id, targetId: b.id },
      { status: 'success', finishedAt: finished },
    );

    const found = await ctx.catalog.plans.findWithTargets(plan.id);
    assert.ok(found);
    assert.deepEqual(
      found.targets.map((t) => t.targetId),
      [a.id, b.id],
    );
    const [ta, tb] = found.targets;
    assert.deepEqual(
      { bytes: ta?.bytesAdded, count: ta?.snapshotCount, last: ta?.lastSnapshotAt?.getTime() },
      { bytes: 123n, count: 2, last: t0 + 1000 },
    );
    assert.deepEqual(
      { bytes: tb?.bytesAdded, count: tb?.snapshotCount, success: tb?.lastSuccessAt?.getTime() },
      { bytes: 0n, count: 0, success: finished.getTime() },
    );
    assert.deepEqual(found.services, [{ id: service.id, name: service.name }]);
    assert.equal(await ctx.catalog.plans.findWithTargets('01900000-0000-7000-8000-000000000000'), null);
  });

  test('failures are CatalogErrors: CONFLICT, NOT_FOUND, FOREIGN_KEY', async () => {
    const service = await ctx.newService();
    await assert.rejects(
      ctx.catalog.services.create({ name: service.name, dataPath: '/x', arch: 'x86_64' }),
      isCode('CONFLICT'),
    );
    await assert.rejects(
      ctx.catalog.targets.update('01900000-0000-7000-8000-000000000000', { name: 'x' }),
      isCode('NOT_FOUND'),
    );
    const target = await ctx.newTarget();
    await ctx.newPlan({ targets: [target], services: [service] });
    await assert.rejects(ctx.catalog.services.remove(service.id), isCode('FOREIGN_KEY'));
    await assert.rejects(ctx.catalog.targets.remove(target.id), isCode('FOREIGN_KEY'));
  });

  test('a database nobody answers on is UNAVAILABLE', async () => {
    const down = createCatalog('postgresql://postgres@127.0.0.1:1/vaultline', {
      pool: { connectionTimeoutMillis: 2000 },
    });
    try {
      await assert.rejects(down.ping(), isCode('UNAVAILABLE'));
      await assert.rejects(down.services.list(), isCode('UNAVAILABLE'));
    } finally {
      await down.disconnect();
    }
  });

  test('transaction: all or nothing; the error thrown inside comes out unchanged', async () => {
    const name = ctx.uniqueName('tx');
    const boom = new Error('boom');
    await assert.rejects(
      ctx.catalog.transaction(async (tx) => {
        await tx.services.create({ name, dataPath: '/x', arch: 'x86_64' });
        throw boom;
      }),
      (err) => err === boom,
    );
    assert.equal(await ctx.prisma.service.count({ where: { name } }), 0);
    const made = await ctx.catalog.transaction(async (tx) => {
      const s = await tx.services.create({ name, dataPath: '/x', arch: 'x86_64' });
      await tx.services.markBusy(s.id, 'backing_up');
      return s;
    });
    assert.equal((await ctx.catalog.services.find(made.id))?.state, 'backing_up');
  });

  test('runs and backups: createWithBackups, markStarted guarded by queued, progress by running', async () => {
    const target = await ctx.newTarget();
    const service = await ctx.newService();
    const plan = await ctx.newPlan({ targets: [target], services: [service] });
    const key = { serviceId: service.id, targetId: target.id };
    const run = await ctx.catalog.runs.createWithBackups(plan.id, 'manual', [key]);
    const backup = { runId: run.id, ...key };
    assert.equal((await ctx.catalog.backups.findForJob(backup))?.status, 'queued');

    // Progress before the backup runs is dropped; the first start marks the run running.
    await ctx.catalog.backups.recordProgress(backup, 10, 1);
    const at = new Date('2026-03-02T00:00:00Z');
    await ctx.catalog.backups.markStarted(backup, at, true);
    await ctx.catalog.backups.recordProgress(backup, 500, 7);
    const row = await ctx.catalog.backups.findForJob(backup);
    assert.deepEqual(
      { status: row?.status, attempts: row?.attempts, bytesRead: row?.bytesRead, files: row?.files },
      { status: 'running', attempts: 1, bytesRead: 500n, files: 7 },
    );
    assert.equal(row?.service.state, 'backing_up');
    assert.equal((await ctx.catalog.runs.find(run.id))?.status, 'running');

    // A finished run is never moved back by a late start.
    await ctx.catalog.runs.markFinished(run.id, 'success', at, new Date());
    await ctx.catalog.runs.markStarted(run.id, new Date());
    assert.equal((await ctx.catalog.runs.find(run.id))?.status, 'success');
    await ctx.catalog.backups.recordResult(backup, {
      status: 'success',
      snapshotId: 'a'.repeat(64),
      unreadable: [{ path: 'locked', error: 'EACCES' }],
      error: null,
      finishedAt: new Date(),
      durationMs: 12,
    });
    await ctx.catalog.backups.recordProgress(backup, 1, 1);
    const done = await ctx.catalog.backups.findForJob(backup);
    assert.equal(done?.bytesRead, 500n, 'progress after the end changes nothing');
    assert.deepEqual(
      await ctx.catalog.backups.unreadableCounts(plan.id, ['a'.repeat(64)]),
      new Map([[`${'a'.repeat(64)}/${target.id}`, 1]]),
    );
  });

  test('snapshots: recordPublished upserts; removeAllBut and forget keep the rest', async () => {
    const target = await ctx.newTarget();
    const service = await ctx.newService();
    const plan = await ctx.newPlan({ targets: [target], services: [service] });
    const ids = ['1', '2', '3'].map((c) => c.repeat(64));
    for (const id of ids) {
      await ctx.catalog.snapshots.recordPublished({
        id,
        targetId: target.id,
        planId: plan.id,
        serviceId: service.id,
        time: new Date(),
        arch: 'x86_64',
        totalBytes: 10,
        bytesAdded: 5,
        files: 1,
      });
    }
    // Again with other figures: the same row, updated.
    await ctx.catalog.snapshots.recordPublished({
      id: ids[0]!,
      targetId: target.id,
      planId: plan.id,
      serviceId: null,
      time: new Date(),
      arch: 'arm64',
      totalBytes: 99,
      bytesAdded: 9,
      files: 2,
      tags: ['x'],
    });
    const first = await ctx.prisma.snapshot.findUniqueOrThrow({
      where: { id_targetId: { id: ids[0]!, targetId: target.id } },
    });
    assert.deepEqual(
      { arch: first.arch, total: first.totalBytes, serviceId: first.serviceId, tags: first.tags },
      { arch: 'arm64', total: 99n, serviceId: null, tags: ['x'] },
    );
    assert.deepEqual(
      await ctx.catalog.snapshots.existingIds(plan.id, target.id, [ids[0]!, 'f'.repeat(64)]),
      new Set([ids[0]]),
    );
    assert.equal(await ctx.catalog.snapshots.removeAllBut(plan.id, target.id, [ids[0]!, ids[1]!]), 1);
    await ctx.catalog.snapshots.forget(plan.id, target.id, [ids[1]!]);
    assert.deepEqual(await ctx.catalog.snapshots.existingIds(plan.id, target.id, ids), new Set([ids[0]]));
  });

  test('plans.removeDeletedFromTarget: the plan row goes with its last target, only when deleting', async () => {
    const [a, b] = [await ctx.newTarget(), await ctx.newTarget()];
    const plan = await ctx.newPlan({ targets: [a, b] });
    await ctx.newSnapshot({ planId: plan.id, targetId: a.id, serviceId: null });
    assert.equal(await ctx.catalog.plans.removeDeletedFromTarget(plan.id, a.id), false);
    assert.equal(await ctx.prisma.snapshot.count({ where: { planId: plan.id } }), 0);
    // Not marked deleting: the last target's row goes, the plan stays.
    assert.equal(await ctx.catalog.plans.removeDeletedFromTarget(plan.id, b.id), false);
    assert.ok(await ctx.catalog.plans.find(plan.id));
    const other = await ctx.newPlan({ targets: [a] });
    await ctx.catalog.plans.markDeleting(other.id);
    assert.equal(await ctx.catalog.plans.removeDeletedFromTarget(other.id, a.id), true);
    assert.equal(await ctx.catalog.plans.find(other.id), null);
  });

  test('restores and services for the reaper: closed or released only if still open or busy', async () => {
    const target = await ctx.newTarget();
    const service = await ctx.newService({ state: 'restoring' });
    const restore = await ctx.newRestore({ serviceId: service.id, targetId: target.id });
    const later = new Date(Date.now() + 60_000);
    assert.deepEqual(
      (await ctx.catalog.restores.listUnfinishedBefore(later, 100)).map((r) => r.id),
      [restore.id],
    );
    assert.equal(
      await ctx.catalog.restores.closeIfOpen(restore.id, { status: 'failed', error: 'LOST' }),
      true,
    );
    assert.equal(await ctx.catalog.restores.closeIfOpen(restore.id, { status: 'success' }), false);
    assert.equal((await ctx.catalog.restores.find(restore.id))?.error, 'LOST');

    // Earlier tests left other services busy: only this one matters here.
    const busy = await ctx.catalog.services.listBusySince(later, 100);
    assert.deepEqual(
      busy.filter((s) => s.id === service.id),
      [{ id: service.id, state: 'restoring' }],
    );
    assert.equal(await ctx.catalog.services.releaseIfStill(service.id, 'backing_up'), false);
    assert.equal(await ctx.catalog.services.releaseIfStill(service.id, 'restoring'), true);
  });

  test('verifications: finished scheduled rows count for the rotation, pages newest first', async () => {
    const target = await ctx.newTarget();
    const plan = await ctx.newPlan({
      targets: [target],
      fields: { verifySchedule: 'daily', verifyPercent: 25 },
    });
    const v = ctx.catalog.verifications;
    const first = await v.start({
      planId: plan.id,
      targetId: target.id,
      kind: 'scheduled',
      sliceIndex: 0,
      sliceCount: 4,
    });
    // A running row is not a finished run of the rotation.
    assert.equal(await v.countScheduled(plan.id, target.id), 0);
    await v.finish(first.id, { ok: true, packsRead: 2, packsTotal: 8, errors: [] });
    const second = await v.start({
      planId: plan.id,
      targetId: target.id,
      kind: 'scheduled',
      sliceIndex: 1,
      sliceCount: 4,
    });
    await v.fail(second.id, 'UNREACHABLE: the drive is gone');
    const deep = await v.start({ planId: plan.id, targetId: target.id, kind: 'deep' });
    await v.finish(deep.id, { ok: false, packsRead: 8, packsTotal: 8, errors: ['pack 00 is corrupted'] });
    // Deep verifies do not move the rotation; failed scheduled ones do (the next slice is read next).
    assert.equal(await v.countScheduled(plan.id, target.id), 2);
    const page1 = await v.pageForPlan(plan.id, undefined, 2);
    assert.deepEqual(
      page1.map((r) => [r.kind, r.status, r.ok, r.errors]),
      [
        ['deep', 'success', false, ['pack 00 is corrupted']],
        ['scheduled', 'failed', false, ['UNREACHABLE: the drive is gone']],
      ],
    );
    const last = page1.at(-1)!;
    const page2 = await v.pageForPlan(plan.id, { time: last.startedAt, id: last.id }, 2);
    assert.deepEqual(
      page2.map((r) => [r.id, r.packsRead, r.packsTotal, r.target.id]),
      [[first.id, 2, 8, target.id]],
    );
  });

  test('tokens: only an unrevoked hash is found, and its use is recorded', async () => {
    await ctx.catalog.tokens.create('ci', 'ab'.repeat(32));
    assert.equal(await ctx.catalog.tokens.markUsed('ab'.repeat(32)), true);
    assert.equal(await ctx.catalog.tokens.markUsed('cd'.repeat(32)), false);
    const row = await ctx.prisma.apiToken.findUniqueOrThrow({ where: { tokenHash: 'ab'.repeat(32) } });
    assert.ok(row.lastUsedAt);
  });
});
