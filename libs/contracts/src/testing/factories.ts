/**
 * Valid job and event data for tests, with overrides: each test states only what it is about.
 * Typed by the registry, so a builder breaks at compile time when a contract changes.
 */
import type { SnapshotStats } from '../common';
import type { EventName, EventPayload } from '../events';
import type { JobName, JobPayload, JobResult } from '../jobs';

export const SNAPSHOT_ID = 'a'.repeat(64);
export const AT = '2025-03-01T02:00:00.000Z';

const progress = { phase: 'backup', filesDone: 3, filesTotal: 10, bytesDone: 300, bytesTotal: 1000 } as const;

export function stats(): SnapshotStats {
  return {
    files: 10,
    dirs: 2,
    totalBytes: 1000,
    bytesRead: 1000,
    bytesAdded: 600,
    blobsAdded: 12,
    filesNew: 10,
    filesChanged: 0,
    filesUnmodified: 0,
    errors: 1,
    durationMs: 1500,
  };
}

const payloads: { [N in JobName]: () => JobPayload<N> } = {
  'backup.run': () => ({ runId: 'run_1', planId: 'plan_1', serviceId: 'svc_1', targetId: 'tgt_1' }),
  'report.aggregate': () => ({ runId: 'run_1', planId: 'plan_1' }),
  'restore.run': () => ({
    restoreId: 'rst_1',
    planId: 'plan_1',
    serviceId: 'svc_1',
    targetId: 'tgt_1',
    snapshot: 'latest',
    destination: '/srv/restore',
    allowCrossArch: false,
    verify: true,
    passwordEnvelope: { ciphertext: 'A'.repeat(40), nonce: 'B'.repeat(16), expiresAt: AT },
  }),
  'maintenance.retention': () => ({ planId: 'plan_1', targetId: 'tgt_1' }),
  'maintenance.deletePlan': () => ({ planId: 'plan_1', targetId: 'tgt_1' }),
  'maintenance.syncCatalog': () => ({ planId: 'plan_1', targetId: 'tgt_1' }),
  'maintenance.verify': () => ({ planId: 'plan_1', kind: 'scheduled' }),
  'schedule.run': () => ({ planId: 'plan_1' }),
};

const results: { [N in JobName]: () => JobResult<N> } = {
  'backup.run': () => ({
    status: 'success',
    snapshot: { id: SNAPSHOT_ID, time: AT, arch: 'x86_64', parent: null },
    stats: stats(),
    unreadable: [{ path: 'secret/db.key', error: 'permission denied' }],
    durationMs: 1600,
  }),
  'report.aggregate': () => ({ status: 'partial', backupsSucceeded: 3, backupsFailed: 1, webhook: 'sent' }),
  'restore.run': () => ({
    status: 'success',
    snapshotId: SNAPSHOT_ID,
    files: 10,
    dirs: 2,
    symlinks: 0,
    bytes: 1000,
    verified: true,
    crossArch: false,
    durationMs: 900,
  }),
  'maintenance.retention': () => ({
    forgotten: [SNAPSHOT_ID],
    kept: 7,
    prune: { packsDeleted: 2, packsRepacked: 0, packsNeedingPassword: 1, bytesFreed: 4096 },
    durationMs: 300,
  }),
  'maintenance.syncCatalog': () => ({ found: 4, added: 1, removed: 2, durationMs: 120 }),
  'maintenance.verify': () => ({
    targets: [
      { targetId: 'tgt_1', ok: false, packsRead: 3, packsTotal: 30, errors: ['pack 00 is corrupted'] },
    ],
    durationMs: 800,
  }),
  'maintenance.deletePlan': () => ({
    forgotten: [SNAPSHOT_ID],
    kept: 0,
    prune: { packsDeleted: 5, packsRepacked: 0, packsNeedingPassword: 0, bytesFreed: 9000 },
    durationMs: 300,
  }),
  'schedule.run': () => ({ outcome: 'started', runId: 'run_2' }),
};

const backupRef = { at: AT, runId: 'run_1', planId: 'plan_1', serviceId: 'svc_1', targetId: 'tgt_1' };
const restoreRef = { at: AT, restoreId: 'rst_1', serviceId: 'svc_1', targetId: 'tgt_1' };
const error = { code: 'UNREACHABLE', message: 'target s3://bucket/prefix is unreachable' };

const events: { [N in EventName]: () => EventPayload<N> } = {
  'run.started': () => ({ at: AT, runId: 'run_1', planId: 'plan_1', trigger: 'schedule', backups: 4 }),
  'backup.started': () => ({ ...backupRef, attempt: 1 }),
  'backup.progress': () => ({ ...backupRef, progress: { ...progress } }),
  'backup.finished': () => ({
    ...backupRef,
    snapshotId: SNAPSHOT_ID,
    stats: stats(),
    unreadable: 1,
    durationMs: 1600,
  }),
  'backup.failed': () => ({ ...backupRef, error, attempt: 2, willRetry: true }),
  'run.finished': () => ({ at: AT, runId: 'run_1', planId: 'plan_1', status: 'success', durationMs: 5000 }),
  'restore.progress': () => ({ ...restoreRef, progress: { ...progress, phase: 'restore' } }),
  'restore.finished': () => ({
    ...restoreRef,
    snapshotId: SNAPSHOT_ID,
    files: 10,
    bytes: 1000,
    verified: true,
    crossArch: false,
    durationMs: 900,
  }),
  'restore.failed': () => ({
    ...restoreRef,
    error: { code: 'WRONG_PASSWORD', message: 'wrong password' },
    willRetry: false,
  }),
};

/** Overrides are type-checked: invalid data is built by spreading one of these into a literal. */
export function jobPayload<N extends JobName>(
  name: N,
  overrides: Partial<JobPayload<N>> = {},
): JobPayload<N> {
  return { ...payloads[name](), ...overrides };
}

export function jobResult<N extends JobName>(name: N): JobResult<N> {
  return results[name]();
}

export function eventPayload<N extends EventName>(
  name: N,
  overrides: Partial<EventPayload<N>> = {},
): EventPayload<N> {
  return { ...events[name](), ...overrides };
}
