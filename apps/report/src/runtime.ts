/**
 * Everything one report process holds, started and stopped in order: Postgres (Prisma), Redis
 * (health), the queues it reads from (backup: children's data) and writes to (maintenance:
 * retention), the live-event publisher, the progress coalescer fed by the event handlers, the
 * BullMQ Worker on the `report` queue, and the health listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import type { ReportConfig } from '@vaultline/config';
import { assertHandlers, QUEUES, type EventPayload } from '@vaultline/contracts';
import { createPrismaClient, type PrismaClient } from '@vaultline/db';
import { EventPublisher } from '@vaultline/events';
import { FleetMetrics, startHealthServer } from '@vaultline/observability';

import { FleetGauges } from './fleet-gauges';
import { ProgressCoalescer, type ProgressValue } from './progress';
import { Reaper, type ReaperOptions } from './reaper';
import { ReportProcessor } from './report-processor';
import type { WebhookOptions } from './webhook';

export interface ReportRuntimeOptions {
  /** Interface of the health listener (default all). */
  healthHost?: string;
  /** Reports built at once (default 2; each is one short transaction and maybe a webhook). */
  concurrency?: number;
  webhook?: WebhookOptions;
  /** How often coalesced progress is written (default 1 s). */
  progressIntervalMs?: number;
  /**
   * BullMQ's job lock (default 30 s, renewed while the job runs) and how often this process looks
   * for jobs whose holder died (default 30 s): together they bound how soon a report a crashed
   * process was building is taken over.
   */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  /** How often and after how long open runs and restores whose jobs are gone are ended. */
  reaper?: ReaperOptions;
}

/** The job names this process handles, checked against the contracts at start. */
const HANDLED_JOBS = ['report.aggregate'] as const;

/** Rows are keyed by UUIDs; another fleet sharing Redis may use other ids, which Postgres would reject. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ReportRuntime {
  private prisma?: PrismaClient;
  private redis?: Redis;
  private publisher?: EventPublisher;
  private backupQueue?: Queue;
  private maintenanceQueue?: Queue;
  private reportQueue?: Queue;
  private restoreQueue?: Queue;
  private reaper?: Reaper;
  private scheduleQueue?: Queue;
  private gauges?: FleetGauges;
  readonly metrics = new FleetMetrics('report');
  private worker?: Worker;
  private health?: Server;
  private progress?: ProgressCoalescer;
  private stopping?: Promise<void>;

  constructor(
    private readonly config: ReportConfig,
    private readonly logger: Logger,
    private readonly options: ReportRuntimeOptions = {},
  ) {}

  /** The port the health listener is bound to (useful with METRICS_PORT=0 in tests). */
  get healthPort(): number {
    return (this.health?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    // A job nobody handles would wait forever; fail at start instead.
    assertHandlers(HANDLED_JOBS, [QUEUES.report]);

    const { config, logger } = this;
    const connection = { url: config.redisUrl, maxRetriesPerRequest: null };
    const prisma = (this.prisma = createPrismaClient(config.databaseUrl, { pool: { max: 6 } }));
    const redis = (this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    this.publisher = EventPublisher.create(config.redisUrl, logger.child({ component: 'events' }));
    this.backupQueue = new Queue(QUEUES.backup, { connection, prefix: config.queuePrefix });
    this.maintenanceQueue = new Queue(QUEUES.maintenance, { connection, prefix: config.queuePrefix });
    this.reportQueue = new Queue(QUEUES.report, { connection, prefix: config.queuePrefix });
    this.restoreQueue = new Queue(QUEUES.restore, { connection, prefix: config.queuePrefix });
    this.scheduleQueue = new Queue(QUEUES.schedule, { connection, prefix: config.queuePrefix });
    const queues = [
      this.backupQueue,
      this.maintenanceQueue,
      this.reportQueue,
      this.restoreQueue,
      this.scheduleQueue,
    ];
    for (const q of queues) {
      q.on('error', (err) => logger.warn({ err, queue: q.name }, 'queue connection error'));
    }

    this.progress = new ProgressCoalescer(
      (v) => this.writeProgress(prisma, v),
      logger.child({ component: 'progress' }),
      this.options.progressIntervalMs,
    );
    this.progress.start();

    const processor = new ReportProcessor({
      prisma,
      logger: logger.child({ queue: QUEUES.report }),
      queuePrefix: config.queuePrefix,
      backupQueue: this.backupQueue,
      maintenanceQueue: this.maintenanceQueue,
      events: this.publisher,
      webhookUrl: config.webhookUrl,
      metrics: this.metrics,
      ...(this.options.webhook ? { webhookOptions: this.options.webhook } : {}),
    });
    this.worker = new Worker(QUEUES.report, (job) => processor.process(job), {
      connection,
      prefix: config.queuePrefix,
      concurrency: this.options.concurrency ?? 2,
      ...(this.options.lockDurationMs ? { lockDuration: this.options.lockDurationMs } : {}),
      ...(this.options.stalledIntervalMs ? { stalledInterval: this.options.stalledIntervalMs } : {}),
    });
    this.worker.on('error', (err) => logger.error({ err }, 'bullmq worker error'));
    this.worker.on('failed', (job, err) =>
      logger.warn({ jobId: job?.id, err: err.message }, 'report attempt failed'),
    );

    this.health = await startHealthServer(
      config.metricsPort,
      {
        redis: () => redis.ping(),
        postgres: () => prisma.$queryRaw`SELECT 1`,
      },
      this.options.healthHost,
      () => this.metrics.expose(),
    );
    await this.worker.waitUntilReady();
    this.reaper = new Reaper(
      {
        prisma,
        redis,
        queuePrefix: config.queuePrefix,
        reportQueue: this.reportQueue,
        restoreQueue: this.restoreQueue,
        processor,
        logger: logger.child({ component: 'reaper' }),
      },
      this.options.reaper,
    );
    this.reaper.start();
    this.gauges = new FleetGauges({
      prisma,
      queues,
      metrics: this.metrics,
      logger: logger.child({ component: 'metrics' }),
    });
    this.gauges.start();
    logger.info({ queue: QUEUES.report, healthPort: this.healthPort }, 'report service started');
  }

  /**
   * `backup.started`: a new attempt, so what the previous one left waiting is stale; and the run
   * shows as running from its first backup on (guarded by `queued`: never undoes a finished run).
   */
  onBackupStarted(event: EventPayload<'backup.started'>): void {
    if (!this.accepts(event) || !this.prisma) return;
    this.progress?.forget(event);
    void this.prisma.run
      .updateMany({
        where: { id: event.runId, planId: event.planId, status: 'queued' },
        data: { status: 'running', startedAt: new Date(event.at) },
      })
      .catch((err: unknown) => this.logger.warn({ err, runId: event.runId }, 'run not marked running'));
  }

  /** `backup.progress`: kept until the next flush (at most one write per backup per second). */
  onBackupProgress(event: EventPayload<'backup.progress'>): void {
    if (!this.accepts(event)) return;
    this.progress?.record({
      runId: event.runId,
      serviceId: event.serviceId,
      targetId: event.targetId,
      bytesRead: event.progress.bytesDone,
      files: event.progress.filesDone,
    });
  }

  private accepts(e: { runId: string; planId: string; serviceId: string; targetId: string }): boolean {
    return !this.stopping && [e.runId, e.planId, e.serviceId, e.targetId].every((id) => UUID_RE.test(id));
  }

  /**
   * Guarded by `running`: a progress event that arrives after the worker (or the report) finished
   * the row never overwrites its final numbers. Unknown ids simply match nothing.
   */
  private async writeProgress(prisma: PrismaClient, v: ProgressValue): Promise<void> {
    await prisma.serviceBackup.updateMany({
      where: { runId: v.runId, serviceId: v.serviceId, targetId: v.targetId, status: 'running' },
      data: { bytesRead: BigInt(v.bytesRead), files: v.files },
    });
  }

  /**
   * Graceful stop: the BullMQ worker closes after the report it is building (transaction, retention
   * jobs, webhook); the last progress is written; then the connections go.
   */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.logger.info('report service stopping');
      await this.reaper?.stop();
      await this.gauges?.stop();
      await this.worker?.close();
      await this.progress?.stop();
      await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
      await this.backupQueue?.close();
      await this.maintenanceQueue?.close();
      await this.reportQueue?.close();
      await this.restoreQueue?.close();
      await this.scheduleQueue?.close();
      await this.publisher?.close().catch(() => undefined);
      await this.redis?.quit().catch(() => undefined);
      await this.prisma?.$disconnect();
      this.logger.info('report service stopped');
    })();
    return this.stopping;
  }
}
