/**
 * The `report.aggregate` job: a run's flow parent, processed once every backup child has finished.
 *
 *   payload → children's outcomes (results + ignored failures) → catalog rows
 *   → ONE transaction: service_backups reconciled, snapshots catalogued, run finished, report
 *   → run.finished event → retention jobs → webhook → result
 *
 * Idempotent: the job may run again (a crash after the commit, a stalled job, an operator retry).
 * Every write is an update or upsert keyed by the run, the service × target or the snapshot id;
 * the run keeps its first finishedAt (so the summary does not change); a delivered webhook is not
 * sent again; retention jobs have deterministic ids, so BullMQ adds each one once.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';

import {
  backupJobId,
  retentionJobId,
  ContractError,
  parseJobPayload,
  parseJobResult,
  QUEUES,
  type EventName,
  type EventPayload,
  type JobPayload,
  type JobResult,
  type ReportSummary,
} from '@vaultline/contracts';
import type { Catalog, RunForReport } from '@vaultline/catalog';
import type { JobGateway } from '@vaultline/jobs';
import type { FleetMetrics } from '@vaultline/observability';

import {
  buildSummary,
  childJob,
  earliestStart,
  errorText,
  failedResult,
  REPORT_ERROR_CODES,
  resolveBackups,
  type BackupRow,
  type ChildOutcome,
  type ResolvedBackup,
} from './outcomes';
import { deliverWebhook, type WebhookOptions } from './webhook';

export type ReportAggregateResult = JobResult<'report.aggregate'>;

/** The part of EventPublisher used here. */
export interface EventEmitter {
  emit<N extends EventName>(name: N, payload: EventPayload<N>): void;
}

/** A child's return value; one that is not a backup.run result counts as a failure. */
function asBackupResult(value: unknown): ChildOutcome['result'] {
  try {
    return parseJobResult('backup.run', value);
  } catch (err) {
    // The contract's message names the invalid fields, never their values.
    if (err instanceof ContractError) return failedResult(REPORT_ERROR_CODES.invalidResult, err.message);
    throw err;
  }
}

export interface ReportProcessorDeps {
  catalog: Catalog;
  logger: Logger;
  queuePrefix: string;
  /** Reads the children's data (which service × target each one was) and queues retention. */
  jobs: Pick<JobGateway, 'find' | 'queue'>;
  events: EventEmitter;
  webhookUrl: string | null;
  webhookOptions?: WebhookOptions;
  metrics?: FleetMetrics;
  /** Longest the report transaction may take (default 60 s; a run has few hundred rows at most). */
  transactionTimeoutMs?: number;
}

type RunWithRows = {
  serviceBackups: (Omit<BackupRow, 'serviceName' | 'targetName'> & {
    service: { name: string };
    target: { name: string };
  })[];
};

function rowsOf(run: RunWithRows): BackupRow[] {
  return run.serviceBackups.map((r) => ({ ...r, serviceName: r.service.name, targetName: r.target.name }));
}

export class ReportProcessor {
  constructor(private readonly deps: ReportProcessorDeps) {}

  /** The job's payload is already validated (the dispatcher of @vaultline/jobs). */
  async process(payload: JobPayload<'report.aggregate'>, job: Job): Promise<ReportAggregateResult> {
    const log = this.deps.logger.child({ jobId: job.id, runId: payload.runId });
    const run = await this.loadRun(payload.runId);
    // Deleted with its plan while the backups ran: there is nothing left to report on.
    if (!run) throw new UnrecoverableError(`run ${payload.runId} is not in the catalog`);
    if (run.planId !== payload.planId) {
      throw new UnrecoverableError(`run ${payload.runId} belongs to another plan than the job says`);
    }
    const children = await this.readChildren(job, payload.runId, rowsOf(run), log);
    return this.finalize(run, children, log);
  }

  /**
   * The report of a run whose flow the queue lost (Redis restarted without persistence, flushed,
   * or the report job failed for good): written from the catalog rows alone — backups a worker
   * recorded as finished keep their outcome, the others fail with NO_RESULT — so the run ends
   * instead of staying queued or running forever. See reaper.ts.
   */
  async reportLostRun(runId: string, reason: string): Promise<ReportAggregateResult | null> {
    const run = await this.loadRun(runId);
    if (!run || run.finishedAt) return null;
    const log = this.deps.logger.child({ runId });
    log.warn({ reason }, 'the job queue lost this run; reporting it from the catalog');
    return this.finalize(run, [], log);
  }

  private loadRun(runId: string): Promise<RunForReport | null> {
    return this.deps.catalog.runs.findForReport(runId);
  }

  private async finalize(
    run: NonNullable<Awaited<ReturnType<ReportProcessor['loadRun']>>>,
    children: ChildOutcome[],
    log: Logger,
  ): Promise<ReportAggregateResult> {
    const rows = rowsOf(run);
    const names = await this.namesOf(children, rows);
    const now = new Date();
    const backups = resolveBackups(rows, children, names, now);
    const startedAt = run.startedAt ?? earliestStart(backups);
    // A re-processed run keeps its first end, so the stored summary stays the same document.
    const finishedAt = run.finishedAt ?? now;
    const verifications = await this.deps.catalog.verifications.latestPerTarget(
      run.planId,
      run.plan.targets.map((t) => t.targetId),
      finishedAt,
    );
    const summary = buildSummary(
      {
        id: run.id,
        planId: run.planId,
        planName: run.plan.name,
        trigger: run.trigger,
        queuedAt: run.queuedAt,
        startedAt,
        finishedAt,
      },
      backups,
      verifications.map((v) => ({
        ...v,
        targetName: v.target.name,
        status: v.status === 'failed' ? 'failed' : 'success',
        finishedAt: v.finishedAt ?? finishedAt,
      })),
    );

    const webhookStatus = await this.write(run.id, run.planId, backups, summary, startedAt, finishedAt);
    log.info(
      { status: summary.status, succeeded: summary.counts.succeeded, failed: summary.counts.failed },
      'report written',
    );
    if (!run.finishedAt) {
      // Counted once: a re-processed run keeps its first finishedAt.
      this.deps.metrics?.runs.inc({ plan: run.plan.name, status: summary.status });
      this.deps.metrics?.runDuration.observe(
        { plan: run.plan.name },
        (finishedAt.getTime() - run.queuedAt.getTime()) / 1000,
      );
    }

    this.deps.events.emit('run.finished', {
      at: new Date().toISOString(),
      runId: run.id,
      planId: run.planId,
      status: summary.status,
      durationMs: summary.durationMs,
    });

    if (!run.plan.deletedAt) await this.enqueueRetention(run.id, run.planId, run.plan.targets, backups, log);

    const webhook = await this.notify(run.id, summary, webhookStatus, log);
    return parseJobResult('report.aggregate', {
      status: summary.status,
      backupsSucceeded: summary.counts.succeeded,
      backupsFailed: summary.counts.failed,
      webhook,
    });
  }

  /**
   * Every finished child: the values of those that returned (validated as backup.run results) and
   * the failures BullMQ kept for the children added with ignoreDependencyOnFailure.
   */
  private async readChildren(
    job: Job,
    runId: string,
    rows: readonly BackupRow[],
    log: Logger,
  ): Promise<ChildOutcome[]> {
    const [values, failures] = await Promise.all([job.getChildrenValues(), job.getIgnoredChildrenFailures()]);
    const byJobId = new Map(rows.map((r) => [backupJobId(runId, r.serviceId, r.targetId), r]));
    // Each finished child, with how to make its result once its duration is known.
    type Outcome = (durationMs: number) => ChildOutcome['result'];
    const entries: [string, Outcome][] = [
      ...Object.entries(values).map(([key, value]): [string, Outcome] => [key, () => asBackupResult(value)]),
      ...Object.entries(failures).map(([key, reason]): [string, Outcome] => [
        key,
        (durationMs) => failedResult(REPORT_ERROR_CODES.jobFailed, reason, durationMs),
      ]),
    ];
    const refs = entries.map(([key]) => childJob(key, this.deps.queuePrefix, QUEUES.backup));
    const jobs = await Promise.all(
      refs.map((ref) =>
        ref ? this.deps.jobs.find('backup.run', ref.id, ref.node) : Promise.resolve(undefined),
      ),
    );
    const out: ChildOutcome[] = [];
    for (const [i, [key, outcome]] of entries.entries()) {
      const id = refs[i]?.id;
      if (!id) {
        log.warn({ child: key }, 'child of another queue ignored');
        continue;
      }
      const child = jobs[i];
      let pair: { serviceId: string; targetId: string } | undefined;
      if (child) {
        try {
          const data = parseJobPayload('backup.run', child.data);
          if (data.runId === runId) pair = data;
        } catch {
          // An unreadable child payload: fall through to the job-id match below.
        }
      }
      pair ??= byJobId.get(id);
      if (!pair) {
        log.warn({ child: key }, 'child of no service × target of this run ignored');
        continue;
      }
      const finishedOn = child?.finishedOn;
      const started = child?.processedOn;
      out.push({
        serviceId: pair.serviceId,
        targetId: pair.targetId,
        result: outcome(finishedOn && started ? Math.max(0, finishedOn - started) : 0),
        finishedAt: finishedOn ? new Date(finishedOn) : null,
      });
    }
    return out;
  }

  /** Names of services and targets for children whose row is gone (the rows carry their own). */
  private async namesOf(
    children: readonly ChildOutcome[],
    rows: readonly BackupRow[],
  ): Promise<{ service: (id: string) => string; target: (id: string) => string }> {
    const services = new Map(rows.map((r) => [r.serviceId, r.serviceName]));
    const targets = new Map(rows.map((r) => [r.targetId, r.targetName]));
    const missingServices = [...new Set(children.map((c) => c.serviceId))].filter((id) => !services.has(id));
    const missingTargets = [...new Set(children.map((c) => c.targetId))].filter((id) => !targets.has(id));
    if (missingServices.length) {
      const found = await this.deps.catalog.services.namesOf(missingServices);
      for (const s of found) services.set(s.id, s.name);
    }
    if (missingTargets.length) {
      const found = await this.deps.catalog.targets.namesOf(missingTargets);
      for (const t of found) targets.set(t.id, t.name);
    }
    // A deleted service or target is named by its id: the report must still say what happened.
    return { service: (id) => services.get(id) ?? id, target: (id) => targets.get(id) ?? id };
  }

  /** The one transaction; returns the report's webhook status after it. */
  private async write(
    runId: string,
    planId: string,
    backups: readonly ResolvedBackup[],
    summary: ReportSummary,
    startedAt: Date | null,
    finishedAt: Date,
  ): Promise<'pending' | 'delivered' | 'failed' | null> {
    const { catalog, webhookUrl } = this.deps;
    const targetIds = [...new Set(backups.filter((b) => b.snapshot).map((b) => b.targetId))];
    return catalog.transaction(
      async (tx) => {
        for (const b of backups) {
          if (!b.hasRow) continue;
          await tx.backups.recordResult(
            { runId, serviceId: b.serviceId, targetId: b.targetId },
            {
              status: b.status,
              snapshotId: b.snapshotId,
              totalBytes: b.totalBytes,
              bytesRead: b.bytesRead,
              bytesAdded: b.bytesAdded,
              files: b.files,
              unreadable: b.unreadable,
              error: b.error ? errorText(b.error) : null,
              startedAt: b.startedAt,
              finishedAt: b.finishedAt,
              durationMs: b.durationMs,
            },
          );
        }
        // A snapshot on a target deleted meanwhile cannot be catalogued (the row would dangle).
        const existingTargets = await tx.targets.existingIds(targetIds);
        const existingServices = await tx.services.existingIds(backups.map((b) => b.serviceId));
        for (const b of backups) {
          if (!b.snapshot || !existingTargets.has(b.targetId)) continue;
          await tx.snapshots.recordPublished({
            id: b.snapshot.id,
            targetId: b.targetId,
            planId,
            serviceId: existingServices.has(b.serviceId) ? b.serviceId : null,
            time: new Date(b.snapshot.time),
            arch: b.snapshot.arch,
            totalBytes: b.totalBytes,
            bytesAdded: b.bytesAdded,
            files: b.files,
            runId,
          });
        }
        await tx.runs.markFinished(runId, summary.status, startedAt, finishedAt);
        const report = await tx.reports.record(runId, summary.status, summary, Boolean(webhookUrl));
        if (!webhookUrl || report.webhookStatus === 'pending' || report.webhookStatus === 'delivered') {
          return report.webhookStatus;
        }
        // Not delivered yet (failed before, or no webhook was configured then): try again.
        await tx.reports.setWebhookStatus(runId, 'pending');
        return 'pending';
      },
      { timeoutMs: this.deps.transactionTimeoutMs ?? 60_000 },
    );
  }

  private async enqueueRetention(
    runId: string,
    planId: string,
    planTargets: readonly { targetId: string }[],
    backups: readonly ResolvedBackup[],
    log: Logger,
  ): Promise<void> {
    const succeeded = new Set(backups.filter((b) => b.status === 'success').map((b) => b.targetId));
    // Retention only where this run added a snapshot: forgetting on a target the run could not
    // reach would only shorten its history further.
    const targets = planTargets.map((t) => t.targetId).filter((id) => succeeded.has(id));
    // Attempts and backoff: the registry's (JOBS['maintenance.retention'].defaults).
    for (const targetId of targets) {
      await this.deps.jobs.queue({
        name: 'maintenance.retention',
        data: { planId, targetId },
        opts: { jobId: retentionJobId(runId, targetId) },
      });
    }
    if (targets.length) log.info({ targets: targets.length }, 'retention jobs enqueued');
  }

  private async notify(
    runId: string,
    summary: ReportSummary,
    status: 'pending' | 'delivered' | 'failed' | null,
    log: Logger,
  ): Promise<ReportAggregateResult['webhook']> {
    const url = this.deps.webhookUrl;
    if (!url) return 'not-configured';
    if (status === 'delivered') return 'sent';
    const outcome = await deliverWebhook(
      url,
      summary,
      // Receivers see the same report again if a delivery is retried after a lost answer.
      { 'idempotency-key': `vaultline-report-${runId}` },
      log,
      this.deps.webhookOptions,
    );
    // The report is already safe; a failure to record the outcome must not fail the job.
    await this.deps.catalog.reports
      .setWebhookStatus(
        runId,
        outcome.delivered ? 'delivered' : 'failed',
        outcome.delivered ? new Date() : undefined,
      )
      .catch((err: unknown) => log.warn({ err }, 'could not record the webhook outcome'));
    this.deps.metrics?.webhookDeliveries.inc({ status: outcome.delivered ? 'delivered' : 'failed' });
    if (outcome.delivered) log.info({ attempts: outcome.attempts }, 'webhook delivered');
    else log.warn({ attempts: outcome.attempts, error: outcome.error }, 'webhook not delivered');
    return outcome.delivered ? 'sent' : 'failed';
  }
}
