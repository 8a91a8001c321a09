/**
 * Everything one worker process holds, started and stopped in order: Postgres (Prisma), Redis
 * (locks, health), ONE engine WorkerPool shared by every job of the process (worker threads are
 * costly to start and each backup would otherwise spawn its own), the BullMQ Worker on the
 * `backup` queue, and the health listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import type { WorkerConfig } from '@vaultline/config';
import { assertHandlers, QUEUES } from '@vaultline/contracts';
import { createPrismaClient, type PrismaClient } from '@vaultline/db';
import { WorkerPool } from '@vaultline/engine';
import { serverKeys } from '@vaultline/secrets';

import { BackupProcessor, type BackupProcessorOptions } from './backup-processor';
import { startHealthServer } from '@vaultline/observability';

export interface WorkerRuntimeOptions extends BackupProcessorOptions {
  /** Engine worker threads (default: the engine's choice, up to 4). */
  poolSize?: number;
  /** Interface of the health listener (default all). */
  healthHost?: string;
}

/** The job names this process handles, checked against the contracts at start. */
const HANDLED_JOBS = ['backup.run'] as const;

export class WorkerRuntime {
  private readonly shutdownController = new AbortController();
  private prisma?: PrismaClient;
  private redis?: Redis;
  private pool?: WorkerPool;
  private worker?: Worker;
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
    // A job nobody handles would wait forever; fail at start instead (STYLE.md rule 3). The
    // restore queue joins with its handler.
    assertHandlers(HANDLED_JOBS, [QUEUES.backup]);

    const { config, logger } = this;
    this.prisma = createPrismaClient(config.databaseUrl, {
      pool: { max: Math.max(4, config.workerConcurrency * 2) },
    });
    this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    this.pool = new WorkerPool(this.options.poolSize);

    const processor = new BackupProcessor({
      prisma: this.prisma,
      redis: this.redis,
      keys: serverKeys(config),
      pool: this.pool,
      logger: logger.child({ queue: QUEUES.backup }),
      queuePrefix: config.queuePrefix,
      shutdown: this.shutdownController.signal,
      options: this.options,
    });
    this.worker = new Worker(QUEUES.backup, (job, token) => processor.process(job, token), {
      connection: { url: config.redisUrl, maxRetriesPerRequest: null },
      prefix: config.queuePrefix,
      concurrency: config.workerConcurrency,
    });
    this.worker.on('error', (err) => logger.error({ err }, 'bullmq worker error'));
    this.worker.on('failed', (job, err) =>
      logger.warn({ jobId: job?.id, err: err.message }, 'job attempt failed'),
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
    );
    await this.worker.waitUntilReady();
    logger.info(
      { queue: QUEUES.backup, concurrency: config.workerConcurrency, healthPort: this.healthPort },
      'worker started',
    );
  }

  /**
   * Graceful stop (SIGTERM): running backups are cancelled through their AbortSignal, stop at the
   * engine's next safe point and put their jobs back in `wait`; then the BullMQ worker closes
   * (waiting for those jobs to hand back) and the connections go.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('worker stopping');
      this.shutdownController.abort(new Error('worker shutting down'));
      await this.worker?.close();
      await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
      await this.pool?.close();
      await this.redis?.quit().catch(() => undefined);
      await this.prisma?.$disconnect();
      this.logger.info('worker stopped');
    })();
    return this.stopping;
  }
}
