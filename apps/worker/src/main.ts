/**
 * `node dist/apps/worker/src/main.js`: the backup worker process (role `worker`).
 * Exits 0 after a graceful SIGTERM/SIGINT (jobs handed back to the queue), 1 when it cannot start.
 */
import 'reflect-metadata';

import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';

import { loadConfig, type WorkerConfig } from '@vaultline/config';

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

async function main(): Promise<void> {
  let config: WorkerConfig;
  try {
    config = loadConfig(process.env, 'worker');
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const app = await createWorkerApp(config);
  let closing = false;
  const stop = (signal: string): void => {
    if (closing) return;
    closing = true;
    // Not Nest's enableShutdownHooks: it re-raises the signal after closing, and the exit code
    // of a graceful stop should be 0.
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`worker: error while stopping on ${signal}: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`worker: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
