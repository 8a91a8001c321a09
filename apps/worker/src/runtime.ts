/**
 * Everything one worker process holds, started and stopped in order: Postgres (Prisma), Redis
 * (locks, health), ONE engine WorkerPool shared by every job of the process (worker threads are
 * costly to start and each job would otherwise spawn its own), ONE live-event publisher, the BullMQ
 * Workers on the `backup`, `restore` and `maintenance` queues, and the health listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Worker, type Processor } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { OutboundPolicy, type WorkerConfig, type WorkerQueue } from '@vaultline/config';
import { assertHandlers, QUEUES } from '@vaultline/contracts';
import { createPrismaClient, type PrismaClient } from '@vaultline/db';
import { WorkerPool } from '@vaultline/engine';
import { EventPublisher } from '@vaultline/events';
import { FleetMetrics, startHealthServer } from '@vaultline/observability';
import { serverKeys } from '@vaultline/secrets';

import { BackupProcessor, type BackupProcessorOptions } from './backup-processor';
import { resolveHookIdentity } from './hooks';
import { MaintenanceProcessor, type MaintenanceProcessorOptions } from './maintenance-processor';
import { RestoreProcessor, type RestoreProcessorOptions } from './restore-processor';

export interface WorkerRuntimeOptions
  extends BackupProcessorOptions, RestoreProcessorOptions, MaintenanceProcessorOptions {
  /** Engine worker threads (default: the engine's choice, up to 4). */
  poolSize?: number;
  /** Interface of the health listener (default all). */
  healthHost?: string;
}

/** The job names each queue's processor handles, checked against the contracts at start. */
const HANDLED_JOBS: Record<WorkerQueue, readonly string[]> = {
  backup: ['backup.run'],
  restore: ['restore.run'],
  maintenance: ['maintenance.retention', 'maintenance.deletePlan', 'maintenance.syncCatalog'],
};

export class WorkerRuntime {
  private readonly shutdownController = new AbortController();
  readonly metrics = new FleetMetrics('worker');
  private prisma?: PrismaClient;
  private redis?: Redis;
  private pool?: WorkerPool;
  private events?: EventPublisher;
  private workers: Worker[] = [];
  private health?: Server;
  private stopping?: Promise<void>;

  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    private readonly options: WorkerRuntimeOptions = {},
  ) {}

  /** The port the health listener is bound to (useful with METRICS_PORT=0 in tests). */
  get healthPort(): number {
    return (this.health?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    // A job nobody handles would wait forever; fail at start instead.
    // Only the queues of WORKER_QUEUES: a restore-only Deployment (writable mount) and backup
    // workers (read-only mount) can split the work.
    const consumed = this.config.workerQueues;
    assertHandlers(
      consumed.flatMap((q) => HANDLED_JOBS[q]),
      consumed.map((q) => QUEUES[q]),
    );

    const { config, logger } = this;
    // Before any connection: a wrong HOOK_UID is a configuration error, not a failed backup later.
    const hookIdentity = resolveHookIdentity(config, {
      uid: process.getuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
    });
    this.prisma = createPrismaClient(config.databaseUrl, {
      // Backups and restores (WORKER_CONCURRENCY each) and one maintenance job at a time.
      pool: { max: Math.max(4, config.workerConcurrency * 3 + 1) },
    });
    this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    this.pool = new WorkerPool(this.options.poolSize);
    // Its own Redis connections (a subscriber-capable client of @nestjs/microservices); connects
    // on the first event, so a worker starts even while Redis is briefly away.
    this.events = EventPublisher.create(config.redisUrl, logger.child({ component: 'events' }));

    const keys = serverKeys(config);
    const shared = {
      prisma: this.prisma,
      redis: this.redis,
      keys,
      pool: this.pool,
      events: this.events,
      queuePrefix: config.queuePrefix,
      shutdown: this.shutdownController.signal,
      metrics: this.metrics,
      hookIdentity,
      outbound: new OutboundPolicy({ allow: config.outboundAllowCidrs, deny: config.outboundDenyCidrs }),
      // A dead worker's service lock frees itself after this long (renewed at a third of it).
      options: { lockTtlMs: config.jobLockMs * 2, ...this.options },
    };
    const backup = new BackupProcessor({ ...shared, logger: logger.child({ queue: QUEUES.backup }) });
    const restore = new RestoreProcessor({ ...shared, logger: logger.child({ queue: QUEUES.restore }) });
    const maintenance = new MaintenanceProcessor({
      ...shared,
      logger: logger.child({ queue: QUEUES.maintenance }),
    });
    const processors: Record<WorkerQueue, { process: Processor; concurrency: number }> = {
      backup: { process: (job, token) => backup.process(job, token), concurrency: config.workerConcurrency },
      restore: {
        process: (job, token) => restore.process(job, token),
        concurrency: config.workerConcurrency,
      },
      // One at a time per process: a prune loads a repository's whole index and holds its
      // exclusive lock; more maintenance throughput comes from more pods, not from one pod's memory.
      maintenance: { process: (job) => maintenance.process(job), concurrency: 1 },
    };
    this.workers = consumed.map((q) =>
      this.createWorker(QUEUES[q], processors[q].process, processors[q].concurrency),
    );

    const prisma = this.prisma;
    const redis = this.redis;
    this.health = await startHealthServer(
      config.metricsPort,
      {
        redis: () => redis.ping(),
        postgres: () => prisma.$queryRaw`SELECT 1`,
      },
      this.options.healthHost,
      () => this.metrics.expose(),
    );
    this.metrics.jobSlots.set(config.workerConcurrency);
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    logger.info(
      { queues: consumed, concurrency: config.workerConcurrency, healthPort: this.healthPort },
      'worker started',
    );
  }

  private createWorker(queue: string, processor: Processor, concurrency: number): Worker {
    const { config, logger } = this;
    const active = this.metrics.jobsActive.labels({ queue });
    const counted: Processor = async (job, token) => {
      active.inc();
      try {
        return (await processor(job, token)) as unknown;
      } finally {
        active.dec();
      }
    };
    const worker = new Worker(queue, counted, {
      connection: { url: config.redisUrl, maxRetriesPerRequest: null },
      prefix: config.queuePrefix,
      concurrency,
      // How soon a job whose worker died (SIGKILL, OOM, lost node) is handed to another: the
      // lock lapses after JOB_LOCK_MS and stalled jobs are looked for as often.
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobLockMs,
    });
    worker.on('error', (err) => logger.error({ err, queue }, 'bullmq worker error'));
    worker.on('failed', (job, err) =>
      logger.warn({ queue, jobId: job?.id, err: err.message }, 'job attempt failed'),
    );
    return worker;
  }

  /**
   * Graceful stop (SIGTERM): running backups and restores are cancelled through their AbortSignal,
   * stop at the engine's next safe point and put their jobs back in `wait`; a running maintenance
   * job is waited for (forget/prune take no signal). Then the BullMQ workers close (waiting for
   * those jobs to hand back), the event publisher, and the connections go.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('worker stopping');
      this.shutdownController.abort(new Error('worker shutting down'));
      await Promise.all(this.workers.map((w) => w.close()));
      // Best effort and bounded: a publisher stuck reconnecting must not keep the pod from exiting.
      await closeWithin(this.events?.close(), 5_000);
      await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
      await this.pool?.close();
      await this.redis?.quit().catch(() => undefined);
      await this.prisma?.$disconnect();
      this.logger.info('worker stopped');
    })();
    return this.stopping;
  }
}

/** Waits for `closing` at most `ms`; its failure is ignored (used for best-effort components). */
async function closeWithin(closing: Promise<void> | undefined, ms: number): Promise<void> {
  if (!closing) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    closing.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}
