/**
 * The `restore.run` job: one service restored from one snapshot of a plan's repository on a target.
 *
 *   payload → per-service lock (the backups' lock: never a restore beside a backup of the same
 *   service; held → back to delayed) → rows (restore, service, target, plan's repository there)
 *   → row running, service `restoring` → open the password envelope → open the repository WITH
 *   THE PASSWORD (a writer key cannot decrypt) → resolve the snapshot → cross-arch rule → engine
 *   restore into the destination (+ verify) → row success/failed, service idle → result
 *
 * Outcomes follow the backup job's rules (backup-processor.ts): permanent failures — wrong or
 * expired password, no such snapshot, another architecture without consent, missing rows — return
 * a `failed` result at once; transient ones (target unreachable, repository locked by a prune,
 * Postgres/Redis) are thrown for BullMQ's retries and become a `failed` result on the last
 * attempt; an invalid payload is an UnrecoverableError; a shutdown puts the job back in `wait`.
 *
 * The password exists in clear only in this function's locals while the repository is opened: it
 * is never logged (the log context carries ids only, never the envelope), never stored, never put
 * in an error. Every check that can refuse the restore (password, snapshot, architecture) runs
 * before the engine creates the destination, so a refused restore writes nothing.
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';

import {
  DUMP_FOLDER,
  parseJobResult,
  RESTORE_WARNING_CHARS,
  RESTORE_WARNINGS_LIMIT,
  type JobPayload,
  type JobResult,
} from '@vaultline/contracts';
import { restore, type Repository, type SnapshotInfo } from '@vaultline/engine';
import { openPasswordEnvelope } from '@vaultline/secrets';
import { planRepoLocation } from '@vaultline/targets';

import { parseDumps, restoreDumps } from './dumps';
import { classify, envelopeFailure, RESTORE_ENGINE_RETRY, snapshotNotFound, WorkerError } from './errors';
import { eventTime } from './events';
import { holdingService, type HeldLock, type ServiceLockOptions } from './service-lock';
import type { ServiceJobDeps } from './service-job-deps';
import { serviceJobFailed } from './service-job-runner';
import { closeRepository, openPlanRepositoryForRead, WORKER_LOCK_TIMING } from './target';

export type RestoreRunResult = JobResult<'restore.run'>;

export type RestoreProcessorOptions = ServiceLockOptions;

export type RestoreProcessorDeps = ServiceJobDeps;

export class RestoreProcessor {
  constructor(private readonly deps: RestoreProcessorDeps) {}

  /** The job's payload is already validated (the dispatcher of @vaultline/jobs). */
  async process(
    payload: JobPayload<'restore.run'>,
    job: Job,
    token: string | undefined,
  ): Promise<RestoreRunResult> {
    // Ids only: the envelope stays out of every log line.
    const log = this.deps.logger.child({
      jobId: job.id,
      restoreId: payload.restoreId,
      planId: payload.planId,
      serviceId: payload.serviceId,
      targetId: payload.targetId,
      snapshot: payload.snapshot,
    });

    return holdingService(this.deps, 'restore', job, token, payload.serviceId, log, (lock) =>
      this.run(job, token, payload, lock, log),
    );
  }

  private async run(
    job: Job,
    token: string | undefined,
    payload: JobPayload<'restore.run'>,
    lock: HeldLock,
    log: Logger,
  ): Promise<RestoreRunResult> {
    const { catalog, events } = this.deps;
    const started = Date.now();
    const ref = { restoreId: payload.restoreId, serviceId: payload.serviceId, targetId: payload.targetId };
    let rowExists = false;
    let stateSet = false;
    try {
      const [row, service, target, planTarget] = await Promise.all([
        catalog.restores.find(payload.restoreId),
        catalog.services.find(payload.serviceId),
        catalog.targets.find(payload.targetId),
        catalog.plans.findRepository(payload.planId, payload.targetId),
      ]);
      rowExists = row !== null;
      if (!row || !service || !target) {
        const missing = [!row && 'restore', !service && 'service', !target && 'target'].filter(Boolean);
        throw new WorkerError('NOT_FOUND', `not in the catalog: ${missing.join(', ')}`, 'permanent');
      }
      // A target detached from the plan keeps its repository where the plan put it: the password
      // opens it there (no writer key needed), as the API found it when it checked the password.
      const location = planTarget?.repoLocation ?? planRepoLocation(target, payload.planId);

      await catalog.restores.markStarted(row.id, new Date(started));
      await catalog.services.markBusy(service.id, 'restoring');
      stateSet = true;

      const password = this.openEnvelope(payload);
      const signal = AbortSignal.any([this.deps.shutdown, lock.lost]);
      const repo = await openPlanRepositoryForRead(this.deps.keys, target, location, password);
      try {
        const snapshot = await resolveSnapshot(repo, payload);
        const crossArch = snapshot.arch !== service.arch;
        if (crossArch && !payload.allowCrossArch) {
          throw new WorkerError(
            'CROSS_ARCH_REFUSED',
            `snapshot ${snapshot.id.slice(0, 8)} was taken on ${snapshot.arch} and the service runs on ` +
              `${service.arch}: restore it only with allowCrossArch (the service will need reinstalling)`,
            'permanent',
          );
        }
        // The resolved id, so the row names what is being restored even when 'latest' was asked.
        await catalog.restores.recordResolved(row.id, snapshot.id, crossArch);
        log.info({ snapshotId: snapshot.id, destination: payload.destination, crossArch }, 'restore started');
        const dumps = parseDumps(service.dumps);
        const outcome = await restore(repo, {
          lockTiming: WORKER_LOCK_TIMING,
          // The full id, not the job's ref: 'latest' must not move under us between the checks
          // above and the restore.
          snapshot: snapshot.id,
          target: payload.destination,
          // The dumps' folder goes to their restore commands (or back as files) below.
          excludeTop: [DUMP_FOLDER],
          verify: payload.verify,
          pool: this.deps.pool,
          signal,
          onProgress: ({ current: _file, ...progress }) => {
            // The current file's name stays on this machine: events and job data go to Redis.
            events.emit('restore.progress', { at: eventTime(), ...ref, progress: { ...progress } });
            job.updateProgress({ ...progress }).catch(() => undefined);
          },
        });
        const fromDumps = await restoreDumps(
          repo,
          snapshot.id,
          dumps,
          { destination: payload.destination, dataPath: service.dataPath },
          { signal, identity: this.deps.hookIdentity },
        );
        if (dumps.length) log.info({ ran: fromDumps.ran, written: fromDumps.written }, 'dumps restored');
        const durationMs = Date.now() - started;
        const warnings = [...fromDumps.warnings, ...outcome.warnings]
          .slice(0, RESTORE_WARNINGS_LIMIT)
          .map((w) => w.slice(0, RESTORE_WARNING_CHARS));
        await catalog.restores.markSucceeded(row.id, warnings);
        this.deps.metrics?.restores.inc({ target: target.name, status: 'success' });
        this.deps.metrics?.restoreDuration.observe({ target: target.name }, durationMs / 1000);
        // Only their count: the warnings name the service's files (they are in the row and result).
        log[warnings.length > 0 ? 'warn' : 'info'](
          {
            snapshotId: snapshot.id,
            files: outcome.files,
            bytes: outcome.bytes,
            warnings: warnings.length,
            durationMs,
          },
          warnings.length > 0 ? 'restore finished with metadata warnings' : 'restore finished',
        );
        events.emit('restore.finished', {
          at: eventTime(),
          ...ref,
          snapshotId: snapshot.id,
          files: outcome.files,
          bytes: outcome.bytes,
          verified: outcome.verified,
          crossArch,
          durationMs,
        });
        return parseJobResult('restore.run', {
          status: 'success',
          snapshotId: snapshot.id,
          files: outcome.files,
          dirs: outcome.dirs,
          symlinks: outcome.symlinks,
          bytes: outcome.bytes,
          verified: outcome.verified,
          crossArch,
          warnings,
          durationMs,
        });
      } finally {
        await closeRepository(repo);
      }
    } catch (err) {
      return await this.failed(job, token, err, { started, rowExists, payload, ref, lock, log });
    } finally {
      if (stateSet) {
        await catalog.services
          .markIdle(payload.serviceId)
          .catch((err: unknown) => log.warn({ err }, 'could not set the service back to idle'));
      }
    }
  }

  /**
   * The password, or a permanent failure: PASSWORD_EXPIRED (the user submits it again) or
   * PASSWORD_ENVELOPE_INVALID (another restore's envelope, another server secret, or tampering).
   */
  private openEnvelope(payload: JobPayload<'restore.run'>): string {
    try {
      return openPasswordEnvelope(this.deps.keys, payload.restoreId, payload.passwordEnvelope);
    } catch (err) {
      throw envelopeFailure(err);
    }
  }

  private failed(
    job: Job,
    token: string | undefined,
    err: unknown,
    ctx: {
      started: number;
      rowExists: boolean;
      payload: JobPayload<'restore.run'>;
      ref: { restoreId: string; serviceId: string; targetId: string };
      lock: HeldLock;
      log: Logger;
    },
  ): Promise<RestoreRunResult> {
    const { catalog, events } = this.deps;
    const restoreId = ctx.payload.restoreId;
    // A shutdown hands the job back: another worker restores again from the start (files already
    // written are simply rewritten).
    return serviceJobFailed({
      name: 'restore.run',
      kind: 'restore',
      job,
      token,
      err,
      started: ctx.started,
      shutdown: this.deps.shutdown,
      lock: ctx.lock,
      log: ctx.log,
      classify: (e) => classify(e, RESTORE_ENGINE_RETRY),
      report: (info, { willRetry }) => {
        events.emit('restore.failed', { at: eventTime(), ...ctx.ref, error: info, willRetry });
        if (!willRetry) this.deps.metrics?.restores.inc({ target: ctx.payload.targetId, status: 'failed' });
      },
      row: ctx.rowExists
        ? {
            requeued: () => catalog.restores.markRequeued(restoreId),
            retrying: (error) => catalog.restores.markRequeued(restoreId, error),
            failed: (error) => catalog.restores.markFailed(restoreId, error),
          }
        : null,
    });
  }
}

/**
 * The job's snapshot in this repository, limited to this service and plan: 'latest' is the newest
 * of them, and an id of another service's snapshot is NOT_FOUND rather than restored over this one.
 */
async function resolveSnapshot(repo: Repository, payload: JobPayload<'restore.run'>): Promise<SnapshotInfo> {
  try {
    return await repo.resolveSnapshot(payload.snapshot, { service: payload.serviceId, plan: payload.planId });
  } catch (err) {
    throw snapshotNotFound(
      err,
      payload.snapshot === 'latest'
        ? 'the repository has no snapshot of this service yet'
        : `no snapshot ${payload.snapshot} of this service in the plan's repository on this target`,
    );
  }
}
