import { createHash } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { backupJobId, type JobResult, reportJobId } from '@vaultline/contracts';
import { Catalog, type Repositories, type Run, type RunTrigger } from '@vaultline/catalog';
import type { ApiConfig } from '@vaultline/config';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ApiError, notFound } from '../common/api-error';
import { QueuesService } from '../common/queues.service';
import { API_CONFIG, LOGGER } from '../common/tokens';
import { LiveProgress } from '../events/live-progress';
import { UUID_RE } from '../common/zod-body.pipe';
import { cursorOf, type Page, type PageQuery, pageOf } from './pagination';
import type { ReportView, RunSummaryView, RunView } from '@vaultline/contracts';
export type { ReportView, RunSummaryView, RunView };

/**
 * Idempotency-Key of POST /v1/plans/:id/runs. Printable ASCII (it becomes part of nothing but a
 * hash), bounded like the common practice of 255 characters.
 */
export const idempotencyKeySchema = z
  .string()
  .min(1, { error: 'must not be empty' })
  .max(255, { error: 'must have at most 255 characters' })
  .regex(/^[\x21-\x7e]+$/, { error: 'must be printable ASCII without spaces' });

/** A key names the same run for this long (the common 24 h window of idempotency keys). */
const IDEMPOTENCY_TTL_S = 24 * 60 * 60;
/** While the run is being created; bounds how long a crashed request blocks its key. */
const IDEMPOTENCY_PENDING_TTL_S = 60;
const PENDING = 'pending';

/**
 * A run whose flow was never recorded (flowJobId null) counts as in progress for this long:
 * RunsService.start either records it or deletes the run within a request's time. Older ones were
 * left by a crash and must not block the schedule for ever.
 */
const UNRECORDED_FLOW_GRACE_MS = 10 * 60_000;

/** Interactive transaction bound: it waits on the plan's advisory lock and on Redis (5 s each). */
const SCHEDULE_TX_TIMEOUT_MS = 15_000;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

@Injectable()
export class RunsService {
  constructor(
    private readonly catalog: Catalog,
    private readonly queues: QueuesService,
    private readonly live: LiveProgress,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /**
   * A manual run. With an Idempotency-Key, the same key (for the same plan) within 24 h returns the
   * run the first request created, so a client retrying after a timeout does not back up twice.
   */
  async startManual(planId: string, idempotencyKey?: string): Promise<RunView> {
    if (idempotencyKey === undefined) return this.get(await this.create(planId, 'manual'));
    const parsed = idempotencyKeySchema.safeParse(idempotencyKey);
    if (!parsed.success) {
      const message = parsed.error.issues[0]?.message ?? 'is invalid';
      throw new ApiError('VALIDATION_FAILED', `header Idempotency-Key: ${message}`, [
        { path: 'Idempotency-Key', message },
      ]);
    }
    await this.plan(planId); // 404 before anything is stored under the key
    // Hashed: the key is the client's string, of any printable content.
    const digest = createHash('sha256').update(parsed.data).digest('hex');
    const key = `${this.queues.prefix}:idempotency:run:${planId}:${digest}`;
    const claimed = await this.queues.run(() =>
      this.queues.redis.set(key, PENDING, 'EX', IDEMPOTENCY_PENDING_TTL_S, 'NX'),
    );
    if (claimed !== 'OK') {
      const runId = await this.queues.run(() => this.queues.redis.get(key));
      if (runId === null || runId === PENDING) {
        throw new ApiError('CONFLICT', 'a request with this Idempotency-Key is still being processed');
      }
      return this.get(runId);
    }
    let runId: string;
    try {
      runId = await this.create(planId, 'manual');
    } catch (err) {
      // Free the key: the request failed, so a retry with it must be able to try again.
      await this.queues.redis.del(key).catch((e: unknown) => {
        this.logger.warn({ err: e }, 'could not free an idempotency key');
      });
      throw err;
    }
    await this.queues.run(() => this.queues.redis.set(key, runId, 'EX', IDEMPOTENCY_TTL_S));
    return this.get(runId);
  }

  /**
   * A firing of the plan's job scheduler (the `schedule.run` job). Skipped when the plan is paused or
   * being deleted (its scheduler was removed a moment too late), or when its previous run is still
   * queued or running: a slow backup is not stacked with another of the same data.
   */
  async startScheduled(planId: string): Promise<JobResult<'schedule.run'>> {
    const plan = UUID_RE.test(planId) ? await this.catalog.plans.find(planId) : null;
    if (!plan || plan.deletedAt) return { outcome: 'skipped', reason: 'PLAN_DELETED' };
    if (plan.paused) return { outcome: 'skipped', reason: 'PLAN_PAUSED' };
    const runId = await this.create(planId, 'schedule');
    return runId === null ? { outcome: 'skipped', reason: 'RUN_IN_PROGRESS' } : { outcome: 'started', runId };
  }

  /**
   * The Run row, one queued row per service × target, and the report/backup flow. Scheduled runs
   * return null instead when a run of the plan is still in progress.
   */
  private async create(planId: string, trigger: 'manual'): Promise<string>;
  private async create(planId: string, trigger: 'schedule'): Promise<string | null>;
  private async create(planId: string, trigger: RunTrigger): Promise<string | null> {
    const plan = await this.plan(planId);
    if (plan.deletedAt) throw new ApiError('CONFLICT', `plan ${JSON.stringify(planId)} is being deleted`);
    const targetIds = await this.catalog.plans.targetIdsOf(planId);
    const placements = await this.catalog.plans.servicePlacementsOf(planId);
    const nodeOf = new Map(placements.map((p) => [p.serviceId, p.node]));
    const pairs = placements.flatMap(({ serviceId }) =>
      targetIds.map((targetId) => ({ serviceId, targetId })),
    );

    const run: Run | null =
      trigger === 'manual'
        ? await this.catalog.runs.createWithBackups(planId, trigger, pairs)
        : await this.catalog.transaction(
            async (tx) => {
              // Serialises the check and the insert per plan across API replicas: two firings
              // handled at once cannot both see "nothing in progress".
              await tx.runs.lockPlan(planId);
              if (await this.inProgress(tx, planId)) return null;
              return tx.runs.createWithBackups(planId, trigger, pairs);
            },
            { timeoutMs: SCHEDULE_TX_TIMEOUT_MS, maxWaitMs: SCHEDULE_TX_TIMEOUT_MS },
          );
    if (!run) return null;

    try {
      // The report is the flow's parent: BullMQ runs it once every backup child has finished.
      // Attempts and ignoreDependencyOnFailure are the registry's (a child that fails for good
      // never withholds the report); the backups' backoff starts at BACKUP_RETRY_DELAY_MS.
      const flow = await this.queues.run(() =>
        this.queues.jobs.queueFlow({
          name: 'report.aggregate',
          data: { runId: run.id, planId },
          opts: { jobId: reportJobId(run.id) },
          children: pairs.map((p) => ({
            name: 'backup.run' as const,
            data: { runId: run.id, planId, ...p },
            opts: {
              jobId: backupJobId(run.id, p.serviceId, p.targetId),
              backoff: { type: 'exponential', delay: this.config.backupRetryDelayMs },
            },
            // A service placed on a node is backed up only by a worker on that node.
            node: nodeOf.get(p.serviceId) ?? null,
          })),
        }),
      );
      await this.catalog.runs.recordFlow(run.id, flow.job.id ?? null);
    } catch (err) {
      // A run whose jobs were never queued would stay "queued" forever: take it back. Should the
      // flow still land after a timeout, its children find no rows and fail for good (permanent).
      await this.catalog.runs.delete(run.id).catch((e: unknown) => {
        this.logger.error({ err: e, runId: run.id }, 'could not delete a run that was not queued');
      });
      throw err;
    }
    return run.id;
  }

  /**
   * Whether a run of the plan is still going: queued or running in the catalog, and its flow's
   * report job still pending in Redis. A run whose report job is gone or finished (Redis lost its
   * data, the report service died before updating the row) no longer blocks the schedule.
   */
  private async inProgress(tx: Repositories, planId: string): Promise<boolean> {
    const open = await tx.runs.listOpen(planId);
    for (const r of open) {
      if (r.flowJobId === null) {
        if (Date.now() - r.queuedAt.getTime() < UNRECORDED_FLOW_GRACE_MS) return true;
        continue;
      }
      const jobId = r.flowJobId;
      const state = await this.queues.run(() => this.queues.jobs.state('report.aggregate', jobId));
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return true;
    }
    return false;
  }

  /** The plan's runs, newest first. Listed for a plan being deleted too (its history until it goes). */
  async listForPlan(planId: string, query: PageQuery): Promise<Page<RunSummaryView>> {
    await this.plan(planId);
    const after = cursorOf(query);
    const rows = await this.catalog.runs.pageForPlan(planId, after, query.limit + 1);
    return pageOf(rows, query.limit, (r) => ({ time: r.queuedAt, id: r.id }), summaryOf);
  }

  /**
   * The run's report. 404 NOT_FOUND for an unknown run; 409 CONFLICT while the run has no report
   * yet (it is still going, or the report service has not aggregated it): ask again later.
   */
  async report(runId: string): Promise<ReportView> {
    const run = UUID_RE.test(runId) ? await this.catalog.runs.findWithReport(runId) : null;
    if (!run) throw notFound('run', runId);
    const r = run.report;
    if (!r) {
      throw new ApiError(
        'CONFLICT',
        `run ${JSON.stringify(runId)} has no report yet (status ${run.status}); retry when it has finished`,
      );
    }
    return {
      runId: r.runId,
      // Written only by the report service, from a parsed ReportSummary of a finished run; the
      // integration tests check every response against the schema (AppOptions.checkResponses).
      status: r.status as ReportView['status'],
      summary: r.summary as ReportView['summary'],
      createdAt: r.createdAt.toISOString(),
      webhookStatus: r.webhookStatus,
      notifiedAt: iso(r.notifiedAt),
    };
  }

  async get(id: string): Promise<RunView> {
    const run = UUID_RE.test(id) ? await this.catalog.runs.findWithBackups(id) : null;
    if (!run) throw notFound('run', id);
    // Backups still running: the worker's latest progress event beats the row (written at most
    // once a second by the report service, or only at the end).
    const live = new Map(this.live.get(id).map((p) => [`${p.serviceId}/${p.targetId}`, p.progress]));
    return {
      ...summaryOf(run),
      backups: run.serviceBackups
        .map((b) => {
          const p = b.status === 'running' ? live.get(`${b.serviceId}/${b.targetId}`) : undefined;
          return {
            serviceId: b.serviceId,
            serviceName: b.service.name,
            targetId: b.targetId,
            targetName: b.target.name,
            status: b.status,
            snapshotId: b.snapshotId,
            totalBytes: p ? p.bytesTotal : Number(b.totalBytes),
            bytesRead: p ? Math.max(p.bytesDone, Number(b.bytesRead)) : Number(b.bytesRead),
            bytesAdded: Number(b.bytesAdded),
            files: p ? Math.max(p.filesDone, b.files) : b.files,
            error: b.error,
            attempts: b.attempts,
            startedAt: iso(b.startedAt),
            finishedAt: iso(b.finishedAt),
            durationMs: b.durationMs,
          };
        })
        .sort(
          (a, b) => a.serviceName.localeCompare(b.serviceName) || a.targetName.localeCompare(b.targetName),
        ),
    };
  }

  /** The plan row (a plan being deleted included), or 404. */
  private async plan(planId: string): Promise<{ id: string; deletedAt: Date | null }> {
    const plan = UUID_RE.test(planId) ? await this.catalog.plans.find(planId) : null;
    if (!plan) throw notFound('plan', planId);
    return plan;
  }
}

function summaryOf(run: Run): RunSummaryView {
  return {
    id: run.id,
    planId: run.planId,
    trigger: run.trigger,
    status: run.status,
    queuedAt: run.queuedAt.toISOString(),
    startedAt: iso(run.startedAt),
    finishedAt: iso(run.finishedAt),
  };
}
