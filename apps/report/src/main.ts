/**
 * `node dist/apps/report/src/main.js`: the report service (role `report`). It builds each run's
 * report when the run's backups are done (BullMQ `report` queue) and listens to live backup
 * progress (Redis transport). Exits 0 after a graceful SIGTERM/SIGINT, 1 when it cannot start.
 */
import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import type { INestMicroservice } from '@nestjs/common';
import type { MicroserviceOptions } from '@nestjs/microservices';

import { loadConfig, type ReportConfig } from '@vaultline/config';
import { redisTransport } from '@vaultline/events';
import { runUntilStopped } from '@vaultline/observability';

import { ReportModule } from './report.module';
import type { ReportRuntimeOptions } from './runtime';

export { ReportModule } from './report.module';
export { ReportRuntime } from './runtime';

/**
 * Boots the report service as a Nest microservice on the fleet's Redis transport and starts
 * listening; `close()` stops it gracefully (transport first, then the runtime).
 */
export async function createReportApp(
  config: ReportConfig,
  options: ReportRuntimeOptions = {},
): Promise<INestMicroservice> {
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    ReportModule.forRoot(config, options),
    {
      ...redisTransport(config.redisUrl),
      // The runtime logs through pino; Nest's own logger only for its errors.
      logger: ['error', 'warn'],
    },
  );
  await app.listen();
  return app;
}

if (require.main === module) {
  runUntilStopped('report', () => createReportApp(loadConfig(process.env, 'report')));
}
