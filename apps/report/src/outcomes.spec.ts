import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { reportSummarySchema } from '@vaultline/contracts';

import {
  buildSummary,
  childJob,
  deriveRunStatus,
  earliestStart,
  failedResult,
  parseErrorText,
  resolveBackups,
  type BackupRow,
  type ChildOutcome,
} from './outcomes';

const RUN = '0190a000-0000-7000-8000-000000000001';
const SVC_A = '0190a000-0000-7000-8000-00000000000a';
const SVC_B = '0190a000-0000-7000-8000-00000000000b';
const TGT = '0190a000-0000-7000-8000-0000000000f1';
const SNAP = 'ab'.repeat(32);
const NOW = new Date('2026-01-01T03:00:00.000Z');
const names = { service: (id: string) => `svc:${id}`, target: (id: string) => `tgt:${id}` };

function row(overrides: Partial<BackupRow> = {}): BackupRow {
  return {
    serviceId: SVC_A,
    targetId: TGT,
    serviceName: 'alpha',
    targetName: 'disk',
    status: 'queued',
    snapshotId: null,
    totalBytes: 0n,
    bytesRead: 0n,
    bytesAdded: 0n,
    files: 0,
    unreadable: [],
    error: null,
    startedAt: null,
    finishedAt: null,
    durationMs: null,
    ...overrides,
  };
}

function success(serviceId = SVC_A, errors = 0): ChildOutcome {
  return {
    serviceId,
    targetId: TGT,
    finishedAt: new Date('2026-01-01T02:10:00.000Z'),
    result: {
      status: 'success',
      snapshot: { id: SNAP, time: '2026-01-01T02:09:00.000Z', arch: 'x86_64', parent: null },
      stats: {
        files: 3,
        dirs: 1,
        totalBytes: 300,
        bytesRead: 300,
        bytesAdded: 120,
        blobsAdded: 2,
        filesNew: 3,
        filesChanged: 0,
        filesUnmodified: 0,
        errors,
        durationMs: 60_000,
      },
      unreadable: Array.from({ length: errors }, (_, i) => ({ path: `/d/f${i}`, error: 'EACCES' })),
      durationMs: 60_000,
    },
  };
}

describe('report outcomes', () => {
  test('run status: all, some or none succeeded; an empty run is a success', () => {
    assert.equal(deriveRunStatus(2, 0), 'success');
    assert.equal(deriveRunStatus(1, 1), 'partial');
    assert.equal(deriveRunStatus(0, 2), 'failed');
    assert.equal(deriveRunStatus(0, 0), 'success');
  });

  test('child keys: the job id of the right prefix and queue only (prefixes may contain colons)', () => {
    assert.deepEqual(childJob('vl:{a}:backup:backup-1-2-3', 'vl:{a}', 'backup'), { id: 'backup-1-2-3' });
    assert.equal(childJob('other:backup:x', 'vl', 'backup'), null);
    assert.equal(childJob('vl:restore:x', 'vl', 'backup'), null);
    assert.equal(childJob('vl:backup:', 'vl', 'backup'), null);
    assert.equal(childJob('vl:backupx:x', 'vl', 'backup'), null);
  });

  test("child keys on a node's queue carry the node; malformed node queues are not children", () => {
    assert.deepEqual(childJob('vl:{a}:backup@node-a.lan:backup-1-2-3', 'vl:{a}', 'backup'), {
      id: 'backup-1-2-3',
      node: 'node-a.lan',
    });
    assert.equal(childJob('vl:restore@node-a:x', 'vl', 'backup'), null);
    assert.equal(childJob('vl:backup@Node_A:x', 'vl', 'backup'), null);
    assert.equal(childJob('vl:backup@:x', 'vl', 'backup'), null);
    assert.equal(childJob('vl:report@node-a:x', 'vl', 'report'), null);
  });

  test('error texts: CODE: message, anything else UNKNOWN; failed results are one bounded line', () => {
    assert.deepEqual(parseErrorText('FULL: target is full'), { code: 'FULL', message: 'target is full' });
    assert.deepEqual(parseErrorText('oops'), { code: 'UNKNOWN', message: 'oops' });
    assert.equal(parseErrorText(null), null);
    const r = failedResult('JOB_FAILED', `${'x'.repeat(5000)}\nstack`);
    assert.equal(r.status, 'failed');
    if (r.status === 'failed') assert.equal(r.error.message.length, 2000);
  });

  test('a child outcome wins over its row; a row without one fails with NO_RESULT', () => {
    const rows = [row(), row({ serviceId: SVC_B, serviceName: 'beta', status: 'running' })];
    const resolved = resolveBackups(rows, [success()], names, NOW);
    assert.equal(resolved.length, 2);
    const [a, b] = resolved;
    assert.equal(a!.status, 'success');
    assert.equal(a!.snapshotId, SNAP);
    assert.deepEqual(a!.snapshot, { id: SNAP, time: '2026-01-01T02:09:00.000Z', arch: 'x86_64' });
    assert.equal(a!.startedAt?.toISOString(), '2026-01-01T02:09:00.000Z', 'finish minus duration');
    assert.equal(b!.status, 'failed');
    assert.equal(b!.error?.code, 'NO_RESULT');
    assert.equal(b!.finishedAt, NOW);
  });

  test("a success keeps the row's post-hook warning for the same snapshot only", () => {
    const warned = row({ status: 'success', snapshotId: SNAP, error: 'HOOK_FAILED: post-hook exited 1' });
    assert.deepEqual(resolveBackups([warned], [success()], names, NOW)[0]!.error, {
      code: 'HOOK_FAILED',
      message: 'post-hook exited 1',
    });
    const stale = row({ status: 'failed', error: 'UNREACHABLE: gone' });
    assert.equal(resolveBackups([stale], [success()], names, NOW)[0]!.error, null);
  });

  test('a child whose row is gone is reported under looked-up names, without a row', () => {
    const [only] = resolveBackups([], [success(SVC_B)], names, NOW);
    assert.equal(only!.hasRow, false);
    assert.equal(only!.serviceName, `svc:${SVC_B}`);
  });

  test('summary: counts, totals, sorted backups, first unreadable files, valid against the contract', () => {
    const rows = [
      row({ serviceId: SVC_B, serviceName: 'beta' }),
      row({ serviceName: 'alpha', startedAt: new Date('2026-01-01T02:00:00.000Z') }),
    ];
    const children: ChildOutcome[] = [
      success(SVC_A, 8),
      { serviceId: SVC_B, targetId: TGT, finishedAt: null, result: failedResult('FULL', 'no space') },
    ];
    const backups = resolveBackups(rows, children, names, NOW);
    const startedAt = earliestStart(backups);
    assert.equal(startedAt?.toISOString(), '2026-01-01T02:00:00.000Z');
    const summary = buildSummary(
      {
        id: RUN,
        planId: RUN,
        planName: 'nightly',
        trigger: 'schedule',
        queuedAt: new Date('2026-01-01T01:59:00.000Z'),
        startedAt,
        finishedAt: NOW,
      },
      backups,
    );
    assert.doesNotThrow(() => reportSummarySchema.parse(summary));
    assert.equal(summary.status, 'partial');
    assert.deepEqual(summary.counts, { total: 2, succeeded: 1, failed: 1 });
    assert.deepEqual(summary.totals, { totalBytes: 300, bytesAdded: 120, files: 3 });
    assert.equal(summary.durationMs, 60 * 60_000);
    assert.deepEqual(
      summary.backups.map((b) => b.serviceName),
      ['alpha', 'beta'],
    );
    assert.equal(summary.backups[0]!.unreadableCount, 8);
    assert.equal(summary.backups[0]!.unreadable.length, 5);
    assert.deepEqual(summary.backups[1]!.error, { code: 'FULL', message: 'no space' });
    assert.equal(summary.backups[1]!.snapshotId, null);
  });

  test('a run without backups is a success with zero counts', () => {
    const summary = buildSummary(
      {
        id: RUN,
        planId: RUN,
        planName: 'empty',
        trigger: 'manual',
        queuedAt: NOW,
        startedAt: null,
        finishedAt: NOW,
      },
      [],
    );
    assert.equal(summary.status, 'success');
    assert.deepEqual(summary.counts, { total: 0, succeeded: 0, failed: 0 });
    assert.equal(summary.durationMs, 0);
  });

  test("the targets' latest verifications: sorted by target, status from the row, errors sampled", () => {
    const at = new Date('2026-01-01T02:30:00.000Z');
    const base = { kind: 'scheduled' as const, finishedAt: at, packsRead: 3, packsTotal: 30 };
    const summary = buildSummary(
      {
        id: RUN,
        planId: RUN,
        planName: 'n',
        trigger: 'manual',
        queuedAt: NOW,
        startedAt: null,
        finishedAt: NOW,
      },
      [],
      [
        {
          ...base,
          targetId: TGT,
          targetName: 'usb',
          status: 'success',
          ok: false,
          errors: ['e1', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7'],
        },
        {
          ...base,
          targetId: SVC_A,
          targetName: 'nas',
          status: 'failed',
          ok: false,
          errors: ['UNREACHABLE: down'],
        },
        {
          ...base,
          targetId: SVC_B,
          targetName: 'cloud',
          status: 'success',
          ok: true,
          errors: [],
          kind: 'deep',
        },
      ],
    );
    assert.doesNotThrow(() => reportSummarySchema.parse(summary));
    assert.deepEqual(
      summary.verifications?.map((v) => [v.targetName, v.kind, v.status, v.errorCount, v.errors.length]),
      [
        ['cloud', 'deep', 'ok', 0, 0],
        ['nas', 'scheduled', 'failed', 1, 1],
        ['usb', 'scheduled', 'corrupt', 7, 5],
      ],
    );
    assert.equal(summary.verifications?.[2]?.finishedAt, at.toISOString());
    assert.equal(summary.verifications?.[2]?.packsTotal, 30);
  });
});
