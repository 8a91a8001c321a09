import type {
  Plan,
  Prisma,
  Report,
  Run,
  RunStatus,
  RunTrigger,
  Service,
  ServiceBackup,
  Target,
} from '@vaultline/db';
import type { Db } from '../db';

/** A page position: rows strictly older than (time, id), newest first. */
export interface Cursor {
  time: Date;
  id: string;
}

export type RunWithBackups = Run & {
  serviceBackups: (ServiceBackup & { service: Service; target: Target })[];
};

/** A run as the report service aggregates it: its plan's targets and its rows with their names. */
export type RunForReport = Run & {
  plan: Plan & { targets: { targetId: string }[] };
  serviceBackups: (ServiceBackup & { service: { name: string }; target: { name: string } })[];
};

export class RunsRepository {
  constructor(private readonly db: Db) {}

  find(id: string): Promise<Run | null> {
    return this.db.run.findUnique({ where: { id } });
  }

  findWithReport(id: string): Promise<(Run & { report: Report | null }) | null> {
    return this.db.run.findUnique({ where: { id }, include: { report: true } });
  }

  findWithBackups(id: string): Promise<RunWithBackups | null> {
    return this.db.run.findUnique({
      where: { id },
      include: { serviceBackups: { include: { service: true, target: true } } },
    });
  }

  findForReport(id: string): Promise<RunForReport | null> {
    return this.db.run.findUnique({
      where: { id },
      include: {
        plan: { include: { targets: { select: { targetId: true } } } },
        serviceBackups: {
          include: { service: { select: { name: true } }, target: { select: { name: true } } },
        },
      },
    });
  }

  /** A queued run with one queued service_backups row per service × target, together. */
  async createWithBackups(
    planId: string,
    trigger: RunTrigger,
    pairs: readonly { serviceId: string; targetId: string }[],
  ): Promise<Run> {
    const insert = async (tx: Prisma.TransactionClient): Promise<Run> => {
      const created = await tx.run.create({ data: { planId, trigger } });
      await tx.serviceBackup.createMany({ data: pairs.map((p) => ({ runId: created.id, ...p })) });
      return created;
    };
    return '$transaction' in this.db ? this.db.$transaction(insert) : insert(this.db);
  }

  /**
   * Serialises run creation for one plan until the surrounding transaction ends (a transaction-level
   * advisory lock); only meaningful inside `catalog.transaction`.
   */
  async lockPlan(planId: string): Promise<void> {
    await this.db.$executeRaw`SELECT pg_advisory_xact_lock(hashtextextended(${planId}, 0))`;
  }

  /** The plan's runs not finished yet, with their flow's job id (null until it was recorded). */
  listOpen(planId: string): Promise<{ flowJobId: string | null; queuedAt: Date }[]> {
    return this.db.run.findMany({
      where: { planId, status: { in: ['queued', 'running'] } },
      select: { flowJobId: true, queuedAt: true },
    });
  }

  /** Runs still queued or running that were queued before `before` (the reaper's candidates). */
  listUnfinishedBefore(before: Date, take: number): Promise<{ id: string; flowJobId: string | null }[]> {
    return this.db.run.findMany({
      where: { status: { in: ['queued', 'running'] }, finishedAt: null, queuedAt: { lt: before } },
      select: { id: true, flowJobId: true },
      take,
    });
  }

  async recordFlow(id: string, flowJobId: string | null): Promise<void> {
    await this.db.run.update({ where: { id }, data: { flowJobId } });
  }

  async delete(id: string): Promise<void> {
    await this.db.run.delete({ where: { id } });
  }

  /** The plan's runs, newest first, after the cursor. */
  pageForPlan(planId: string, after: Cursor | undefined, take: number): Promise<Run[]> {
    return this.db.run.findMany({
      where: {
        planId,
        ...(after
          ? { OR: [{ queuedAt: { lt: after.time } }, { queuedAt: after.time, id: { lt: after.id } }] }
          : {}),
      },
      orderBy: [{ queuedAt: 'desc' }, { id: 'desc' }],
      take,
    });
  }

  /**
   * The run shows as running from its first backup on. Guarded by `queued`: never moves a run that
   * already runs or finished back. `planId` narrows it to the plan the caller believes it is in.
   */
  async markStarted(id: string, at: Date, planId?: string): Promise<void> {
    await this.db.run.updateMany({
      where: { id, status: 'queued', ...(planId === undefined ? {} : { planId }) },
      data: { status: 'running', startedAt: at },
    });
  }

  async markFinished(id: string, status: RunStatus, startedAt: Date | null, finishedAt: Date): Promise<void> {
    await this.db.run.update({ where: { id }, data: { status, startedAt, finishedAt } });
  }
}
