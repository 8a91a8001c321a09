/**
 * The pure part of a report: from the backup children's outcomes and the run's catalog rows to one
 * resolved result per service × target, the run's status and the summary document. No I/O here,
 * so every rule is covered by unit tests (outcomes.spec.ts).
 */
import {
  parseQueueName,
  REPORT_UNREADABLE_SAMPLE,
  REPORT_VERIFY_ERRORS_SAMPLE,
  reportSummarySchema,
  sourceErrorSchema,
  type ErrorInfo,
  type JobResult,
  type ReportSummary,
  type ReportVerification,
  type SourceError,
} from '@vaultline/contracts';

export type BackupResult = JobResult<'backup.run'>;
export type RunOutcome = ReportSummary['status'];
type Arch = Extract<BackupResult, { status: 'success' }>['snapshot']['arch'];

/** What one backup child left: its result (or a failed one made from its failedReason). */
export interface ChildOutcome {
  serviceId: string;
  targetId: string;
  result: BackupResult;
  /** When BullMQ finished the child (its `finishedOn`), if known. */
  finishedAt: Date | null;
}

/** The columns of a `service_backups` row this module reads (plus the names of its service and target). */
export interface BackupRow {
  serviceId: string;
  targetId: string;
  serviceName: string;
  targetName: string;
  status: 'queued' | 'running' | 'success' | 'failed';
  snapshotId: string | null;
  totalBytes: bigint;
  bytesRead: bigint;
  bytesAdded: bigint;
  files: number;
  unreadable: unknown;
  error: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  durationMs: number | null;
}

/** One service × target as the report records it. */
export interface ResolvedBackup {
  serviceId: string;
  targetId: string;
  serviceName: string;
  targetName: string;
  status: 'success' | 'failed';
  snapshotId: string | null;
  /** Set only when the child's result carried it: what the snapshot catalog row needs. */
  snapshot: { id: string; time: string; arch: Arch } | null;
  totalBytes: number;
  bytesRead: number;
  bytesAdded: number;
  files: number;
  unreadable: SourceError[];
  unreadableCount: number;
  error: ErrorInfo | null;
  durationMs: number | null;
  startedAt: Date | null;
  finishedAt: Date;
  /** False for a child whose row is gone (its service or target was deleted meanwhile). */
  hasRow: boolean;
}

export interface RunInfo {
  id: string;
  planId: string;
  planName: string;
  trigger: 'schedule' | 'manual';
  queuedAt: Date;
  startedAt: Date | null;
  finishedAt: Date;
}

/** Error codes the report adds to the worker's (libs/contracts common.ts errorInfoSchema). */
export const REPORT_ERROR_CODES = {
  /** The child failed without returning a result (UnrecoverableError, or thrown on its last attempt). */
  jobFailed: 'JOB_FAILED',
  /** The child returned something that is not a backup.run result. */
  invalidResult: 'INVALID_RESULT',
  /** The row was never finished and no child outcome exists (the child was removed from Redis). */
  noResult: 'NO_RESULT',
  /** No worker on the service's node took the job (node-watch.ts): noted, then failed at the deadline. */
  nodeUnavailable: 'NODE_UNAVAILABLE',
} as const;

const MAX_MESSAGE = 2000;

export const pairKey = (serviceId: string, targetId: string): string => `${serviceId}/${targetId}`;

/**
 * The job id inside a BullMQ child key `<prefix>:<queue>:<jobId>` and, for a child on a node's
 * queue (`<prefix>:<queue>@<node>:<jobId>`), that node; null when the key belongs to another
 * prefix or queue. The prefix may itself contain ':', so it is matched whole; job ids never do.
 */
export function childJob(key: string, prefix: string, queue: string): { id: string; node?: string } | null {
  const head = `${prefix}:`;
  if (!key.startsWith(head)) return null;
  const rest = key.slice(head.length);
  const colon = rest.indexOf(':');
  if (colon < 0 || colon === rest.length - 1) return null;
  const parsed = parseQueueName(rest.slice(0, colon));
  if (parsed?.queue !== queue) return null;
  const id = rest.slice(colon + 1);
  return parsed.node ? { id, node: parsed.node } : { id };
}

/** success: all succeeded (a run with nothing to back up included); partial: some; failed: none. */
export function deriveRunStatus(succeeded: number, failed: number): RunOutcome {
  if (failed === 0) return 'success';
  return succeeded === 0 ? 'failed' : 'partial';
}

function truncate(message: string): string {
  return message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE - 1)}…` : message;
}

/** A failed result for a child that failed without returning one. */
export function failedResult(code: string, message: string, durationMs = 0): BackupResult {
  return {
    status: 'failed',
    error: { code, message: truncate(message.split('\n')[0] || 'unknown error') },
    durationMs,
  };
}

/** The worker stores errors as `CODE: message`; anything else becomes an UNKNOWN error. */
export function parseErrorText(text: string | null): ErrorInfo | null {
  if (!text) return null;
  const m = /^([A-Z][A-Z0-9_]{0,63}): ([\s\S]*)$/.exec(text);
  return m ? { code: m[1]!, message: truncate(m[2]!) } : { code: 'UNKNOWN', message: truncate(text) };
}

/** `error` column text of a failed result, as the worker writes it. */
export const errorText = (e: ErrorInfo): string => `${e.code}: ${e.message}`;

function rowUnreadable(value: unknown): SourceError[] {
  const parsed = sourceErrorSchema.array().safeParse(value);
  return parsed.success ? parsed.data : [];
}

const startFrom = (finishedAt: Date, durationMs: number | null): Date | null =>
  durationMs === null ? null : new Date(finishedAt.getTime() - durationMs);

/**
 * One resolved backup per service × target: every row of the run, plus children whose row is gone.
 * A child's outcome wins over its row (the worker's own write may have been lost); a row without
 * a child outcome keeps its final status, or fails with NO_RESULT if it never finished.
 */
export function resolveBackups(
  rows: readonly BackupRow[],
  children: readonly ChildOutcome[],
  names: { service: (id: string) => string; target: (id: string) => string },
  now: Date,
): ResolvedBackup[] {
  const byPair = new Map(children.map((c) => [pairKey(c.serviceId, c.targetId), c]));
  const out: ResolvedBackup[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const key = pairKey(row.serviceId, row.targetId);
    seen.add(key);
    const child = byPair.get(key);
    out.push(child ? fromChild(child, row, names, now) : fromRow(row, now));
  }
  for (const child of children) {
    if (!seen.has(pairKey(child.serviceId, child.targetId))) out.push(fromChild(child, null, names, now));
  }
  return out.sort(
    (a, b) =>
      a.serviceName.localeCompare(b.serviceName) ||
      a.targetName.localeCompare(b.targetName) ||
      a.serviceId.localeCompare(b.serviceId) ||
      a.targetId.localeCompare(b.targetId),
  );
}

function fromChild(
  child: ChildOutcome,
  row: BackupRow | null,
  names: { service: (id: string) => string; target: (id: string) => string },
  now: Date,
): ResolvedBackup {
  const { result } = child;
  const finishedAt = child.finishedAt ?? row?.finishedAt ?? now;
  const base = {
    serviceId: child.serviceId,
    targetId: child.targetId,
    serviceName: row?.serviceName ?? names.service(child.serviceId),
    targetName: row?.targetName ?? names.target(child.targetId),
    durationMs: result.durationMs,
    startedAt: row?.startedAt ?? startFrom(finishedAt, result.durationMs),
    finishedAt,
    hasRow: row !== null,
  };
  if (result.status === 'failed') {
    return {
      ...base,
      status: 'failed',
      snapshotId: null,
      snapshot: null,
      totalBytes: 0,
      // What was read before the failure stays visible (live progress wrote it).
      bytesRead: row ? Number(row.bytesRead) : 0,
      bytesAdded: 0,
      files: 0,
      unreadable: [],
      unreadableCount: 0,
      error: result.error,
    };
  }
  // The worker records a post-hook failure after a good snapshot as a warning on the row: keep it.
  const warning =
    row && row.status === 'success' && row.snapshotId === result.snapshot.id
      ? parseErrorText(row.error)
      : null;
  return {
    ...base,
    status: 'success',
    snapshotId: result.snapshot.id,
    snapshot: { id: result.snapshot.id, time: result.snapshot.time, arch: result.snapshot.arch },
    totalBytes: result.stats.totalBytes,
    bytesRead: result.stats.bytesRead,
    bytesAdded: result.stats.bytesAdded,
    files: result.stats.files,
    unreadable: result.unreadable,
    unreadableCount: Math.max(result.stats.errors, result.unreadable.length),
    error: warning,
  };
}

function fromRow(row: BackupRow, now: Date): ResolvedBackup {
  const finished = row.status === 'success' || row.status === 'failed';
  const unreadable = rowUnreadable(row.unreadable);
  return {
    serviceId: row.serviceId,
    targetId: row.targetId,
    serviceName: row.serviceName,
    targetName: row.targetName,
    status: row.status === 'success' ? 'success' : 'failed',
    snapshotId: row.status === 'success' ? row.snapshotId : null,
    // The row has no snapshot time or architecture: the catalog row waits for a rebuild.
    snapshot: null,
    totalBytes: Number(row.totalBytes),
    bytesRead: Number(row.bytesRead),
    bytesAdded: Number(row.bytesAdded),
    files: row.files,
    unreadable,
    unreadableCount: unreadable.length,
    error: finished
      ? parseErrorText(row.error)
      : { code: REPORT_ERROR_CODES.noResult, message: 'the backup job ended without a result' },
    durationMs: row.durationMs,
    startedAt: row.startedAt,
    finishedAt: finished ? (row.finishedAt ?? now) : now,
    hasRow: true,
  };
}

/** Earliest start of the run's backups, or null when none started. */
export function earliestStart(backups: readonly ResolvedBackup[]): Date | null {
  let min: Date | null = null;
  for (const b of backups) if (b.startedAt && (!min || b.startedAt < min)) min = b.startedAt;
  return min;
}

/** The report document, validated against the contract the API and webhook receivers read. */
/** The columns of a finished `verifications` row the report reads (plus its target's name). */
export interface VerificationRow {
  targetId: string;
  targetName: string;
  kind: ReportVerification['kind'];
  /** success: the check ran (ok says what it found); failed: it could not run. */
  status: 'success' | 'failed';
  ok: boolean | null;
  finishedAt: Date;
  packsRead: number;
  packsTotal: number;
  errors: readonly string[];
}

/** A verification as the report shows it, errors sampled. */
export function reportVerification(v: VerificationRow): ReportVerification {
  return {
    targetId: v.targetId,
    targetName: v.targetName,
    kind: v.kind,
    status: v.status === 'failed' ? 'failed' : v.ok ? 'ok' : 'corrupt',
    finishedAt: v.finishedAt.toISOString(),
    packsRead: v.packsRead,
    packsTotal: v.packsTotal,
    errorCount: v.errors.length,
    errors: v.errors.slice(0, REPORT_VERIFY_ERRORS_SAMPLE),
  };
}

export function buildSummary(
  run: RunInfo,
  backups: readonly ResolvedBackup[],
  verifications: readonly VerificationRow[] = [],
): ReportSummary {
  const succeeded = backups.filter((b) => b.status === 'success');
  const failed = backups.length - succeeded.length;
  const from = run.startedAt ?? run.queuedAt;
  const sum = (f: (b: ResolvedBackup) => number): number => succeeded.reduce((n, b) => n + f(b), 0);
  return reportSummarySchema.parse({
    version: 1,
    runId: run.id,
    plan: { id: run.planId, name: run.planName },
    trigger: run.trigger,
    status: deriveRunStatus(succeeded.length, failed),
    queuedAt: run.queuedAt.toISOString(),
    startedAt: run.startedAt?.toISOString() ?? null,
    finishedAt: run.finishedAt.toISOString(),
    durationMs: Math.max(0, run.finishedAt.getTime() - from.getTime()),
    counts: { total: backups.length, succeeded: succeeded.length, failed },
    totals: {
      totalBytes: sum((b) => b.totalBytes),
      bytesAdded: sum((b) => b.bytesAdded),
      files: sum((b) => b.files),
    },
    backups: backups.map((b) => ({
      serviceId: b.serviceId,
      serviceName: b.serviceName,
      targetId: b.targetId,
      targetName: b.targetName,
      status: b.status,
      snapshotId: b.snapshotId,
      totalBytes: b.totalBytes,
      bytesAdded: b.bytesAdded,
      files: b.files,
      unreadableCount: b.unreadableCount,
      unreadable: b.unreadable.slice(0, REPORT_UNREADABLE_SAMPLE),
      error: b.error,
      durationMs: b.durationMs,
    })),
    verifications: [...verifications]
      .sort((a, b) => a.targetName.localeCompare(b.targetName) || a.targetId.localeCompare(b.targetId))
      .map(reportVerification),
  });
}
