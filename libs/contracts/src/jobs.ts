/**
 * Every BullMQ job of the fleet: its name, its queue, the schema of its data (payload) and of its
 * return value (result). Producers and consumers import these and nothing else:
 *
 *   producer:  jobs.queue({ name, data, opts? })        (@vaultline/jobs: queue and defaults from JOBS)
 *   consumer:  jobWorker(queue, { [name]: handler, … })  (@vaultline/jobs: payload parsed, names checked)
 *              … return parseJobResult(name, result)
 *
 * Validating on both sides is deliberate: objects are stripped of unknown keys, so a field that has
 * no business in Redis (a password, a decrypted key) is dropped by the producer's parse before it
 * is stored; and the consumer rejects a job from an incompatible version with a ContractError that
 * names the job and the fields, instead of failing somewhere inside the engine.
 *
 * Payloads carry attempt-independent data only — ids the worker resolves against the database when
 * the job runs — so a retried or re-delivered job does exactly what the first attempt would have.
 * They never carry secrets in clear: writer keys and target credentials are loaded from the
 * database (sealed there with the server secret); the one password a job needs (restore) travels
 * sealed in a short-lived envelope.
 *
 * Evolving a payload: add optional fields only, and deploy consumers before producers. Unknown
 * keys are ignored, so an old worker can still run a job from a newer API during a rolling deploy.
 */
import { z } from 'zod';

import {
  errorInfoSchema,
  idSchema,
  isoTimeSchema,
  snapshotArchSchema,
  snapshotIdSchema,
  snapshotRefSchema,
  snapshotStatsSchema,
  sourceErrorSchema,
} from './common';
import { ContractError, parseWith, type ContractIssue } from './errors';
import { QUEUE_NAMES, QUEUES, type QueueName } from './queues';

const count = z.number().int().nonnegative();

/**
 * At most this many unreadable files travel in a backup result (the result is stored in Redis and
 * then in the report). `stats.errors` always has the full count, and the full list is in the
 * snapshot itself.
 */
export const UNREADABLE_LIMIT = 1000;

// ---------------------------------------------------------------------------------------------
// backup queue

export const backupRunPayloadSchema = z.object({
  runId: idSchema,
  planId: idSchema,
  serviceId: idSchema,
  targetId: idSchema,
});

/**
 * A finished backup child, successful or not. A child that fails for good (wrong writer key, hook
 * failed, target unreachable after its retries) *returns* a `failed` result rather than throwing
 * on its last attempt: the report parent reads every child's outcome from `getChildrenValues()`
 * and a failure of one service × target must not hide the others. Transient errors are thrown so
 * BullMQ retries them with backoff.
 */
export const backupRunResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    /** Mirrors the engine's SnapshotInfo fields the catalog needs. */
    snapshot: z.object({
      id: snapshotIdSchema,
      time: isoTimeSchema,
      arch: snapshotArchSchema,
      parent: snapshotIdSchema.nullable(),
    }),
    stats: snapshotStatsSchema,
    /** Files and folders that could not be read: the backup went on without them. */
    unreadable: z.array(sourceErrorSchema).max(UNREADABLE_LIMIT),
    durationMs: count,
  }),
  z.object({
    status: z.literal('failed'),
    error: errorInfoSchema,
    durationMs: count,
  }),
]);

// ---------------------------------------------------------------------------------------------
// report queue

export const RUN_STATUSES = ['success', 'partial', 'failed'] as const;

export const reportAggregatePayloadSchema = z.object({
  runId: idSchema,
  planId: idSchema,
});

export const reportAggregateResultSchema = z.object({
  status: z.enum(RUN_STATUSES),
  backupsSucceeded: count,
  backupsFailed: count,
  /** Whether the configured webhook received the report ('not-configured' without VAULTLINE_WEBHOOK_URL). */
  webhook: z.enum(['sent', 'failed', 'not-configured']),
});

// ---------------------------------------------------------------------------------------------
// restore queue

const base64url = (bytes: { min: number; max: number }) =>
  z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, { error: 'must be base64url', abort: true })
    .min(Math.ceil((bytes.min * 4) / 3), { error: `must encode at least ${bytes.min} bytes` })
    .max(Math.ceil((bytes.max * 4) / 3), { error: `must encode at most ${bytes.max} bytes` });

/**
 * The restore password on its way to the worker. Restore needs the owner's password (a writer key
 * cannot decrypt), but job data sits in Redis — in memory, in dumps and replicas, and after the job
 * ends until BullMQ removes it — so the password is never put there in clear. The API seals it with
 * AES-256-GCM under a key derived from the server secret for the purpose 'password-envelope'
 * (`sealPasswordEnvelope` in @vaultline/secrets), with the restore id and `expiresAt` bound as
 * associated data: the envelope opens only for this restore, only with the server secret, and not
 * after `expiresAt` (a worker refuses it then, PASSWORD_EXPIRED, and the user submits the password
 * again). Reading Redis alone therefore reveals nothing, and an old envelope is useless.
 */
export const passwordEnvelopeSchema = z.object({
  /** AES-256-GCM ciphertext followed by its 16-byte tag. */
  ciphertext: base64url({ min: 16 + 4, max: 16 + 4 * 1024 }),
  /** The 12-byte GCM nonce. */
  nonce: base64url({ min: 12, max: 12 }),
  expiresAt: isoTimeSchema,
});
export type PasswordEnvelope = z.output<typeof passwordEnvelopeSchema>;

export const restoreRunPayloadSchema = z.object({
  restoreId: idSchema,
  /** The plan whose repository on the target holds the snapshot (each plan has its own keys). */
  planId: idSchema,
  serviceId: idSchema,
  targetId: idSchema,
  /**
   * 'latest' is resolved by the worker under the service's lock. The API should send the id it
   * resolved from the catalog when it has one, so a retried job restores the same snapshot even if
   * a backup finished in between.
   */
  snapshot: snapshotRefSchema,
  /** Absolute path on the worker: the service's own data path or another folder. */
  destination: z
    .string()
    .max(4096)
    .refine((p) => p.startsWith('/') && !p.includes('\0'), { error: 'must be an absolute path' }),
  /** Restore a snapshot taken on another architecture (the service will need reinstalling). */
  allowCrossArch: z.boolean(),
  /** Re-read every restored file and compare it with the snapshot. */
  verify: z.boolean(),
  passwordEnvelope: passwordEnvelopeSchema,
});

/**
 * A restore's warnings as the result and the catalog keep them: the engine lists its first 100
 * and counts the rest in one more line; each is cut to RESTORE_WARNING_CHARS.
 */
export const RESTORE_WARNINGS_LIMIT = 101;
export const RESTORE_WARNING_CHARS = 1000;

export const restoreRunResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    snapshotId: snapshotIdSchema,
    /** Mirrors the engine's RestoreResult counters. */
    files: count,
    dirs: count,
    symlinks: count,
    bytes: count,
    verified: z.boolean(),
    /** The snapshot came from another architecture: warn that the service needs reinstalling. */
    crossArch: z.boolean(),
    /**
     * What the restore could not put back where the destination's file system or the worker's
     * rights do not allow it (xattrs, ACLs, owners, device nodes): the engine's first warnings and
     * a count of the rest. Absent from results of workers that predate it.
     */
    warnings: z.array(z.string().max(RESTORE_WARNING_CHARS)).max(RESTORE_WARNINGS_LIMIT).optional(),
    durationMs: count,
  }),
  z.object({
    status: z.literal('failed'),
    /** WRONG_PASSWORD, PASSWORD_EXPIRED, CROSS_ARCH_REFUSED, NOT_FOUND, … */
    error: errorInfoSchema,
    durationMs: count,
  }),
]);

// ---------------------------------------------------------------------------------------------
// maintenance queue

/** Mirrors the part of the engine's PruneResult the catalog and the plan log show. */
export const pruneSummarySchema = z.object({
  packsDeleted: count,
  packsRepacked: count,
  /** Partly used packs a writer key cannot repack: their space returns on a prune with the password. */
  packsNeedingPassword: count,
  bytesFreed: count,
});

/**
 * Why a maintenance job did nothing (and still succeeded): the plan was deleted or is being deleted
 * (retention only), it has no retention rule, or it no longer uses the target (a retried job whose
 * first attempt finished, or a target detached while the job waited).
 */
export const MAINTENANCE_SKIP_REASONS = ['PLAN_DELETED', 'NO_RETENTION', 'NOT_ON_TARGET'] as const;

const maintenanceResultSchema = z.object({
  /** Set when the job had nothing to do; the counts are then 0. Absent when it ran. */
  skipped: z.enum(MAINTENANCE_SKIP_REASONS).optional(),
  /** Snapshots forgotten, so the catalog can drop them. */
  forgotten: z.array(snapshotIdSchema).max(100_000),
  kept: count,
  prune: pruneSummarySchema,
  durationMs: count,
});

/**
 * forget + prune of one plan on one target, with the plan's retention policy as it is when the job
 * runs (read from the database: a policy edited while the job waited applies).
 */
export const maintenanceRetentionPayloadSchema = z.object({
  planId: idSchema,
  targetId: idSchema,
});

/**
 * Removes every snapshot of a deleted plan from one target, then prunes. One job per target, so an
 * unreachable target is retried on its own; the plan's row (and its sealed writer key) must stay,
 * marked as deleting, until every target's job has succeeded.
 */
export const maintenanceDeletePlanPayloadSchema = z.object({
  planId: idSchema,
  targetId: idSchema,
});

/**
 * Rebuilds the snapshot catalog of one plan on one target from its repository — the repository is
 * the truth: every snapshot of the plan found there gets its catalog row (created or corrected),
 * and catalog rows of snapshots no longer there are removed. Needs only the writer key (snapshot
 * headers are readable with it).
 */
export const maintenanceSyncCatalogPayloadSchema = z.object({
  planId: idSchema,
  targetId: idSchema,
});

export const maintenanceSyncCatalogResultSchema = z.object({
  /** Snapshots of the plan found in the repository. */
  found: count,
  /** Catalog rows created (missing before). */
  added: count,
  /** Catalog rows removed (their snapshot is not in the repository). */
  removed: count,
  durationMs: count,
});

/** At most this many check errors travel in a verify result and its catalog row. */
export const VERIFY_ERRORS_LIMIT = 100;
export const VERIFY_KINDS = ['scheduled', 'deep'] as const;

/**
 * Verifies the plan's repository on every target (one verifications row per target). `scheduled`
 * (the plan's verify scheduler, or on demand without a password) opens with the writer key and
 * re-hashes the packs of the next slice of the rotation; the share is the plan's unless `percent`
 * is given. `deep` (on demand with the password) opens with the password and decrypts and
 * authenticates every blob of every pack; the password travels sealed like a restore's, bound to
 * `requestId` (a fresh id per request), and is never stored.
 */
export const maintenanceVerifyPayloadSchema = z.discriminatedUnion('kind', [
  z.object({
    planId: idSchema,
    kind: z.literal('scheduled'),
    percent: z.number().int().min(1).max(100).optional(),
  }),
  z.object({
    planId: idSchema,
    kind: z.literal('deep'),
    requestId: idSchema,
    passwordEnvelope: passwordEnvelopeSchema,
  }),
]);

export const maintenanceVerifyResultSchema = z.object({
  /** A scheduler firing a moment after the plan was paused or verification turned off. */
  skipped: z.enum(['PLAN_DELETED', 'PLAN_PAUSED', 'VERIFY_OFF']).optional(),
  targets: z
    .array(
      z.object({
        targetId: idSchema,
        ok: z.boolean(),
        packsRead: count,
        packsTotal: count,
        errors: z.array(z.string().max(1000)).max(VERIFY_ERRORS_LIMIT),
      }),
    )
    .max(1000),
  durationMs: count,
});

// ---------------------------------------------------------------------------------------------
// schedule queue

/** The template of a plan's job scheduler: fixed data, so only the plan id. */
export const scheduleRunPayloadSchema = z.object({
  planId: idSchema,
});

export const scheduleRunResultSchema = z.discriminatedUnion('outcome', [
  z.object({ outcome: z.literal('started'), runId: idSchema }),
  z.object({
    outcome: z.literal('skipped'),
    /** A scheduler removed a moment too late, or the previous run of the plan is still going. */
    reason: z.enum(['PLAN_PAUSED', 'PLAN_DELETED', 'RUN_IN_PROGRESS']),
  }),
]);

// ---------------------------------------------------------------------------------------------
// The registry

/**
 * The BullMQ options a job is added with unless its producer overrides one (the subset the fleet
 * uses; @vaultline/jobs passes them to BullMQ as they are). Kept here, beside the queue, so every
 * producer of a job retries it the same way.
 */
export interface JobDefaults {
  readonly attempts?: number;
  readonly backoff?: { readonly type: 'exponential' | 'fixed'; readonly delay: number };
  /** Gone once done, so the same job id can be queued again. */
  readonly removeOnComplete?: boolean;
  /** A flow child that fails for good is moved to its parent's failed dependencies, not blocking it. */
  readonly ignoreDependencyOnFailure?: boolean;
}

interface JobDefinition {
  readonly queue: QueueName;
  readonly payload: z.ZodType;
  readonly result: z.ZodType;
  readonly defaults: JobDefaults;
}

/**
 * Job name → queue, payload schema, result schema. A job's name starts with its queue's name.
 * See queues.ts before renaming anything here.
 */
export const JOBS = Object.freeze({
  /**
   * A backup child (docs/worker.md): transient failures (an unreachable target, a locked
   * repository) get 4 attempts with exponential backoff; the API sets the delay from
   * BACKUP_RETRY_DELAY_MS. A child that fails for good must not withhold its run's report.
   */
  'backup.run': {
    queue: QUEUES.backup,
    payload: backupRunPayloadSchema,
    result: backupRunResultSchema,
    defaults: {
      attempts: 4,
      backoff: { type: 'exponential', delay: 30_000 },
      ignoreDependencyOnFailure: true,
    },
  },
  /**
   * A run's flow parent: its processing is idempotent (apps/report), so a brief Postgres or Redis
   * failure while it writes is simply retried instead of leaving the run open for the reaper.
   */
  'report.aggregate': {
    queue: QUEUES.report,
    payload: reportAggregatePayloadSchema,
    result: reportAggregateResultSchema,
    defaults: { attempts: 8, backoff: { type: 'exponential', delay: 2_000 } },
  },
  /**
   * Transient failures (target unreachable, repository locked by a prune) are retried; the
   * password envelope outlives the backoffs by far (30 min).
   */
  'restore.run': {
    queue: QUEUES.restore,
    payload: restoreRunPayloadSchema,
    result: restoreRunResultSchema,
    defaults: { attempts: 3, backoff: { type: 'exponential', delay: 10_000 } },
  },
  /** Retention after a run: forget + prune per target (docs/report.md). */
  'maintenance.retention': {
    queue: QUEUES.maintenance,
    payload: maintenanceRetentionPayloadSchema,
    result: maintenanceResultSchema,
    defaults: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 } },
  },
  /** Retried longer: the plan's row (and its writer key) stays until every target's job succeeded. */
  'maintenance.deletePlan': {
    queue: QUEUES.maintenance,
    payload: maintenanceDeletePlanPayloadSchema,
    result: maintenanceResultSchema,
    defaults: { attempts: 5, backoff: { type: 'exponential', delay: 60_000 } },
  },
  /** Gone once done, so the next request can queue it again; failures stay to be seen. */
  'maintenance.syncCatalog': {
    queue: QUEUES.maintenance,
    payload: maintenanceSyncCatalogPayloadSchema,
    result: maintenanceSyncCatalogResultSchema,
    defaults: { attempts: 3, backoff: { type: 'exponential', delay: 10_000 }, removeOnComplete: true },
  },
  /** Added by the plans' verify schedulers; a failure (target unreachable) is retried. */
  'maintenance.verify': {
    queue: QUEUES.maintenance,
    payload: maintenanceVerifyPayloadSchema,
    result: maintenanceVerifyResultSchema,
    defaults: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 } },
  },
  /** Added by the plans' job schedulers, with the template's options only. */
  'schedule.run': {
    queue: QUEUES.schedule,
    payload: scheduleRunPayloadSchema,
    result: scheduleRunResultSchema,
    defaults: {},
  },
} as const satisfies Record<string, JobDefinition>);

type Jobs = typeof JOBS;
export type JobName = keyof Jobs;
/** What a consumer gets from `parseJobPayload` (and what a producer passes to `queue.add`). */
export type JobPayload<N extends JobName> = z.output<Jobs[N]['payload']>;
export type JobResult<N extends JobName> = z.output<Jobs[N]['result']>;
/** The queue a job goes to. */
export type JobQueue<N extends JobName> = Jobs[N]['queue'];
/** The job names of one queue: e.g. for BullMQ's `Worker<DataType, ResultType, NameType>`. */
export type JobsOfQueue<Q extends QueueName> = {
  [N in JobName]: Jobs[N]['queue'] extends Q ? N : never;
}[JobName];

export const JOB_NAMES: readonly JobName[] = Object.freeze(Object.keys(JOBS) as JobName[]);

export function isJobName(name: string): name is JobName {
  return Object.hasOwn(JOBS, name);
}

function definition(name: string): JobDefinition {
  if (!isJobName(name))
    throw new ContractError('UNKNOWN_NAME', `job ${name}`, [], 'no such job in @vaultline/contracts');
  return JOBS[name];
}

export function jobsOfQueue<Q extends QueueName>(queue: Q): JobsOfQueue<Q>[] {
  return JOB_NAMES.filter((n): n is JobsOfQueue<Q> => JOBS[n].queue === queue);
}

/**
 * Validates a job's data. Throws ContractError INVALID_JOB_PAYLOAD naming the job and every invalid
 * field, or UNKNOWN_NAME for a job this version does not know (a consumer holding an untyped
 * `job.name` narrows it with isJobName first; the runtime check covers casts and plain JS).
 */
export function parseJobPayload<N extends JobName>(name: N, data: unknown): JobPayload<N> {
  // The schema of JOBS[N] produces JobPayload<N>; TypeScript cannot follow a generic index here.
  return parseWith(
    definition(name).payload,
    data,
    'INVALID_JOB_PAYLOAD',
    `job ${name} payload`,
  ) as JobPayload<N>;
}

/** Validates a job's return value (the consumer before returning it, the parent when reading children). */
export function parseJobResult<N extends JobName>(name: N, data: unknown): JobResult<N> {
  return parseWith(definition(name).result, data, 'INVALID_JOB_RESULT', `job ${name} result`) as JobResult<N>;
}

/**
 * Startup check of one process: `names` are the job names it registered a handler for (one entry
 * per handler), `queues` the queues it consumes (default: all). Throws ContractError
 * HANDLERS_MISMATCH listing every job of those queues without a handler, every job with more than
 * one, and every handler for a name that is not a job of those queues — a job nobody handles would
 * wait forever, and two handlers means one of them silently never runs.
 */
export function assertHandlers(names: readonly string[], queues: readonly QueueName[] = QUEUE_NAMES): void {
  const expected = JOB_NAMES.filter((n) => queues.includes(JOBS[n].queue));
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  const issues: ContractIssue[] = [];
  for (const n of expected) {
    const c = counts.get(n) ?? 0;
    if (c === 0) issues.push({ path: n, message: 'has no handler' });
    else if (c > 1) issues.push({ path: n, message: `has ${c} handlers` });
  }
  for (const n of counts.keys()) {
    if ((expected as readonly string[]).includes(n)) continue;
    issues.push({
      path: n,
      message: isJobName(n)
        ? `is a job of queue ${JOBS[n].queue}, which this process does not consume`
        : 'is not a job',
    });
  }
  if (issues.length)
    throw new ContractError('HANDLERS_MISMATCH', `job handlers for ${queues.join(', ')}`, issues);
}
