/**
 * The report service as the container runs it: `node dist/apps/report/src/main.js` with role
 * `report` variables, /health, a report written, and exit code 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Queue } from 'bullmq';

import { QUEUES } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';

import { createReportApp } from '../../apps/report/src/main';
import { createTestDatabase, MIGRATIONS_DIR, ROOT, type TestDatabase } from '../support/postgres';
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
} from '../support/report-fixtures';

/** A webhook receiver that takes requests and never answers: a report stays busy on it. */
async function silentReceiver(): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
  let requests = 0;
  const server: Server = createServer(() => {
    requests++;
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/silent`,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `node dist/apps/report/src/main.js` with the fleet's variables; output collected. */
function spawnReport(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [join(ROOT, 'dist/apps/report/src/main.js')], {
    env: { ...env, PATH: process.env['PATH'] ?? '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return { child, output: () => output };
}
import { freePort, waitForJob } from '../support/worker-fleet';

describe('report service process', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: Record<string, string>;
  let child: ChildProcess | undefined;
  let reportQueue: Queue;
  let backups: CannedBackupWorker;
  let hook: Awaited<ReturnType<typeof webhookReceiver>>;

  before(async () => {
    db = await createTestDatabase('report_proc');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 2 } });
    env = fleetEnv(db.url);
    const config = reportConfig(env);
    reportQueue = queueOf(config, QUEUES.report);
    backups = new CannedBackupWorker(config);
    await backups.waitUntilReady();
    hook = await webhookReceiver(200);
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await backups?.close();
    await reportQueue?.obliterate({ force: true }).catch(() => undefined);
    await reportQueue?.close();
    await hook?.close();
    await prisma?.$disconnect();
    await db?.drop();
  });

  test('serves /health, writes a report, logs no webhook token, exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const proc = spawnReport({
      ...env,
      LOG_LEVEL: 'info',
      METRICS_PORT: String(port),
      VAULTLINE_WEBHOOK_URL: hook.url('/hooks/T0P-SECRET-TOKEN'),
    });
    child = proc.child;

    await eventually(async () => {
      const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => null);
      return res?.status === 200 ? true : undefined;
    }, 'report /health');

    const cat = await createCatalog(prisma, 1, 1);
    const run = await createRunRows(prisma, cat, [
      { serviceId: cat.services[0]!.id, targetId: cat.targets[0]!.id },
    ]);
    await addRunFlow(reportConfig(env), run);
    const parent = await waitForJob(reportQueue, reportJobId(run.runId));
    assert.equal(await parent.getState(), 'completed', parent.failedReason);
    assert.equal(
      (await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } })).webhookStatus,
      'delivered',
    );
    assert.equal(hook.received.length, 1);

    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, proc.output());
    assert.match(proc.output(), /report service stopped/);
    assert.doesNotMatch(proc.output(), /T0P-SECRET-TOKEN/);
    assert.match(proc.output(), /"webhookUrl":"http:\/\/127\.0\.0\.1:\d+\/\[redacted\]"/);
  });

  test('a report process killed mid-report: another one takes the job over, nothing duplicated', async () => {
    // The first process commits the report, then hangs on a webhook that never answers; it is
    // killed there (SIGKILL: no graceful stop). Its job lock expires (30 s) and the next report
    // process, checking for stalled jobs often, takes the job over and finishes it.
    const silent = await silentReceiver();
    try {
      const proc = spawnReport({
        ...env,
        METRICS_PORT: String(await freePort()),
        VAULTLINE_WEBHOOK_URL: silent.url,
      });
      child = proc.child;
      const cat = await createCatalog(prisma, 2, 2);
      const pairs = cat.services.flatMap((s) =>
        cat.targets.map((t) => ({ serviceId: s.id, targetId: t.id })),
      );
      const run = await createRunRows(prisma, cat, pairs);
      await addRunFlow(reportConfig(env), run);
      await eventually(
        () => Promise.resolve(silent.requests() > 0 ? true : undefined),
        'webhook attempt',
        60_000,
      );
      const committed = await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } });
      assert.equal(committed.webhookStatus, 'pending');
      child.kill('SIGKILL');
      await once(child, 'exit');
      assert.equal(await reportQueue.getJobState(reportJobId(run.runId)), 'active', 'left behind active');

      const app = await createReportApp(
        reportConfig(env, {
          METRICS_PORT: String(await freePort()),
          VAULTLINE_WEBHOOK_URL: hook.url('/hooks/ok'),
        }),
        { healthHost: '127.0.0.1', stalledIntervalMs: 500 },
      );
      try {
        const parent = await waitForJob(reportQueue, reportJobId(run.runId), 90_000);
        assert.equal(await parent.getState(), 'completed', parent.failedReason);
      } finally {
        await app.close();
      }
      const report = await prisma.report.findUniqueOrThrow({ where: { runId: run.runId } });
      assert.equal(report.webhookStatus, 'delivered', 'the pending webhook was sent by the second process');
      assert.deepEqual(report.summary, committed.summary, 'the same report');
      assert.equal(hook.received.filter((h) => h.url === '/hooks/ok').length, 1);
      assert.equal(await prisma.snapshot.count({ where: { runId: run.runId } }), 4);
      assert.equal(await prisma.serviceBackup.count({ where: { runId: run.runId } }), 4);
      assert.equal((await prisma.run.findUniqueOrThrow({ where: { id: run.runId } })).status, 'success');
    } finally {
      await silent.close();
    }
  });
});
