/**
 * Factories for report-service tests: a report config with a unique queue prefix, catalog rows for
 * a run (plan, services, targets, queued service_backups rows), the run's BullMQ flow exactly as
 * the API adds it, a stand-in backup worker that finishes children with canned results, and a
 * local webhook receiver.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { FlowProducer, Queue, UnrecoverableError, Worker } from 'bullmq';

import { loadConfig, type ReportConfig } from '@vaultline/config';
import {
  JOBS,
  parseJobPayload,
  parseJobResult,
  QUEUES,
  reportJobId,
  type JobResult,
  type QueueName,
} from '@vaultline/contracts';
import type { PrismaClient } from '@vaultline/db';

import { CatalogFactories } from './factories';
import { REDIS_URL } from './worker-fleet';

/** Variables of one test fleet; a report config is loaded from them (plus per-test extras). */
export function fleetEnv(databaseUrl: string): Record<string, string> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    VAULTLINE_SERVER_SECRET: randomBytes(32).toString('hex'),
    QUEUE_PREFIX: `vltest-report-${process.pid}-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
  };
}

export function reportConfig(env: Record<string, string>, extra: Record<string, string> = {}): ReportConfig {
  return loadConfig({ ...env, ...extra }, 'report');
}

export function queueOf(config: ReportConfig, name: QueueName): Queue {
  return new Queue(name, {
    connection: { url: config.redisUrl, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
  });
}

export interface RunFixture {
  runId: string;
  planId: string;
  pairs: { serviceId: string; targetId: string }[];
}

export interface CatalogFixture {
  planId: string;
  planName: string;
  services: { id: string; name: string }[];
  targets: { id: string; name: string }[];
}

/** A plan with `services` services and `targets` filesystem targets (no real repositories needed). */
export async function createCatalog(
  prisma: PrismaClient,
  services: number,
  targets: number,
): Promise<CatalogFixture> {
  const ctx = new CatalogFactories(prisma);
  const ts = [];
  for (let i = 0; i < targets; i++) ts.push(await ctx.newTarget());
  const ss = [];
  for (let i = 0; i < services; i++) ss.push(await ctx.newService({ arch: 'arm64' }));
  const plan = await ctx.newPlan({ targets: ts, services: ss });
  return {
    planId: plan.id,
    planName: plan.name,
    services: ss.map((s) => ({ id: s.id, name: s.name })),
    targets: ts.map((t) => ({ id: t.id, name: t.name })),
  };
}

/** A run with one queued service_backups row per pair, as the API creates it. */
export async function createRunRows(
  prisma: PrismaClient,
  catalog: CatalogFixture,
  pairs: { serviceId: string; targetId: string }[],
): Promise<RunFixture> {
  const run = await new CatalogFactories(prisma).newRun(catalog.planId, pairs);
  return { runId: run.id, planId: catalog.planId, pairs };
}

export { reportJobId };

/** The run's flow, with the job ids and child options of apps/api runs.service.ts. */
export async function addRunFlow(config: ReportConfig, run: RunFixture): Promise<void> {
  const flows = new FlowProducer({
    connection: { url: config.redisUrl, maxRetriesPerRequest: null },
    prefix: config.queuePrefix,
  });
  try {
    await flows.add({
      name: 'report.aggregate',
      queueName: JOBS['report.aggregate'].queue,
      data: parseJobPayload('report.aggregate', { runId: run.runId, planId: run.planId }),
      opts: { jobId: reportJobId(run.runId) },
      children: run.pairs.map((p) => ({
        name: 'backup.run',
        queueName: JOBS['backup.run'].queue,
        data: parseJobPayload('backup.run', { runId: run.runId, planId: run.planId, ...p }),
        opts: {
          jobId: `backup-${run.runId}-${p.serviceId}-${p.targetId}`,
          attempts: 1,
          ignoreDependencyOnFailure: true,
        },
      })),
    });
  } finally {
    await flows.close();
  }
}

export type CannedOutcome = 'success' | 'failed' | 'throw';

export function successResult(unreadable = 0): JobResult<'backup.run'> {
  return parseJobResult('backup.run', {
    status: 'success',
    snapshot: {
      id: randomBytes(32).toString('hex'),
      time: new Date().toISOString(),
      arch: 'arm64',
      parent: null,
    },
    stats: {
      files: 12,
      dirs: 3,
      totalBytes: 4096,
      bytesRead: 4096,
      bytesAdded: 1024,
      blobsAdded: 4,
      filesNew: 12,
      filesChanged: 0,
      filesUnmodified: 0,
      errors: unreadable,
      durationMs: 1500,
    },
    unreadable: Array.from({ length: unreadable }, (_, i) => ({ path: `/srv/f${i}`, error: 'EACCES' })),
    durationMs: 1500,
  });
}

/**
 * Stands in for apps/worker: completes backup children with the outcome chosen per service (and
 * remembers the results it returned). It writes no rows, like a worker whose own write was lost.
 */
export class CannedBackupWorker {
  readonly outcomes = new Map<string, CannedOutcome>();
  readonly results = new Map<string, JobResult<'backup.run'>>();
  private readonly worker: Worker;

  constructor(config: ReportConfig) {
    this.worker = new Worker(
      QUEUES.backup,
      (job) => {
        const p = parseJobPayload('backup.run', job.data);
        const outcome = this.outcomes.get(p.serviceId) ?? 'success';
        if (outcome === 'throw') throw new UnrecoverableError('hook config unreadable: canned failure');
        const result =
          outcome === 'success'
            ? successResult(7)
            : parseJobResult('backup.run', {
                status: 'failed',
                error: { code: 'FULL', message: 'target is full' },
                durationMs: 20,
              });
        this.results.set(`${p.serviceId}/${p.targetId}`, result);
        return Promise.resolve(result);
      },
      { connection: { url: config.redisUrl, maxRetriesPerRequest: null }, prefix: config.queuePrefix },
    );
  }

  waitUntilReady(): Promise<unknown> {
    return this.worker.waitUntilReady();
  }

  close(): Promise<void> {
    return this.worker.close();
  }
}

export interface ReceivedHook {
  url: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A local webhook receiver answering `status` to every POST. */
export async function webhookReceiver(status: number): Promise<{
  url: (path: string) => string;
  received: ReceivedHook[];
  close(): Promise<void>;
}> {
  const received: ReceivedHook[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        url: req.url ?? '',
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') as unknown,
      });
      res.writeHead(status, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Polls `probe` until it returns a value other than undefined (no timed assertion: a deadline only). */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  what: string,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
