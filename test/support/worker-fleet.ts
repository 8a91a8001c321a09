/**
 * Factories for worker tests: a migrated catalog, a worker config with a unique queue prefix, and
 * catalog rows for a service × target whose repository was created with the password and whose
 * writer key is sealed with the server secret, exactly as the API stores them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { Queue, type Job } from 'bullmq';

import { loadConfig, type WorkerConfig } from '@vaultline/config';
import { QUEUES, type JobPayload, type QueueName } from '@vaultline/contracts';
import type { Plan, PrismaClient, Target } from '@vaultline/db';
import { exportWriterKey } from '@vaultline/engine';
import { formatSealed, recordIds, sealWithServerKey, serverKeys } from '@vaultline/secrets';

import { CatalogFactories } from './factories';
import { initFsRepo } from './fixtures';

export const REDIS_URL = process.env['VAULTLINE_TEST_REDIS_URL'] || 'redis://127.0.0.1:6379';

/** A port nothing listens on right now (for the health listener). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function workerEnv(databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
    QUEUE_PREFIX: `vltest-${process.pid}-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
    WORKER_CONCURRENCY: '3',
    ...extra,
  };
}

export function workerConfig(env: Record<string, string>): WorkerConfig {
  return loadConfig(env, 'worker');
}

export interface PlanFixture {
  planId: string;
  targetId: string;
  repoDir: string;
}

/** A plan with one filesystem target whose repository exists and whose writer key is sealed. */
export async function createPlan(
  prisma: PrismaClient,
  config: WorkerConfig,
  targetRoot: string,
  name = `plan-${randomUUID().slice(0, 8)}`,
): Promise<PlanFixture> {
  const ctx = new CatalogFactories(prisma);
  const target = await ctx.newTarget({ name: `target-${name}`, path: targetRoot });
  const plan = await ctx.newPlan({ fields: { name } });
  return addRepository(ctx, config, plan, target, join(targetRoot, name));
}

/** The plan's repository on the target, created with the password, and its sealed writer key. */
async function addRepository(
  ctx: CatalogFactories,
  config: WorkerConfig,
  plan: Plan,
  target: Target,
  repoDir: string,
): Promise<PlanFixture> {
  mkdirSync(repoDir, { recursive: true });
  const repo = await initFsRepo(repoDir);
  const sealed = sealWithServerKey(
    serverKeys(config),
    'writer-key',
    recordIds.writerKey(plan.id, target.id),
    exportWriterKey(repo.keys),
  );
  await ctx.newPlanTarget(plan, target, {
    repoId: repo.config.id,
    repoLocation: repoDir,
    writerKeyEnc: formatSealed(sealed),
  });
  return { planId: plan.id, targetId: target.id, repoDir };
}

export async function createService(
  prisma: PrismaClient,
  plan: PlanFixture,
  dataPath: string,
  name = `svc-${randomUUID().slice(0, 8)}`,
): Promise<string> {
  const ctx = new CatalogFactories(prisma);
  const service = await ctx.newService({ name, dataPath, arch: 'x86_64', excludes: ['cache/'] });
  await ctx.newPlanService({ id: plan.planId }, service);
  return service.id;
}

/** A run with a queued service_backups row for the service × target; returns the job payload. */
export async function createRun(
  prisma: PrismaClient,
  plan: PlanFixture,
  serviceId: string,
): Promise<JobPayload<'backup.run'>> {
  const run = await new CatalogFactories(prisma).newRun(plan.planId, [
    { serviceId, targetId: plan.targetId },
  ]);
  return { runId: run.id, planId: plan.planId, serviceId, targetId: plan.targetId };
}

export function backupQueue(config: WorkerConfig): Queue {
  return workerQueue(config, QUEUES.backup);
}

/** A producer for one of the queues the worker consumes (backup, restore, maintenance). */
export function workerQueue(config: WorkerConfig, name: QueueName): Queue {
  return new Queue(name, {
    connection: { url: config.redisUrl, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
  });
}

/**
 * A second target for an existing plan: its own repository (created with the same password, as
 * the API does when a target is added) and its sealed writer key.
 */
export async function addPlanTarget(
  prisma: PrismaClient,
  config: WorkerConfig,
  planId: string,
  targetRoot: string,
): Promise<PlanFixture> {
  const ctx = new CatalogFactories(prisma);
  const target = await ctx.newTarget({ path: targetRoot });
  const plan = await prisma.plan.findUniqueOrThrow({ where: { id: planId } });
  return addRepository(ctx, config, plan, target, join(targetRoot, planId));
}

/** A queued restores row, as the API writes it before enqueueing `restore.run`. */
export async function createRestore(
  prisma: PrismaClient,
  plan: PlanFixture,
  serviceId: string,
  destination: string,
  snapshotId = 'latest',
): Promise<string> {
  const row = await new CatalogFactories(prisma).newRestore(
    { serviceId, targetId: plan.targetId },
    { snapshotId, destination },
  );
  return row.id;
}

/** The retry policy the tests enqueue with (production: see apps/worker docs). */
export const TEST_JOB_OPTS = { attempts: 3, backoff: { type: 'fixed', delay: 200 } } as const;

/** Polls until the job is completed or failed for good; returns the job as it ended. */
export async function waitForJob(queue: Queue, id: string, timeoutMs = 60_000): Promise<Job> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await queue.getJobState(id);
    if (state === 'completed' || state === 'failed') {
      // Read after the state: a job read before it finished would carry no result yet.
      const job = await queue.getJob(id);
      if (job) return job;
    }
    if (Date.now() > deadline) throw new Error(`job ${id} did not finish within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
