/**
 * BullMQ job ids of the fleet, in one place: the producer (API, report service) adds a job under
 * its id, and other processes find the same job by recomputing it (the report service matches a
 * run's children, the reaper looks for a run's or a restore's job). Deterministic ids also make
 * adding idempotent: BullMQ keeps one job per id, so a retried request or report cannot enqueue
 * the same work twice. Like queue names (queues.ts), never change one in place: jobs already in
 * Redis carry the old form.
 */
/** A run's flow parent (`report.aggregate`). */
export const reportJobId = (runId: string): string => `run-${runId}`;
/** One service × target child of a run (`backup.run`). */
export const backupJobId = (runId: string, serviceId: string, targetId: string): string =>
  `backup-${runId}-${serviceId}-${targetId}`;
/** `restore.run`. */
export const restoreJobId = (restoreId: string): string => `restore-${restoreId}`;
/** `maintenance.retention` after a run, per target. */
export const retentionJobId = (runId: string, targetId: string): string => `retention-${runId}-${targetId}`;
/** `maintenance.deletePlan`, per target. */
export const deletePlanJobId = (planId: string, targetId: string): string => `delete-${planId}-${targetId}`;
/**
 * `maintenance.syncCatalog`, per plan × target: one pending at a time (the job is removed once it
 * completes, so the next request can add it again).
 */
export const syncCatalogJobId = (planId: string, targetId: string): string =>
  `catalog-sync-${planId}-${targetId}`;
