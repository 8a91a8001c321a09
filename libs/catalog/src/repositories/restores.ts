import type { Restore, Service, Target } from '@vaultline/db';
import type { Db } from '../db';

export type RestoreWithNames = Restore & { service: Service; target: Target };

export class RestoresRepository {
  constructor(private readonly db: Db) {}

  create(fields: {
    serviceId: string;
    snapshotId: string;
    targetId: string;
    destination: string;
    crossArch?: boolean;
    /** The service's node at queue time: the restore@<node> queue its job went to. */
    node?: string | null;
  }): Promise<Restore> {
    return this.db.restore.create({ data: fields });
  }

  find(id: string): Promise<Restore | null> {
    return this.db.restore.findUnique({ where: { id } });
  }

  findWithNames(id: string): Promise<RestoreWithNames | null> {
    return this.db.restore.findUnique({ where: { id }, include: { service: true, target: true } });
  }

  /** Newest first, optionally of one service. */
  list(filter: { serviceId?: string }, take: number): Promise<RestoreWithNames[]> {
    return this.db.restore.findMany({
      where: filter.serviceId ? { serviceId: filter.serviceId } : {},
      include: { service: true, target: true },
      orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
      take,
    });
  }

  async delete(id: string): Promise<void> {
    await this.db.restore.delete({ where: { id } });
  }

  /** A worker took it: running from `at`, the previous attempt's end and error cleared. */
  async markStarted(id: string, at: Date): Promise<void> {
    await this.db.restore.update({
      where: { id },
      data: { status: 'running', startedAt: at, finishedAt: null, error: null },
    });
  }

  /** The snapshot actually restored (`latest` resolved) and whether it crosses architectures. */
  async recordResolved(id: string, snapshotId: string, crossArch: boolean): Promise<void> {
    await this.db.restore.update({ where: { id }, data: { snapshotId, crossArch } });
  }

  async markSucceeded(id: string, warnings: readonly string[] = [], at = new Date()): Promise<void> {
    await this.db.restore.update({
      where: { id },
      data: { status: 'success', error: null, warnings: [...warnings], finishedAt: at },
    });
  }

  /** Back to the queue (shutdown hand-back or a retry), with the attempt's error if any. */
  async markRequeued(id: string, error?: string): Promise<void> {
    await this.db.restore.update({
      where: { id },
      data: { status: 'queued', ...(error === undefined ? {} : { error }) },
    });
  }

  async markFailed(id: string, error: string, at = new Date()): Promise<void> {
    await this.db.restore.update({ where: { id }, data: { status: 'failed', error, finishedAt: at } });
  }

  /** A note on a restore that is still queued (no worker serves its node); see backups.noteWaiting. */
  async noteWaiting(id: string, error: string): Promise<boolean> {
    const { count } = await this.db.restore.updateMany({
      where: { id, status: 'queued', OR: [{ error: null }, { error: { not: error } }] },
      data: { error },
    });
    return count > 0;
  }

  /** Nodes of restores still queued (their node queues are watched even if the service moved). */
  async queuedNodes(): Promise<string[]> {
    const rows = await this.db.restore.findMany({
      where: { status: 'queued', node: { not: null } },
      distinct: ['node'],
      select: { node: true },
    });
    return rows.flatMap((r) => (r.node ? [r.node] : []));
  }

  /** Restores still queued or running that were queued before `before` (the reaper's candidates). */
  listUnfinishedBefore(before: Date, take: number): Promise<{ id: string; node: string | null }[]> {
    return this.db.restore.findMany({
      where: { status: { in: ['queued', 'running'] }, queuedAt: { lt: before } },
      select: { id: true, node: true },
      take,
    });
  }

  /**
   * Ends a restore nobody will finish, only if it is still open (its worker may have finished it
   * meanwhile): success, or failed with `error`. Whether it did.
   */
  async closeIfOpen(
    id: string,
    outcome: { status: 'success'; warnings?: readonly string[] } | { status: 'failed'; error: string },
  ): Promise<boolean> {
    const ended = await this.db.restore.updateMany({
      where: { id, status: { in: ['queued', 'running'] } },
      data:
        outcome.status === 'success'
          ? {
              status: 'success',
              error: null,
              warnings: [...(outcome.warnings ?? [])],
              finishedAt: new Date(),
            }
          : { status: 'failed', error: outcome.error, finishedAt: new Date() },
    });
    return ended.count > 0;
  }
}
