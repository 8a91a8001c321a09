/**
 * The worker as a Nest application context (no HTTP app): the module only wires the validated
 * config and the logger into the runtime and ties its start and stop to Nest's lifecycle, so the
 * worker boots like the other apps and later modules (events client, restore processor) plug in.
 */
import {
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import pino, { type Logger } from 'pino';

import { redactedConfig, type WorkerConfig } from '@vaultline/config';

import { WorkerRuntime, type WorkerRuntimeOptions } from './runtime';

export const WORKER_CONFIG = Symbol('WORKER_CONFIG');
export const LOGGER = Symbol('LOGGER');

/** Starts the runtime when the context boots and stops it when the context closes. */
class RuntimeLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(readonly runtime: WorkerRuntime) {}

  onApplicationBootstrap(): Promise<void> {
    return this.runtime.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.runtime.stop();
  }
}

@Module({})
export class WorkerModule {
  static forRoot(config: WorkerConfig, options: WorkerRuntimeOptions = {}): DynamicModule {
    return {
      module: WorkerModule,
      providers: [
        { provide: WORKER_CONFIG, useValue: config },
        {
          provide: LOGGER,
          useFactory: (): Logger => {
            const logger = pino({ level: config.logLevel, base: { role: 'worker' } });
            logger.info({ config: redactedConfig(config) }, 'configuration');
            return logger;
          },
        },
        {
          provide: WorkerRuntime,
          inject: [LOGGER],
          useFactory: (logger: Logger) => new WorkerRuntime(config, logger, options),
        },
        {
          provide: RuntimeLifecycle,
          inject: [WorkerRuntime],
          useFactory: (runtime: WorkerRuntime) => new RuntimeLifecycle(runtime),
        },
      ],
      exports: [WorkerRuntime],
    };
  }
}
