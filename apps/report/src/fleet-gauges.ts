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

import { QUEUE_NAMES } from '@vaultline/contracts';
import type { PrismaClient } from '@vaultline/db';
import type { JobGateway } from '@vaultline/jobs';
import type { FleetMetrics } from '@vaultline/observability';

const INTERVAL_SECONDS: Record<string, number> = { daily: 86_400, weekly: 604_800 };
const STATES = ['waiting', 'active', 'delayed', 'failed', 'waiting-children', 'prioritized'] as const;

interface FreshnessRow {
  service: string;
  target: string;
  plan: string;
  frequency: string;
  last: Date | null;
  created: Date;
}

export class FleetGauges {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly deps: {
      prisma: PrismaClient;
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
    const rows = await this.deps.prisma.$queryRaw<FreshnessRow[]>`
      SELECT s.name AS service, t.name AS target, p.name AS plan, p.frequency::text AS frequency,
             p.created_at AS created,
             (SELECT max(sb.finished_at)
                FROM service_backups sb JOIN runs r ON r.id = sb.run_id
               WHERE sb.service_id = ps.service_id AND sb.target_id = pt.target_id
                 AND r.plan_id = p.id AND sb.status = 'success') AS last
        FROM plans p
        JOIN plan_services ps ON ps.plan_id = p.id
        JOIN plan_targets pt ON pt.plan_id = p.id
        JOIN services s ON s.id = ps.service_id
        JOIN targets t ON t.id = pt.target_id
       WHERE p.deleted_at IS NULL AND NOT p.paused`;
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
    const rows = await this.deps.prisma.$queryRaw<{ target: string; bytes: bigint | null }[]>`
      SELECT t.name AS target, sum(sn.bytes_added)::bigint AS bytes
        FROM targets t LEFT JOIN snapshots sn ON sn.target_id = t.id
       GROUP BY t.name`;
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
