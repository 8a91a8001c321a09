/**
 * Turns the plans' job scheduler firings into runs. A BullMQ job scheduler can only add a plain
 * job (`schedule.run` with the plan id), not a flow, so this consumer — inside the API, which owns
 * runs — creates the Run row and its report/backup flow, exactly like a manual run but with the
 * trigger `schedule`.
 */
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import {
  type JobPayload,
  type JobResult,
  type JobsOfQueue,
  parseJobResult,
  QUEUES,
} from '@vaultline/contracts';
import { jobDispatcher, jobWorker, type JobHandlers } from '@vaultline/jobs';
import type { Job, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { QueuesService } from '../common/queues.service';
import { API_CONFIG, LOGGER } from '../common/tokens';
import { RunsService } from '../runs/runs.service';

/** Whether this API process consumes the schedule queue (AppOptions.scheduleConsumer). */
export const SCHEDULE_CONSUMER_ENABLED = Symbol('SCHEDULE_CONSUMER_ENABLED');

type ScheduleJob = JobsOfQueue<typeof QUEUES.schedule>;

/**
 * One firing at a time per process: a firing is a few queries and one flow, and running them in
 * order keeps two firings of one plan from racing (the advisory lock in RunsService covers
 * several API replicas).
 */
const CONCURRENCY = 1;

/** How long a shutdown waits for a firing being handled (its Redis and database calls are bounded). */
const CLOSE_GRACE_MS = 20_000;

@Injectable()
export class ScheduleConsumer implements OnApplicationBootstrap, OnModuleDestroy {
  private worker?: Worker;
  /** Firings being handled right now: a shutdown waits for them, and only for them. */
  private readonly inflight = new Set<Promise<unknown>>();
  /** Annotated, so a handler missing, or one for a job of another queue, does not compile. */
  private readonly handlers: JobHandlers<typeof QUEUES.schedule> = {
    'schedule.run': (payload, job) => this.scheduleRun(payload, job),
  };
  /** One job of the queue (public for the unit tests; BullMQ calls it through the worker). */
  readonly handle: (job: Job) => Promise<JobResult<ScheduleJob>>;

  constructor(
    private readonly runs: RunsService,
    private readonly queues: QueuesService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULE_CONSUMER_ENABLED) private readonly enabled: boolean,
  ) {
    // At construction, so a handler missing for a job of the queue fails the start, not a firing.
    this.handle = jobDispatcher(QUEUES.schedule, this.handlers);
  }

  /**
   * After every module's onModuleInit (the database is connected): a firing that is waiting in
   * Redis would otherwise reach a half-started app.
   */
  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const worker = jobWorker(QUEUES.schedule, this.handlers, {
      redisUrl: this.config.redisUrl,
      prefix: this.config.queuePrefix,
      concurrency: CONCURRENCY,
      around: (_job, run) => this.track(run()),
    });
    worker.on('error', (err) => this.logger.error({ err, queue: QUEUES.schedule }, 'bullmq worker error'));
    worker.on('failed', (job, err) =>
      this.logger.warn({ queue: QUEUES.schedule, jobId: job?.id, err: err.message }, 'job attempt failed'),
    );
    this.worker = worker;
  }

  /**
   * Waits for a firing being handled, so its run is either fully queued or taken back. With none,
   * the worker is closed at once: BullMQ's graceful close waits for Redis, which may be down.
   */
  async onModuleDestroy(): Promise<void> {
    const worker = this.worker;
    if (!worker) return;
    if (this.inflight.size) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        worker.close(),
        new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
      ]);
      clearTimeout(timer);
    }
    await worker.close(true);
  }

  private track<T>(handled: Promise<T>): Promise<T> {
    this.inflight.add(handled);
    const done = (): void => {
      this.inflight.delete(handled);
    };
    void handled.then(done, done);
    return handled;
  }

  private async scheduleRun(
    { planId }: JobPayload<'schedule.run'>,
    job: Job,
  ): Promise<JobResult<'schedule.run'>> {
    const result = await this.runs.startScheduled(planId);
    this.logger.info({ jobId: job.id, planId, ...result }, 'scheduled run');
    if (result.outcome === 'skipped' && result.reason === 'PLAN_DELETED') {
      // Deletion is final: a scheduler that outlived it (re-created by a racing resume) would fire
      // for ever. Not for PLAN_PAUSED: a resume racing this firing must keep its new scheduler.
      await this.queues
        .run(() => this.queues.jobs.removeScheduler('schedule.run', planId))
        .catch((err: unknown) => {
          this.logger.warn({ err, planId }, 'could not remove the scheduler of a deleted plan');
        });
    }
    return parseJobResult('schedule.run', result);
  }
}
