import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import { JOBS } from '@vaultline/contracts';
import { Queue } from 'bullmq';
import type { Logger } from 'pino';

import { API_CONFIG, LOGGER } from '../common/tokens';

/**
 * The producer of the `restore` queue. Its own connection, like QueuesService's producers, so
 * BullMQ reconnects it after a Redis outage; wrap calls in QueuesService.run for the 503.
 */
@Injectable()
export class RestoreQueue implements OnModuleDestroy {
  readonly queue: Queue;

  constructor(@Inject(API_CONFIG) config: ApiConfig, @Inject(LOGGER) logger: Logger) {
    this.queue = new Queue(JOBS['restore.run'].queue, {
      connection: { url: config.redisUrl, maxRetriesPerRequest: null },
      prefix: config.queuePrefix,
    });
    this.queue.on('error', (err: Error) => logger.warn({ err }, 'redis connection error'));
  }

  async onModuleDestroy(): Promise<void> {
    await this.queue.close();
  }
}
