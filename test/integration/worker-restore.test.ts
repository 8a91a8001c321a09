/**
 * apps/worker `restore.run` against real Redis, Postgres and a filesystem target: a service is
 * backed up through the backup queue (writer key only), then restored with the owner's password
 * sealed in an envelope as the API seals it. Live events are read off Redis pub/sub like any
 * consumer of the Nest Redis transport would.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import type { INestApplicationContext } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';

import type { WorkerConfig } from '@vaultline/config';
import { parseJobResult, QUEUES, type JobPayload } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
import { Repository } from '@vaultline/engine';
import { sealPasswordEnvelope, serverKeys } from '@vaultline/secrets';
import { FsBackend } from '@vaultline/storage';
import { planRepoLocation } from '@vaultline/targets';

import { createWorkerApp } from '../../apps/worker/src/main';
import { CatalogFactories } from '../support/factories';
import { makeSource, PASSWORD, snapshotOf, assertSameTree, tempDir } from '../support/fixtures';
import { forge } from '../support/forge';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import {
  backupQueue,
  createPlan,
  createRestore,
  createRun,
  createService,
  freePort,
  REDIS_URL,
  TEST_JOB_OPTS,
  waitForJob,
  workerConfig,
  workerEnv,
  workerQueue,
  type PlanFixture,
} from '../support/worker-fleet';

interface Received {
  channel: string;
  data: Record<string, unknown>;
}

/** Polls `find` over what has been received until it matches (no timing assumptions). */
async function waitForEvent(
  received: Received[],
  find: (e: Received) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Received> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = received.find(find);
    if (hit) return hit;
    if (Date.now() > deadline) throw new Error(`no ${what} event within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('worker: restore.run', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let dir: ReturnType<typeof tempDir>;
  let config: WorkerConfig;
  let app: INestApplicationContext;
  let backups: Queue;
  let restores: Queue;
  let plan: PlanFixture;
  let source: string;
  let serviceId: string;
  let backupRun: JobPayload<'backup.run'>;
  let snapshotId: string;
  let subscriber: Redis;
  const received: Received[] = [];

  before(async () => {
    db = await createTestDatabase('worker_restore');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
    dir = tempDir('worker-restore');
    config = workerConfig(workerEnv(db.url, { METRICS_PORT: String(await freePort()) }));
    plan = await createPlan(prisma, config, join(dir.path, 'targets'));
    backups = backupQueue(config);
    restores = workerQueue(config, QUEUES.restore);

    // The Nest Redis transport publishes each event on the channel named after it, as JSON
    // `{ pattern, data }`: a plain subscriber sees exactly what an @EventPattern handler gets.
    subscriber = new Redis(REDIS_URL);
    subscriber.on('message', (channel: string, message: string) => {
      const packet = JSON.parse(message) as { data: Record<string, unknown> };
      received.push({ channel, data: packet.data });
    });
    await subscriber.subscribe('backup.started', 'backup.finished', 'restore.finished', 'restore.failed');

    app = await createWorkerApp(config, { poolSize: 2, lockRetryMinMs: 50, lockRetryMaxMs: 200 });

    source = join(dir.path, 'source');
    mkdirSync(source);
    makeSource(source, { largeBytes: 1024 * 1024 + 7 });
    serviceId = await createService(prisma, plan, source);
    backupRun = await createRun(prisma, plan, serviceId);
    const job = await backups.add('backup.run', backupRun, TEST_JOB_OPTS);
    const result = parseJobResult('backup.run', (await waitForJob(backups, job.id!)).returnvalue);
    assert.equal(result.status, 'success');
    if (result.status === 'success') snapshotId = result.snapshot.id;
  });

  after(async () => {
    await app?.close();
    await subscriber?.quit();
    for (const q of [backups, restores]) {
      await q?.obliterate({ force: true }).catch(() => undefined);
      await q?.close();
    }
    await prisma?.$disconnect();
    await db?.drop();
    dir?.cleanup();
  });

  /** Enqueues a restore of `serviceId` with `password` sealed for it; returns the ended job and row id. */
  async function runRestore(opts: {
    destination: string;
    password?: string;
    snapshot?: string;
    allowCrossArch?: boolean;
    envelopeNow?: Date;
  }) {
    const restoreId = await createRestore(prisma, plan, serviceId, opts.destination);
    const payload: JobPayload<'restore.run'> = {
      restoreId,
      planId: plan.planId,
      serviceId,
      targetId: plan.targetId,
      snapshot: opts.snapshot ?? 'latest',
      destination: opts.destination,
      allowCrossArch: opts.allowCrossArch ?? false,
      verify: true,
      passwordEnvelope: sealPasswordEnvelope(
        serverKeys(config),
        restoreId,
        opts.password ?? PASSWORD,
        opts.envelopeNow ? { now: opts.envelopeNow } : {},
      ),
    };
    const job = await restores.add('restore.run', payload, TEST_JOB_OPTS);
    const done = await waitForJob(restores, job.id!);
    assert.equal(await done.getState(), 'completed', done.failedReason);
    return { restoreId, done, result: parseJobResult('restore.run', done.returnvalue) };
  }

  test('the backup published backup.started then backup.finished for its run', async () => {
    const started = await waitForEvent(
      received,
      (e) => e.channel === 'backup.started' && e.data['runId'] === backupRun.runId,
      'backup.started',
    );
    assert.deepEqual(
      { ...started.data, at: undefined },
      { ...backupRun, attempt: 1, at: undefined },
      'ids of the service × target and the attempt',
    );
    const finished = await waitForEvent(
      received,
      (e) => e.channel === 'backup.finished' && e.data['runId'] === backupRun.runId,
      'backup.finished',
    );
    assert.equal(finished.data['snapshotId'], snapshotId);
    const run = await prisma.run.findUniqueOrThrow({ where: { id: backupRun.runId } });
    assert.equal(run.status, 'running', 'the first child marks the run running (the report finishes it)');
    assert.ok(run.startedAt);
  });

  test("'latest' restores bit-exactly into another folder; row success, service idle, event", async () => {
    const destination = join(dir.path, 'restored-latest');
    const { restoreId, result } = await runRestore({ destination });
    assert.equal(result.status, 'success');
    if (result.status !== 'success') return;
    assert.equal(result.snapshotId, snapshotId);
    assert.equal(result.verified, true);
    assert.equal(result.crossArch, false);
    assert.deepEqual(result.warnings, []);
    assert.ok(result.files > 0 && result.bytes > 0);
    // The service excludes cache/ (createService), so the restore has everything else.
    assertSameTree(
      snapshotOf(destination),
      snapshotOf(source, { exclude: (rel) => rel === 'cache' || rel.startsWith('cache/') }),
    );

    const row = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
    assert.equal(row.status, 'success');
    assert.equal(row.snapshotId, snapshotId, "'latest' is recorded as the id it resolved to");
    assert.equal(row.error, null);
    assert.deepEqual(row.warnings, []);
    assert.ok(row.startedAt && row.finishedAt);
    const service = await prisma.service.findUniqueOrThrow({ where: { id: serviceId } });
    assert.equal(service.state, 'idle');

    const event = await waitForEvent(
      received,
      (e) => e.channel === 'restore.finished' && e.data['restoreId'] === restoreId,
      'restore.finished',
    );
    assert.equal(event.data['snapshotId'], snapshotId);
  });

  test('a snapshot named by id restores too', async () => {
    const destination = join(dir.path, 'restored-by-id');
    const { result } = await runRestore({ destination, snapshot: snapshotId });
    assert.equal(result.status, 'success');
    assert.ok(existsSync(join(destination, 'docs/readme.txt')));
  });

  test('a wrong password: failed WRONG_PASSWORD, nothing written, no retry', async () => {
    const destination = join(dir.path, 'restored-wrong');
    const { restoreId, done, result } = await runRestore({ destination, password: 'not the password!' });
    assert.equal(done.attemptsMade, 1, 'a permanent failure is not retried');
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.equal(result.error.code, 'WRONG_PASSWORD');
    assert.ok(!result.error.message.includes('not the password!'), 'the password is never in the error');
    assert.equal(existsSync(destination), false, 'the destination was not even created');
    const row = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /^WRONG_PASSWORD: /);
    const event = await waitForEvent(
      received,
      (e) => e.channel === 'restore.failed' && e.data['restoreId'] === restoreId,
      'restore.failed',
    );
    assert.equal(event.data['willRetry'], false);
  });

  test('an existing empty destination stays empty on a refused restore', async () => {
    const destination = join(dir.path, 'restored-wrong-existing');
    mkdirSync(destination);
    const { result } = await runRestore({ destination, password: 'still the wrong one' });
    assert.equal(result.status === 'failed' && result.error.code, 'WRONG_PASSWORD');
    assert.deepEqual(readdirSync(destination), []);
  });

  test('an expired envelope: failed PASSWORD_EXPIRED, nothing written', async () => {
    const destination = join(dir.path, 'restored-expired');
    const { restoreId, result } = await runRestore({
      destination,
      envelopeNow: new Date(Date.now() - 2 * 60 * 60_000),
    });
    assert.equal(result.status, 'failed');
    if (result.status !== 'failed') return;
    assert.equal(result.error.code, 'PASSWORD_EXPIRED');
    assert.equal(existsSync(destination), false);
    const row = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
    assert.match(row.error ?? '', /^PASSWORD_EXPIRED: /);
  });

  test('an unknown snapshot id: failed NOT_FOUND', async () => {
    const destination = join(dir.path, 'restored-unknown');
    const { result } = await runRestore({ destination, snapshot: 'f'.repeat(64) });
    assert.equal(result.status === 'failed' && result.error.code, 'NOT_FOUND');
    assert.equal(existsSync(destination), false);
  });

  test('another architecture: refused without consent (nothing written), restored with it', async () => {
    // The service now declares arm64; its snapshot was taken on x86_64.
    await prisma.service.update({ where: { id: serviceId }, data: { arch: 'arm64' } });
    try {
      const refusedDir = join(dir.path, 'restored-cross-refused');
      const refused = await runRestore({ destination: refusedDir });
      assert.equal(refused.result.status, 'failed');
      if (refused.result.status !== 'failed') return;
      assert.equal(refused.result.error.code, 'CROSS_ARCH_REFUSED');
      assert.match(refused.result.error.message, /x86_64.*arm64/);
      assert.equal(existsSync(refusedDir), false);

      const allowedDir = join(dir.path, 'restored-cross-allowed');
      const allowed = await runRestore({ destination: allowedDir, allowCrossArch: true });
      assert.equal(allowed.result.status, 'success');
      if (allowed.result.status !== 'success') return;
      assert.equal(allowed.result.crossArch, true);
      const row = await prisma.restore.findUniqueOrThrow({ where: { id: allowed.restoreId } });
      assert.equal(row.crossArch, true);
      assert.ok(existsSync(join(allowedDir, 'large.bin')));
    } finally {
      await prisma.service.update({ where: { id: serviceId }, data: { arch: 'x86_64' } });
    }
  });

  test('a restore waits for a running backup of the same service (the same lock)', async () => {
    // Hold the service's lock as a backup would; the restore defers and runs once it is freed.
    const redis = new Redis(REDIS_URL);
    try {
      const key = `${config.queuePrefix}:lock:service:${serviceId}`;
      await redis.set(key, 'a-backup', 'PX', 60_000);
      const destination = join(dir.path, 'restored-after-lock');
      const restoreId = await createRestore(prisma, plan, serviceId, destination);
      const job = await restores.add(
        'restore.run',
        {
          restoreId,
          planId: plan.planId,
          serviceId,
          targetId: plan.targetId,
          snapshot: 'latest',
          destination,
          allowCrossArch: false,
          verify: false,
          passwordEnvelope: sealPasswordEnvelope(serverKeys(config), restoreId, PASSWORD),
        },
        TEST_JOB_OPTS,
      );
      // Deferred at least once while the lock is held, and nothing restored meanwhile.
      for (let i = 0; (await restores.getJobState(job.id!)) !== 'delayed'; i++) {
        assert.ok(i < 1500, 'the restore was deferred');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(existsSync(destination), false);
      await redis.del(key);
      const done = await waitForJob(restores, job.id!);
      assert.equal(parseJobResult('restore.run', done.returnvalue).status, 'success');
    } finally {
      await redis.quit();
    }
  });

  test('an unreachable target is retried (restore.failed willRetry), then ends as a failed result', async () => {
    // The plan's repository on a drive that is now unplugged: the target's folder is gone.
    const goneRoot = join(dir.path, 'gone-target');
    const gone = await createPlan(prisma, config, goneRoot);
    rmSync(goneRoot, { recursive: true, force: true });
    const destination = join(dir.path, 'restored-unreachable');
    const restoreId = await prisma.restore
      .create({ data: { serviceId, targetId: gone.targetId, snapshotId: 'latest', destination } })
      .then((r) => r.id);
    const job = await restores.add(
      'restore.run',
      {
        restoreId,
        planId: gone.planId,
        serviceId,
        targetId: gone.targetId,
        snapshot: 'latest',
        destination,
        allowCrossArch: false,
        verify: false,
        passwordEnvelope: sealPasswordEnvelope(serverKeys(config), restoreId, PASSWORD),
      },
      TEST_JOB_OPTS,
    );
    const done = await waitForJob(restores, job.id!);
    assert.equal(await done.getState(), 'completed');
    assert.equal(done.attemptsMade, TEST_JOB_OPTS.attempts, 'every attempt was used');
    const result = parseJobResult('restore.run', done.returnvalue);
    assert.equal(result.status === 'failed' && result.error.code, 'UNREACHABLE');
    assert.equal(existsSync(destination), false);
    const row = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
    assert.equal(row.status, 'failed');
    assert.match(row.error ?? '', /^UNREACHABLE: /);

    await waitForEvent(
      received,
      (e) =>
        e.channel === 'restore.failed' && e.data['restoreId'] === restoreId && e.data['willRetry'] === false,
      'final restore.failed',
    );
    const retried = received.filter(
      (e) =>
        e.channel === 'restore.failed' && e.data['restoreId'] === restoreId && e.data['willRetry'] === true,
    );
    assert.equal(retried.length, TEST_JOB_OPTS.attempts - 1, 'one willRetry event per retried attempt');
  });

  test('an invalid payload fails at once with the contract error', async () => {
    const job = await restores.add(
      'restore.run',
      { restoreId: 'x', destination: 'relative/path' },
      TEST_JOB_OPTS,
    );
    const done = await waitForJob(restores, job.id!);
    assert.equal(await done.getState(), 'failed');
    assert.equal(done.attemptsMade, 1);
    assert.match(done.failedReason, /job restore\.run payload: .*destination: must be an absolute path/);
  });

  test('a target detached from the plan still restores from where the plan put its repository', async () => {
    // Detaching deletes the plan_targets row (and its writer key); the repository stays, at the
    // plan's standard location on the target, which the password opens.
    const row = await prisma.planTarget.findUniqueOrThrow({
      where: { planId_targetId: { planId: plan.planId, targetId: plan.targetId } },
    });
    const target = await prisma.target.findUniqueOrThrow({ where: { id: plan.targetId } });
    const planRow = await prisma.plan.findUniqueOrThrow({ where: { id: plan.planId } });
    const standard = planRepoLocation(target, plan.planId);
    mkdirSync(dirname(standard), { recursive: true });
    renameSync(plan.repoDir, standard);
    await prisma.planTarget.delete({
      where: { planId_targetId: { planId: plan.planId, targetId: plan.targetId } },
    });
    try {
      const destination = join(dir.path, 'restored-detached');
      const { result } = await runRestore({ destination });
      assert.equal(result.status, 'success', JSON.stringify(result));
      assertSameTree(
        snapshotOf(destination),
        snapshotOf(source, { exclude: (rel) => rel === 'cache' || rel.startsWith('cache/') }),
      );
    } finally {
      renameSync(standard, plan.repoDir);
      await new CatalogFactories(prisma).newPlanTarget(planRow, target, row);
    }
  });

  test('files written after the backup are replaced by the snapshot on restore in place', async () => {
    const destination = join(dir.path, 'restored-in-place');
    mkdirSync(join(destination, 'docs'), { recursive: true });
    writeFileSync(join(destination, 'docs/readme.txt'), 'changed since the backup\n');
    const { result } = await runRestore({ destination });
    assert.equal(result.status, 'success');
    const restored = snapshotOf(destination);
    const original = snapshotOf(source);
    assert.equal(restored.get('docs/readme.txt')?.hash, original.get('docs/readme.txt')?.hash);
  });

  test('metadata the destination cannot take: success, with the warnings in the result and the row', async () => {
    // A snapshot of this service whose file carries an xattr in a namespace no Linux file system
    // has: the kernel refuses it (EOPNOTSUPP) wherever the restore writes. Old, so not 'latest'.
    const repo = await Repository.open(await FsBackend.open(plan.repoDir), { password: PASSWORD });
    const bogus = (n: string): [string, string] => [
      Buffer.from(n).toString('base64'),
      Buffer.from('v').toString('base64'),
    ];
    const forged = await forge(
      repo,
      (file, dir) => [
        file('notes.txt', 'kept', { xattrs: [bogus('bogus.first')] }),
        dir('sub', [file('more.txt', 'kept too', { xattrs: [bogus('bogus.second')] })]),
      ],
      { service: serviceId, plan: plan.planId, time: '2001-01-01T00:00:00.000Z' },
    );
    const destination = join(dir.path, 'restored-warnings');
    const { restoreId, result } = await runRestore({ destination, snapshot: forged });
    assert.equal(result.status, 'success', JSON.stringify(result));
    if (result.status !== 'success') return;
    assert.equal(
      readFileSync(join(destination, 'sub', 'more.txt'), 'utf8'),
      'kept too',
      'the data is restored',
    );
    const expected = [
      /^notes\.txt: extended attribute "bogus\.first" not restored \(ENOTSUP\)$/,
      /^sub\/more\.txt: extended attribute "bogus\.second" not restored \(ENOTSUP\)$/,
    ];
    const sorted = [...(result.warnings ?? [])].sort();
    assert.equal(sorted.length, 2, JSON.stringify(sorted));
    sorted.forEach((w, i) => assert.match(w, expected[i]!));
    const row = await prisma.restore.findUniqueOrThrow({ where: { id: restoreId } });
    assert.equal(row.status, 'success');
    assert.deepEqual([...row.warnings].sort(), sorted);
  });
});
