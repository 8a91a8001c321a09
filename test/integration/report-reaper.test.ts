/**
 * Nothing stays open forever: a run whose flow the queue lost (here: never added, as after a Redis
 * restart without persistence), a restore whose job is gone and a service left busy by a dead
 * worker are closed by the report service's reaper — against real Postgres and Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { INestMicroservice } from '@nestjs/common';

import { Catalog } from '@vaultline/catalog';
import { reportSummarySchema } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';

import { createReportApp } from '../../apps/report/src/main';
import { CatalogFactories } from '../support/factories';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import {
  addRunFlow,
  createCatalog,
  createRunRows,
  eventually,
  fleetEnv,
  reportConfig,
} from '../support/report-fixtures';
import { freePort } from '../support/worker-fleet';

describe('report service: the reaper', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let app: INestMicroservice | undefined;

  before(async () => {
    db = await createTestDatabase('reaper');
    await applyMigrations(db.url, MIGRATIONS_DIR);
    prisma = createPrismaClient(db.url, { pool: { max: 4 } });
  });

  after(async () => {
    await app?.close();
    await prisma?.$disconnect();
    await db?.drop();
  });

  test('ends a lost run with a report from the catalog, a lost restore, and a service left busy', async () => {
    const catalog = await createCatalog(prisma, 2, 1);
    const target = catalog.targets[0]!;
    const [done, lost] = catalog.services;
    const run = await createRunRows(prisma, catalog, [
      { serviceId: done!.id, targetId: target.id },
      { serviceId: lost!.id, targetId: target.id },
    ]);
    // The worker finished one backup before the queue lost the run; the other never ran.
    const repos = new Catalog(prisma);
    await repos.runs.markStarted(run.runId, new Date());
    await repos.backups.recordResult(
      { runId: run.runId, serviceId: done!.id, targetId: target.id },
      {
        status: 'success',
        snapshotId: 'a'.repeat(64),
        totalBytes: 1000,
        bytesAdded: 100,
        files: 3,
        error: null,
        startedAt: new Date(),
        finishedAt: new Date(),
        durationMs: 20,
      },
    );
    const restore = await new CatalogFactories(prisma).newRestore(
      { serviceId: lost!.id, targetId: target.id },
      { snapshotId: 'b'.repeat(64), destination: '/srv/restore', status: 'running' },
    );
    await repos.services.markBusy(lost!.id, 'restoring');
    const env = fleetEnv(db.url);
    const config = reportConfig(env);
    // A run whose flow is in the queue (its backups not done yet) is alive: left alone.
    const alive = await createRunRows(prisma, catalog, [{ serviceId: done!.id, targetId: target.id }]);
    await addRunFlow(config, alive);

    const port = await freePort();
    app = await createReportApp(reportConfig(env, { METRICS_PORT: String(port) }), {
      healthHost: '127.0.0.1',
      reaper: { intervalMs: 100, graceMs: 0 },
    });

    const report = await eventually(
      async () => (await prisma.report.findUnique({ where: { runId: run.runId } })) ?? undefined,
      'the lost run is reported',
    );
    assert.equal(report.status, 'partial');
    const summary = reportSummarySchema.parse(report.summary);
    assert.equal(summary.counts.succeeded, 1);
    assert.equal(summary.counts.failed, 1);
    const ended = await prisma.run.findUniqueOrThrow({ where: { id: run.runId } });
    assert.equal(ended.status, 'partial');
    assert.ok(ended.finishedAt);

    const r = await eventually(async () => {
      const row = await prisma.restore.findUniqueOrThrow({ where: { id: restore.id } });
      return row.status === 'failed' ? row : undefined;
    }, 'the lost restore is ended');
    assert.match(r.error ?? '', /^JOB_LOST: /);
    await eventually(async () => {
      const s = await prisma.service.findUniqueOrThrow({ where: { id: lost!.id } });
      return s.state === 'idle' ? s : undefined;
    }, 'the service is idle again');

    // Several passes later, the living run is untouched and the lost one has exactly one report.
    await new Promise((r) => setTimeout(r, 500));
    const living = await prisma.run.findUniqueOrThrow({ where: { id: alive.runId } });
    assert.equal(living.status, 'queued');
    assert.equal(living.finishedAt, null);
    assert.equal(await prisma.report.count(), 1);

    // What Prometheus scrapes: the run counted once, freshness per service × target, queue depths.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    assert.match(
      metrics,
      new RegExp(`vaultline_runs_total\\{plan="${catalog.planName}",status="partial",role="report"\\} 1`),
    );
    assert.match(
      metrics,
      new RegExp(`vaultline_last_successful_backup_timestamp_seconds\\{service="${done!.name}"`),
    );
    assert.match(metrics, /vaultline_backup_expected_interval_seconds\{[^}]*\} 86400/);
    assert.match(metrics, /vaultline_queue_jobs\{queue="report",state="waiting-children",role="report"\} 1/);
  });
});
