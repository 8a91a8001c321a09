import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { UnrecoverableError, type Job } from 'bullmq';

import { ContractError, type JobPayload } from '@vaultline/contracts';

import type { JobGateway, JobRequest } from './gateway';
import { jobDispatcher, type JobHandlers } from './handlers';

const ID = '01900000-0000-7000-8000-000000000001';
const job = (name: string, data: unknown): Job => ({ id: 'j1', name, data }) as unknown as Job;

const maintenance = (calls: string[]): JobHandlers<'maintenance'> => ({
  'maintenance.retention': (p) => {
    calls.push(`retention ${p.planId}`);
    return Promise.resolve({ forgotten: [], kept: 1, prune: zero, durationMs: 1 });
  },
  'maintenance.deletePlan': () => Promise.reject(new Error('not called')),
  'maintenance.syncCatalog': () => Promise.resolve({ found: 0, added: 0, removed: 0, durationMs: 1 }),
  'maintenance.verify': () => Promise.resolve({ targets: [], durationMs: 1 }),
});
const zero = { packsDeleted: 0, packsRepacked: 0, packsNeedingPassword: 0, bytesFreed: 0 };

describe('jobDispatcher', () => {
  test("calls the handler of the job's name with the parsed payload (unknown keys dropped)", async () => {
    const calls: string[] = [];
    const dispatch = jobDispatcher('maintenance', maintenance(calls));
    const result = await dispatch(job('maintenance.retention', { planId: ID, targetId: ID, password: 'x' }));
    assert.deepEqual(calls, [`retention ${ID}`]);
    assert.equal((result as { kept: number }).kept, 1);
  });

  test('a job of another queue, an unknown name or an invalid payload fails for good', async () => {
    const calls: string[] = [];
    const dispatch = jobDispatcher('maintenance', maintenance(calls));
    await assert.rejects(dispatch(job('backup.run', {})), {
      name: 'UnrecoverableError',
      message: 'job backup.run is not a job of the maintenance queue',
    });
    await assert.rejects(dispatch(job('toString', {})), UnrecoverableError);
    await assert.rejects(dispatch(job('maintenance.retention', { planId: 'a:b' })), (err: unknown) => {
      assert.ok(err instanceof UnrecoverableError);
      assert.match(err.message, /^job maintenance\.retention payload: planId: .*; targetId: is required$/);
      return true;
    });
    assert.deepEqual(calls, []);
  });

  test("the map is checked against the queue's jobs at once (casts and plain JS)", () => {
    const partial = { 'maintenance.retention': maintenance([])['maintenance.retention'] };
    assert.throws(
      () => jobDispatcher('maintenance', partial as unknown as JobHandlers<'maintenance'>),
      (err: unknown) => {
        assert.ok(err instanceof ContractError);
        assert.equal(err.code, 'HANDLERS_MISMATCH');
        assert.deepEqual(
          err.issues.map((i) => `${i.path} ${i.message}`),
          [
            'maintenance.deletePlan has no handler',
            'maintenance.syncCatalog has no handler',
            'maintenance.verify has no handler',
          ],
        );
        return true;
      },
    );
  });

  test('types: a missing handler, a stray one and a wrong result do not compile', () => {
    const ok = (): Promise<{ outcome: 'skipped'; reason: 'PLAN_PAUSED' }> =>
      Promise.resolve({ outcome: 'skipped', reason: 'PLAN_PAUSED' });
    const typeOnly = (): void => {
      // @ts-expect-error maintenance.deletePlan, syncCatalog and verify have no handler
      jobDispatcher('maintenance', { 'maintenance.retention': maintenance([])['maintenance.retention'] });
      jobDispatcher('schedule', {
        'schedule.run': ok,
        // @ts-expect-error backup.run is a job of another queue
        'backup.run': ok,
      });
      // @ts-expect-error a schedule.run handler returns a schedule.run result
      jobDispatcher('schedule', { 'schedule.run': () => Promise.resolve({ found: 1 }) });
      // The payload parameter is the job's own.
      jobDispatcher('schedule', {
        'schedule.run': (p: JobPayload<'schedule.run'>) => {
          // @ts-expect-error schedule.run carries no runId
          void p.runId;
          return ok();
        },
      });
    };
    assert.equal(typeof typeOnly, 'function');
  });
});

describe('JobRequest', () => {
  test("types: data is the named job's payload", () => {
    const typeOnly = (jobs: JobGateway): void => {
      void jobs.queue({ name: 'schedule.run', data: { planId: ID } });
      // @ts-expect-error a backup's data is not a schedule firing's
      void jobs.queue({ name: 'schedule.run', data: { runId: ID, planId: ID, serviceId: ID, targetId: ID } });
      // @ts-expect-error no such job
      void jobs.queue({ name: 'backup.cleanup', data: {} });
      const child: JobRequest = {
        name: 'backup.run',
        data: { runId: ID, planId: ID, serviceId: ID, targetId: ID },
      };
      void jobs.queueFlow({ name: 'report.aggregate', data: { runId: ID, planId: ID }, children: [child] });
    };
    assert.equal(typeof typeOnly, 'function');
  });
});
