import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { type ContractError } from './errors';
import { contractError, expectType, type Equal } from './testing/assert';
import {
  JOB_NAMES,
  JOBS,
  UNREADABLE_LIMIT,
  assertHandlers,
  isJobName,
  jobsOfQueue,
  parseJobPayload,
  parseJobResult,
  type JobName,
  type JobPayload,
  type JobQueue,
  type JobResult,
  type JobsOfQueue,
} from './jobs';
import { QUEUE_NAMES, QUEUES } from './queues';
import { SNAPSHOT_ID, jobPayload, jobResult } from './testing/factories';

/** The invalid fields as `path: message` pairs, for exact comparison. */
function paths(err: ContractError): string[] {
  return err.issues.map((i) => i.path);
}

describe('job registry', () => {
  test('every job belongs to a queue and is named after it', () => {
    for (const name of JOB_NAMES) {
      const { queue } = JOBS[name];
      assert.ok(QUEUE_NAMES.includes(queue), name);
      assert.ok(name.startsWith(`${queue}.`), `${name} should start with ${queue}.`);
    }
    // Every queue has at least one job: a queue nobody produces to is a leftover of a rename.
    for (const q of QUEUE_NAMES) assert.ok(jobsOfQueue(q).length > 0, q);
  });

  test('queue and job names are the persisted ones (renaming needs the plan in queues.ts)', () => {
    assert.deepEqual(QUEUES, {
      backup: 'backup',
      report: 'report',
      restore: 'restore',
      maintenance: 'maintenance',
      schedule: 'schedule',
    });
    assert.deepEqual([...JOB_NAMES].sort(), [
      'backup.run',
      'maintenance.deletePlan',
      'maintenance.retention',
      'maintenance.syncCatalog',
      'maintenance.verify',
      'report.aggregate',
      'restore.run',
      'schedule.run',
    ]);
    assert.deepEqual(jobsOfQueue('maintenance'), [
      'maintenance.retention',
      'maintenance.deletePlan',
      'maintenance.syncCatalog',
      'maintenance.verify',
    ]);
  });

  test('the registry is frozen', () => {
    assert.ok(Object.isFrozen(JOBS));
    assert.throws(() => {
      (JOBS as unknown as Record<string, unknown>)['backup.run'] = null;
    }, TypeError);
  });

  test('types: each name maps to its payload, result and queue', () => {
    expectType<Equal<JobName, (typeof JOB_NAMES)[number]>>();
    expectType<
      Equal<JobPayload<'backup.run'>, { runId: string; planId: string; serviceId: string; targetId: string }>
    >();
    expectType<Equal<JobPayload<'report.aggregate'>, { runId: string; planId: string }>>();
    expectType<
      Equal<
        JobPayload<'restore.run'>['passwordEnvelope'],
        { ciphertext: string; nonce: string; expiresAt: string }
      >
    >();
    expectType<Equal<JobResult<'backup.run'>['status'], 'success' | 'failed'>>();
    expectType<
      Equal<
        Extract<JobResult<'backup.run'>, { status: 'failed' }>['error'],
        { code: string; message: string }
      >
    >();
    expectType<Equal<JobResult<'schedule.run'>['outcome'], 'started' | 'skipped'>>();
    expectType<Equal<JobQueue<'maintenance.deletePlan'>, 'maintenance'>>();
    expectType<
      Equal<
        JobsOfQueue<'maintenance'>,
        'maintenance.retention' | 'maintenance.deletePlan' | 'maintenance.syncCatalog' | 'maintenance.verify'
      >
    >();
    expectType<Equal<JobsOfQueue<'backup'>, 'backup.run'>>();

    // parseJobPayload's return type follows the literal name.
    const p = parseJobPayload('restore.run', jobPayload('restore.run'));
    expectType<Equal<typeof p, JobPayload<'restore.run'>>>();
    assert.equal(p.snapshot, 'latest');
  });

  test('isJobName accepts registry names only (not inherited properties)', () => {
    assert.equal(isJobName('backup.run'), true);
    assert.equal(isJobName('backup'), false);
    assert.equal(isJobName('toString'), false);
    assert.equal(isJobName('__proto__'), false);
  });
});

describe('job payloads', () => {
  test('a valid payload of every job parses to itself and survives JSON (how BullMQ stores it)', () => {
    for (const name of JOB_NAMES) {
      const data = jobPayload(name);
      assert.deepEqual(parseJobPayload(name, data), data, name);
      assert.deepEqual(parseJobPayload(name, JSON.parse(JSON.stringify(data))), data, name);
    }
  });

  test('unknown keys are dropped, so a password passed by mistake never reaches Redis', () => {
    const parsed = parseJobPayload('backup.run', { ...jobPayload('backup.run'), password: 'hunter22' });
    assert.equal('password' in parsed, false);
    assert.deepEqual(parsed, jobPayload('backup.run'));
  });

  test('backup.run: every invalid field is named, with its path', () => {
    const err = contractError(() =>
      parseJobPayload('backup.run', { runId: 'run:1', planId: '', serviceId: 7 /* targetId missing */ }),
    );
    assert.equal(err.code, 'INVALID_JOB_PAYLOAD');
    assert.equal(err.subject, 'job backup.run payload');
    assert.deepEqual(err.issues, [
      { path: 'runId', message: 'must be 1-64 letters, digits, _ or -' },
      { path: 'planId', message: 'must be 1-64 letters, digits, _ or -' },
      { path: 'serviceId', message: 'Invalid input: expected string, received number' },
      { path: 'targetId', message: 'is required' },
    ]);
    assert.match(err.message, /^job backup\.run payload: runId: must be .*; targetId: is required$/);
  });

  test('not an object at all', () => {
    const err = contractError(() => parseJobPayload('report.aggregate', null));
    assert.deepEqual(err.issues, [{ path: '', message: 'Invalid input: expected object, received null' }]);
  });

  test('restore.run: snapshot, destination and envelope fields', () => {
    const valid = jobPayload('restore.run');
    assert.equal(parseJobPayload('restore.run', { ...valid, snapshot: SNAPSHOT_ID }).snapshot, SNAPSHOT_ID);
    const err = contractError(() =>
      parseJobPayload('restore.run', {
        ...valid,
        snapshot: 'abc123', // prefixes are the CLI's convenience, not a job's
        destination: 'relative/path',
        allowCrossArch: 'yes',
        passwordEnvelope: { ciphertext: 'not base64url!', nonce: 'B'.repeat(17), expiresAt: 'tomorrow' },
      }),
    );
    assert.deepEqual(paths(err), [
      'snapshot',
      'destination',
      'allowCrossArch',
      'passwordEnvelope.ciphertext',
      'passwordEnvelope.nonce',
      'passwordEnvelope.expiresAt',
    ]);
    assert.equal(err.issues[0]?.message, "must be 'latest' or a snapshot id (64 lowercase hex digits)");
  });

  test('restore.run: a password in clear is not a field; the envelope is required', () => {
    const { passwordEnvelope: _omitted, ...rest } = jobPayload('restore.run');
    const err = contractError(() => parseJobPayload('restore.run', { ...rest, password: 'hunter22' }));
    assert.deepEqual(err.issues, [{ path: 'passwordEnvelope', message: 'is required' }]);
    assert.doesNotMatch(err.message, /hunter22/);
  });

  test('an unknown job name is refused', () => {
    const err = contractError(() => parseJobPayload('backup.nope' as JobName, {}));
    assert.equal(err.code, 'UNKNOWN_NAME');
    assert.equal(err.subject, 'job backup.nope');
  });
});

describe('job results', () => {
  test('a valid result of every job parses to itself', () => {
    for (const name of JOB_NAMES) {
      const data = jobResult(name);
      assert.deepEqual(parseJobResult(name, JSON.parse(JSON.stringify(data))), data, name);
    }
  });

  test('backup.run failed: needs an error, carries no snapshot', () => {
    const failed = {
      status: 'failed',
      error: { code: 'UNREACHABLE', message: 'target unreachable' },
      durationMs: 20,
    };
    assert.deepEqual(parseJobResult('backup.run', failed), failed);
    const err = contractError(() => parseJobResult('backup.run', { status: 'failed', durationMs: 20 }));
    assert.equal(err.code, 'INVALID_JOB_RESULT');
    assert.deepEqual(err.issues, [{ path: 'error', message: 'is required' }]);
    const bad = contractError(() =>
      parseJobResult('backup.run', { ...failed, error: { code: 'not a code', message: 'x' } }),
    );
    assert.deepEqual(paths(bad), ['error.code']);
  });

  test('backup.run success: stats mirror the engine, counts are whole numbers ≥ 0', () => {
    const ok = jobResult('backup.run');
    assert.equal(ok.status, 'success');
    const err = contractError(() =>
      parseJobResult('backup.run', {
        ...ok,
        snapshot: { id: SNAPSHOT_ID.toUpperCase(), time: 'now', arch: 'sparc', parent: null },
        stats: { ...(ok.status === 'success' ? ok.stats : {}), files: -1, bytesAdded: 1.5 },
        unreadable: [{ path: 'a' }],
      }),
    );
    assert.deepEqual(paths(err), [
      'snapshot.id',
      'snapshot.time',
      'snapshot.arch',
      'stats.files',
      'stats.bytesAdded',
      'unreadable[0].error',
    ]);
  });

  test('backup.run success: the unreadable list is bounded', () => {
    const ok = jobResult('backup.run');
    const many = Array.from({ length: UNREADABLE_LIMIT + 1 }, (_, i) => ({ path: `f${i}`, error: 'EACCES' }));
    const err = contractError(() => parseJobResult('backup.run', { ...ok, unreadable: many }));
    assert.deepEqual(paths(err), ['unreadable']);
  });

  test('an unknown status is refused', () => {
    const err = contractError(() => parseJobResult('restore.run', { status: 'partial', durationMs: 1 }));
    assert.deepEqual(paths(err), ['status']);
  });
});

describe('maintenance results', () => {
  const ran = {
    forgotten: [SNAPSHOT_ID],
    kept: 2,
    prune: { packsDeleted: 1, packsRepacked: 0, packsNeedingPassword: 0, bytesFreed: 10 },
    durationMs: 5,
  };

  test('a job that did nothing says why; a job that ran has no reason', () => {
    assert.deepEqual(parseJobResult('maintenance.retention', ran), ran);
    const skipped = { ...ran, forgotten: [], kept: 0, skipped: 'NO_RETENTION' };
    assert.deepEqual(parseJobResult('maintenance.retention', skipped), skipped);
    assert.deepEqual(parseJobResult('maintenance.deletePlan', { ...skipped, skipped: 'NOT_ON_TARGET' }), {
      ...skipped,
      skipped: 'NOT_ON_TARGET',
    });
    const err = contractError(() => parseJobResult('maintenance.retention', { ...ran, skipped: 'BORED' }));
    assert.deepEqual(paths(err), ['skipped']);
  });
});

describe('assertHandlers', () => {
  test('exactly one handler per job passes', () => {
    assert.doesNotThrow(() => assertHandlers(JOB_NAMES));
    assert.doesNotThrow(() => assertHandlers(['report.aggregate'], [QUEUES.report]));
    assert.doesNotThrow(() =>
      assertHandlers(
        [
          'backup.run',
          'restore.run',
          'maintenance.retention',
          'maintenance.deletePlan',
          'maintenance.syncCatalog',
          'maintenance.verify',
        ],
        ['backup', 'restore', 'maintenance'],
      ),
    );
  });

  test('a missing handler, a duplicate and a stray one are all reported at once', () => {
    const err = contractError(() =>
      assertHandlers(
        ['backup.run', 'backup.run', 'maintenance.retention', 'report.aggregate', 'backup.cleanup'],
        ['backup', 'maintenance'],
      ),
    );
    assert.equal(err.code, 'HANDLERS_MISMATCH');
    assert.deepEqual(err.issues, [
      { path: 'backup.run', message: 'has 2 handlers' },
      { path: 'maintenance.deletePlan', message: 'has no handler' },
      { path: 'maintenance.syncCatalog', message: 'has no handler' },
      { path: 'maintenance.verify', message: 'has no handler' },
      { path: 'report.aggregate', message: 'is a job of queue report, which this process does not consume' },
      { path: 'backup.cleanup', message: 'is not a job' },
    ]);
  });

  test('by default every job of every queue needs its handler', () => {
    const err = contractError(() => assertHandlers([]));
    assert.deepEqual(
      err.issues.map((i) => i.path),
      [...JOB_NAMES],
    );
  });
});
