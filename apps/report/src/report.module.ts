/**
 * The report service as a Nest microservice (Redis transport, for the live events): the module
 * wires the validated config and the logger into the runtime, ties the runtime's start and stop to
 * Nest's lifecycle, and registers the event handlers.
 */
import {
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import pino, { type Logger } from 'pino';

import { redactedConfig, type ReportConfig } from '@vaultline/config';

import { LiveEventsController } from './live-events.controller';
import { ReportRuntime, type ReportRuntimeOptions } from './runtime';
import { LOGGER, REPORT_CONFIG } from './tokens';

/** Starts the runtime when the microservice boots and stops it when it closes. */
class RuntimeLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(readonly runtime: ReportRuntime) {}

  onApplicationBootstrap(): Promise<void> {
    return this.runtime.start();
  }

  onApplicationShutdown(): Promise<void> {
    return this.runtime.stop();
  }
}

@Module({})
export class ReportModule {
  static forRoot(config: ReportConfig, options: ReportRuntimeOptions = {}): DynamicModule {
    return {
      module: ReportModule,
      controllers: [LiveEventsController],
      providers: [
        { provide: REPORT_CONFIG, useValue: config },
        {
          provide: LOGGER,
          useFactory: (): Logger => {
            // The webhook URL's token never reaches the log: redactedConfig cuts it to its origin.
            const logger = pino({ level: config.logLevel, base: { role: 'report' } });
            logger.info({ config: redactedConfig(config) }, 'configuration');
            return logger;
          },
        },
        {
          provide: ReportRuntime,
          inject: [LOGGER],
          useFactory: (logger: Logger) => new ReportRuntime(config, logger, options),
        },
        {
          provide: RuntimeLifecycle,
          inject: [ReportRuntime],
          useFactory: (runtime: ReportRuntime) => new RuntimeLifecycle(runtime),
        },
      ],
      exports: [ReportRuntime],
    };
  }
}
