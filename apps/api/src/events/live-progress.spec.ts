import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import type { LiveEvent } from './events.hub';
import { ProgressTable } from './live-progress';

const AT = '2025-03-01T02:00:00.000Z';
const progress = (bytesDone: number) =>
  ({ phase: 'backup', filesDone: 1, filesTotal: 2, bytesDone, bytesTotal: 100 }) as const;
const ref = (runId: string, serviceId = 'svc_1', targetId = 'tgt_1') => ({
  at: AT,
  runId,
  planId: 'plan_1',
  serviceId,
  targetId,
});
const progressEvent = (runId: string, bytes: number, serviceId?: string): LiveEvent => ({
  name: 'backup.progress',
  payload: { ...ref(runId, serviceId), progress: progress(bytes) },
});

describe('ProgressTable', () => {
  test('keeps the latest progress per service × target of a run', () => {
    const t = new ProgressTable();
    t.apply(progressEvent('run_1', 10));
    t.apply(progressEvent('run_1', 20));
    t.apply(progressEvent('run_1', 5, 'svc_2'));
    t.apply(progressEvent('run_2', 7));
    assert.deepEqual(
      t.get('run_1').map((p) => [p.serviceId, p.progress.bytesDone]),
      [
        ['svc_1', 20],
        ['svc_2', 5],
      ],
    );
    assert.equal(t.count, 3);
    assert.deepEqual(t.get('run_unknown'), []);
  });

  test('a finished or failed backup and a finished run are dropped', () => {
    const t = new ProgressTable();
    t.apply(progressEvent('run_1', 10));
    t.apply(progressEvent('run_1', 10, 'svc_2'));
    t.apply({
      name: 'backup.failed',
      payload: { ...ref('run_1'), error: { code: 'IO', message: 'x' }, attempt: 1, willRetry: true },
    });
    assert.deepEqual(
      t.get('run_1').map((p) => p.serviceId),
      ['svc_2'],
    );
    t.apply({
      name: 'run.finished',
      payload: { at: AT, runId: 'run_1', planId: 'plan_1', status: 'success', durationMs: 1 },
    });
    assert.deepEqual(t.get('run_1'), []);
    assert.equal(t.count, 0);
  });

  test('bounded: past the limit the runs heard of first are forgotten', () => {
    const t = new ProgressTable(3);
    t.apply(progressEvent('run_1', 1));
    t.apply(progressEvent('run_1', 1, 'svc_2'));
    t.apply(progressEvent('run_2', 1));
    t.apply(progressEvent('run_3', 1));
    assert.deepEqual(t.get('run_1'), []);
    assert.equal(t.get('run_2').length, 1);
    assert.equal(t.get('run_3').length, 1);
    assert.equal(t.count, 2);
  });
});
