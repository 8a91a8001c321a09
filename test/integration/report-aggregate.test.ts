/**
 * apps/report against real Postgres and Redis: runs' flows added as the API adds them, backup
 * children finished by a stand-in worker with canned results (a success, a `failed` result, an
 * UnrecoverableError), and the report service booted in-process as its Nest microservice.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { INestMicroservice } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pino from 'pino';

import type { ReportConfig } from '@vaultline/config';
import { parseJobResult, QUEUES, reportSummarySchema } from '@vaultline/contracts';
import { Catalog } from '@vaultline/catalog';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
import { EventPublisher } from '@vaultline/events';

import { createReportApp } from '../../apps/report/src/main';
import { ReportRuntime } from '../../apps/report/src/runtime';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import {
  addRunFlow,
  CannedBackupWorker,
  createCatalog,
  createRunRows,
  eventually,
  fleetEnv,
  queueOf,
  reportConfig,
  reportJobId,
  webhookReceiver,
  type CatalogFixture,
  type RunFixture,
} from '../support/report-fixtures';
import { freePort, REDIS_URL, waitForJob } from '../support/worker-fleet';

const FAST_WEBHOOK = { retryDelayMs: 5, attempts: 2, timeoutMs: 5_000 };

describe('report service: report.aggregate', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: Record<string, string>;
  let config: ReportConfig;
  let reportQueue: Queue;
  let maintenanceQueue: Queue;
  let backups: CannedBackupWorker;
  let okHook: Awaited<ReturnType<typeof webhookReceiver>>;
  let badHook: Awaited<ReturnType<typeof webhookReceiver>>;
  let app: INestMicroservice | undefined;
  let events: Redis;
  const finishedEvents: { runId: string; status: string }[] = [];

  // Shared by the first tests: one partial run.
  let catalog: CatalogFixture;
  let run: RunFixture;

  async function startReport(extra: Record<string, string> = {}): Promise<INestMicroservice> {
    const cfg = reportConfig(env, { METRICS_PORT: String(await freePort()), ...extra });
    return createReportApp(cfg, { healthHost: '127.0.0.1', webhook: FAST_WEBHOOK });
  }

  async function stopReport(): Promise<void> {
    await app?.close();
    app = undefined;
  }

  before(async () => {
    db = await createTestDatabase('report');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
    env = fleetEnv(db.url);
    config = reportConfig(env);
    reportQueue = queueOf(config, QUEUES.report);
    maintenanceQueue = queueOf(config, QUEUES.maintenance);
    backups = new CannedBackupWorker(config);
    await backups.waitUntilReady();
    okHook = await webhookReceiver(204);
    badHook = await webhookReceiver(500);
    // run.finished arrives on the Redis channel of its name, as {pattern, data} JSON.
    events = new Redis(REDIS_URL);
    events.on('message', (_channel: string, message: string) => {
      const { data } = JSON.parse(message) as { data: { runId: string; status: string } };
      finishedEvents.push(data);
    });
    await events.subscribe('run.finished');
  });

  after(async () => {
    await stopReport();
    await backups?.close();
    for (const q of [reportQueue, maintenanceQueue, queueOf(config, QUEUES.backup)]) {
      await q?.obliterate({ force: true }).catch(() => undefined);
      await q?.close();
    }
    await events?.quit();
    await okHook?.close();
    await badHook?.close();
    await prisma?.$disconnect();
    await db?.drop();
  });

  test('/health answers 200 while Redis and Postgres answer', async () => {
    app = await startReport({ VAULTLINE_WEBHOOK_URL: okHook.url('/hooks/T0K3N?sig=s3cr3t') });
    const port = app.get(ReportRuntime).healthPort;
    const res = await fetch(`http://127.0.0.1:${port}/health`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok', checks: { redis: 'up', postgres: 'up' } });
  });

  test('a partial run: rows reconciled, snapshot catalogued, report, webhook, event, retention', async () => {
    catalog = await createCatalog(prisma, 3, 2);
    const [ok, fails, throws] = catalog.services;
    const [t1, t2] = catalog.targets;
    backups.outcomes.set(ok!.id, 'success');
    backups.outcomes.set(fails!.id, 'failed');
    backups.outcomes.set(throws!.id, 'throw');
    run = await createRunRows(prisma, catalog, [
      { serviceId: ok!.id, targetId: t1!.id },
      { serviceId: fails!.id, targetId: t1!.id },
      { serviceId: throws!.id, targetId: t2!.id },
    ]);
    // Verifications before the run ends: t1's latest found damage, t2's could not run, and one
    // still running on t1 is not finished yet, so not in the report.
    const verifications = new Catalog(prisma).verifications;
    const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000);
    const older = await verifications.start({ planId: catalog.planId, targetId: t1!.id, kind: 'scheduled' });
    await verifications.finish(
      older.id,
      { ok: true, packsRead: 2, packsTotal: 20, errors: [] },
      minutesAgo(20),
    );
    const corrupt = await verifications.start({ planId: catalog.planId, targetId: t1!.id, kind: 'deep' });
    const damage = ['pack 1f… does not match its name', 'blob 2e… fails authentication'];
    await verifications.finish(
      corrupt.id,
      { ok: false, packsRead: 20, packsTotal: 20, errors: damage },
      minutesAgo(5),
    );
    const unreachable = await verifications.start({
      planId: catalog.planId,
      targetId: t2!.id,
      kind: 'scheduled',
    });
    await verifications.fail(unreachable.id, 'UNREACHABLE: the target did not answer', minutesAgo(10));
    await verifications.start({ planId: catalog.planId, targetId: t1!.id, kind: 'scheduled' });
    await addRunFlow(config, run);

    const parent = await waitForJob(reportQueue, reportJobId(run.runId));
    assert.equal(await parent.getState(), 'completed', parent.failedReason);
    assert.deepEqual(parseJobResult('report.aggregate', parent.returnvalue), {
      status: 'partial',
      backupsSucceeded: 1,
      backupsFailed: 2,
      webhook: 'sent',
    });

    const dbRun = await prisma.run.findUniqueOrThrow({ where: { id: run.runId } });
    assert.equal(dbRun.status, 'partial');
    assert.ok(dbRun.startedAt && dbRun.finishedAt && dbRun.startedAt <= dbRun.finishedAt);

    // service_backups: the stand-in worker wrote nothing; the report reconciled every row.
    const rows = await prisma.serviceBackup.findMany({ where: { runId: run.runId } });
    const rowOf = (serviceId: string) => rows.find((r) => r.serviceId === serviceId)!;
    const result = backups.results.get(`${ok!.id}/${t1!.id}`);
    assert.ok(result?.status === 'success');
    assert.equal(rowOf(ok!.id).status, 'success');
    assert.equal(rowOf(ok!.id).snapshotId, result.snapshot.id);
    assert.equal(rowOf(ok!.id).totalBytes, 4096n);
    assert.equal(rowOf(ok!.id).bytesAdded, 1024n);
    assert.equal(rowOf(ok!.id).files, 12);
    assert.equal((rowOf(ok!.id).unreadable as unknown[]).length, 7);
    assert.equal(rowOf(ok!.id).durationMs, 1500);
    assert.ok(rowOf(ok!.id).finishedAt);
    assert.equal(rowOf(fails!.id).status, 'failed');
    assert.equal(rowOf(fails!.id).error, 'FULL: target is full');
    assert.equal(rowOf(throws!.id).status, 'failed');
    assert.equal(rowOf(throws!.id).error, 'JOB_FAILED: hook config unreadable: canned failure');

    // The catalog has the one snapshot.
    const snapshots = await prisma.snapshot.findMany({ where: { runId: run.runId } });
    assert.equal(snapshots.length, 1);
    const snap = snapshots[0]!;
    assert.equal(snap.id, result.snapshot.id);
    assert.equal(snap.targetId, t1!.id);
    assert.equal(snap.planId, catalog.planId);
    assert.equal(snap.serviceId, ok!.id);
    assert.equal(snap.arch, 'arm64');
    assert.equal(snap.time.toISOString(), result.snapshot.time);
    assert.equal(snap.totalBytes, 4096n);
    assert.equal(snap.bytesAdded, 1024n);
    assert.equal(snap.files, 12);

    // The report row and its summary.
    const report = await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } });
    assert.equal(report.status, 'partial');
    assert.equal(report.webhookStatus, 'delivered');
    assert.ok(report.notifiedAt);
    const summary = reportSummarySchema.parse(report.summary);
    assert.equal(summary.runId, run.runId);
    assert.deepEqual(summary.plan, { id: catalog.planId, name: catalog.planName });
    assert.equal(summary.trigger, 'manual');
    assert.deepEqual(summary.counts, { total: 3, succeeded: 1, failed: 2 });
    assert.equal(summary.finishedAt, dbRun.finishedAt.toISOString());
    const entry = (serviceId: string) => summary.backups.find((b) => b.serviceId === serviceId)!;
    assert.equal(entry(ok!.id).serviceName, ok!.name);
    assert.equal(entry(ok!.id).targetName, t1!.name);
    assert.equal(entry(ok!.id).snapshotId, result.snapshot.id);
    assert.equal(entry(ok!.id).unreadableCount, 7);
    assert.equal(entry(ok!.id).unreadable.length, 5);
    assert.deepEqual(entry(fails!.id).error, { code: 'FULL', message: 'target is full' });
    assert.equal(entry(throws!.id).error?.code, 'JOB_FAILED');
    // Each target's latest finished verification, sorted by target name.
    const byTarget = [t1!, t2!].sort((a, b) => a.name.localeCompare(b.name));
    assert.deepEqual(
      summary.verifications?.map((v) => ({ ...v, finishedAt: undefined })),
      byTarget.map((t) =>
        t === t1
          ? {
              targetId: t.id,
              targetName: t.name,
              kind: 'deep',
              status: 'corrupt',
              finishedAt: undefined,
              packsRead: 20,
              packsTotal: 20,
              errorCount: 2,
              errors: damage,
            }
          : {
              targetId: t.id,
              targetName: t.name,
              kind: 'scheduled',
              status: 'failed',
              finishedAt: undefined,
              packsRead: 0,
              packsTotal: 0,
              errorCount: 1,
              errors: ['UNREACHABLE: the target did not answer'],
            },
      ),
    );

    // The webhook got the same document, once, at the configured path.
    assert.equal(okHook.received.length, 1);
    assert.equal(okHook.received[0]!.url, '/hooks/T0K3N?sig=s3cr3t');
    assert.equal(okHook.received[0]!.headers['idempotency-key'], `vaultline-report-${run.runId}`);
    assert.deepEqual(okHook.received[0]!.body, report.summary);

    // run.finished was published (pub/sub: it may land just after the job completed).
    await eventually(
      () => Promise.resolve(finishedEvents.find((e) => e.runId === run.runId)),
      'run.finished event',
    );
    assert.equal(finishedEvents.find((e) => e.runId === run.runId)!.status, 'partial');

    // Retention for the target that got a snapshot, and only that one.
    const retention = await maintenanceQueue.getJob(`retention-${run.runId}-${t1!.id}`);
    assert.ok(retention, 'retention job for the successful target');
    assert.equal(retention.name, 'maintenance.retention');
    assert.deepEqual(retention.data, { planId: catalog.planId, targetId: t1!.id });
    assert.equal(retention.opts.attempts, 3);
    assert.equal(await maintenanceQueue.getJob(`retention-${run.runId}-${t2!.id}`), undefined);
  });

  test('re-processing the same parent duplicates nothing and does not re-send the webhook', async () => {
    const before = await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } });
    const parent = await reportQueue.getJob(reportJobId(run.runId));
    assert.ok(parent);
    const firstFinish = parent.finishedOn;
    // A verification finished after the run ended does not change the run's report.
    const verifications = new Catalog(prisma).verifications;
    const later = await verifications.start({
      planId: catalog.planId,
      targetId: catalog.targets[0]!.id,
      kind: 'scheduled',
    });
    await verifications.finish(later.id, { ok: true, packsRead: 1, packsTotal: 20, errors: [] });
    await parent.retry('completed');
    const again = await eventually(async () => {
      const j = await reportQueue.getJob(reportJobId(run.runId));
      return j && j.finishedOn !== firstFinish && (await j.getState()) === 'completed' ? j : undefined;
    }, 're-processed report');
    assert.equal(parseJobResult('report.aggregate', again.returnvalue).webhook, 'sent');
    // The second pass read the children again (not only the rows the first one reconciled).
    assert.equal(Object.keys(await again.getChildrenValues()).length, 2);
    assert.equal(Object.keys(await again.getIgnoredChildrenFailures()).length, 1);

    assert.equal(await prisma.snapshot.count({ where: { runId: run.runId } }), 1);
    assert.equal(await prisma.serviceBackup.count({ where: { runId: run.runId } }), 3);
    const after = await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } });
    assert.deepEqual(after.summary, before.summary, 'the same document');
    assert.equal(after.webhookStatus, 'delivered');
    assert.equal(
      okHook.received.filter((h) => h.body && (h.body as { runId?: string }).runId === run.runId).length,
      1,
    );
    const retention = (await maintenanceQueue.getJobs()).filter((j) =>
      j.id?.startsWith(`retention-${run.runId}`),
    );
    assert.equal(retention.length, 1);
  });

  test('a failing webhook: webhook_status failed, the report is still written and the job succeeds', async () => {
    await stopReport();
    app = await startReport({ VAULTLINE_WEBHOOK_URL: badHook.url('/hooks/secret') });
    const cat = await createCatalog(prisma, 1, 1);
    backups.outcomes.set(cat.services[0]!.id, 'success');
    const r = await createRunRows(prisma, cat, [
      { serviceId: cat.services[0]!.id, targetId: cat.targets[0]!.id },
    ]);
    await addRunFlow(config, r);
    const parent = await waitForJob(reportQueue, reportJobId(r.runId));
    assert.equal(await parent.getState(), 'completed', parent.failedReason);
    const result = parseJobResult('report.aggregate', parent.returnvalue);
    assert.equal(result.status, 'success');
    assert.equal(result.webhook, 'failed');
    const report = await prisma.report.findUniqueOrThrow({ where: { runId: r.runId } });
    assert.equal(report.status, 'success');
    assert.equal(report.webhookStatus, 'failed');
    assert.equal(report.notifiedAt, null);
    assert.equal(badHook.received.length, FAST_WEBHOOK.attempts, 'every attempt was made');
    assert.equal((await prisma.run.findUniqueOrThrow({ where: { id: r.runId } })).status, 'success');
  });

  test('progress events update a running row, never a finished one', async () => {
    const cat = await createCatalog(prisma, 2, 1);
    const [running, finished] = cat.services;
    const target = cat.targets[0]!.id;
    const r = await createRunRows(prisma, cat, [
      { serviceId: running!.id, targetId: target },
      { serviceId: finished!.id, targetId: target },
    ]);
    await prisma.serviceBackup.updateMany({
      where: { runId: r.runId, serviceId: running!.id },
      data: { status: 'running', startedAt: new Date() },
    });
    await prisma.serviceBackup.updateMany({
      where: { runId: r.runId, serviceId: finished!.id },
      data: { status: 'success', bytesRead: 999n, files: 9, finishedAt: new Date() },
    });
    const publisher = EventPublisher.create(REDIS_URL, pino({ level: 'silent' }));
    try {
      const ref = (serviceId: string) => ({
        at: new Date().toISOString(),
        runId: r.runId,
        planId: cat.planId,
        serviceId,
        targetId: target,
      });
      const progress = {
        phase: 'backup' as const,
        filesDone: 5,
        filesTotal: 10,
        bytesDone: 5000,
        bytesTotal: 9000,
      };
      // Pub/sub delivers only to subscribers already listening: publish until the row shows it.
      const row = await eventually(async () => {
        publisher.emit('backup.started', { ...ref(running!.id), attempt: 1 });
        publisher.emit('backup.progress', { ...ref(finished!.id), progress });
        publisher.emit('backup.progress', { ...ref(running!.id), progress });
        const b = await prisma.serviceBackup.findFirstOrThrow({
          where: { runId: r.runId, serviceId: running!.id },
        });
        return b.bytesRead === 5000n ? b : undefined;
      }, 'progress written');
      assert.equal(row.files, 5);
      assert.equal(row.status, 'running');
      // backup.started shows the run as running (it was queued).
      const dbRun = await eventually(async () => {
        const x = await prisma.run.findUniqueOrThrow({ where: { id: r.runId } });
        return x.status === 'running' ? x : undefined;
      }, 'run running');
      assert.ok(dbRun.startedAt);
      // The finished row's progress was queued before the running one's, so it was flushed too.
      const done = await prisma.serviceBackup.findFirstOrThrow({
        where: { runId: r.runId, serviceId: finished!.id },
      });
      assert.equal(done.bytesRead, 999n);
      assert.equal(done.files, 9);
    } finally {
      await publisher.close();
    }
  });

  test('a report service restarted before the parent ran still writes the report', async () => {
    // The service is down while the backups finish: the parent waits in the queue for it.
    await stopReport();
    const cat = await createCatalog(prisma, 2, 1);
    backups.outcomes.set(cat.services[0]!.id, 'success');
    backups.outcomes.set(cat.services[1]!.id, 'success');
    const r = await createRunRows(
      prisma,
      cat,
      cat.services.map((s) => ({ serviceId: s.id, targetId: cat.targets[0]!.id })),
    );
    await addRunFlow(config, r);
    await eventually(
      async () => ((await reportQueue.getJobState(reportJobId(r.runId))) === 'waiting' ? true : undefined),
      'parent ready',
    );
    assert.equal(await prisma.report.count({ where: { runId: r.runId } }), 0);

    app = await startReport();
    const parent = await waitForJob(reportQueue, reportJobId(r.runId));
    assert.equal(await parent.getState(), 'completed', parent.failedReason);
    assert.deepEqual(parseJobResult('report.aggregate', parent.returnvalue), {
      status: 'success',
      backupsSucceeded: 2,
      backupsFailed: 0,
      webhook: 'not-configured',
    });
    const report = await prisma.report.findUniqueOrThrow({ where: { runId: r.runId } });
    assert.equal(report.webhookStatus, null);
    assert.equal(await prisma.snapshot.count({ where: { runId: r.runId } }), 2);
    assert.equal((await prisma.run.findUniqueOrThrow({ where: { id: r.runId } })).status, 'success');
  });
});
