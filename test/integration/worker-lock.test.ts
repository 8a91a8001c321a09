/** The per-service lock against real Redis: exclusion, renewal, compare-and-delete, loss. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';

import { Redis } from 'ioredis';

import { lockRetryDelay } from '../../apps/worker/src/backup-processor';
import { serviceLockKey, tryAcquireServiceLock } from '../../apps/worker/src/service-lock';
import { REDIS_URL } from '../support/worker-fleet';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('worker: per-service lock', () => {
  let redis: Redis;
  const prefix = `vltest-lock-${process.pid}-${randomBytes(4).toString('hex')}`;

  before(() => {
    redis = new Redis(REDIS_URL);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await redis.quit();
  });

  test('one holder at a time; released only by its holder', async () => {
    const key = serviceLockKey(prefix, 'svc-1');
    const a = await tryAcquireServiceLock(redis, key, { ttlMs: 5_000 });
    assert.ok(a);
    assert.equal(await tryAcquireServiceLock(redis, key, { ttlMs: 5_000 }), null);
    // Another service is not affected.
    const other = await tryAcquireServiceLock(redis, serviceLockKey(prefix, 'svc-2'), { ttlMs: 5_000 });
    assert.ok(other);
    await other.release();
    // A stale holder (its lock expired and was re-taken) must not delete the new holder's lock.
    await redis.set(key, 'someone-else', 'PX', 5_000);
    await a.release();
    assert.equal(await redis.get(key), 'someone-else');
    await redis.del(key);
  });

  test('renewal keeps the lock past its TTL; a deleted lock is reported lost', async () => {
    const key = serviceLockKey(prefix, 'svc-3');
    const lock = await tryAcquireServiceLock(redis, key, { ttlMs: 150 });
    assert.ok(lock);
    await sleep(400);
    assert.equal(await redis.get(key), lock.token, 'still held thanks to renewal');
    assert.equal(lock.lost.aborted, false);
    await redis.del(key);
    await sleep(150);
    assert.equal(lock.lost.aborted, true);
    await lock.release();
  });

  test('a lock whose holder died frees itself after the TTL', async () => {
    const key = serviceLockKey(prefix, 'svc-4');
    await redis.set(key, 'dead-worker', 'PX', 100);
    assert.equal(await tryAcquireServiceLock(redis, key), null);
    await sleep(150);
    const lock = await tryAcquireServiceLock(redis, key);
    assert.ok(lock);
    await lock.release();
    assert.equal(await redis.exists(key), 0);
  });

  test('waiting for a locked service backs off exponentially up to a bound, with jitter', () => {
    for (let i = 0; i < 50; i++) {
      const first = lockRetryDelay(1, 1_000, 30_000);
      assert.ok(first >= 800 && first <= 1_200, String(first));
      const late = lockRetryDelay(40, 1_000, 30_000);
      assert.ok(late >= 24_000 && late <= 36_000, String(late));
    }
  });
});
