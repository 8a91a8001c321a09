/**
 * Turns the plans' job scheduler firings into runs. A BullMQ job scheduler can only add a plain
 * job (`schedule.run` with the plan id), not a flow, so this consumer — inside the API, which owns
 * runs — creates the Run row and its report/backup flow, exactly like a manual run but with the
 * trigger `schedule`.
 */
import { Inject, Injectable, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import {
  assertHandlers,
  ContractError,
  isJobName,
  type JobResult,
  type JobsOfQueue,
  parseJobPayload,
  parseJobResult,
  QUEUES,
} from '@vaultline/contracts';
import { type Job, UnrecoverableError, Worker } from 'bullmq';
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
  private readonly handlers: Record<ScheduleJob, (job: Job) => Promise<JobResult<ScheduleJob>>>;

  constructor(
    private readonly runs: RunsService,
    private readonly queues: QueuesService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(SCHEDULE_CONSUMER_ENABLED) private readonly enabled: boolean,
  ) {
    this.handlers = { 'schedule.run': (job) => this.scheduleRun(job) };
    // At construction, so a handler missing for a job of the queue fails the start, not a firing.
    assertHandlers(Object.keys(this.handlers), [QUEUES.schedule]);
  }

  /**
   * After every module's onModuleInit (the database is connected): a firing that is waiting in
   * Redis would otherwise reach a half-started app.
   */
  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    const worker = new Worker(QUEUES.schedule, (job: Job) => this.process(job), {
      connection: { url: this.config.redisUrl, maxRetriesPerRequest: null },
      prefix: this.config.queuePrefix,
      concurrency: CONCURRENCY,
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

  private process(job: Job): Promise<JobResult<ScheduleJob>> {
    const handled = this.handle(job);
    this.inflight.add(handled);
    const done = (): void => {
      this.inflight.delete(handled);
    };
    void handled.then(done, done);
    return handled;
  }

  /** One job of the queue (public for the unit tests; BullMQ calls it through `process`). */
  async handle(job: Job): Promise<JobResult<ScheduleJob>> {
    const name = job.name;
    if (!isJobName(name) || !(name in this.handlers)) {
      throw new UnrecoverableError(`job ${name} is not a job of the ${QUEUES.schedule} queue`);
    }
    return this.handlers[name as ScheduleJob](job);
  }

  private async scheduleRun(job: Job): Promise<JobResult<'schedule.run'>> {
    let planId: string;
    try {
      planId = parseJobPayload('schedule.run', job.data).planId;
    } catch (err) {
      // A malformed template would fail the same way on every retry.
      if (err instanceof ContractError) throw new UnrecoverableError(err.message);
      throw err;
    }
    const result = await this.runs.startScheduled(planId);
    this.logger.info({ jobId: job.id, planId, ...result }, 'scheduled run');
    if (result.outcome === 'skipped' && result.reason === 'PLAN_DELETED') {
      // Deletion is final: a scheduler that outlived it (re-created by a racing resume) would fire
      // for ever. Not for PLAN_PAUSED: a resume racing this firing must keep its new scheduler.
      await this.queues
        .run(() => this.queues.schedule.removeJobScheduler(planId))
        .catch((err: unknown) => {
          this.logger.warn({ err, planId }, 'could not remove the scheduler of a deleted plan');
        });
    }
    return parseJobResult('schedule.run', result);
  }
}
