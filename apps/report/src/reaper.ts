/**
 * Nothing stays queued or running forever. BullMQ keeps a run's flow in Redis, so while Redis keeps
 * its data (AOF persistence, as docs/operations.md asks) a restart of Redis or of any process only
 * delays a run. But a Redis restarted without persistence, a flushed database or a report job that
 * failed for good leaves catalog rows that no job will ever finish. Every `intervalMs` this looks
 * at runs and restores that are still open after `graceMs` and whose job is gone (or failed for
 * good), and ends them:
 *
 * - a run gets its report from the catalog rows alone (ReportProcessor.reportLostRun);
 * - a restore is marked failed with JOB_LOST, so the user can submit it again (or gets the
 *   outcome its completed job returned, if only the write of it was lost);
 * - a service left `backing_up` or `restoring` by a worker that died goes back to `idle` once its
 *   service lock (which has a TTL) is gone.
 *
 * Several report processes may run this at once: ending a run is idempotent, a restore is ended by
 * a guarded update.
 */
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import { parseJobResult, reportJobId, restoreJobId, type JobResult } from '@vaultline/contracts';
import type { Catalog } from '@vaultline/catalog';
import type { JobGateway } from '@vaultline/jobs';

import type { ReportProcessor } from './report-processor';

export interface ReaperOptions {
  /** How often to look (default 60 s). */
  intervalMs?: number;
  /** How old an open run or restore must be before it is looked at (default 5 min). */
  graceMs?: number;
}

export class Reaper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly intervalMs: number;
  private readonly graceMs: number;

  constructor(
    private readonly deps: {
      catalog: Catalog;
      redis: Redis;
      queuePrefix: string;
      jobs: Pick<JobGateway, 'find'>;
      processor: Pick<ReportProcessor, 'reportLostRun'>;
      logger: Logger;
    },
    options: ReaperOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.graceMs = options.graceMs ?? 5 * 60_000;
  }

  start(): void {
    this.timer = setInterval(() => void this.sweep(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; never throws (a failed pass is logged and the next one tries again). */
  sweep(): Promise<void> {
    this.running ??= this.pass()
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'reaper pass failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /** Whether the job can still finish: it exists and has not failed for good. */
  private async alive(
    name: 'report.aggregate' | 'restore.run',
    id: string,
    node?: string | null,
  ): Promise<{ alive: boolean; why: string; returnvalue?: unknown }> {
    const job = await this.deps.jobs.find(name, id, node);
    if (!job) return { alive: false, why: 'its job is no longer in the queue' };
    const state = await job.getState();
    if (state === 'failed') return { alive: false, why: `its job failed: ${job.failedReason}` };
    if (state === 'completed') {
      // A completed job wrote its outcome; still open means that write was lost.
      return { alive: false, why: 'its job completed without closing it', returnvalue: job.returnvalue };
    }
    return { alive: true, why: state };
  }

  private async pass(): Promise<void> {
    const { catalog, logger } = this.deps;
    const before = new Date(Date.now() - this.graceMs);
    const runs = await catalog.runs.listUnfinishedBefore(before, 100);
    for (const run of runs) {
      const { alive, why } = await this.alive('report.aggregate', run.flowJobId ?? reportJobId(run.id));
      if (alive) continue;
      await this.deps.processor.reportLostRun(run.id, why);
    }
    const restores = await catalog.restores.listUnfinishedBefore(before, 100);
    for (const r of restores) {
      const { alive, why, returnvalue } = await this.alive('restore.run', restoreJobId(r.id), r.node);
      if (alive) continue;
      let result: JobResult<'restore.run'> | null = null;
      try {
        result = returnvalue === undefined ? null : parseJobResult('restore.run', returnvalue);
      } catch {
        result = null;
      }
      const ended = await catalog.restores.closeIfOpen(
        r.id,
        result?.status === 'success'
          ? { status: 'success', warnings: result.warnings ?? [] }
          : {
              status: 'failed',
              error: result
                ? `${result.error.code}: ${result.error.message}`
                : `JOB_LOST: ${why}; nothing more will happen to this restore — submit it again`,
            },
      );
      if (ended) logger.warn({ restoreId: r.id, reason: why }, 'restore closed by the reaper');
    }
    await this.releaseServices();
  }

  /** Services marked busy whose lock is gone (its holder died; the lock's TTL ran out). */
  private async releaseServices(): Promise<void> {
    const { catalog, redis, queuePrefix, logger } = this.deps;
    const busy = await catalog.services.listBusySince(new Date(Date.now() - this.graceMs), 500);
    for (const s of busy) {
      // The worker's key (apps/worker service-lock.ts serviceLockKey).
      if (await redis.exists(`${queuePrefix}:lock:service:${s.id}`)) continue;
      const done = await catalog.services.releaseIfStill(s.id, s.state);
      if (done) logger.warn({ serviceId: s.id, was: s.state }, 'service set back to idle: no job holds it');
    }
  }
}
