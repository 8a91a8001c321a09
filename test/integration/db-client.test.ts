/**
 * The generated Prisma client (engine-free, over @prisma/adapter-pg) against the migrated schema:
 * writes and reads back every kind of column the catalog uses, and the delete rules docs/database.md
 * promises.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { applyMigrations, createPrismaClient, Prisma, type PrismaClient } from '@vaultline/db';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('Prisma client over the pg adapter', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  before(async () => {
    db = await createTestDatabase('client');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
  });
  after(async () => {
    await prisma.$disconnect();
    await db.drop();
  });

  test('a service, a plan with a target, a run and its results round-trip (BigInt, JSON, lists, enums)', async () => {
    const service = await prisma.service.create({
      data: {
        name: 'nextcloud',
        dataPath: '/srv/nextcloud/data',
        excludes: ['cache/', '*.tmp'],
        arch: 'arm64',
        preHook: { kind: 'http', url: 'http://nextcloud/maintenance/on', timeoutMs: 5000 },
      },
    });
    assert.match(service.id, UUID_V7);
    assert.equal(service.state, 'idle');
    assert.equal(service.postHook, null);

    const target = await prisma.target.create({ data: { name: 'usb', kind: 'local', path: '/mnt/usb' } });
    const plan = await prisma.plan.create({
      data: {
        name: 'nightly',
        frequency: 'weekly',
        startTime: '03:30',
        dayOfWeek: 0,
        timezone: 'Europe/Berlin',
        retention: { keepDaily: 7, keepWeekly: 4 },
        services: { create: [{ serviceId: service.id }] },
        targets: {
          create: [
            {
              targetId: target.id,
              repoId: 'a1b2c3',
              repoLocation: '/mnt/usb/nightly',
              writerKeyEnc: 'v1:sealed',
            },
          ],
        },
      },
    });
    const run = await prisma.run.create({ data: { planId: plan.id, trigger: 'manual' } });
    const big = 2n ** 60n + 7n; // beyond Number.MAX_SAFE_INTEGER: must stay exact
    await prisma.serviceBackup.create({
      data: {
        runId: run.id,
        serviceId: service.id,
        targetId: target.id,
        status: 'success',
        snapshotId: 'ab'.repeat(32),
        totalBytes: big,
        bytesRead: 1234n,
        bytesAdded: 0n,
        files: 42,
        unreadable: [{ path: 'secret.db', error: 'EACCES' }],
        durationMs: 1500,
      },
    });
    await prisma.snapshot.create({
      data: {
        id: 'ab'.repeat(32),
        targetId: target.id,
        planId: plan.id,
        serviceId: service.id,
        runId: run.id,
        time: new Date('2026-11-21T03:30:00.123Z'),
        arch: 'arm64',
        totalBytes: big,
        bytesAdded: 99n,
        files: 42,
        tags: ['nightly'],
      },
    });

    const read = await prisma.run.findUniqueOrThrow({
      where: { id: run.id },
      include: {
        plan: { include: { services: true, targets: true } },
        serviceBackups: true,
        snapshots: true,
      },
    });
    assert.equal(read.status, 'queued');
    assert.equal(read.trigger, 'manual');
    assert.ok(read.queuedAt instanceof Date);
    assert.deepEqual(read.plan.retention, { keepDaily: 7, keepWeekly: 4 });
    assert.equal(read.plan.paused, false);
    assert.deepEqual(
      read.plan.services.map((s) => s.serviceId),
      [service.id],
    );
    assert.equal(read.plan.targets[0]?.writerKeyEnc, 'v1:sealed');
    const backup = read.serviceBackups[0];
    assert.ok(backup);
    assert.equal(typeof backup.totalBytes, 'bigint');
    assert.equal(backup.totalBytes, big);
    assert.equal(backup.bytesRead, 1234n);
    assert.equal(backup.attempts, 0);
    assert.deepEqual(backup.unreadable, [{ path: 'secret.db', error: 'EACCES' }]);
    assert.equal(read.snapshots[0]?.time.toISOString(), '2026-11-21T03:30:00.123Z');
    assert.deepEqual(read.snapshots[0]?.tags, ['nightly']);

    const again = await prisma.service.findUniqueOrThrow({ where: { name: 'nextcloud' } });
    assert.deepEqual(again.excludes, ['cache/', '*.tmp']);
    assert.deepEqual(again.preHook, {
      kind: 'http',
      url: 'http://nextcloud/maintenance/on',
      timeoutMs: 5000,
    });
    assert.ok(again.updatedAt instanceof Date);

    // Aggregates over BigInt columns come back as bigint too.
    const sum = await prisma.serviceBackup.aggregate({
      _sum: { totalBytes: true },
      where: { runId: run.id },
    });
    assert.equal(sum._sum.totalBytes, big);
  });

  test('delete rules: a target in use is protected; deleting a plan takes its history with it', async () => {
    const target = await prisma.target.findUniqueOrThrow({ where: { name: 'usb' } });
    await assert.rejects(
      prisma.target.delete({ where: { id: target.id } }),
      (err: unknown) => err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2003',
    );

    const plan = await prisma.plan.findUniqueOrThrow({ where: { name: 'nightly' } });
    await prisma.plan.delete({ where: { id: plan.id } });
    assert.equal(await prisma.run.count(), 0);
    assert.equal(await prisma.serviceBackup.count(), 0);
    assert.equal(await prisma.snapshot.count(), 0);
    assert.equal(await prisma.planTarget.count(), 0);
    // Services and targets themselves stay.
    assert.equal(await prisma.service.count(), 1);
    await prisma.target.delete({ where: { id: target.id } });
  });

  test('unique names are enforced (P2002)', async () => {
    await assert.rejects(
      prisma.service.create({ data: { name: 'nextcloud', dataPath: '/x', arch: 'x86_64' } }),
      (err: unknown) => err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002',
    );
  });
});
