/**
 * The setup the end-to-end suites share: a throwaway database with the migrations applied, a
 * LocalFleet (real API, report and worker processes from scripts/fleet.ts) on the shared Redis, an
 * API client with a fresh token, a BullMQ handle on one of the fleet's queues, and a temp folder
 * whose logs are kept when the suite fails.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import { Queue } from 'bullmq';

import type { QueueName } from '@vaultline/contracts';
import { applyMigrations } from '@vaultline/db';

import { ApiClient, LocalFleet, type FleetOptions } from '../../scripts/fleet';
import { tempDir } from './fixtures';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from './postgres';
import { REDIS_URL } from './worker-fleet';

export interface E2eFleet {
  db: TestDatabase;
  fleet: LocalFleet;
  api: ApiClient;
  queue: Queue;
  /** The suite's temp folder (logs/ inside). */
  tmp: { path: string };
  /** Stops the fleet, drops the queue and the database; the temp folder goes unless the run failed. */
  stop(): Promise<void>;
}

type FleetSettings = Omit<FleetOptions, 'databaseUrl' | 'redisUrl' | 'logDir'>;

export async function startE2eFleet(
  label: string,
  opts: {
    queue: QueueName;
    /** The fleet's options, given the database (e.g. to route a role through a proxy to it). */
    fleet: FleetSettings | ((db: TestDatabase) => FleetSettings | Promise<FleetSettings>);
    /** Folders to create under the temp folder before the fleet starts. */
    dirs?: readonly string[];
  },
): Promise<E2eFleet> {
  const tmp = tempDir(label);
  const db = await createTestDatabase(label);
  let fleet: LocalFleet | undefined;
  let queue: Queue | undefined;
  const stopKeeping = async (keepLogs: boolean): Promise<void> => {
    if (keepLogs) process.stderr.write(`e2e logs kept in ${join(tmp.path, 'logs')}\n`);
    await fleet?.stop();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await db.drop();
    if (!keepLogs) tmp.cleanup();
  };
  const stop = () => stopKeeping(Boolean(process.exitCode));
  try {
    await applyMigrations(db.url, MIGRATIONS_DIR);
    for (const d of opts.dirs ?? []) mkdirSync(join(tmp.path, d), { recursive: true });
    const settings = typeof opts.fleet === 'function' ? await opts.fleet(db) : opts.fleet;
    fleet = await LocalFleet.start({
      ...settings,
      databaseUrl: db.url,
      redisUrl: REDIS_URL,
      logDir: join(tmp.path, 'logs'),
    });
    const api = new ApiClient(fleet.baseUrl, await fleet.createToken(label));
    queue = new Queue(opts.queue, {
      connection: { url: REDIS_URL, maxRetriesPerRequest: null },
      prefix: fleet.options.queuePrefix,
    });
    return { db, fleet, api, queue, tmp, stop };
  } catch (err) {
    await stopKeeping(true).catch(() => undefined);
    throw err;
  }
}

/** Polls `cond` until it holds, or fails naming `what`. */
export async function waitUntil(
  what: string,
  cond: () => boolean | Promise<boolean>,
  { timeoutMs = 60_000, everyMs = 20 } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
