/**
 * The report service's node watch, against real Postgres and Redis: a backup and a restore placed
 * on a node no worker serves are noted NODE_UNAVAILABLE after the grace (still queued, still in
 * their queues), counted by the gauges, and failed at the deadline — the backup's child is removed
 * so BullMQ moves the run's report on, and the report names the node. A node whose worker is up
 * is left alone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { INestMicroservice } from '@nestjs/common';
import type { Worker } from 'bullmq';
import pino from 'pino';

import { Catalog } from '@vaultline/catalog';
import { parseJobPayload, reportSummarySchema } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';
import { JobGateway, jobWorker } from '@vaultline/jobs';
import { FleetMetrics } from '@vaultline/observability';
import { sealPasswordEnvelope, serverKeys } from '@vaultline/secrets';

import { createReportApp } from '../../apps/report/src/main';
import { NodeWatch } from '../../apps/report/src/node-watch';
import { CatalogFactories } from '../support/factories';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import {
  createCatalog,
  createRunRows,
  eventually,
  fleetEnv,
  reportConfig,
  reportJobId,
} from '../support/report-fixtures';
import { freePort } from '../support/worker-fleet';

describe('report service: the node watch', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let app: INestMicroservice | undefined;
  let jobs: JobGateway | undefined;
  let worker: Worker | undefined;

  before(async () => {
    db = await createTestDatabase('nodewatch');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
  });

  after(async () => {
    await worker?.close();
    await app?.close();
    await jobs?.close();
    await prisma?.$disconnect();
    await db?.drop();
  });

  test('noted after the grace, counted, failed at the deadline; a served node is left alone', async () => {
    const fixture = await createCatalog(prisma, 2, 1);
    const target = fixture.targets[0]!;
    const [lonely, served] = fixture.services;
    await prisma.service.update({ where: { id: lonely!.id }, data: { node: 'node-z' } });
    await prisma.service.update({ where: { id: served!.id }, data: { node: 'node-up' } });
    const env = fleetEnv(db.url);
    const config = reportConfig(env, { NODE_WORKER_GRACE_SECONDS: '1' });
    jobs = new JobGateway({ redisUrl: config.redisUrl, prefix: config.queuePrefix });

    const run = await createRunRows(prisma, fixture, [{ serviceId: lonely!.id, targetId: target.id }]);
    await jobs.queueFlow({
      name: 'report.aggregate',
      data: { runId: run.runId, planId: run.planId },
      opts: { jobId: reportJobId(run.runId) },
      children: [
        {
          name: 'backup.run',
          data: { runId: run.runId, planId: run.planId, serviceId: lonely!.id, targetId: target.id },
          opts: { jobId: 'backup-lonely', attempts: 1 },
          node: 'node-z',
        },
      ],
    });
    const restore = await new CatalogFactories(prisma).newRestore(
      { serviceId: lonely!.id, targetId: target.id },
      { snapshotId: 'b'.repeat(64), destination: '/srv/restore', status: 'queued', node: 'node-z' },
    );
    await jobs.queue({
      name: 'restore.run',
      node: 'node-z',
      opts: { jobId: 'restore-lonely' },
      data: parseJobPayload('restore.run', {
        restoreId: restore.id,
        planId: run.planId,
        serviceId: lonely!.id,
        targetId: target.id,
        snapshot: 'b'.repeat(64),
        destination: '/srv/restore',
        allowCrossArch: false,
        verify: false,
        passwordEnvelope: sealPasswordEnvelope(serverKeys(config), restore.id, 'a password'),
      }),
    });
    // node-up has a worker (which never gets a job here): its queue is served.
    worker = jobWorker(
      'backup',
      { 'backup.run': () => Promise.reject(new Error('not expected')) },
      { redisUrl: config.redisUrl, prefix: config.queuePrefix, node: 'node-up', concurrency: 1 },
    );
    await worker.waitUntilReady();

    const port = await freePort();
    app = await createReportApp(
      reportConfig(env, { METRICS_PORT: String(port), NODE_WORKER_GRACE_SECONDS: '1' }),
      {
        healthHost: '127.0.0.1',
        nodeWatch: { intervalMs: 100 },
      },
    );

    const key = { runId: run.runId, serviceId: lonely!.id, targetId: target.id };
    const noted = await eventually(async () => {
      const row = await prisma.serviceBackup.findUniqueOrThrow({ where: { runId_serviceId_targetId: key } });
      return row.error ? row : undefined;
    }, 'the waiting backup is noted');
    assert.equal(noted.status, 'queued', 'noted, not failed: it still runs when a worker appears');
    assert.match(noted.error!, /^NODE_UNAVAILABLE: no worker on node "node-z" has taken this job/);
    assert.match(noted.error!, /runs when a worker with NODE_NAME=node-z starts/);
    const notedRestore = await eventually(async () => {
      const row = await prisma.restore.findUniqueOrThrow({ where: { id: restore.id } });
      return row.error ? row : undefined;
    }, 'the waiting restore is noted');
    assert.equal(notedRestore.status, 'queued');
    assert.match(notedRestore.error!, /^NODE_UNAVAILABLE: /);
    assert.equal(await jobs.state('backup.run', 'backup-lonely', 'node-z'), 'waiting');
    assert.equal(await jobs.state('restore.run', 'restore-lonely', 'node-z'), 'waiting');

    const metrics = await eventually(async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return text.includes('vaultline_node_workers{node="node-up",queue="backup"') ? text : undefined;
    }, 'the node gauges');
    assert.match(metrics, /vaultline_node_jobs_unserved\{node="node-z",queue="backup",role="report"\} 1/);
    assert.match(metrics, /vaultline_node_jobs_unserved\{node="node-z",queue="restore",role="report"\} 1/);
    assert.match(metrics, /vaultline_node_workers\{node="node-z",queue="backup",role="report"\} 0/);
    assert.match(metrics, /vaultline_node_workers\{node="node-up",queue="backup",role="report"\} 1/);
    assert.match(metrics, /vaultline_node_jobs_unserved\{node="node-up",queue="backup",role="report"\} 0/);

    // The run's deadline: a watch with a short one gives both jobs up.
    const watch = new NodeWatch(
      {
        catalog: new Catalog(prisma),
        jobs,
        metrics: new FleetMetrics('report'),
        logger: pino({ level: 'silent' }),
      },
      { graceMs: 1, deadlineMs: 1 },
    );
    await watch.check();
    assert.equal(
      await jobs.state('backup.run', 'backup-lonely', 'node-z'),
      'unknown',
      'the child is removed',
    );
    assert.equal(await jobs.state('restore.run', 'restore-lonely', 'node-z'), 'unknown');
    const report = await eventually(
      async () => (await prisma.report.findUnique({ where: { runId: run.runId } })) ?? undefined,
      'the run is reported once its child is gone',
    );
    assert.equal(report.status, 'failed');
    const summary = reportSummarySchema.parse(report.summary);
    const backup = summary.backups[0]!;
    assert.equal(backup.status, 'failed');
    assert.equal(backup.error?.code, 'NODE_UNAVAILABLE');
    assert.match(backup.error?.message ?? '', /no worker on node "node-z".*given up/);
    const failedRestore = await prisma.restore.findUniqueOrThrow({ where: { id: restore.id } });
    assert.equal(failedRestore.status, 'failed');
    assert.match(failedRestore.error!, /^NODE_UNAVAILABLE: .*given up/);
  });
});
