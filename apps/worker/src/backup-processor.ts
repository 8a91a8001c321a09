/**
 * The `backup.run` job: one service × target of a run.
 *
 *   payload → rows (service, target, plan's repository there, the service_backups row)
 *   → per-service lock (or back to delayed, see below) → state backing_up, row running, run running
 *   → open the repository with the writer key → pre-hook → `backup.started` → engine backup
 *   (`backup.progress`) → post-hook (always) → row success/failed → `backup.finished` or
 *   `backup.failed` (with willRetry) → result
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
 * - a retry after the snapshot was published (Postgres down when the row was to be written, a
 *   worker killed between the two): the snapshot carries the run's tag (`runTag`), so the retry
 *   finds it in the repository and records that one instead of writing a second (docs/architecture.md).
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';

import type { BackupKey } from '@vaultline/catalog';

import {
  parseJobResult,
  UNREADABLE_LIMIT,
  type ErrorInfo,
  type JobPayload,
  type JobResult,
} from '@vaultline/contracts';
import { backup, type Repository, type SnapshotInfo, type SourceError } from '@vaultline/engine';

import { classify, targetUnreachable, WorkerError } from './errors';
import { eventTime } from './events';
import { dumpOutput, dumpPath, parseDumps } from './dumps';
import { parseHook, runHook } from './hooks';
import { holdingService, type HeldLock, type ServiceLockOptions } from './service-lock';
import type { ServiceJobDeps } from './service-job-deps';
import { serviceJobFailed } from './service-job-runner';
import { closeRepository, openPlanRepository, WORKER_LOCK_TIMING } from './target';

export type BackupRunResult = JobResult<'backup.run'>;

export type BackupProcessorOptions = ServiceLockOptions;

export type BackupProcessorDeps = ServiceJobDeps;

// Shared with the restore processor; exported here too, where it was first defined.
export { lockRetryDelay } from './service-lock';

/**
 * The idempotency key a backup's snapshot carries: the run's id. In the plan × target repository
 * a run backs up each service once, so run tag + the header's service field name one job,
 * stable across BullMQ retries and readable with the writer key (headers are writer-readable).
 */
export function runTag(runId: string): string {
  return `vaultline-run:${runId}`;
}

/** The snapshot an earlier attempt of this job published, if any. */
async function publishedSnapshot(
  repo: Repository,
  runId: string,
  serviceId: string,
): Promise<SnapshotInfo | undefined> {
  const tag = runTag(runId);
  return (await repo.listSnapshots()).find((s) => s.service === serviceId && s.tags.includes(tag));
}

export class BackupProcessor {
  constructor(private readonly deps: BackupProcessorDeps) {}

  /** The job's payload is already validated (the dispatcher of @vaultline/jobs). */
  async process(
    payload: JobPayload<'backup.run'>,
    job: Job,
    token: string | undefined,
  ): Promise<BackupRunResult> {
    const log = this.deps.logger.child({ jobId: job.id, ...payload });

    // Another job backing up or restoring this service: the job goes back to `delayed`.
    return holdingService(this.deps, 'backup', job, token, payload.serviceId, log, (lock) =>
      this.run(job, token, payload, lock, log),
    );
  }

  private async run(
    job: Job,
    token: string | undefined,
    payload: JobPayload<'backup.run'>,
    lock: HeldLock,
    log: Logger,
  ): Promise<BackupRunResult> {
    const { catalog, events } = this.deps;
    const started = Date.now();
    const ref = {
      runId: payload.runId,
      planId: payload.planId,
      serviceId: payload.serviceId,
      targetId: payload.targetId,
    };
    const where: BackupKey = {
      runId: payload.runId,
      serviceId: payload.serviceId,
      targetId: payload.targetId,
    };
    let rowExists = false;
    let stateSet = false;
    let postHookError: ErrorInfo | null = null;
    // Metric labels: names once the rows are loaded (ids until then; both are bounded).
    const labels = { plan: payload.planId, target: payload.targetId };
    try {
      // Two queries: the row brings its service, target and run along (foreign keys: if the row
      // exists, they do). A fleet runs hundreds of these jobs per run; each query counts.
      const [row, planTarget] = await Promise.all([
        catalog.backups.findForJob(where),
        catalog.plans.findRepositoryWithPlanName(payload.planId, payload.targetId),
      ]);
      rowExists = row !== null;
      if (planTarget) labels.plan = planTarget.plan.name;
      if (row) labels.target = row.target.name;
      // Deleted while the job waited (or a producer bug): nothing to back up, and retrying will
      // not bring the rows back.
      if (!row || !planTarget) {
        const missing = [!row && 'service backup', !planTarget && "plan's repository on the target"];
        throw new WorkerError(
          'NOT_FOUND',
          `not in the catalog: ${missing.filter(Boolean).join(', ')}`,
          'permanent',
        );
      }
      const { service, target } = row;

      // Parsed before anything runs: a malformed post-hook must not leave a service quiesced.
      const preHook = parseHook(service.preHook, 'pre');
      const postHook = parseHook(service.postHook, 'post');
      const dumps = parseDumps(service.dumps);

      // One round trip: the row running, the service busy, and — for the first child to start —
      // the run running (the guard keeps later children, and a report that already finished the
      // run, from moving it back).
      await catalog.backups.markStarted(where, new Date(started), row.run.status === 'queued');
      stateSet = true;

      const signal = AbortSignal.any([this.deps.shutdown, lock.lost]);
      // The repository first: an unreachable target should not quiesce the service for nothing.
      const repo = await openPlanRepository(this.deps.keys, target, planTarget);
      this.deps.metrics?.targetReachable.set({ target: target.name }, 1);
      // Only a job that already started once can have published a snapshot; a first attempt
      // skips the listing (it reads every snapshot header of the repository).
      const earlier =
        row.attempts > 0
          ? await publishedSnapshot(repo, payload.runId, service.id).catch(async (err) => {
              await closeRepository(repo);
              throw err;
            })
          : undefined;
      let outcome: { snapshot: SnapshotInfo; errors: SourceError[] };
      if (earlier) {
        // No hooks and no engine run: the data is already in the repository. The unreadable-file
        // list is in the snapshot's body (private key only); its count is in the stats.
        await closeRepository(repo);
        log.info({ snapshotId: earlier.id }, 'snapshot of an earlier attempt found; recording it');
        outcome = { snapshot: earlier, errors: [] };
      } else {
        try {
          if (preHook) await runHook(preHook, 'pre', signal, this.deps.hookIdentity, this.deps.outbound);
          log.info({ dataPath: service.dataPath }, 'backup started');
          events.emit('backup.started', { at: eventTime(), ...ref, attempt: job.attemptsMade + 1 });
          outcome = await backup(repo, {
            source: service.dataPath,
            lockTiming: WORKER_LOCK_TIMING,
            // Ids, not names: a renamed service keeps its parent snapshot (change detection matches
            // on these strings) and the catalog can be rebuilt from the repository alone. The plan
            // id is stable too (and each plan has its own repository anyway).
            service: service.id,
            plan: payload.planId,
            arch: service.arch,
            excludes: service.excludes,
            // Each dump command's output, read to its end before the folder is walked (after the
            // pre-hook, so a hook can prepare the database); a failed command fails the backup.
            streams: dumps.map((d) => ({
              path: dumpPath(d),
              open: () => dumpOutput(d, { signal, identity: this.deps.hookIdentity }),
            })),
            tags: [runTag(payload.runId)],
            signal,
            pool: this.deps.pool,
            onProgress: ({ current: _file, ...progress }) => {
              // The current file's name stays on this machine: events and job data go to Redis.
              // Live event for the UI; job progress for whoever inspects the queue. Neither fails
              // the job. The engine already throttles these (250 ms).
              events.emit('backup.progress', { at: eventTime(), ...ref, progress: { ...progress } });
              job.updateProgress({ ...progress }).catch(() => undefined);
            },
          });
        } finally {
          await closeRepository(repo);
          // Always resume the service — after a failed pre-hook, a failed backup, or a shutdown
          // (not cancelled by the shutdown signal: its own timeout bounds it).
          if (postHook) {
            postHookError = await runHook(
              postHook,
              'post',
              undefined,
              this.deps.hookIdentity,
              this.deps.outbound,
            ).then(
              () => null,
              (err: unknown) => {
                log.error({ err }, 'post-hook failed');
                return classify(err).info;
              },
            );
          }
        }
      }
      const { snapshot, errors } = outcome;
      const durationMs = Date.now() - started;
      // Plain objects (not the engine's interface type): what the catalog's Json column takes.
      const unreadable = errors.slice(0, UNREADABLE_LIMIT).map((e) => ({ path: e.path, error: e.error }));
      await catalog.backups.recordResult(where, {
        status: 'success',
        snapshotId: snapshot.id,
        totalBytes: snapshot.stats.totalBytes,
        bytesRead: snapshot.stats.bytesRead,
        bytesAdded: snapshot.stats.bytesAdded,
        files: snapshot.stats.files,
        unreadable,
        // The snapshot is good, so the result stays a success; the row keeps the warning that
        // the service may not have resumed (the result has no field for it yet).
        error: postHookError ? `post-hook: ${postHookError.code}: ${postHookError.message}` : null,
        finishedAt: new Date(),
        durationMs,
      });
      log.info({ snapshotId: snapshot.id, durationMs, unreadable: errors.length }, 'backup finished');
      const m = this.deps.metrics;
      if (m) {
        const st = snapshot.stats;
        m.backups.inc({ ...labels, status: 'success' });
        m.backupDuration.observe(labels, durationMs / 1000);
        m.backupReadBytes.inc(labels, st.bytesRead);
        m.backupAddedBytes.inc(labels, st.bytesAdded);
        m.dedupRatio.set(labels, st.totalBytes / Math.max(1, st.bytesAdded));
        if (errors.length) m.unreadableFiles.inc(labels, errors.length);
      }
      events.emit('backup.finished', {
        at: eventTime(),
        ...ref,
        snapshotId: snapshot.id,
        stats: snapshot.stats,
        unreadable: errors.length,
        durationMs,
      });
      return parseJobResult('backup.run', {
        status: 'success',
        snapshot: { id: snapshot.id, time: snapshot.time, arch: snapshot.arch, parent: snapshot.parent },
        stats: snapshot.stats,
        unreadable,
        durationMs,
      });
    } catch (err) {
      return await this.failed(job, token, err, { started, rowExists, where, ref, lock, log, labels });
    } finally {
      if (stateSet) {
        await catalog.services
          .markIdle(payload.serviceId)
          .catch((err: unknown) => log.warn({ err }, 'could not set the service back to idle'));
      }
    }
  }

  private failed(
    job: Job,
    token: string | undefined,
    err: unknown,
    ctx: {
      started: number;
      rowExists: boolean;
      where: BackupKey;
      ref: { runId: string; planId: string; serviceId: string; targetId: string };
      lock: HeldLock;
      log: Logger;
      labels: { plan: string; target: string };
    },
  ): Promise<BackupRunResult> {
    const { catalog } = this.deps;
    const where = ctx.where;
    return serviceJobFailed({
      name: 'backup.run',
      kind: 'backup',
      job,
      token,
      err,
      started: ctx.started,
      shutdown: this.deps.shutdown,
      lock: ctx.lock,
      log: ctx.log,
      classify: (e) => classify(e),
      report: (info, { attempt, willRetry }) => {
        this.deps.events.emit('backup.failed', {
          at: eventTime(),
          ...ctx.ref,
          error: info,
          attempt,
          willRetry,
        });
        const m = this.deps.metrics;
        m?.backupFailures.inc({ ...ctx.labels, code: info.code });
        if (targetUnreachable(info)) m?.targetReachable.set({ target: ctx.labels.target }, 0);
        if (!willRetry) m?.backups.inc({ ...ctx.labels, status: 'failed' });
      },
      row: ctx.rowExists
        ? {
            requeued: () => catalog.backups.markRequeued(where),
            retrying: (error) => catalog.backups.markRequeued(where, error),
            failed: (error, durationMs) =>
              catalog.backups.recordResult(where, {
                status: 'failed',
                error,
                finishedAt: new Date(),
                durationMs,
              }),
          }
        : null,
    });
  }
}
