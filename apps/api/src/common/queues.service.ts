import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import { JobGateway } from '@vaultline/jobs';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { ApiError } from './api-error';
import { API_CONFIG, LOGGER } from './tokens';

/** How long a request waits for Redis before answering 503. */
const REDIS_TIMEOUT_MS = 5_000;

/**
 * The API's side of Redis: the job gateway (@vaultline/jobs: the plans' job schedulers, runs'
 * flows, restores, maintenance jobs, and reading a run's report job) and a plain client for the
 * API's own keys. The gateway's queues each own their connection (BullMQ then reconnects it after
 * a Redis outage; a shared lazy connection that failed once stayed failed) and wait while Redis is
 * down instead of failing: `run` bounds that wait.
 */
@Injectable()
export class QueuesService implements OnModuleDestroy {
  readonly jobs: JobGateway;
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
    this.prefix = config.queuePrefix;
    const onError = (err: Error): void => logger.warn({ err }, 'redis connection error');
    this.jobs = new JobGateway({ redisUrl: config.redisUrl, prefix: config.queuePrefix, onError });
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
    await this.jobs.close();
    this.redis.disconnect();
  }
}
