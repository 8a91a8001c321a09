/**
 * The gauges only the catalog and the queues can tell, refreshed by the report service every
 * `intervalMs` (default 15 s, about a scrape interval) rather than at scrape time, so a scrape never
 * waits on Postgres or Redis:
 *
 * - freshness: per plan × service × target, the last successful backup (or, before the first one,
 *   the plan's creation — so "overdue" starts counting from when backups were asked for) and the
 *   schedule's interval; paused and deleted plans are left out (nothing is expected of them);
 * - what the catalogued snapshots added to each target;
 * - BullMQ job counts per queue and state.
 */
import type { Logger } from 'pino';

import type { Catalog } from '@vaultline/catalog';
import { QUEUE_NAMES } from '@vaultline/contracts';
import type { JobGateway } from '@vaultline/jobs';
import type { FleetMetrics } from '@vaultline/observability';

const INTERVAL_SECONDS: Record<string, number> = { daily: 86_400, weekly: 604_800 };
const STATES = ['waiting', 'active', 'delayed', 'failed', 'waiting-children', 'prioritized'] as const;

export class FleetGauges {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly deps: {
      catalog: Catalog;
      jobs: Pick<JobGateway, 'counts'>;
      metrics: FleetMetrics;
      logger: Logger;
    },
    private readonly intervalMs = 15_000,
  ) {}

  start(): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One refresh; never throws (the gauges keep their last values and the next refresh tries again). */
  refresh(): Promise<void> {
    this.running ??= Promise.all([this.freshness(), this.repositories(), this.queueCounts()])
      .then(() => undefined)
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'metrics refresh failed'))
      .finally(() => (this.running = undefined));
    return this.running;
  }

  private async freshness(): Promise<void> {
    const rows = await this.deps.catalog.fleet.freshness();
    const { lastSuccess, expectedInterval } = this.deps.metrics;
    // Reset first: a plan that was paused, deleted or lost a service must drop out.
    lastSuccess.reset();
    expectedInterval.reset();
    for (const r of rows) {
      const labels = { service: r.service, target: r.target, plan: r.plan };
      lastSuccess.set(labels, (r.last ?? r.created).getTime() / 1000);
      expectedInterval.set(labels, INTERVAL_SECONDS[r.frequency] ?? 86_400);
    }
  }

  private async repositories(): Promise<void> {
    const rows = await this.deps.catalog.fleet.bytesPerTarget();
    const g = this.deps.metrics.repositoryBytes;
    g.reset();
    for (const r of rows) g.set({ target: r.target }, Number(r.bytes ?? 0n));
  }

  private async queueCounts(): Promise<void> {
    const g = this.deps.metrics.queueJobs;
    for (const queue of QUEUE_NAMES) {
      const counts = await this.deps.jobs.counts(queue, STATES);
      for (const state of STATES) g.set({ queue, state }, counts[state] ?? 0);
    }
  }
}
