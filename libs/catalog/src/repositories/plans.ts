import {
  Prisma,
  type Plan,
  type PlanFrequency,
  type PlanTarget,
  type Target,
  type VerifySchedule,
} from '@vaultline/db';
import { atomically, type Db } from '../db';

export interface ScheduleColumns {
  frequency: PlanFrequency;
  startTime: string;
  dayOfWeek: number | null;
  timezone: string;
}

/** The plan's scheduled verification: how often, and the share of packs each run reads. */
export interface VerifyColumns {
  verifySchedule: VerifySchedule;
  verifyPercent: number;
  verifyTime: string;
}

/** What plan_targets keeps of a repository created on a target (never the password). */
export interface PlanRepositoryRow {
  targetId: string;
  repoId: string;
  repoLocation: string;
  writerKeyEnc: string;
}

/** One of a plan's targets with what the catalog knows of its backups there. */
export interface PlanTargetDetails {
  targetId: string;
  target: Target;
  repoId: string;
  repoLocation: string;
  createdAt: Date;
  /** Sum of the catalogued snapshots' bytesAdded. */
  bytesAdded: bigint;
  snapshotCount: number;
  /** The newest catalogued snapshot's time. */
  lastSnapshotAt: Date | null;
  /** The newest successful backup in the run results (known before the catalog row is written). */
  lastSuccessAt: Date | null;
}

export interface PlanDetails {
  plan: Plan;
  /** In the order they were added. */
  targets: PlanTargetDetails[];
  services: { id: string; name: string }[];
}

export type PlanTargetWithTarget = PlanTarget & { target: Target };

export class PlansRepository {
  constructor(private readonly db: Db) {}

  /** CONFLICT when the name is taken. */
  create(
    fields: ScheduleColumns & { name: string; retention: object; verify?: VerifyColumns },
  ): Promise<Plan> {
    const { verify, ...rest } = fields;
    return this.db.plan.create({
      data: { ...rest, retention: fields.retention, ...(verify ?? {}) },
    });
  }

  find(id: string): Promise<Plan | null> {
    return this.db.plan.findUnique({ where: { id } });
  }

  /** The plan with its targets (and their catalog figures) and services; null when unknown. */
  async findWithTargets(id: string): Promise<PlanDetails | null> {
    const [details] = await this.details({ id });
    return details ?? null;
  }

  /**
   * Every plan (those being deleted too), by name, with targets and services: a constant number of
   * queries however many plans there are.
   */
  listWithTargets(): Promise<PlanDetails[]> {
    return this.details({});
  }

  private async details(where: Prisma.PlanWhereInput): Promise<PlanDetails[]> {
    const plans = await this.db.plan.findMany({
      where,
      orderBy: { name: 'asc' },
      include: {
        targets: { include: { target: true }, orderBy: { createdAt: 'asc' } },
        services: { include: { service: { select: { name: true } } } },
      },
    });
    if (!plans.length) return [];
    const ids = plans.map((p) => p.id);
    const [sizes, successes] = await Promise.all([
      this.db.snapshot.groupBy({
        by: ['planId', 'targetId'],
        where: { planId: { in: ids } },
        _sum: { bytesAdded: true },
        _count: { _all: true },
        _max: { time: true },
      }),
      lastSuccesses(this.db, ids),
    ]);
    const key = (planId: string, targetId: string): string => `${planId}/${targetId}`;
    const catalog = new Map(sizes.map((s) => [key(s.planId, s.targetId), s]));
    return plans.map(({ targets, services, ...plan }) => ({
      plan,
      targets: targets.map((pt) => {
        const c = catalog.get(key(plan.id, pt.targetId));
        return {
          targetId: pt.targetId,
          target: pt.target,
          repoId: pt.repoId,
          repoLocation: pt.repoLocation,
          createdAt: pt.createdAt,
          bytesAdded: c?._sum.bytesAdded ?? 0n,
          snapshotCount: c?._count._all ?? 0,
          lastSnapshotAt: c?._max.time ?? null,
          lastSuccessAt: successes.get(key(plan.id, pt.targetId)) ?? null,
        };
      }),
      services: services.map((ps) => ({ id: ps.serviceId, name: ps.service.name })),
    }));
  }

  /** Plans not being deleted that back up the service, by name, with their targets (oldest first). */
  listActiveForService(
    serviceId: string,
  ): Promise<(Plan & { targets: (PlanTarget & { target: { name: string } })[] })[]> {
    return this.db.plan.findMany({
      where: { deletedAt: null, services: { some: { serviceId } } },
      include: {
        targets: { include: { target: { select: { name: true } } }, orderBy: { createdAt: 'asc' } },
      },
      orderBy: { name: 'asc' },
    });
  }

  /** Links the plan's new repositories and its services, together. */
  async attach(planId: string, repositories: readonly PlanRepositoryRow[], serviceIds: readonly string[]) {
    await atomically(this.db, (db) => [
      db.planTarget.createMany({ data: repositories.map((r) => ({ planId, ...r })) }),
      db.planService.createMany({ data: serviceIds.map((serviceId) => ({ planId, serviceId })) }),
    ]);
  }

  /**
   * One change of a plan, all or nothing: its schedule and retention, targets removed (their
   * repositories stay on the target), repositories added, and — when given — its services replaced.
   * NOT_FOUND for an unknown plan, FOREIGN_KEY for a target or service deleted meanwhile.
   */
  async applyChanges(
    id: string,
    change: {
      schedule?: ScheduleColumns;
      retention?: object;
      verify?: VerifyColumns;
      removeTargetIds: readonly string[];
      addRepositories: readonly PlanRepositoryRow[];
      serviceIds?: readonly string[];
    },
  ): Promise<void> {
    const serviceIds = change.serviceIds;
    await atomically(this.db, (db) => [
      db.plan.update({
        where: { id },
        data: {
          ...(change.schedule ?? {}),
          ...(change.verify ?? {}),
          retention: change.retention,
        },
      }),
      db.planTarget.deleteMany({ where: { planId: id, targetId: { in: [...change.removeTargetIds] } } }),
      db.planTarget.createMany({ data: change.addRepositories.map((r) => ({ planId: id, ...r })) }),
      ...(serviceIds
        ? [
            db.planService.deleteMany({ where: { planId: id } }),
            db.planService.createMany({ data: serviceIds.map((serviceId) => ({ planId: id, serviceId })) }),
          ]
        : []),
    ]);
  }

  async setPaused(id: string, paused: boolean): Promise<void> {
    await this.db.plan.update({ where: { id }, data: { paused } });
  }

  /** Marks the plan as being deleted; an earlier mark (a racing request) keeps its time. */
  async markDeleting(id: string, at = new Date()): Promise<void> {
    await this.db.plan.updateMany({ where: { id, deletedAt: null }, data: { deletedAt: at } });
  }

  /** Removes the plan row and what hangs off it; nothing when it is already gone. */
  async delete(id: string): Promise<void> {
    await this.db.plan.deleteMany({ where: { id } });
  }

  /** The plan's repositories with their targets, oldest first. */
  repositoriesOf(planId: string): Promise<PlanTargetWithTarget[]> {
    return this.db.planTarget.findMany({
      where: { planId },
      include: { target: true },
      orderBy: { createdAt: 'asc' },
    });
  }

  async targetIdsOf(planId: string): Promise<string[]> {
    const rows = await this.db.planTarget.findMany({ where: { planId }, select: { targetId: true } });
    return rows.map((r) => r.targetId);
  }

  /** The plan's services and where each one's data lives (its node, null for the shared queues). */
  async servicePlacementsOf(planId: string): Promise<{ serviceId: string; node: string | null }[]> {
    const rows = await this.db.planService.findMany({
      where: { planId },
      select: { serviceId: true, service: { select: { node: true } } },
    });
    return rows.map((r) => ({ serviceId: r.serviceId, node: r.service.node }));
  }

  /** The plan's repository on the target (where it is, its sealed writer key), or null. */
  findRepository(planId: string, targetId: string): Promise<PlanTarget | null> {
    return this.db.planTarget.findUnique({ where: { planId_targetId: { planId, targetId } } });
  }

  /** Same, with the plan's name (metric labels). */
  findRepositoryWithPlanName(
    planId: string,
    targetId: string,
  ): Promise<(PlanTarget & { plan: { name: string } }) | null> {
    return this.db.planTarget.findUnique({
      where: { planId_targetId: { planId, targetId } },
      include: { plan: { select: { name: true } } },
    });
  }

  /**
   * After a deleted plan's snapshots left the target: its catalog rows and repository row there go,
   * and the plan row too when no target is left. The plan row is locked first (FOR UPDATE) so that
   * the last two targets' jobs, finishing together, cannot each still see the other's plan_targets
   * row and both leave the plan behind. Whether the plan row went.
   */
  async removeDeletedFromTarget(planId: string, targetId: string): Promise<boolean> {
    const run = async (tx: Prisma.TransactionClient): Promise<boolean> => {
      const locked = await tx.$queryRaw<{ deleted_at: Date | null }[]>`
        SELECT deleted_at FROM plans WHERE id = ${planId}::uuid FOR UPDATE`;
      await tx.snapshot.deleteMany({ where: { planId, targetId } });
      await tx.planTarget.deleteMany({ where: { planId, targetId } });
      const left = await tx.planTarget.count({ where: { planId } });
      if (left === 0 && locked[0]?.deleted_at) {
        await tx.plan.delete({ where: { id: planId } });
        return true;
      }
      return false;
    };
    return '$transaction' in this.db ? this.db.$transaction(run) : run(this.db);
  }
}

/** Newest successful backup per plan × target in the run results, for the given plans: one query. */
export async function lastSuccesses(
  db: Db,
  planIds: readonly string[],
  serviceId?: string,
): Promise<Map<string, Date>> {
  if (!planIds.length) return new Map();
  const rows = await db.$queryRaw<{ plan_id: string; target_id: string; last: Date | null }[]>`
    SELECT r.plan_id::text AS plan_id, sb.target_id::text AS target_id, max(sb.finished_at) AS last
      FROM service_backups sb JOIN runs r ON r.id = sb.run_id
     WHERE sb.status = 'success' AND r.plan_id = ANY(${[...planIds]}::uuid[])
       ${serviceId === undefined ? Prisma.empty : Prisma.sql`AND sb.service_id = ${serviceId}::uuid`}
     GROUP BY r.plan_id, sb.target_id`;
  const out = new Map<string, Date>();
  for (const r of rows) if (r.last) out.set(`${r.plan_id}/${r.target_id}`, r.last);
  return out;
}
