/**
 * Jobs of services placed on a node (`backup@<node>`, `restore@<node>`) are taken only by workers
 * started with that NODE_NAME. When none runs there (the DaemonSet pod is gone, the node is
 * cordoned, a typo in `node`), those jobs would wait in silence. This watch, run by the report
 * service every `intervalMs`, makes that visible and bounded:
 *
 * - gauges: workers per node queue (`vaultline_node_workers`) and jobs waiting on a node queue that
 *   no worker consumes (`vaultline_node_jobs_unserved`, alerted on by VaultlineNodeWithoutWorker);
 * - after `graceMs` without a worker, the waiting backup's row (and so the run's view) and the
 *   waiting restore say `NODE_UNAVAILABLE: no worker on node "x" …`; the job stays queued and runs
 *   as soon as a worker appears there (a worker that takes it clears the note);
 * - at `deadlineMs` after it was queued (the run's deadline), a job still waiting with no worker is
 *   removed and its backup or restore fails with NODE_UNAVAILABLE, so the run's report is written
 *   (BullMQ moves the flow's parent on once its last child is gone) and names the node.
 *
 * The catalog updates are conditional on the row still being queued, and a job that a worker
 * takes before the removal is locked, so BullMQ refuses to remove it and the worker's start
 * overwrites the row: the watch never fails a job that runs.
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';

import type { Catalog } from '@vaultline/catalog';
import { nodeQueueName, NODE_ROUTED_QUEUES, parseJobPayload, QUEUES } from '@vaultline/contracts';
import type { JobGateway } from '@vaultline/jobs';
import type { FleetMetrics } from '@vaultline/observability';

import { REPORT_ERROR_CODES } from './outcomes';

export interface NodeWatchOptions {
  /** How often the node queues are looked at (default 15 s, or half the grace when shorter). */
  intervalMs?: number;
  /** How long a job may wait on a node with no worker before its run says so (default 5 min). */
  graceMs?: number;
  /** How long after it was queued a job unserved by any worker is failed (default 24 h). */
  deadlineMs?: number;
}

/** Jobs looked at per node queue and pass: the oldest, which reach grace and deadline first. */
const BATCH = 200;

export class NodeWatch {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  readonly intervalMs: number;
  readonly graceMs: number;
  readonly deadlineMs: number;

  constructor(
    private readonly deps: {
      catalog: Catalog;
      jobs: Pick<JobGateway, 'counts' | 'workerCount' | 'waitingJobs'>;
      metrics: FleetMetrics;
      logger: Logger;
    },
    options: NodeWatchOptions = {},
  ) {
    this.graceMs = options.graceMs ?? 5 * 60_000;
    this.deadlineMs = options.deadlineMs ?? 24 * 3_600_000;
    // Often enough that a short grace is noticed about when it ends.
    this.intervalMs = options.intervalMs ?? Math.min(15_000, Math.max(1_000, this.graceMs / 2));
  }

  start(): void {
    void this.check();
    this.timer = setInterval(() => void this.check(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One pass; never throws (a failed pass is logged and the next one tries again). */
  check(): Promise<void> {
    this.running ??= this.pass()
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'node watch pass failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async pass(): Promise<void> {
    const { catalog, metrics } = this.deps;
    const nodes = [
      ...new Set([...(await catalog.services.nodes()), ...(await catalog.restores.queuedNodes())]),
    ];
    // Reset first: a node no service is placed on any more drops out of the gauges.
    metrics.nodeWorkers.reset();
    metrics.nodeJobsUnserved.reset();
    for (const node of nodes.sort()) {
      for (const queue of NODE_ROUTED_QUEUES) await this.watch(node, queue);
    }
  }

  private async watch(node: string, queue: (typeof NODE_ROUTED_QUEUES)[number]): Promise<void> {
    const { jobs, metrics } = this.deps;
    const name = nodeQueueName(queue, node);
    const [workers, counts] = await Promise.all([
      jobs.workerCount(name),
      jobs.counts(name, ['waiting', 'prioritized'] as const),
    ]);
    const waiting = (counts.waiting ?? 0) + (counts.prioritized ?? 0);
    metrics.nodeWorkers.set({ node, queue }, workers);
    metrics.nodeJobsUnserved.set({ node, queue }, workers === 0 ? waiting : 0);
    if (workers > 0 || waiting === 0) return;

    const now = Date.now();
    for (const job of await jobs.waitingJobs(name, BATCH)) {
      const age = now - job.timestamp;
      if (age < this.graceMs) break; // oldest first: the rest are younger
      const since = new Date(job.timestamp).toISOString();
      if (age >= this.deadlineMs) await this.fail(job, node, queue, since);
      else await this.note(job, node, queue, since);
    }
  }

  private message(node: string, since: string, failed: boolean): string {
    // A placement is a node's name or a node label key=value (`=` never occurs in a node name).
    const label = node.includes('=');
    const where = label ? `on a node labelled ${JSON.stringify(node)}` : `on node ${JSON.stringify(node)}`;
    const who = label ? `a worker with ${node} in NODE_LABELS` : `a worker with NODE_NAME=${node}`;
    return (
      `${REPORT_ERROR_CODES.nodeUnavailable}: no worker ${where} has taken this job (queued ${since}); ` +
      (failed ? 'it reached its deadline and was given up' : `it runs when ${who} starts`)
    );
  }

  private async note(job: Job, node: string, queue: string, since: string): Promise<void> {
    const ref = this.refOf(job, queue);
    if (!ref) return;
    const msg = this.message(node, since, false);
    const noted =
      ref.kind === 'backup'
        ? await this.deps.catalog.backups.noteWaiting(ref.key, msg)
        : await this.deps.catalog.restores.noteWaiting(ref.restoreId, msg);
    if (noted) this.deps.logger.warn({ node, queue, jobId: job.id }, 'job waiting: no worker on its node');
  }

  private async fail(job: Job, node: string, queue: string, since: string): Promise<void> {
    const ref = this.refOf(job, queue);
    const msg = this.message(node, since, true);
    // The row first: once the child is gone BullMQ moves the report on, and it must find the row
    // failed, not still queued. Should a worker take the job in between, its start overwrites this.
    if (ref?.kind === 'backup') await this.deps.catalog.backups.failIfQueued(ref.key, msg);
    else if (ref)
      await this.deps.catalog.restores.closeIfOpen(ref.restoreId, { status: 'failed', error: msg });
    try {
      // Refused (throws) when a worker holds the job's lock: it started after all.
      await job.remove();
    } catch (err) {
      this.deps.logger.info(
        { err, node, queue, jobId: job.id },
        'unserved job not removed (taken meanwhile?)',
      );
      return;
    }
    this.deps.logger.warn(
      { node, queue, jobId: job.id },
      'job failed: no worker on its node before its deadline',
    );
  }

  /** The catalog row behind a job; undefined (left alone) when its data is not what we produce. */
  private refOf(
    job: Job,
    queue: string,
  ):
    | { kind: 'backup'; key: { runId: string; serviceId: string; targetId: string } }
    | { kind: 'restore'; restoreId: string }
    | undefined {
    try {
      if (queue === QUEUES.backup) {
        const { runId, serviceId, targetId } = parseJobPayload('backup.run', job.data);
        return { kind: 'backup', key: { runId, serviceId, targetId } };
      }
      return { kind: 'restore', restoreId: parseJobPayload('restore.run', job.data).restoreId };
    } catch {
      this.deps.logger.warn({ queue, jobId: job.id }, 'node queue job with unreadable data left alone');
      return undefined;
    }
  }
}
