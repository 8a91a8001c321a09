import type { Run, Service, ServiceBackup, Target } from '@vaultline/db';
import { atomically, type Db } from '../db';
import { lastSuccesses } from './plans';

/** One service × target of a run. */
export interface BackupKey {
  runId: string;
  serviceId: string;
  targetId: string;
}

export type BackupForJob = ServiceBackup & { service: Service; target: Target; run: Pick<Run, 'status'> };

/** What a finished backup leaves in its row (the worker's or the report's view of the result). */
export interface BackupResult {
  status: 'success' | 'failed';
  snapshotId?: string | null;
  totalBytes?: number;
  bytesRead?: number;
  bytesAdded?: number;
  files?: number;
  unreadable?: readonly { path: string; error: string }[];
  error: string | null;
  startedAt?: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
}

const where = (k: BackupKey) => ({ runId_serviceId_targetId: { ...k } });

export class BackupsRepository {
  constructor(private readonly db: Db) {}

  /** The row with its service, target and run status (foreign keys: if the row exists, they do). */
  findForJob(key: BackupKey): Promise<BackupForJob | null> {
    return this.db.serviceBackup.findUnique({
      where: where(key),
      include: { service: true, target: true, run: { select: { status: true } } },
    });
  }

  /**
   * One round trip: the row running (one more attempt), its service busy, and — when `startRun` —
   * the run running (guarded: later children, and a report that already finished the run, never
   * move it back).
   */
  async markStarted(key: BackupKey, at: Date, startRun: boolean): Promise<void> {
    await atomically(this.db, (db) => [
      db.serviceBackup.update({
        where: where(key),
        data: { status: 'running', attempts: { increment: 1 }, startedAt: at, finishedAt: null, error: null },
      }),
      db.service.update({ where: { id: key.serviceId }, data: { state: 'backing_up' } }),
      ...(startRun
        ? [
            db.run.updateMany({
              where: { id: key.runId, status: 'queued' },
              data: { status: 'running', startedAt: at },
            }),
          ]
        : []),
    ]);
  }

  /** Back to the queue (shutdown hand-back or a retry), with the attempt's error if any. */
  async markRequeued(key: BackupKey, error?: string): Promise<void> {
    await this.db.serviceBackup.update({
      where: where(key),
      data: { status: 'queued', ...(error === undefined ? {} : { error }) },
    });
  }

  /**
   * A note on a backup that is still waiting (`NODE_UNAVAILABLE: …` when no worker serves its
   * node), only while it is queued: a worker that took it meanwhile clears the error itself.
   * False when the row already says so (the watch notes on every pass, and logs only news).
   */
  async noteWaiting(key: BackupKey, error: string): Promise<boolean> {
    const { count } = await this.db.serviceBackup.updateMany({
      where: { ...key, status: 'queued', OR: [{ error: null }, { error: { not: error } }] },
      data: { error },
    });
    return count > 0;
  }

  /** Fails a backup no worker took (its job is being removed), only if it is still queued. */
  async failIfQueued(key: BackupKey, error: string, at = new Date()): Promise<boolean> {
    const { count } = await this.db.serviceBackup.updateMany({
      where: { ...key, status: 'queued' },
      data: { status: 'failed', error, finishedAt: at },
    });
    return count > 0;
  }

  /** The row's final outcome and figures. */
  async recordResult(key: BackupKey, r: BackupResult): Promise<void> {
    await this.db.serviceBackup.update({
      where: where(key),
      data: {
        status: r.status,
        snapshotId: r.snapshotId,
        totalBytes: r.totalBytes === undefined ? undefined : BigInt(r.totalBytes),
        bytesRead: r.bytesRead === undefined ? undefined : BigInt(r.bytesRead),
        bytesAdded: r.bytesAdded === undefined ? undefined : BigInt(r.bytesAdded),
        files: r.files,
        unreadable: r.unreadable?.map((u) => ({ path: u.path, error: u.error })),
        error: r.error,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
        durationMs: r.durationMs,
      },
    });
  }

  /**
   * Live figures of a running backup. Guarded by `running`: progress that arrives after the row was
   * finished never overwrites its final numbers; unknown ids simply match nothing.
   */
  async recordProgress(key: BackupKey, bytesRead: number, files: number): Promise<void> {
    await this.db.serviceBackup.updateMany({
      where: { ...key, status: 'running' },
      data: { bytesRead: BigInt(bytesRead), files },
    });
  }

  /**
   * Newest successful backup per plan × target in the run results (optionally of one service),
   * keyed `<planId>/<targetId>`: one query for any number of plans.
   */
  lastSuccesses(planIds: readonly string[], serviceId?: string): Promise<Map<string, Date>> {
    return lastSuccesses(this.db, planIds, serviceId);
  }

  /** How many files each of the plan's snapshots left out, keyed `<snapshotId>/<targetId>`. */
  async unreadableCounts(planId: string, snapshotIds: readonly string[]): Promise<Map<string, number>> {
    const rows = await this.db.serviceBackup.findMany({
      where: { snapshotId: { in: [...snapshotIds] }, run: { planId } },
      select: { snapshotId: true, targetId: true, unreadable: true },
    });
    return new Map(
      rows.map((r) => [
        `${r.snapshotId}/${r.targetId}`,
        Array.isArray(r.unreadable) ? r.unreadable.length : 0,
      ]),
    );
  }
}
