import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import { QUEUES } from '@vaultline/contracts';
import { FlowProducer, Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ApiError } from './api-error';
import { API_CONFIG, LOGGER } from './tokens';

/** How long a request waits for Redis before answering 503. */
const REDIS_TIMEOUT_MS = 5_000;

/**
 * The API's BullMQ producers: the `schedule` queue (the plans' job schedulers), the `maintenance`
 * queue (deleting a plan's snapshots), the flow producer of runs, and the `report` queue, only read
 * (is a run's flow still pending?). Each owns its connection (BullMQ then reconnects it after a
 * Redis outage; a shared lazy connection that failed once stayed failed). maxRetriesPerRequest is
 * null as BullMQ requires, so while Redis is down a command waits instead of failing: `run` bounds
 * that wait.
 */
@Injectable()
export class QueuesService implements OnModuleDestroy {
  readonly schedule: Queue;
  readonly maintenance: Queue;
  readonly report: Queue;
  readonly flows: FlowProducer;
  /**
   * A plain client for the API's own keys (idempotency keys, under the queue prefix). No offline
   * queue: while Redis is down a command fails at once (503) instead of being applied late.
   */
  readonly redis: Redis;
  readonly prefix: string;

  constructor(
    @Inject(API_CONFIG) config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    const connection = { url: config.redisUrl, maxRetriesPerRequest: null };
    this.prefix = config.queuePrefix;
    this.schedule = new Queue(QUEUES.schedule, { connection, prefix: config.queuePrefix });
    this.maintenance = new Queue(QUEUES.maintenance, { connection, prefix: config.queuePrefix });
    this.report = new Queue(QUEUES.report, { connection, prefix: config.queuePrefix });
    this.flows = new FlowProducer({ connection, prefix: config.queuePrefix });
    const onError = (err: Error): void => logger.warn({ err }, 'redis connection error');
    for (const q of [this.schedule, this.maintenance, this.report]) q.on('error', onError);
    this.flows.on('error', onError);
    this.redis = new Redis(config.redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    this.redis.on('error', onError);
  }

  /**
   * Runs a Redis operation, or throws UNAVAILABLE (503) when it fails or Redis does not answer in
   * time. A timed-out operation may still be applied once Redis is back; callers order their
   * writes so that this is harmless (see PlansService and RunsService).
   */
  async run<T>(op: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${REDIS_TIMEOUT_MS} ms`)),
        REDIS_TIMEOUT_MS,
      );
    });
    try {
      return await Promise.race([op(), timeout]);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      this.logger.error({ err }, 'redis operation failed');
      throw new ApiError('UNAVAILABLE', 'the job queue (Redis) is unavailable; retry later');
    } finally {
      clearTimeout(timer);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all([
      this.schedule.close(),
      this.maintenance.close(),
      this.report.close(),
      this.flows.close(),
    ]);
    this.redis.disconnect();
  }
}
