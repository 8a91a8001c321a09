import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { contractError, expectType, type Equal } from './testing/assert';
import { EVENT_NAMES, isEventName, parseEventPayload, type EventName, type EventPayload } from './events';
import { eventPayload } from './testing/factories';

describe('live events', () => {
  test('the event patterns are the persisted ones (they are Redis channels)', () => {
    assert.deepEqual([...EVENT_NAMES].sort(), [
      'backup.failed',
      'backup.finished',
      'backup.progress',
      'backup.started',
      'restore.failed',
      'restore.finished',
      'restore.progress',
      'run.finished',
      'run.started',
    ]);
    assert.equal(isEventName('backup.progress'), true);
    assert.equal(isEventName('constructor'), false);
  });

  test('a valid payload of every event parses to itself after a JSON round trip', () => {
    for (const name of EVENT_NAMES) {
      const data = eventPayload(name);
      assert.deepEqual(parseEventPayload(name, JSON.parse(JSON.stringify(data))), data, name);
    }
  });

  test('types: progress mirrors the engine Progress fields', () => {
    expectType<
      Equal<
        EventPayload<'backup.progress'>['progress'],
        {
          phase: 'scan' | 'backup' | 'restore' | 'done';
          filesDone: number;
          filesTotal: number;
          bytesDone: number;
          bytesTotal: number;
        }
      >
    >();
    expectType<Equal<EventPayload<'backup.failed'>['willRetry'], boolean>>();
  });

  test('backup.progress: invalid counters are named with their path', () => {
    const err = contractError(() =>
      parseEventPayload('backup.progress', {
        ...eventPayload('backup.progress'),
        at: '2025-03-01 02:00',
        progress: { phase: 'upload', filesDone: -1, filesTotal: 10, bytesDone: 0.5 },
      }),
    );
    assert.equal(err.code, 'INVALID_EVENT_PAYLOAD');
    assert.equal(err.subject, 'event backup.progress');
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['at', 'progress.phase', 'progress.filesDone', 'progress.bytesDone', 'progress.bytesTotal'],
    );
    assert.equal(err.issues.at(-1)?.message, 'is required');
  });

  test('backup.failed: an attempt counts from 1 and the error needs a code', () => {
    const err = contractError(() =>
      parseEventPayload('backup.failed', {
        ...eventPayload('backup.failed'),
        attempt: 0,
        error: { message: 'boom' },
      }),
    );
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['error.code', 'attempt'],
    );
  });

  test('run.finished: the status is one of the run statuses', () => {
    const err = contractError(() =>
      parseEventPayload('run.finished', { ...eventPayload('run.finished'), status: 'done' }),
    );
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ['status'],
    );
  });

  test('an unknown event is refused', () => {
    const err = contractError(() => parseEventPayload('backup.paused' as EventName, {}));
    assert.equal(err.code, 'UNKNOWN_NAME');
  });
});
