/**
 * The failure path of a job that holds a service (backup.run, restore.run), written once:
 *
 * - the worker shutting down (the job's signal fired, or a pre-hook was killed by it) → the row
 *   goes back to queued and the job back to `wait` for another worker: WaitingError, not a failed
 *   attempt;
 * - the signal fired without a shutdown → the service lock was lost: LOCK_LOST, retried;
 * - otherwise the error's class of failure (errors.ts): a transient one with attempts left is
 *   thrown for BullMQ's backoff (the row queued, with the error); a permanent one, or the last
 *   attempt, is a `failed` result (the row failed) so the report reads every outcome.
 *
 * Row writes are best effort: the result carries the outcome even when Postgres is down.
 */
import { WaitingError, type Job } from 'bullmq';
import type { Logger } from 'pino';

import { parseJobResult, type ErrorInfo, type JobResult } from '@vaultline/contracts';

import { isCancellation, WorkerError, type Classified } from './errors';
import type { HeldLock } from './service-lock';

export type ServiceJobName = 'backup.run' | 'restore.run';

/** The row of the job (service_backups or restores); null when the job found none. */
export interface ServiceJobRow {
  /** Back to queued: the job was handed back by a shutdown. */
  requeued(): Promise<unknown>;
  /** Queued again with the error of the attempt, which will be retried. */
  retrying(error: string): Promise<unknown>;
  /** Failed for good. */
  failed(error: string, durationMs: number): Promise<unknown>;
}

export interface ServiceJobFailure<N extends ServiceJobName> {
  name: N;
  /** For the log lines: "backup failed; will retry". */
  kind: 'backup' | 'restore';
  job: Job;
  token: string | undefined;
  err: unknown;
  started: number;
  shutdown: AbortSignal;
  lock: HeldLock;
  log: Logger;
  row: ServiceJobRow | null;
  classify: (err: unknown) => Classified;
  /** The failure's live event and metrics, once it is known whether it will be retried. */
  report: (info: ErrorInfo, outcome: { attempt: number; willRetry: boolean }) => void;
}

/** Hands the job back, throws it for a retry, or returns its `failed` result (see above). */
export async function serviceJobFailed<N extends ServiceJobName>(
  f: ServiceJobFailure<N>,
): Promise<JobResult<N>> {
  const aborted = isCancellation(f.err);
  // A pre-hook killed by the shutdown signal is a cancellation too, not a hook failure.
  const cancelled = aborted || (f.err instanceof WorkerError && f.err.code === 'HOOK_FAILED');
  if (cancelled && f.shutdown.aborted) {
    f.log.info(`${f.kind} cancelled by shutdown; job goes back to the queue`);
    await f.row?.requeued().catch(() => undefined);
    await f.job.moveToWait(f.token);
    throw new WaitingError();
  }
  const { info, retry } = aborted
    ? {
        info: {
          code: 'LOCK_LOST',
          message: f.lock.lost.reason instanceof Error ? f.lock.lost.reason.message : 'service lock lost',
        },
        retry: 'transient' as const,
      }
    : f.classify(f.err);
  const durationMs = Date.now() - f.started;
  const attempt = f.job.attemptsMade + 1;
  const willRetry = retry === 'transient' && attempt < (f.job.opts.attempts ?? 1);
  f.report(info, { attempt, willRetry });
  const error = `${info.code}: ${info.message}`;
  if (willRetry) {
    f.log.warn({ err: f.err, code: info.code, attempt }, `${f.kind} failed; will retry`);
    await f.row?.retrying(error).catch(() => undefined);
    throw f.err instanceof Error ? f.err : new Error(info.message);
  }
  f.log.error({ err: f.err, code: info.code }, `${f.kind} failed`);
  await f.row
    ?.failed(error, durationMs)
    .catch((e: unknown) => f.log.warn({ err: e }, 'could not record the failure'));
  // Both jobs' `failed` variants are { status, error, durationMs }.
  return parseJobResult(f.name, { status: 'failed', error: info, durationMs });
}
