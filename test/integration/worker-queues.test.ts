/**
 * WORKER_QUEUES: a worker consumes only the queues it is given — so restores can run in their own
 * Deployment (with a writable mount of the services' data) while backup workers read it read-only.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import type { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';

import { QUEUES } from '@vaultline/contracts';
import { applyMigrations } from '@vaultline/db';

import { createWorkerApp } from '../../apps/worker/src/main';
import { createTestDatabase, MIGRATIONS_DIR, type TestDatabase } from '../support/postgres';
import { freePort, workerConfig, workerEnv } from '../support/worker-fleet';

describe('worker: WORKER_QUEUES', () => {
  let db: TestDatabase;
  const apps: INestApplicationContext[] = [];
  const queues: Queue[] = [];

  before(async () => {
    db = await createTestDatabase('worker_queues');
    await applyMigrations(db.url, MIGRATIONS_DIR);
  });
  after(async () => {
    for (const app of apps) await app.close();
    for (const q of queues) await q.close();
    await db?.drop();
  });

  /** How many BullMQ workers (connections named after the queue) consume `name` right now. */
  async function consumers(prefix: string, redisUrl: string, name: string): Promise<number> {
    const q = new Queue(name, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix });
    queues.push(q);
    return (await q.getWorkers()).length;
  }

  test('a restore-only worker consumes the restore queue and nothing else; the default consumes all three', async () => {
    const restoreOnly = workerConfig(
      workerEnv(db.url, { METRICS_PORT: String(await freePort()), WORKER_QUEUES: 'restore' }),
    );
    apps.push(await createWorkerApp(restoreOnly, { poolSize: 1 }));
    const { queuePrefix: p1, redisUrl } = restoreOnly;
    assert.equal(await consumers(p1, redisUrl, QUEUES.restore), 1);
    assert.equal(await consumers(p1, redisUrl, QUEUES.backup), 0);
    assert.equal(await consumers(p1, redisUrl, QUEUES.maintenance), 0);

    const all = workerConfig(workerEnv(db.url, { METRICS_PORT: String(await freePort()) }));
    apps.push(await createWorkerApp(all, { poolSize: 1 }));
    for (const q of [QUEUES.backup, QUEUES.restore, QUEUES.maintenance]) {
      assert.equal(await consumers(all.queuePrefix, redisUrl, q), 1, q);
    }
  });

  test("NODE_NAME adds the node's backup and restore queues; NODE_QUEUES_ONLY leaves the shared ones", async () => {
    const node = workerConfig(
      workerEnv(db.url, { METRICS_PORT: String(await freePort()), NODE_NAME: 'node-a' }),
    );
    apps.push(await createWorkerApp(node, { poolSize: 1 }));
    const { queuePrefix: p1, redisUrl } = node;
    for (const q of ['backup', 'restore', 'maintenance', 'backup@node-a', 'restore@node-a']) {
      assert.equal(await consumers(p1, redisUrl, q), 1, q);
    }
    assert.equal(await consumers(p1, redisUrl, 'maintenance@node-a'), 0);

    const only = workerConfig(
      workerEnv(db.url, {
        METRICS_PORT: String(await freePort()),
        NODE_NAME: 'node-b',
        NODE_LABELS: 'disk=ssd,vaultline.io/pool=nas',
        NODE_QUEUES_ONLY: 'true',
        WORKER_QUEUES: 'backup,restore',
      }),
    );
    apps.push(await createWorkerApp(only, { poolSize: 1 }));
    const p2 = only.queuePrefix;
    for (const placement of ['node-b', 'disk=ssd', 'vaultline.io/pool=nas']) {
      assert.equal(await consumers(p2, redisUrl, `backup@${placement}`), 1, placement);
      assert.equal(await consumers(p2, redisUrl, `restore@${placement}`), 1, placement);
    }
    for (const q of ['backup', 'restore', 'maintenance'])
      assert.equal(await consumers(p2, redisUrl, q), 0, q);
  });
});
