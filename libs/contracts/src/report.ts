/**
 * A run's report: what the report service stores in `reports.summary`, posts to the webhook and
 * the API serves at GET /v1/runs/:id/report. One document per run, written once every backup
 * child has finished; re-processing the same run rewrites the same document.
 *
 * Evolving it: add optional fields only (webhook receivers and the API read old reports too), and
 * bump `version` only for an incompatible change.
 */
import { z } from 'zod';

import { errorInfoSchema, idSchema, isoTimeSchema, snapshotIdSchema, sourceErrorSchema } from './common';
import { RUN_STATUSES, VERIFY_KINDS } from './jobs';

const count = z.number().int().nonnegative();

/** How many unreadable files one backup lists in the report (the full count is always there). */
export const REPORT_UNREADABLE_SAMPLE = 5;

export const reportBackupSchema = z.object({
  serviceId: idSchema,
  /** Names as they were when the report was written (the rows may be renamed or deleted later). */
  serviceName: z.string(),
  targetId: idSchema,
  targetName: z.string(),
  status: z.enum(['success', 'failed']),
  snapshotId: snapshotIdSchema.nullable(),
  totalBytes: count,
  bytesAdded: count,
  files: count,
  /** Files and folders the backup could not read (it succeeded without them). */
  unreadableCount: count,
  /** The first few of them. */
  unreadable: z.array(sourceErrorSchema).max(REPORT_UNREADABLE_SAMPLE),
  /** Why it failed; for a success, a warning (e.g. the post-hook failed after a good snapshot). */
  error: errorInfoSchema.nullable(),
  durationMs: count.nullable(),
});
export type ReportBackup = z.output<typeof reportBackupSchema>;

/** How many of a verification's errors the report repeats (the API has them all). */
export const REPORT_VERIFY_ERRORS_SAMPLE = 5;

/**
 * The latest verification of one of the plan's targets that had finished when the run ended:
 * `ok` found nothing, `corrupt` found damage, `failed` could not run (target unreachable,
 * repository unopenable). A target never verified has no entry.
 */
export const reportVerificationSchema = z.object({
  targetId: idSchema,
  targetName: z.string(),
  kind: z.enum(VERIFY_KINDS),
  status: z.enum(['ok', 'corrupt', 'failed']),
  finishedAt: isoTimeSchema,
  packsRead: count,
  packsTotal: count,
  errorCount: count,
  errors: z.array(z.string()).max(REPORT_VERIFY_ERRORS_SAMPLE),
});
export type ReportVerification = z.output<typeof reportVerificationSchema>;

export const reportSummarySchema = z.object({
  version: z.literal(1),
  runId: idSchema,
  plan: z.object({ id: idSchema, name: z.string() }),
  trigger: z.enum(['schedule', 'manual']),
  /** success: every backup succeeded (or there were none); partial: some; failed: none. */
  status: z.enum(RUN_STATUSES),
  queuedAt: isoTimeSchema,
  startedAt: isoTimeSchema.nullable(),
  finishedAt: isoTimeSchema,
  /** From the first backup's start (or the queueing, if none started) to the end of the run. */
  durationMs: count,
  counts: z.object({ total: count, succeeded: count, failed: count }),
  /** Sums over the successful backups. */
  totals: z.object({ totalBytes: count, bytesAdded: count, files: count }),
  /** One entry per service × target, sorted by service name, then target name. */
  backups: z.array(reportBackupSchema),
  /** Per target of the plan, sorted by target name (absent from reports written before). */
  verifications: z.array(reportVerificationSchema).optional(),
});
export type ReportSummary = z.output<typeof reportSummarySchema>;
