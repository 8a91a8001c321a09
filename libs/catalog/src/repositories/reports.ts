import type { Prisma, Report, RunStatus, WebhookStatus } from '@vaultline/db';
import type { Db } from '../db';

export class ReportsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Writes the run's report, or rewrites it (a retried report job). A new report's webhook starts
   * `pending` when one is configured; an existing report keeps its webhook status.
   */
  record(runId: string, status: RunStatus, summary: object, webhookConfigured: boolean): Promise<Report> {
    const json = summary as Prisma.InputJsonValue;
    return this.db.report.upsert({
      where: { runId },
      create: { runId, status, summary: json, webhookStatus: webhookConfigured ? 'pending' : null },
      update: { status, summary: json },
    });
  }

  /** The webhook's state: pending (to be sent), delivered (with when), failed. */
  async setWebhookStatus(runId: string, status: WebhookStatus, notifiedAt?: Date): Promise<void> {
    await this.db.report.update({
      where: { runId },
      data: { webhookStatus: status, ...(notifiedAt ? { notifiedAt } : {}) },
    });
  }
}
