/**
 * The `backup.run` job: one service × target of a run.
 *
 *   payload → rows (service, target, plan's repository there, the service_backups row)
 *   → per-service lock (or back to delayed, see below) → state backing_up, row running
 *   → open the repository with the writer key → pre-hook → engine backup → post-hook (always)
 *   → row success/failed → result
 *
 * Outcomes, as the contract (libs/contracts jobs.ts) wants them:
 * - success → `{ status: 'success', snapshot, stats, unreadable, durationMs }`;
 * - a permanent failure (missing source folder, wrong key, missing rows…) → a `failed` *result*:
 *   the job completes, so the report parent reads every child's outcome;
 * - a transient failure (target unreachable, Postgres/Redis hiccup, repository locked by a prune)
 *   → thrown, so BullMQ retries with the job's backoff; on the last attempt → a `failed` result;
 * - an invalid payload → UnrecoverableError: no retry, the job fails with the contract's message;
 * - the worker shutting down → the engine stops at its next safe point and the job goes back to
 *   `wait` (WaitingError, not a failed attempt), where another worker picks it up. The engine
 *   writes no snapshot for a cancelled backup, so the retry never produces a duplicate.
 */
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import {
  ContractError,
  parseJobPayload,
  parseJobResult,
  UNREADABLE_LIMIT,
  type ErrorInfo,
  type JobPayload,
  type JobResult,
} from '@vaultline/contracts';
import type { PrismaClient } from '@vaultline/db';
import { backup, EngineError, type WorkerPool } from '@vaultline/engine';
import type { ServerKeys } from '@vaultline/secrets';

import { classify, WorkerError } from './errors';
import { parseHook, runHook } from './hooks';
import { serviceLockKey, tryAcquireServiceLock, DEFAULT_LOCK_TTL_MS, type HeldLock } from './service-lock';
import { openPlanRepository } from './target';

export type BackupRunResult = JobResult<'backup.run'>;

export interface BackupProcessorOptions {
  /** TTL of the per-service lock; renewed every third of it. */
  lockTtlMs?: number;
  /** First and longest delay before a job whose service is locked is tried again. */
  lockRetryMinMs?: number;
  lockRetryMaxMs?: number;
}

export interface BackupProcessorDeps {
  prisma: PrismaClient;
  redis: Redis;
  keys: ServerKeys;
  pool: WorkerPool;
  logger: Logger;
  queuePrefix: string;
  /** Fires when the process shuts down: running backups stop and their jobs go back to wait. */
  shutdown: AbortSignal;
  options?: BackupProcessorOptions;
}

/**
 * Delay before re-trying a job whose service is locked: doubles with every time the job was
 * started (each deferral starts it again), from lockRetryMinMs up to lockRetryMaxMs, with ±20 %
 * jitter so jobs queued behind one service do not all wake at the same instant.
 */
export function lockRetryDelay(attemptsStarted: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(20, Math.max(0, attemptsStarted - 1)));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export class BackupProcessor {
  private readonly lockTtlMs: number;
  private readonly lockRetryMinMs: number;
  private readonly lockRetryMaxMs: number;

  constructor(private readonly deps: BackupProcessorDeps) {
    this.lockTtlMs = deps.options?.lockTtlMs ?? DEFAULT_LOCK_TTL_MS;
    this.lockRetryMinMs = deps.options?.lockRetryMinMs ?? 1_000;
    this.lockRetryMaxMs = deps.options?.lockRetryMaxMs ?? 30_000;
  }

  async process(job: Job, token: string | undefined): Promise<BackupRunResult> {
    if (job.name !== 'backup.run') {
      throw new UnrecoverableError(`job ${job.name} is not a job of the backup queue`);
    }
    let payload: JobPayload<'backup.run'>;
    try {
      payload = parseJobPayload('backup.run', job.data);
    } catch (err) {
      if (err instanceof ContractError) throw new UnrecoverableError(err.message);
      throw err;
    }
    const log = this.deps.logger.child({ jobId: job.id, ...payload });

    const lock = await tryAcquireServiceLock(
      this.deps.redis,
      serviceLockKey(this.deps.queuePrefix, payload.serviceId),
      { ttlMs: this.lockTtlMs, onRenewError: (err) => log.warn({ err }, 'service lock renewal failed') },
    );
    if (!lock) {
      // Another job backs up (or restores) this service. The job goes back to `delayed` rather
      // than polling here: waiting holds no concurrency slot (other services go on in this
      // process), survives a restart of this worker, and is not a failed attempt. No deadlock is
      // possible: every lock has a TTL, so a dead holder's lock frees itself.
      const delay = lockRetryDelay(job.attemptsStarted, this.lockRetryMinMs, this.lockRetryMaxMs);
      log.info({ delayMs: delay }, 'service is locked by another job; retrying later');
      await job.moveToDelayed(Date.now() + delay, token);
      throw new DelayedError();
    }
    log.debug({ lock: lock.key }, 'service lock acquired');
    try {
      return await this.run(job, token, payload, lock, log);
    } finally {
      await lock.release().catch((err: unknown) => log.warn({ err }, 'service lock release failed'));
      log.debug({ lock: lock.key }, 'service lock released');
    }
  }

  private async run(
    job: Job,
    token: string | undefined,
    payload: JobPayload<'backup.run'>,
    lock: HeldLock,
    log: Logger,
  ): Promise<BackupRunResult> {
    const { prisma } = this.deps;
    const started = Date.now();
    const where = {
      runId_serviceId_targetId: {
        runId: payload.runId,
        serviceId: payload.serviceId,
        targetId: payload.targetId,
      },
    };
    let rowExists = false;
    let stateSet = false;
    let postHookError: ErrorInfo | null = null;
    try {
      const [row, service, target, planTarget] = await Promise.all([
        prisma.serviceBackup.findUnique({ where }),
        prisma.service.findUnique({ where: { id: payload.serviceId } }),
        prisma.target.findUnique({ where: { id: payload.targetId } }),
        prisma.planTarget.findUnique({
          where: { planId_targetId: { planId: payload.planId, targetId: payload.targetId } },
        }),
      ]);
      rowExists = row !== null;
      // Deleted while the job waited (or a producer bug): nothing to back up, and retrying will
      // not bring the rows back.
      if (!row || !service || !target || !planTarget) {
        const missing = [
          !row && 'service backup',
          !service && 'service',
          !target && 'target',
          !planTarget && "plan's repository on the target",
        ].filter(Boolean);
        throw new WorkerError('NOT_FOUND', `not in the catalog: ${missing.join(', ')}`, 'permanent');
      }

      // Parsed before anything runs: a malformed post-hook must not leave a service quiesced.
      const preHook = parseHook(service.preHook, 'pre');
      const postHook = parseHook(service.postHook, 'post');

      await prisma.serviceBackup.update({
        where,
        data: {
          status: 'running',
          attempts: { increment: 1 },
          startedAt: new Date(started),
          finishedAt: null,
          error: null,
        },
      });
      await prisma.service.update({ where: { id: service.id }, data: { state: 'backing_up' } });
      stateSet = true;

      const signal = AbortSignal.any([this.deps.shutdown, lock.lost]);
      // The repository first: an unreachable target should not quiesce the service for nothing.
      const repo = await openPlanRepository(this.deps.keys, target, planTarget);
      let outcome: Awaited<ReturnType<typeof backup>>;
      try {
        if (preHook) await runHook(preHook, 'pre', signal);
        log.info({ dataPath: service.dataPath }, 'backup started');
        outcome = await backup(repo, {
          source: service.dataPath,
          // Ids, not names: a renamed service keeps its parent snapshot (change detection matches
          // on these strings) and the catalog can be rebuilt from the repository alone. The plan
          // id is stable too (and each plan has its own repository anyway).
          service: service.id,
          plan: payload.planId,
          arch: service.arch,
          excludes: service.excludes,
          signal,
          pool: this.deps.pool,
          onProgress: (progress) => {
            // Visible through BullMQ (job progress) until live events exist; never fails the job.
            job.updateProgress(progress).catch(() => undefined);
          },
        });
      } finally {
        // Always resume the service — after a failed pre-hook, a failed backup, or a shutdown
        // (not cancelled by the shutdown signal: its own timeout bounds it).
        if (postHook) {
          postHookError = await runHook(postHook, 'post').then(
            () => null,
            (err: unknown) => {
              log.error({ err }, 'post-hook failed');
              return classify(err).info;
            },
          );
        }
      }
      const { snapshot, errors } = outcome;
      const durationMs = Date.now() - started;
      // Plain objects (not the engine's interface type): what Prisma's Json input accepts.
      const unreadable = errors.slice(0, UNREADABLE_LIMIT).map((e) => ({ path: e.path, error: e.error }));
      await prisma.serviceBackup.update({
        where,
        data: {
          status: 'success',
          snapshotId: snapshot.id,
          totalBytes: BigInt(snapshot.stats.totalBytes),
          bytesRead: BigInt(snapshot.stats.bytesRead),
          bytesAdded: BigInt(snapshot.stats.bytesAdded),
          files: snapshot.stats.files,
          unreadable,
          // The snapshot is good, so the result stays a success; the row keeps the warning that
          // the service may not have resumed (the result has no field for it yet).
          error: postHookError ? `post-hook: ${postHookError.code}: ${postHookError.message}` : null,
          finishedAt: new Date(),
          durationMs,
        },
      });
      log.info({ snapshotId: snapshot.id, durationMs, unreadable: errors.length }, 'backup finished');
      return parseJobResult('backup.run', {
        status: 'success',
        snapshot: { id: snapshot.id, time: snapshot.time, arch: snapshot.arch, parent: snapshot.parent },
        stats: snapshot.stats,
        unreadable,
        durationMs,
      });
    } catch (err) {
      return await this.failed(job, token, err, { started, rowExists, where, lock, log });
    } finally {
      if (stateSet) {
        await prisma.service
          .update({ where: { id: payload.serviceId }, data: { state: 'idle' } })
          .catch((err: unknown) => log.warn({ err }, 'could not set the service back to idle'));
      }
    }
  }

  private async failed(
    job: Job,
    token: string | undefined,
    err: unknown,
    ctx: {
      started: number;
      rowExists: boolean;
      where: { runId_serviceId_targetId: { runId: string; serviceId: string; targetId: string } };
      lock: HeldLock;
      log: Logger;
    },
  ): Promise<BackupRunResult> {
    const { prisma } = this.deps;
    const aborted = err instanceof EngineError && err.code === 'ABORTED';
    // A pre-hook killed by the shutdown signal is a cancellation too, not a hook failure.
    const cancelled = aborted || (err instanceof WorkerError && err.code === 'HOOK_FAILED');
    if (cancelled && this.deps.shutdown.aborted) {
      // Shutting down: back to wait for another worker. Not a failed attempt.
      ctx.log.info('backup cancelled by shutdown; job goes back to the queue');
      if (ctx.rowExists) {
        await prisma.serviceBackup
          .update({ where: ctx.where, data: { status: 'queued' } })
          .catch(() => undefined);
      }
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const { info, retry } = aborted
      ? {
          info: {
            code: 'LOCK_LOST',
            message:
              ctx.lock.lost.reason instanceof Error ? ctx.lock.lost.reason.message : 'service lock lost',
          },
          retry: 'transient' as const,
        }
      : classify(err);
    const durationMs = Date.now() - ctx.started;
    const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (retry === 'transient' && !lastAttempt) {
      ctx.log.warn({ err, code: info.code, attempt: job.attemptsMade + 1 }, 'backup failed; will retry');
      if (ctx.rowExists) {
        await prisma.serviceBackup
          .update({ where: ctx.where, data: { status: 'queued', error: `${info.code}: ${info.message}` } })
          .catch(() => undefined);
      }
      throw err instanceof Error ? err : new Error(info.message);
    }
    ctx.log.error({ err, code: info.code }, 'backup failed');
    if (ctx.rowExists) {
      // Best effort: the result carries the outcome to the report even if this write fails.
      await prisma.serviceBackup
        .update({
          where: ctx.where,
          data: {
            status: 'failed',
            error: `${info.code}: ${info.message}`,
            finishedAt: new Date(),
            durationMs,
          },
        })
        .catch((e: unknown) => ctx.log.warn({ err: e }, 'could not record the failure'));
    }
    return parseJobResult('backup.run', { status: 'failed', error: info, durationMs });
  }
}
