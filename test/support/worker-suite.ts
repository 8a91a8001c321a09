/**
 * The setup the worker integration suites share: a migrated throwaway database, a Prisma client
 * straight to it for the test's own reads, a temp folder, a worker config with a unique queue
 * prefix and a free health port, producers on the queues the suite feeds, and the worker booted
 * in-process as its Nest application.
 */
import type { INestApplicationContext } from '@nestjs/common';
import type { Queue } from 'bullmq';

import type { WorkerConfig } from '@vaultline/config';
import type { QueueName } from '@vaultline/contracts';
import { applyMigrations, createPrismaClient, type PrismaClient } from '@vaultline/db';

import { createWorkerApp } from '../../apps/worker/src/main';
import type { WorkerRuntimeOptions } from '../../apps/worker/src/runtime';
import { tempDir } from './fixtures';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from './postgres';
import { freePort, workerConfig, workerEnv, workerQueue } from './worker-fleet';

export interface WorkerSuite<Q extends QueueName> {
  db: TestDatabase;
  /** The test's own client (never through a proxy the worker may be given). */
  prisma: PrismaClient;
  dir: { path: string };
  config: WorkerConfig;
  app: INestApplicationContext;
  queues: Record<Q, Queue>;
  /** Closes the worker, empties and closes the queues, drops the database and the temp folder. */
  stop(): Promise<void>;
}

export async function startWorkerSuite<Q extends QueueName>(
  label: string,
  opts: {
    queues: readonly Q[];
    /** Extra worker variables (METRICS_PORT is set). */
    env?: Record<string, string>;
    /** The database URL the worker uses (default the database's own, e.g. a proxy to it). */
    workerDatabaseUrl?: (db: TestDatabase) => string | Promise<string>;
    runtime?: WorkerRuntimeOptions;
  },
): Promise<WorkerSuite<Q>> {
  const db = await createTestDatabase(label);
  const prisma = createPrismaClient(db.url, { pool: { max: 4 } });
  const dir = tempDir(label);
  const queues = {} as Record<Q, Queue>;
  let app: INestApplicationContext | undefined;
  const stop = async (): Promise<void> => {
    await app?.close();
    for (const q of Object.values<Queue>(queues)) {
      await q.obliterate({ force: true }).catch(() => undefined);
      await q.close();
    }
    await prisma.$disconnect();
    await db.drop();
    dir.cleanup();
  };
  try {
    await applyMigrations(db.url, MIGRATIONS_DIR);
    const url = opts.workerDatabaseUrl ? await opts.workerDatabaseUrl(db) : db.url;
    const config = workerConfig(workerEnv(url, { METRICS_PORT: String(await freePort()), ...opts.env }));
    for (const name of opts.queues) queues[name] = workerQueue(config, name);
    app = await createWorkerApp(config, opts.runtime);
    return { db, prisma, dir, config, app, queues, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
