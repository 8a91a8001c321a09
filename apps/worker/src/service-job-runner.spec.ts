import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { WaitingError, type Job } from 'bullmq';
import pino from 'pino';

import { EngineError } from '@vaultline/engine';
import { StorageError } from '@vaultline/storage';

import { classify, WorkerError } from './errors';
import { serviceJobFailed, type ServiceJobFailure } from './service-job-runner';
import type { HeldLock } from './service-lock';

/** A failure of attempt `attemptsMade + 1` of `attempts`, recording what the runner did. */
function failure(err: unknown, opts: { attemptsMade?: number; shutdown?: boolean; lockLost?: string } = {}) {
  const did: string[] = [];
  const shutdown = new AbortController();
  if (opts.shutdown) shutdown.abort(new Error('worker shutting down'));
  const lost = new AbortController();
  if (opts.lockLost) lost.abort(new Error(opts.lockLost));
  const job = {
    attemptsMade: opts.attemptsMade ?? 0,
    opts: { attempts: 3 },
    moveToWait: (token?: string) => {
      did.push(`moveToWait ${token}`);
      return Promise.resolve(0);
    },
  } as unknown as Job;
  const f: ServiceJobFailure<'backup.run'> = {
    name: 'backup.run',
    kind: 'backup',
    job,
    token: 'tok',
    err,
    started: Date.now(),
    shutdown: shutdown.signal,
    lock: { lost: lost.signal } as HeldLock,
    log: pino({ level: 'silent' }),
    classify: (e) => classify(e),
    report: (info, { attempt, willRetry }) => did.push(`report ${info.code} ${attempt} ${willRetry}`),
    row: {
      requeued: () => Promise.resolve(did.push('row queued')),
      retrying: (error) => Promise.resolve(did.push(`row queued: ${error}`)),
      failed: (error) => Promise.reject(new Error(`postgres down (${error})`)),
    },
  };
  return { f, did };
}

describe('serviceJobFailed (backup and restore share it)', () => {
  test('a shutdown hands the job back: row queued, job to wait, not a failed attempt', async () => {
    const { f, did } = failure(new EngineError('ABORTED', 'backup cancelled'), { shutdown: true });
    await assert.rejects(serviceJobFailed(f), WaitingError);
    assert.deepEqual(did, ['row queued', 'moveToWait tok']);
  });

  test('a pre-hook killed by the shutdown is a cancellation too', async () => {
    const { f, did } = failure(new WorkerError('HOOK_FAILED', 'pre-hook killed', 'permanent'), {
      shutdown: true,
    });
    await assert.rejects(serviceJobFailed(f), WaitingError);
    assert.deepEqual(did, ['row queued', 'moveToWait tok']);
  });

  test('ABORTED without a shutdown: the lock was lost, LOCK_LOST, retried', async () => {
    const err = new EngineError('ABORTED', 'backup cancelled');
    const { f, did } = failure(err, { lockLost: 'lock taken by another token' });
    await assert.rejects(serviceJobFailed(f), (e: unknown) => e === err);
    assert.deepEqual(did, ['report LOCK_LOST 1 true', 'row queued: LOCK_LOST: lock taken by another token']);
  });

  test('transient with attempts left: thrown for the backoff; on the last attempt a failed result', async () => {
    const err = new StorageError('UNREACHABLE', 'connect ECONNREFUSED');
    const first = failure(err);
    await assert.rejects(serviceJobFailed(first.f), (e: unknown) => e === err);
    assert.deepEqual(first.did, [
      'report UNREACHABLE 1 true',
      'row queued: UNREACHABLE: connect ECONNREFUSED',
    ]);

    // The row write fails (Postgres down): the result still carries the outcome.
    const last = failure(err, { attemptsMade: 2 });
    const result = await serviceJobFailed(last.f);
    assert.equal(result.status, 'failed');
    assert.deepEqual(result.status === 'failed' && result.error, {
      code: 'UNREACHABLE',
      message: 'connect ECONNREFUSED',
    });
    assert.deepEqual(last.did, ['report UNREACHABLE 3 false']);
  });

  test('permanent: a failed result at once', async () => {
    const { f, did } = failure(new EngineError('WRONG_PASSWORD', 'no key opens'));
    const result = await serviceJobFailed(f);
    assert.equal(result.status, 'failed');
    assert.deepEqual(did, ['report WRONG_PASSWORD 1 false']);
  });
});
