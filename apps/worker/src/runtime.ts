/**
 * Everything one worker process holds, started and stopped in order: Postgres (the catalog), Redis
 * (locks, health), ONE engine WorkerPool shared by every job of the process (worker threads are
 * costly to start and each job would otherwise spawn its own), ONE live-event publisher, the BullMQ
 * Workers on the `backup`, `restore` and `maintenance` queues, and the health listener.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import type { Worker } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { outboundPolicyOf, type WorkerConfig, type WorkerQueue } from '@vaultline/config';
import { assertHandlers, QUEUES } from '@vaultline/contracts';
import { type Catalog, createCatalog } from '@vaultline/catalog';
import { WorkerPool } from '@vaultline/engine';
import { EventPublisher } from '@vaultline/events';
import { jobWorker, type JobHandlers } from '@vaultline/jobs';
import { FleetMetrics, startHealthServer } from '@vaultline/observability';
import { serverKeys } from '@vaultline/secrets';
import { setTargetsOutboundPolicy } from '@vaultline/targets';

import { BackupProcessor, type BackupProcessorOptions } from './backup-processor';
import { resolveHookIdentity } from './hooks';
import { MaintenanceProcessor, type MaintenanceProcessorOptions } from './maintenance-processor';
import { VerifyProcessor } from './verify-processor';
import { RestoreProcessor, type RestoreProcessorOptions } from './restore-processor';

export interface WorkerRuntimeOptions
  extends BackupProcessorOptions, RestoreProcessorOptions, MaintenanceProcessorOptions {
  /** Engine worker threads (default: the engine's choice, up to 4). */
  poolSize?: number;
  /** Interface of the health listener (default all). */
  healthHost?: string;
}

/** Each queue's handler map (keyed by its job names: a job without a handler does not compile). */
type WorkerHandlers = { [Q in WorkerQueue]: JobHandlers<(typeof QUEUES)[Q]> };

export class WorkerRuntime {
  private readonly shutdownController = new AbortController();
  readonly metrics = new FleetMetrics('worker');
  private catalog?: Catalog;
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
    const consumed = this.config.workerQueues;
    const { config, logger } = this;
    // Before any connection: a wrong HOOK_UID is a configuration error, not a failed backup later.
    const hookIdentity = resolveHookIdentity(config, {
      uid: process.getuid?.() ?? -1,
      gid: process.getgid?.() ?? -1,
    });
    this.catalog = createCatalog(config.databaseUrl, {
      // Backups and restores (WORKER_CONCURRENCY each, per queue: the shared ones and one per
      // NODE_NAME / NODE_LABELS placement) and one maintenance job at a time.
      pool: {
        max: Math.max(
          4,
          config.workerConcurrency * (3 + 2 * (Number(Boolean(config.nodeName)) + config.nodeLabels.length)) +
            1,
        ),
      },
    });
    this.redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 3, lazyConnect: false });
    this.redis.on('error', (err) => logger.warn({ err }, 'redis connection error'));
    this.pool = new WorkerPool(this.options.poolSize);
    // Its own Redis connections (a subscriber-capable client of @nestjs/microservices); connects
    // on the first event, so a worker starts even while Redis is briefly away.
    this.events = EventPublisher.create(config.redisUrl, logger.child({ component: 'events' }));

    const keys = serverKeys(config);
    // HTTP hooks and S3 targets connect through it; each address is checked at connect time.
    const outbound = outboundPolicyOf(config, logger.child({ component: 'outbound' }));
    setTargetsOutboundPolicy(outbound);
    const shared = {
      catalog: this.catalog,
      redis: this.redis,
      keys,
      pool: this.pool,
      events: this.events,
      queuePrefix: config.queuePrefix,
      shutdown: this.shutdownController.signal,
      metrics: this.metrics,
      hookIdentity,
      outbound,
      // A dead worker's service lock frees itself after this long (renewed at a third of it).
      options: { lockTtlMs: config.jobLockMs * 2, ...this.options },
    };
    const backup = new BackupProcessor({ ...shared, logger: logger.child({ queue: QUEUES.backup }) });
    const restore = new RestoreProcessor({ ...shared, logger: logger.child({ queue: QUEUES.restore }) });
    const maintenance = new MaintenanceProcessor({
      ...shared,
      logger: logger.child({ queue: QUEUES.maintenance }),
    });
    const verify = new VerifyProcessor({ ...shared, logger: logger.child({ queue: QUEUES.maintenance }) });
    const handlers: WorkerHandlers = {
      backup: { 'backup.run': (payload, job, token) => backup.process(payload, job, token) },
      restore: { 'restore.run': (payload, job, token) => restore.process(payload, job, token) },
      maintenance: {
        'maintenance.retention': (payload, job) => maintenance.process('maintenance.retention', payload, job),
        'maintenance.deletePlan': (payload, job) =>
          maintenance.process('maintenance.deletePlan', payload, job),
        'maintenance.syncCatalog': (payload, job) =>
          maintenance.process('maintenance.syncCatalog', payload, job),
        'maintenance.verify': (payload, job) => verify.process(payload, job),
      },
    };
    // A job nobody handles would wait forever: fail at start instead, before any worker takes a
    // job. Only the queues of WORKER_QUEUES: a restore-only Deployment (writable mount) and backup
    // workers (read-only mount) can split the work.
    assertHandlers(
      consumed.flatMap((q) => Object.keys(handlers[q])),
      consumed.map((q) => QUEUES[q]),
    );
    const concurrency: Record<WorkerQueue, number> = {
      backup: config.workerConcurrency,
      restore: config.workerConcurrency,
      // One at a time per process: a prune loads a repository's whole index and holds its
      // exclusive lock; more maintenance throughput comes from more pods, not from one pod's memory.
      maintenance: 1,
    };
    // With NODE_NAME, backups and restores come from two queues: the shared one and this node's
    // own (`backup@<node>`, jobs of services whose data lives here). Each queue gets its own
    // WORKER_CONCURRENCY: a node's services are not starved by the shared queue's backlog.
    // And one per label in NODE_LABELS (`backup@disk=ssd`: services placed on nodes so labelled).
    // NODE_QUEUES_ONLY: a node worker (DaemonSet) without the shared volume takes only its node's.
    const placements = [...(config.nodeName ? [config.nodeName] : []), ...config.nodeLabels];
    const sharedToo = !(placements.length && config.nodeQueuesOnly);
    this.workers = consumed.flatMap((q) => {
      switch (q) {
        case 'backup':
          return [
            ...(sharedToo ? [this.createWorker(QUEUES.backup, handlers.backup, concurrency.backup)] : []),
            ...placements.map((p) =>
              this.createWorker(QUEUES.backup, handlers.backup, concurrency.backup, p),
            ),
          ];
        case 'restore':
          return [
            ...(sharedToo ? [this.createWorker(QUEUES.restore, handlers.restore, concurrency.restore)] : []),
            ...placements.map((p) =>
              this.createWorker(QUEUES.restore, handlers.restore, concurrency.restore, p),
            ),
          ];
        case 'maintenance':
          return [this.createWorker(QUEUES.maintenance, handlers.maintenance, concurrency.maintenance)];
      }
    });

    const catalog = this.catalog;
    const redis = this.redis;
    this.health = await startHealthServer(
      config.metricsPort,
      {
        redis: () => redis.ping(),
        postgres: () => catalog.ping(),
      },
      this.options.healthHost,
      () => this.metrics.expose(),
    );
    this.metrics.jobSlots.set(config.workerConcurrency);
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    logger.info(
      {
        queues: consumed,
        node: config.nodeName,
        concurrency: config.workerConcurrency,
        healthPort: this.healthPort,
      },
      'worker started',
    );
  }

  private createWorker<Q extends (typeof QUEUES)[WorkerQueue]>(
    queue: Q,
    handlers: JobHandlers<Q>,
    concurrency: number,
    node?: string,
  ): Worker {
    const { config, logger } = this;
    const active = this.metrics.jobsActive.labels({ queue });
    const worker = jobWorker(queue, handlers, {
      redisUrl: config.redisUrl,
      prefix: config.queuePrefix,
      ...(node ? { node } : {}),
      around: async (_job, run) => {
        active.inc();
        try {
          return await run();
        } finally {
          active.dec();
        }
      },
      concurrency,
      // How soon a job whose worker died (SIGKILL, OOM, lost node) is handed to another: the
      // lock lapses after JOB_LOCK_MS and stalled jobs are looked for as often.
      lockDuration: config.jobLockMs,
      stalledInterval: config.jobLockMs,
    });
    worker.on('error', (err) => logger.error({ err, queue, node }, 'bullmq worker error'));
    worker.on('failed', (job, err) =>
      logger.warn({ queue, node, jobId: job?.id, err: err.message }, 'job attempt failed'),
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
      await this.catalog?.disconnect();
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
