/**
 * Everything one report process holds, started and stopped in order: Postgres (the catalog), Redis
 * (health), the job gateway (reads children's data and job states, queues retention, counts jobs
 * for the gauges), the live-event publisher, the progress coalescer fed by the event handlers, the
 * BullMQ Worker on the `report` queue, and the health listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { outboundPolicyOf, type ReportConfig } from '@vaultline/config';
import { QUEUES, type EventPayload } from '@vaultline/contracts';
import { type Catalog, createCatalog } from '@vaultline/catalog';
import { EventPublisher } from '@vaultline/events';
import { JobGateway, jobWorker } from '@vaultline/jobs';
import { FleetMetrics, startHealthServer } from '@vaultline/observability';

import { FleetGauges } from './fleet-gauges';
import { NodeWatch, type NodeWatchOptions } from './node-watch';
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
  /** How often node queues are checked (grace and deadline come from the config). */
  nodeWatch?: Pick<NodeWatchOptions, 'intervalMs'>;
}

/** Rows are keyed by UUIDs; another fleet sharing Redis may use other ids, which Postgres would reject. */
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ReportRuntime {
  private catalog?: Catalog;
  private redis?: Redis;
  private publisher?: EventPublisher;
  private jobs?: JobGateway;
  private reaper?: Reaper;
  private gauges?: FleetGauges;
  private nodeWatch?: NodeWatch;
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
    const { config, logger } = this;
    const catalog = (this.catalog = createCatalog(config.databaseUrl, { pool: { max: 6 } }));
    const redis = (this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3 }));
    redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    this.publisher = EventPublisher.create(config.redisUrl, logger.child({ component: 'events' }));
    const jobs = (this.jobs = new JobGateway({
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      onError: (err, queue) => logger.warn({ err, queue }, 'queue connection error'),
    }));

    this.progress = new ProgressCoalescer(
      (v) => this.writeProgress(catalog, v),
      logger.child({ component: 'progress' }),
      this.options.progressIntervalMs,
    );
    this.progress.start();

    const processor = new ReportProcessor({
      catalog,
      logger: logger.child({ queue: QUEUES.report }),
      queuePrefix: config.queuePrefix,
      jobs,
      events: this.publisher,
      webhookUrl: config.webhookUrl,
      metrics: this.metrics,
      webhookOptions: {
        ...this.options.webhook,
        outbound: outboundPolicyOf(config, logger.child({ component: 'outbound' })),
      },
    });
    // A job nobody handles would wait forever: jobWorker checks the map against the contracts.
    this.worker = jobWorker(
      QUEUES.report,
      { 'report.aggregate': (payload, job) => processor.process(payload, job) },
      {
        redisUrl: config.redisUrl,
        prefix: config.queuePrefix,
        concurrency: this.options.concurrency ?? 2,
        ...(this.options.lockDurationMs ? { lockDuration: this.options.lockDurationMs } : {}),
        ...(this.options.stalledIntervalMs ? { stalledInterval: this.options.stalledIntervalMs } : {}),
      },
    );
    this.worker.on('error', (err) => logger.error({ err }, 'bullmq worker error'));
    this.worker.on('failed', (job, err) =>
      logger.warn({ jobId: job?.id, err: err.message }, 'report attempt failed'),
    );

    this.health = await startHealthServer(
      config.metricsPort,
      {
        redis: () => redis.ping(),
        postgres: () => catalog.ping(),
      },
      this.options.healthHost,
      () => this.metrics.expose(),
    );
    await this.worker.waitUntilReady();
    this.reaper = new Reaper(
      {
        catalog,
        redis,
        queuePrefix: config.queuePrefix,
        jobs,
        processor,
        logger: logger.child({ component: 'reaper' }),
      },
      this.options.reaper,
    );
    this.reaper.start();
    this.gauges = new FleetGauges({
      catalog,
      jobs,
      metrics: this.metrics,
      logger: logger.child({ component: 'metrics' }),
    });
    this.gauges.start();
    this.nodeWatch = new NodeWatch(
      { catalog, jobs, metrics: this.metrics, logger: logger.child({ component: 'node-watch' }) },
      {
        ...this.options.nodeWatch,
        graceMs: config.nodeWorkerGraceSeconds * 1000,
        deadlineMs: config.nodeJobDeadlineHours * 3_600_000,
      },
    );
    this.nodeWatch.start();
    logger.info({ queue: QUEUES.report, healthPort: this.healthPort }, 'report service started');
  }

  /**
   * `backup.started`: a new attempt, so what the previous one left waiting is stale; and the run
   * shows as running from its first backup on (guarded by `queued`: never undoes a finished run).
   */
  onBackupStarted(event: EventPayload<'backup.started'>): void {
    if (!this.accepts(event) || !this.catalog) return;
    this.progress?.forget(event);
    void this.catalog.runs
      .markStarted(event.runId, new Date(event.at), event.planId)
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
  private async writeProgress(catalog: Catalog, v: ProgressValue): Promise<void> {
    await catalog.backups.recordProgress(
      { runId: v.runId, serviceId: v.serviceId, targetId: v.targetId },
      v.bytesRead,
      v.files,
    );
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
      await this.nodeWatch?.stop();
      await this.worker?.close();
      await this.progress?.stop();
      await new Promise<void>((resolve) => (this.health ? this.health.close(() => resolve()) : resolve()));
      await this.jobs?.close();
      await this.publisher?.close().catch(() => undefined);
      await this.redis?.quit().catch(() => undefined);
      await this.catalog?.disconnect();
      this.logger.info('report service stopped');
    })();
    return this.stopping;
  }
}
