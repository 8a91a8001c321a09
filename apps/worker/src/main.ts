/**
 * `node dist/apps/worker/src/main.js`: the backup worker process (role `worker`).
 * Exits 0 after a graceful SIGTERM/SIGINT (jobs handed back to the queue), 1 when it cannot start.
 */
import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';

import { loadConfig, type WorkerConfig } from '@vaultline/config';
import { runUntilStopped } from '@vaultline/observability';

import { WorkerModule } from './worker.module';
import type { WorkerRuntimeOptions } from './runtime';

export { WorkerModule } from './worker.module';
export { WorkerRuntime } from './runtime';

/** Boots the worker as a Nest application context; `close()` stops it gracefully. */
export async function createWorkerApp(
  config: WorkerConfig,
  options: WorkerRuntimeOptions = {},
): Promise<INestApplicationContext> {
  const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(config, options), {
    // The runtime logs through pino; Nest's own logger only for its errors.
    logger: ['error', 'warn'],
  });
  await app.init();
  return app;
}

if (require.main === module) {
  runUntilStopped('worker', () => createWorkerApp(loadConfig(process.env, 'worker')));
}
