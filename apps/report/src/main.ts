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

async function main(): Promise<void> {
  let config: ReportConfig;
  try {
    config = loadConfig(process.env, 'report');
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const app = await createReportApp(config);
  let closing = false;
  const stop = (signal: string): void => {
    if (closing) return;
    closing = true;
    // Not Nest's enableShutdownHooks: it re-raises the signal after closing, and the exit code
    // of a graceful stop should be 0.
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`report: error while stopping on ${signal}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`report: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
