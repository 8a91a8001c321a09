import type { Arch, Snapshot, Target } from '@vaultline/db';
import type { Db } from '../db';

/** A snapshot as a target's repository holds it (what the catalog mirrors). */
export interface PublishedSnapshot {
  id: string;
  targetId: string;
  planId: string;
  /** Null when the service is not (or no longer) registered. */
  serviceId: string | null;
  time: Date;
  arch: Arch;
  totalBytes: number;
  bytesAdded: number;
  files: number;
  tags?: string[];
  /** The run that wrote it; undefined leaves what the row has (the repository does not know). */
  runId?: string;
}

export type SnapshotWithNames = Snapshot & { service: { name: string } | null; target: { name: string } };

export class SnapshotsRepository {
  constructor(private readonly db: Db) {}

  /** Catalogues a snapshot a backup published, or brings its row in line with the repository. */
  async recordPublished(s: PublishedSnapshot): Promise<void> {
    const row = {
      planId: s.planId,
      serviceId: s.serviceId,
      time: s.time,
      arch: s.arch,
      totalBytes: BigInt(s.totalBytes),
      bytesAdded: BigInt(s.bytesAdded),
      files: s.files,
      ...(s.tags === undefined ? {} : { tags: s.tags }),
      ...(s.runId === undefined ? {} : { runId: s.runId }),
    };
    await this.db.snapshot.upsert({
      where: { id_targetId: { id: s.id, targetId: s.targetId } },
      create: { id: s.id, targetId: s.targetId, ...row },
      update: row,
    });
  }

  /** Which of `ids` the plan has catalogued on the target. */
  async existingIds(planId: string, targetId: string, ids: readonly string[]): Promise<Set<string>> {
    const rows = await this.db.snapshot.findMany({
      where: { planId, targetId, id: { in: [...ids] } },
      select: { id: true },
    });
    return new Set(rows.map((r) => r.id));
  }

  /** Removes the plan's rows on the target that are not in `keep`; how many went. */
  async removeAllBut(planId: string, targetId: string, keep: readonly string[]): Promise<number> {
    const gone = await this.db.snapshot.deleteMany({ where: { planId, targetId, id: { notIn: [...keep] } } });
    return gone.count;
  }

  /** Forgets the rows of snapshots retention removed from the target. */
  async forget(planId: string, targetId: string, ids: readonly string[]): Promise<void> {
    await this.db.snapshot.deleteMany({ where: { planId, targetId, id: { in: [...ids] } } });
  }

  /**
   * The plan log, newest first (time, then id, then target), after the cursor, optionally of one
   * service or target.
   */
  pageForPlan(
    planId: string,
    filter: { serviceId?: string; targetId?: string },
    after: { time: Date; id: string; key?: string } | undefined,
    take: number,
  ): Promise<SnapshotWithNames[]> {
    return this.db.snapshot.findMany({
      where: {
        planId,
        ...(filter.serviceId ? { serviceId: filter.serviceId } : {}),
        ...(filter.targetId ? { targetId: filter.targetId } : {}),
        ...(after
          ? {
              OR: [
                { time: { lt: after.time } },
                { time: after.time, id: { lt: after.id } },
                { time: after.time, id: after.id, targetId: { lt: after.key ?? '' } },
              ],
            }
          : {}),
      },
      include: { service: { select: { name: true } }, target: { select: { name: true } } },
      orderBy: [{ time: 'desc' }, { id: 'desc' }, { targetId: 'desc' }],
      take,
    });
  }

  /**
   * The newest (or the given) snapshot of the service to restore, in plans not being deleted,
   * optionally on one target or of one plan.
   */
  findForRestore(
    serviceId: string,
    filter: { snapshotId?: string; targetId?: string; planId?: string },
  ): Promise<(Snapshot & { target: Target }) | null> {
    return this.db.snapshot.findFirst({
      where: {
        serviceId,
        ...(filter.snapshotId !== undefined ? { id: filter.snapshotId } : {}),
        ...(filter.targetId !== undefined ? { targetId: filter.targetId } : {}),
        ...(filter.planId !== undefined ? { planId: filter.planId } : {}),
        plan: { deletedAt: null },
      },
      include: { target: true },
      orderBy: [{ time: 'desc' }, { id: 'desc' }],
    });
  }

  /** A catalogued snapshot on a target, unless its plan is being deleted (its snapshots are going). */
  findOnTarget(id: string, targetId: string): Promise<(Snapshot & { target: Target }) | null> {
    return this.db.snapshot.findFirst({
      where: { id, targetId, plan: { deletedAt: null } },
      include: { target: true },
    });
  }

  /** The service's newest catalogued snapshot per plan × target, keyed `<planId>/<targetId>`. */
  async lastTimes(serviceId: string, planIds: readonly string[]): Promise<Map<string, Date | null>> {
    const rows = await this.db.snapshot.groupBy({
      by: ['planId', 'targetId'],
      where: { serviceId, planId: { in: [...planIds] } },
      _max: { time: true },
    });
    return new Map(rows.map((r) => [`${r.planId}/${r.targetId}`, r._max.time]));
  }
}
