/**
 * The `maintenance` queue: a plan's repository on one target, kept in shape with the writer key.
 *
 * - `maintenance.retention`: the plan's retention policy as it is NOW in the database (a policy
 *   edited while the job waited applies) → engine `forget` restricted to this plan → `prune`
 *   → the forgotten snapshots' catalog rows go.
 * - `maintenance.deletePlan`: every snapshot of a deleted plan on this target → `prune` → the
 *   plan's catalog rows on this target and its plan_targets row go; the last target's job removes
 *   the plan row itself (its runs, reports… cascade).
 *
 * The writer key is enough (docs/repository-format.md): snapshot headers and manifests are
 * writer-readable, and prune drops packs no manifest references. Partly used packs need the
 * password to be repacked; the result counts them (`packsNeedingPassword`).
 *
 * Outcomes: the result has no `failed` variant (no parent reads it), so a permanent failure (wrong
 * key, corrupt repository, invalid retention) fails the job at once with UnrecoverableError
 * `<CODE>: <message>`, and a transient one (target unreachable, repository LOCKED by a backup or
 * another prune, Postgres) is thrown for BullMQ's retries. Forget and prune are idempotent, so a
 * retried job finishes what an interrupted one started. They take no AbortSignal: a shutdown waits
 * for a running maintenance job (forget is quick; prune holds an exclusive lock that a killed
 * process would leave to go stale).
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';

import {
  parseJobResult,
  retentionPolicySchema,
  type JobPayload,
  type JobResult,
  type JobsOfQueue,
} from '@vaultline/contracts';
import type { Catalog } from '@vaultline/catalog';
import {
  forget,
  prune,
  type ForgetOptions,
  type RetentionPolicy,
  type SnapshotInfo,
  type WorkerPool,
} from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';

import { classify, WorkerError } from './errors';
import { closeRepository, openPlanRepository, WORKER_LOCK_TIMING } from './target';

export type MaintenanceResult = JobResult<'maintenance.retention'>;
export type SyncCatalogResult = JobResult<'maintenance.syncCatalog'>;
/** maintenance.verify has its own processor (verify-processor.ts). */
type MaintenanceJob = Exclude<JobsOfQueue<'maintenance'>, 'maintenance.verify'>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
type SkipReason = NonNullable<MaintenanceResult['skipped']>;

export interface MaintenanceProcessorOptions {
  /** Prune's safety margin: packs younger than this are never deleted (engine default 1 h). */
  pruneSafetyMarginMs?: number;
}

export interface MaintenanceProcessorDeps {
  catalog: Catalog;
  keys: ServerKeys;
  pool: WorkerPool;
  logger: Logger;
  options?: MaintenanceProcessorOptions;
}

/** The plan's `retention` column as the engine's policy; null when it keeps no rule at all. */
export function retentionFromColumn(value: unknown): RetentionPolicy | null {
  const isEmpty =
    value === null ||
    (typeof value === 'object' &&
      !Array.isArray(value) &&
      Object.values(value as Record<string, unknown>).every(
        (v) => v === undefined || v === null || v === 0 || (Array.isArray(v) && v.length === 0),
      ));
  if (isEmpty) return null;
  const parsed = retentionPolicySchema.safeParse(value);
  if (!parsed.success) {
    // The API validates with the same schema: a row that fails it was written by hand or by an
    // older version. Forgetting on a guess could delete what the owner meant to keep.
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'retention'}: ${i.message}`);
    throw new WorkerError(
      'INVALID_RETENTION',
      `the plan's retention policy is invalid (${issues.join('; ')})`,
      'permanent',
    );
  }
  const p = parsed.data;
  // Only the rules that are set: the engine treats a missing rule as 0.
  const policy: RetentionPolicy = {};
  if (p.keepLast !== undefined) policy.keepLast = p.keepLast;
  if (p.keepHourly !== undefined) policy.keepHourly = p.keepHourly;
  if (p.keepDaily !== undefined) policy.keepDaily = p.keepDaily;
  if (p.keepWeekly !== undefined) policy.keepWeekly = p.keepWeekly;
  if (p.keepMonthly !== undefined) policy.keepMonthly = p.keepMonthly;
  if (p.keepYearly !== undefined) policy.keepYearly = p.keepYearly;
  if (p.keepTags?.length) policy.keepTags = [...p.keepTags];
  return policy;
}

export class MaintenanceProcessor {
  constructor(private readonly deps: MaintenanceProcessorDeps) {}

  /** One job of the queue; its payload is already validated (the dispatcher of @vaultline/jobs). */
  async process<N extends MaintenanceJob>(name: N, payload: JobPayload<N>, job: Job): Promise<JobResult<N>> {
    return (await this.run(name, payload, job)) as JobResult<N>;
  }

  private async run(
    name: MaintenanceJob,
    payload: JobPayload<MaintenanceJob>,
    job: Job,
  ): Promise<MaintenanceResult | SyncCatalogResult> {
    const log = this.deps.logger.child({ jobId: job.id, job: name, ...payload });
    const started = Date.now();
    try {
      if (name === 'maintenance.syncCatalog') {
        return parseJobResult(name, await this.syncCatalog(payload, started, log));
      }
      const result =
        name === 'maintenance.retention'
          ? await this.retention(payload, started, log)
          : await this.deletePlan(payload, started, log);
      return parseJobResult(name, result);
    } catch (err) {
      const { info, retry } = classify(err);
      if (retry === 'permanent') {
        log.error({ err, code: info.code }, 'maintenance failed');
        throw new UnrecoverableError(`${info.code}: ${info.message}`);
      }
      log.warn({ err, code: info.code, attempt: job.attemptsMade + 1 }, 'maintenance failed; will retry');
      throw err;
    }
  }

  /**
   * The catalog of one plan on one target, rebuilt from the repository (the truth): a row per
   * snapshot of the plan found there (created, or corrected), none for snapshots no longer there.
   * Snapshot headers are readable with the writer key, so no password is needed. A service that
   * was deleted (or never registered here) leaves its snapshots catalogued with no service.
   */
  private async syncCatalog(
    payload: JobPayload<'maintenance.syncCatalog'>,
    started: number,
    log: Logger,
  ): Promise<SyncCatalogResult> {
    const { catalog, keys } = this.deps;
    const { planId, targetId } = payload;
    const [target, planTarget] = await Promise.all([
      catalog.targets.find(targetId),
      catalog.plans.findRepository(planId, targetId),
    ]);
    if (!target || !planTarget) {
      throw new WorkerError('NOT_FOUND', 'the plan has no repository on this target', 'permanent');
    }
    const repo = await openPlanRepository(keys, target, planTarget);
    let snapshots: SnapshotInfo[];
    try {
      snapshots = (await repo.listSnapshots()).filter((s) => s.plan === planId);
    } finally {
      await closeRepository(repo);
    }
    const serviceIds = [...new Set(snapshots.map((s) => s.service).filter((s): s is string => !!s))];
    const known = await catalog.services.existingIds(serviceIds.filter((id) => UUID_RE.test(id)));
    const ids = snapshots.map((s) => s.id);
    const { added, removed } = await catalog.transaction(async (tx) => {
      const existing = await tx.snapshots.existingIds(planId, targetId, ids);
      for (const s of snapshots) {
        // runId is left as it is: the repository does not know which run wrote a snapshot.
        await tx.snapshots.recordPublished({
          id: s.id,
          targetId,
          planId,
          serviceId: s.service && known.has(s.service) ? s.service : null,
          time: new Date(s.time),
          arch: s.arch,
          totalBytes: s.stats.totalBytes,
          bytesAdded: s.stats.bytesAdded,
          files: s.stats.files,
          tags: s.tags,
        });
      }
      const gone = await tx.snapshots.removeAllBut(planId, targetId, ids);
      return { added: ids.filter((id) => !existing.has(id)).length, removed: gone };
    });
    const durationMs = Date.now() - started;
    log.info({ found: ids.length, added, removed, durationMs }, 'catalog synchronised with the repository');
    return { found: ids.length, added, removed, durationMs };
  }

  private async retention(
    payload: JobPayload<'maintenance.retention'>,
    started: number,
    log: Logger,
  ): Promise<MaintenanceResult> {
    const { catalog } = this.deps;
    const plan = await catalog.plans.find(payload.planId);
    // A deleting plan's snapshots are removed by its deletePlan jobs; pruning here would only race them.
    if (!plan || plan.deletedAt) return skipped('PLAN_DELETED', started, log);
    const policy = retentionFromColumn(plan.retention);
    if (!policy) return skipped('NO_RETENTION', started, log);
    return this.forgetAndPrune(payload, { policy, plan: payload.planId }, started, log, async (forgotten) => {
      await catalog.snapshots.forget(payload.planId, payload.targetId, forgotten);
    });
  }

  private async deletePlan(
    payload: JobPayload<'maintenance.deletePlan'>,
    started: number,
    log: Logger,
  ): Promise<MaintenanceResult> {
    const plan = await this.deps.catalog.plans.find(payload.planId);
    // Gone: the last target's job already removed it (this is a re-delivery).
    if (!plan) return skipped('NOT_ON_TARGET', started, log);
    if (!plan.deletedAt) {
      // Wiping a live plan's backups because of a stray job would be unrecoverable: refuse.
      throw new WorkerError(
        'PLAN_NOT_DELETED',
        `plan ${plan.id} is not being deleted (deleted_at is not set): its snapshots stay`,
        'permanent',
      );
    }
    const result = await this.forgetAndPrune(
      payload,
      { all: true, plan: payload.planId },
      started,
      log,
      (forgotten) => this.dropPlanTarget(payload, forgotten.length),
      // A re-delivered job whose target row is already gone still finishes the plan's removal.
      () => this.dropPlanTarget(payload, 0),
    );
    return result;
  }

  /**
   * Removes the plan's catalog rows on this target and its plan_targets row, and the plan row when
   * no target is left. The plan row is locked first (FOR UPDATE) so that the last two targets'
   * jobs, finishing together, cannot each still see the other's plan_targets row and both leave
   * the plan behind.
   */
  private async dropPlanTarget(
    payload: JobPayload<'maintenance.deletePlan'>,
    forgotten: number,
  ): Promise<void> {
    const { planId, targetId } = payload;
    const planDeleted = await this.deps.catalog.plans.removeDeletedFromTarget(planId, targetId);
    this.deps.logger.info({ planId, targetId, forgotten, planDeleted }, 'plan removed from target');
  }

  /**
   * Opens the plan's repository on the target with the writer key, forgets, prunes, then lets
   * `catalog` bring the database in line. The catalog follows the repository (its truth), so a
   * crash between the two leaves rows of forgotten snapshots that the retried job removes.
   */
  private async forgetAndPrune(
    payload: { planId: string; targetId: string },
    forgetOptions: Omit<ForgetOptions, 'dryRun' | 'lockTiming'>,
    started: number,
    log: Logger,
    catalog: (forgotten: string[]) => Promise<void>,
    whenNotOnTarget?: () => Promise<void>,
  ): Promise<MaintenanceResult> {
    const { keys, pool } = this.deps;
    const [target, planTarget] = await Promise.all([
      this.deps.catalog.targets.find(payload.targetId),
      this.deps.catalog.plans.findRepository(payload.planId, payload.targetId),
    ]);
    // Without the plan_targets row there is no writer key: the target was detached, or this job
    // already finished once. Nothing the worker can (or should) do there.
    if (!target || !planTarget) {
      await whenNotOnTarget?.();
      return skipped('NOT_ON_TARGET', started, log);
    }
    const repo = await openPlanRepository(keys, target, planTarget);
    try {
      const decisions = await forget(repo, { ...forgetOptions, lockTiming: WORKER_LOCK_TIMING });
      const forgotten = decisions.filter((d) => !d.keep).map((d) => d.snapshot.id);
      const kept = decisions.length - forgotten.length;
      const pruned = await prune(repo, {
        pool,
        lockTiming: WORKER_LOCK_TIMING,
        ...(this.deps.options?.pruneSafetyMarginMs !== undefined
          ? { safetyMarginMs: this.deps.options.pruneSafetyMarginMs }
          : {}),
      });
      await catalog(forgotten);
      const durationMs = Date.now() - started;
      log.info(
        {
          forgotten: forgotten.length,
          kept,
          packsDeleted: pruned.packsDeleted,
          bytesFreed: pruned.bytesFreed,
          durationMs,
        },
        'maintenance finished',
      );
      return {
        forgotten,
        kept,
        prune: {
          packsDeleted: pruned.packsDeleted,
          packsRepacked: pruned.packsRepacked,
          packsNeedingPassword: pruned.packsNeedingPassword,
          bytesFreed: pruned.bytesFreed,
        },
        durationMs,
      };
    } finally {
      await closeRepository(repo);
    }
  }
}

function skipped(reason: SkipReason, started: number, log: Logger): MaintenanceResult {
  log.info({ reason }, 'maintenance skipped');
  return {
    skipped: reason,
    forgotten: [],
    kept: 0,
    prune: { packsDeleted: 0, packsRepacked: 0, packsNeedingPassword: 0, bytesFreed: 0 },
    durationMs: Date.now() - started,
  };
}
