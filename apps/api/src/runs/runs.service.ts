import { Inject, Injectable } from '@nestjs/common';
import { JOBS, parseJobPayload } from '@vaultline/contracts';
import type { Logger } from 'pino';
import { notFound } from '../common/api-error';
import { PrismaService } from '../common/prisma.service';
import { QueuesService } from '../common/queues.service';
import { LOGGER } from '../common/tokens';
import { UUID_RE } from '../common/zod-body.pipe';

export interface ServiceBackupView {
  serviceId: string;
  serviceName: string;
  targetId: string;
  targetName: string;
  status: string;
  snapshotId: string | null;
  totalBytes: number;
  bytesRead: number;
  bytesAdded: number;
  files: number;
  error: string | null;
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
}

export interface RunView {
  id: string;
  planId: string;
  trigger: string;
  status: string;
  queuedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  backups: ServiceBackupView[];
}

/**
 * The retry policy of a backup child (docs/worker.md): transient failures (an unreachable target,
 * a locked repository) get 4 attempts with exponential backoff from 30 s.
 */
const BACKUP_ATTEMPTS = 4;
const BACKUP_BACKOFF = { type: 'exponential', delay: 30_000 } as const;

/** BullMQ job ids: deterministic, so re-adding a run's flow cannot duplicate a job. */
export const reportJobId = (runId: string): string => `run-${runId}`;
export const backupJobId = (runId: string, serviceId: string, targetId: string): string =>
  `backup-${runId}-${serviceId}-${targetId}`;

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

@Injectable()
export class RunsService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly queues: QueuesService,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** A manual run: the Run row, one queued row per service × target, and the report/backup flow. */
  async start(planId: string): Promise<RunView> {
    const plan = UUID_RE.test(planId)
      ? await this.prisma.client.plan.findUnique({
          where: { id: planId },
          include: { targets: true, services: true },
        })
      : null;
    if (!plan || plan.deletedAt) throw notFound('plan', planId);
    const pairs = plan.services.flatMap((s) =>
      plan.targets.map((t) => ({ serviceId: s.serviceId, targetId: t.targetId })),
    );

    const run = await this.prisma.client.$transaction(async (tx) => {
      const created = await tx.run.create({ data: { planId, trigger: 'manual' } });
      await tx.serviceBackup.createMany({ data: pairs.map((p) => ({ runId: created.id, ...p })) });
      return created;
    });

    try {
      // The report is the flow's parent: BullMQ runs it once every backup child has finished.
      // ignoreDependencyOnFailure: a child that fails for good is moved to the parent's failed
      // dependencies instead of blocking it, so one broken target never withholds the report.
      const flow = await this.queues.run(() =>
        this.queues.flows.add({
          name: 'report.aggregate',
          queueName: JOBS['report.aggregate'].queue,
          data: parseJobPayload('report.aggregate', { runId: run.id, planId }),
          opts: { jobId: reportJobId(run.id) },
          children: pairs.map((p) => ({
            name: 'backup.run',
            queueName: JOBS['backup.run'].queue,
            data: parseJobPayload('backup.run', { runId: run.id, planId, ...p }),
            opts: {
              jobId: backupJobId(run.id, p.serviceId, p.targetId),
              attempts: BACKUP_ATTEMPTS,
              backoff: BACKUP_BACKOFF,
              ignoreDependencyOnFailure: true,
            },
          })),
        }),
      );
      await this.prisma.client.run.update({
        where: { id: run.id },
        data: { flowJobId: flow.job.id ?? null },
      });
    } catch (err) {
      // A run whose jobs were never queued would stay "queued" forever: take it back. Should the
      // flow still land after a timeout, its children find no rows and fail for good (permanent).
      await this.prisma.client.run.delete({ where: { id: run.id } }).catch((e: unknown) => {
        this.logger.error({ err: e, runId: run.id }, 'could not delete a run that was not queued');
      });
      throw err;
    }
    return this.get(run.id);
  }

  async get(id: string): Promise<RunView> {
    const run = UUID_RE.test(id)
      ? await this.prisma.client.run.findUnique({
          where: { id },
          include: { serviceBackups: { include: { service: true, target: true } } },
        })
      : null;
    if (!run) throw notFound('run', id);
    return {
      id: run.id,
      planId: run.planId,
      trigger: run.trigger,
      status: run.status,
      queuedAt: run.queuedAt.toISOString(),
      startedAt: iso(run.startedAt),
      finishedAt: iso(run.finishedAt),
      backups: run.serviceBackups
        .map((b) => ({
          serviceId: b.serviceId,
          serviceName: b.service.name,
          targetId: b.targetId,
          targetName: b.target.name,
          status: b.status,
          snapshotId: b.snapshotId,
          totalBytes: Number(b.totalBytes),
          bytesRead: Number(b.bytesRead),
          bytesAdded: Number(b.bytesAdded),
          files: b.files,
          error: b.error,
          attempts: b.attempts,
          startedAt: iso(b.startedAt),
          finishedAt: iso(b.finishedAt),
          durationMs: b.durationMs,
        }))
        .sort(
          (a, b) => a.serviceName.localeCompare(b.serviceName) || a.targetName.localeCompare(b.targetName),
        ),
    };
  }
}
