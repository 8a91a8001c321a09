import type { Target, Verification, VerifyKind } from '@vaultline/db';
import type { Db } from '../db';
import type { Cursor } from './runs';

export type VerificationWithTarget = Verification & { target: Target };

/** What a finished check leaves in the row. */
export interface VerificationOutcome {
  ok: boolean;
  packsRead: number;
  packsTotal: number;
  errors: readonly string[];
}

export class VerificationsRepository {
  constructor(private readonly db: Db) {}

  /** A verification starting now on one target (running until `finish` or `fail`). */
  start(fields: {
    planId: string;
    targetId: string;
    kind: VerifyKind;
    sliceIndex?: number;
    sliceCount?: number;
  }): Promise<Verification> {
    return this.db.verification.create({ data: { ...fields, status: 'running' } });
  }

  async finish(id: string, outcome: VerificationOutcome, at = new Date()): Promise<void> {
    await this.db.verification.update({
      where: { id },
      data: {
        status: 'success',
        ok: outcome.ok,
        packsRead: outcome.packsRead,
        packsTotal: outcome.packsTotal,
        errors: [...outcome.errors],
        finishedAt: at,
      },
    });
  }

  /** The check could not run (target unreachable, repository unopenable): not ok, with why. */
  async fail(id: string, error: string, at = new Date()): Promise<void> {
    await this.db.verification.update({
      where: { id },
      data: { status: 'failed', ok: false, errors: [error], finishedAt: at },
    });
  }

  /**
   * How many scheduled verifications of the plan on the target finished (any outcome): the
   * rotation's position, so the next run reads the next slice.
   */
  countScheduled(planId: string, targetId: string): Promise<number> {
    return this.db.verification.count({
      where: { planId, targetId, kind: 'scheduled', status: { in: ['success', 'failed'] } },
    });
  }

  /**
   * Per target of the plan, its latest verification that had finished by `at` (a run's report
   * lists them as of the run's end, so a re-written report stays the same document).
   */
  async latestPerTarget(
    planId: string,
    targetIds: readonly string[],
    at: Date,
  ): Promise<VerificationWithTarget[]> {
    // One indexed lookup per target (a plan has a few): no scan of years of history.
    const rows = await Promise.all(
      targetIds.map((targetId) =>
        this.db.verification.findFirst({
          where: { planId, targetId, finishedAt: { lte: at }, status: { in: ['success', 'failed'] } },
          include: { target: true },
          orderBy: [{ finishedAt: 'desc' }, { id: 'desc' }],
        }),
      ),
    );
    return rows.filter((r): r is VerificationWithTarget => r !== null);
  }

  /** The plan's verifications, newest first, after the cursor. */
  pageForPlan(planId: string, after: Cursor | undefined, take: number): Promise<VerificationWithTarget[]> {
    return this.db.verification.findMany({
      where: {
        planId,
        ...(after
          ? { OR: [{ startedAt: { lt: after.time } }, { startedAt: after.time, id: { lt: after.id } }] }
          : {}),
      },
      include: { target: true },
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take,
    });
  }
}
