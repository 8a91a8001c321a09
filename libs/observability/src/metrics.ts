/**
 * Every Prometheus metric of the fleet, in one place (so names, labels and help texts are
 * reviewed together and no two processes define one differently): names follow Prometheus'
 * conventions (`vaultline_` prefix, `_total` counters, `_seconds` and `_bytes` units), and every
 * label is bounded — plan, target and service *names* (a handful to a few hundred, chosen by the
 * operator), queue names, fixed status/state/code sets. Never a snapshot id, a run id or a path.
 *
 * Each process creates one `FleetMetrics` on its own registry (plus Node's default process
 * metrics) and serves it on /metrics; a process only ever updates the metrics of its role, so the
 * others stay at zero or absent there. The Grafana dashboard and the alert rules (deploy/) use
 * these names; a test checks that each name they use is exposed by a running fleet.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type ProcessRole = 'api' | 'worker' | 'report';

/** Seconds: from a tiny backup of an idle service to a large first backup. */
const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 10800];
/** Seconds: HTTP requests. */
const HTTP_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class FleetMetrics {
  readonly registry: Registry;

  // ── api ─────────────────────────────────────────────────────────────────────────────────────
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;

  // ── worker: backups ─────────────────────────────────────────────────────────────────────────
  /** status: success | failed (final outcomes; retried attempts are not counted). */
  readonly backups: Counter<'plan' | 'target' | 'status'>;
  readonly backupDuration: Histogram<'plan' | 'target'>;
  readonly backupReadBytes: Counter<'plan' | 'target'>;
  /** After deduplication and compression: what the backup added to the repository. */
  readonly backupAddedBytes: Counter<'plan' | 'target'>;
  /** The size of the service's data divided by what its last backup added (∞ is reported as the size). */
  readonly dedupRatio: Gauge<'plan' | 'target'>;
  readonly unreadableFiles: Counter<'plan' | 'target'>;
  /** Failed attempts by error code (UNREACHABLE, HOOK_FAILED, …), retried or not. */
  readonly backupFailures: Counter<'plan' | 'target' | 'code'>;

  // ── worker: restores, locks, targets, slots ─────────────────────────────────────────────────
  readonly restores: Counter<'target' | 'status'>;
  readonly restoreDuration: Histogram<'target'>;
  /** A job found its service locked by another job and went back to wait. */
  readonly lockWaits: Counter<'queue'>;
  /** 1 when this worker last reached the target, 0 when it could not. */
  readonly targetReachable: Gauge<'target'>;
  readonly jobsActive: Gauge<'queue'>;
  readonly jobSlots: Gauge;
  /** Verifications of a plan's repository on a target; status: ok | corrupt | failed (could not run). */
  readonly verifyRuns: Counter<'plan' | 'target' | 'status'>;
  /** Unix time of the last verification of a plan × target that found nothing wrong. */
  readonly verifyLastSuccess: Gauge<'plan' | 'target'>;

  // ── report service: runs, freshness, queues, repository sizes ──────────────────────────────
  /** status: success | partial | failed. */
  readonly runs: Counter<'plan' | 'status'>;
  readonly runDuration: Histogram<'plan'>;
  readonly webhookDeliveries: Counter<'status'>;
  /** Unix time of the last successful backup of a service to a target (from the catalog). */
  readonly lastSuccess: Gauge<'service' | 'target' | 'plan'>;
  /** The schedule's interval (daily 86400, weekly 604800) of that service × target's plan. */
  readonly expectedInterval: Gauge<'service' | 'target' | 'plan'>;
  /** Sum of what the catalogued snapshots added to each target's repositories. */
  readonly repositoryBytes: Gauge<'target'>;
  /** Jobs per queue and state (waiting, active, delayed, failed, waiting-children, prioritized). */
  readonly queueJobs: Gauge<'queue' | 'state'>;
  /** Workers consuming a node's backup/restore queue (report service's node watch). */
  readonly nodeWorkers: Gauge<'node' | 'queue'>;
  /** Jobs waiting on a node's queue that no worker consumes. */
  readonly nodeJobsUnserved: Gauge<'node' | 'queue'>;

  constructor(role: ProcessRole, opts: { defaultMetrics?: boolean } = {}) {
    const registry = (this.registry = new Registry());
    registry.setDefaultLabels({ role });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'vaultline_' });
    const registers = [registry];

    this.httpRequests = new Counter({
      name: 'vaultline_http_requests_total',
      help: 'HTTP requests answered by the API, by route template and status code.',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.httpDuration = new Histogram({
      name: 'vaultline_http_request_duration_seconds',
      help: 'Time to answer an HTTP request, by route template and status code.',
      labelNames: ['method', 'route', 'status'],
      buckets: HTTP_BUCKETS,
      registers,
    });

    this.backups = new Counter({
      name: 'vaultline_backups_total',
      help: 'Finished service × target backups by plan, target and outcome (success or failed).',
      labelNames: ['plan', 'target', 'status'],
      registers,
    });
    this.backupDuration = new Histogram({
      name: 'vaultline_backup_duration_seconds',
      help: 'Duration of successful service × target backups (hooks included).',
      labelNames: ['plan', 'target'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.backupReadBytes = new Counter({
      name: 'vaultline_backup_read_bytes_total',
      help: 'Bytes read from services by backups (unchanged files are not read).',
      labelNames: ['plan', 'target'],
      registers,
    });
    this.backupAddedBytes = new Counter({
      name: 'vaultline_backup_added_bytes_total',
      help: 'Bytes backups added to repositories, after deduplication and compression.',
      labelNames: ['plan', 'target'],
      registers,
    });
    this.dedupRatio = new Gauge({
      name: 'vaultline_backup_dedup_ratio',
      help: 'Size of the data backed up divided by the bytes the last backup added (higher is better).',
      labelNames: ['plan', 'target'],
      registers,
    });
    this.unreadableFiles = new Counter({
      name: 'vaultline_backup_unreadable_files_total',
      help: 'Files and folders skipped by backups because they could not be read.',
      labelNames: ['plan', 'target'],
      registers,
    });
    this.backupFailures = new Counter({
      name: 'vaultline_backup_failures_total',
      help: 'Failed backup attempts by error code, whether or not they are retried.',
      labelNames: ['plan', 'target', 'code'],
      registers,
    });

    this.verifyRuns = new Counter({
      name: 'vaultline_verify_runs_total',
      help: 'Verifications of a plan repository on a target: ok, corrupt (errors found) or failed (could not run).',
      labelNames: ['plan', 'target', 'status'],
      registers,
    });
    this.verifyLastSuccess = new Gauge({
      name: 'vaultline_verify_last_success_timestamp_seconds',
      help: 'Unix time of the last verification of a plan on a target that found no error.',
      labelNames: ['plan', 'target'],
      registers,
    });

    this.restores = new Counter({
      name: 'vaultline_restores_total',
      help: 'Finished restores by target and outcome (success or failed).',
      labelNames: ['target', 'status'],
      registers,
    });
    this.restoreDuration = new Histogram({
      name: 'vaultline_restore_duration_seconds',
      help: 'Duration of successful restores.',
      labelNames: ['target'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.lockWaits = new Counter({
      name: 'vaultline_lock_waits_total',
      help: 'Jobs that found their service locked by another job and were put back to wait.',
      labelNames: ['queue'],
      registers,
    });
    this.targetReachable = new Gauge({
      name: 'vaultline_target_reachable',
      help: '1 when this worker last reached the target, 0 when it could not.',
      labelNames: ['target'],
      registers,
    });
    this.jobsActive = new Gauge({
      name: 'vaultline_worker_jobs_active',
      help: 'Jobs this worker process is running now, by queue.',
      labelNames: ['queue'],
      registers,
    });
    this.jobSlots = new Gauge({
      name: 'vaultline_worker_job_slots',
      help: 'Jobs this worker process can run at once (WORKER_CONCURRENCY, per queue it consumes).',
      registers,
    });

    this.runs = new Counter({
      name: 'vaultline_runs_total',
      help: 'Reported runs by plan and overall status (success, partial, failed).',
      labelNames: ['plan', 'status'],
      registers,
    });
    this.runDuration = new Histogram({
      name: 'vaultline_run_duration_seconds',
      help: 'Time from a run being queued to its report.',
      labelNames: ['plan'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.webhookDeliveries = new Counter({
      name: 'vaultline_webhook_deliveries_total',
      help: 'Report webhook deliveries by outcome (delivered or failed).',
      labelNames: ['status'],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'vaultline_last_successful_backup_timestamp_seconds',
      help: 'Unix time of the last successful backup of a service to a target, from the catalog.',
      labelNames: ['service', 'target', 'plan'],
      registers,
    });
    this.expectedInterval = new Gauge({
      name: 'vaultline_backup_expected_interval_seconds',
      help: "Interval of the plan's schedule for that service × target (86400 daily, 604800 weekly).",
      labelNames: ['service', 'target', 'plan'],
      registers,
    });
    this.repositoryBytes = new Gauge({
      name: 'vaultline_repository_size_bytes',
      help: "Bytes the catalogued snapshots added to the target's repositories (what the target stores).",
      labelNames: ['target'],
      registers,
    });
    this.queueJobs = new Gauge({
      name: 'vaultline_queue_jobs',
      help: 'BullMQ jobs per queue and state.',
      labelNames: ['queue', 'state'],
      registers,
    });
    this.nodeWorkers = new Gauge({
      name: 'vaultline_node_workers',
      help: "Workers consuming a node's queue (backup@<node>, restore@<node>) of a node services are placed on.",
      labelNames: ['node', 'queue'],
      registers,
    });
    this.nodeJobsUnserved = new Gauge({
      name: 'vaultline_node_jobs_unserved',
      help: "Jobs waiting on a node's queue while no worker consumes it (no worker runs with that NODE_NAME).",
      labelNames: ['node', 'queue'],
      registers,
    });
  }

  /** The exposition text and its content type, for a /metrics handler. */
  async expose(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The metric names the fleet exposes (the dashboard/alerts test compares against a live scrape). */
export function metricNames(metrics: FleetMetrics): string[] {
  return metrics.registry.getMetricsAsArray().map((m) => m.name);
}
