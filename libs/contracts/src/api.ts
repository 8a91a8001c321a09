/**
 * The HTTP API's responses: what every route answers with a 2xx, and the one error body of every
 * other answer. The API documents its routes with these schemas (OpenAPI components, one per
 * `API_SCHEMAS` entry, referenced by `$ref`), its integration tests validate every real response
 * against them, and the typed client (libs/api-client) is generated from that document: a field
 * that changes here changes all three.
 *
 * Objects are strict: a field a view grows without the contract saying so is a drift, and the
 * response check (apps/api/src/common/response-contract.ts) reports it.
 *
 * Evolving it: add fields (clients ignore what they do not know); never rename or retype one.
 */
import { z } from 'zod';

import {
  architectureSchema,
  idSchema,
  isoTimeSchema,
  placementSchema,
  snapshotArchSchema,
  snapshotIdSchema,
} from './common';
import { retentionPolicySchema, scheduleSchema, verifySettingsSchema } from './dto';
import { dumpSourcesSchema } from './dumps';
import { hookSchema } from './hooks';
import { reportSummarySchema } from './report';

const count = z.number().int().nonnegative();
const time = isoTimeSchema;
const nullableTime = isoTimeSchema.nullable();

// ---------------------------------------------------------------------------------------------
// Errors

/**
 * The API's stable error codes. Clients branch on these, never on messages, so a code is never
 * renamed; the HTTP status of each lives in one table (apps/api error.filter.ts STATUS_OF).
 */
export const API_ERROR_CODES = [
  'VALIDATION_FAILED',
  'UNAUTHORIZED',
  'NOT_FOUND',
  'CONFLICT',
  /** The password given does not open the plan's repository (restore, password change, deep verify). */
  'WRONG_PASSWORD',
  /** A restore across architectures without `allowCrossArch` (the service would need reinstalling). */
  'CROSS_ARCH',
  /** A request signed in by the session cookie that changes something, without the right X-CSRF-Token. */
  'CSRF',
  /** Too many failed sign-ins from this address or for this name: wait `Retry-After` seconds. */
  'RATE_LIMITED',
  /** A dependency (the database, Redis, a target) is down: retry later; health checks answer this. */
  'UNAVAILABLE',
  'INTERNAL',
] as const;
export type ApiErrorCode = (typeof API_ERROR_CODES)[number];
export const apiErrorCodeSchema = z.enum(API_ERROR_CODES);

export const errorBodySchema = z.strictObject({
  error: z.strictObject({
    code: apiErrorCodeSchema,
    message: z.string(),
    /** Every invalid field (dotted path, `[i]` for array indices) and why. */
    fields: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
    /** Only on INTERNAL: the request id, to quote to the operator (it is in every log line). */
    correlationId: z.string().optional(),
  }),
});
export type ErrorBody = z.output<typeof errorBodySchema>;

// ---------------------------------------------------------------------------------------------
// Shared pieces

export const TARGET_KINDS = ['local', 'network', 's3'] as const;
export const SERVICE_STATES = ['idle', 'backing_up', 'restoring'] as const;
/** One unit of worker work (a backup, a restore, a verification). */
export const JOB_STATUSES = ['queued', 'running', 'success', 'failed'] as const;
export const RUN_STATES = ['queued', 'running', 'success', 'partial', 'failed'] as const;
export const RUN_TRIGGERS = ['schedule', 'manual'] as const;

/** A keyset-paginated list: pass `nextCursor` as `cursor` for the next page (null on the last). */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), nextCursor: z.string().nullable() });
}

// ---------------------------------------------------------------------------------------------
// Health

export const healthViewSchema = z.strictObject({ status: z.literal('ok'), db: z.literal('ok') });

// ---------------------------------------------------------------------------------------------
// Services

export const serviceViewSchema = z.strictObject({
  id: idSchema,
  name: z.string(),
  dataPath: z.string(),
  excludes: z.array(z.string()),
  arch: architectureSchema,
  preHook: hookSchema.nullable(),
  postHook: hookSchema.nullable(),
  /**
   * Where the data lives: a node name, or a node label `key=value` (its jobs go to the workers on
   * that node, or with that label in NODE_LABELS); null: any worker.
   */
  node: placementSchema.nullable(),
  /** Commands whose output is stored as a file of each snapshot (database dumps). */
  dumps: dumpSourcesSchema,
  /** A service that is backing up (or being restored) is unavailable meanwhile. */
  state: z.enum(SERVICE_STATES),
  createdAt: time,
  updatedAt: time,
});
export type ServiceView = z.output<typeof serviceViewSchema>;

export const freshnessEntryViewSchema = z.strictObject({
  planId: idSchema,
  planName: z.string(),
  frequency: z.enum(['daily', 'weekly']),
  /** A paused plan makes no scheduled backups: flagged here, never counted as overdue. */
  paused: z.boolean(),
  targetId: idSchema,
  targetName: z.string(),
  /** Newest successful backup of the service to this target by this plan; null before the first. */
  lastSuccessAt: nullableTime,
  expectedIntervalHours: z.number().nonnegative(),
  /** Without a new success by then, the backup is overdue. */
  dueBy: time,
  overdue: z.boolean(),
});

export const freshnessViewSchema = z.strictObject({
  serviceId: idSchema,
  serviceName: z.string(),
  state: z.enum(SERVICE_STATES),
  /** Whether any entry is overdue. */
  overdue: z.boolean(),
  checkedAt: time,
  /** Per plan × target covering the service. */
  entries: z.array(freshnessEntryViewSchema),
});
export type FreshnessView = z.output<typeof freshnessViewSchema>;

// ---------------------------------------------------------------------------------------------
// Targets

/** The S3 secret is never part of a response: only whether one is stored. */
export const targetViewSchema = z.strictObject({
  id: idSchema,
  name: z.string(),
  kind: z.enum(TARGET_KINDS),
  path: z.string().nullable(),
  s3Endpoint: z.string().nullable(),
  s3Bucket: z.string().nullable(),
  s3Prefix: z.string().nullable(),
  s3Region: z.string().nullable(),
  s3AccessKey: z.string().nullable(),
  hasSecret: z.boolean(),
  createdAt: time,
  updatedAt: time,
});
export type TargetView = z.output<typeof targetViewSchema>;

/** A target's reachability test: failures are a result (200), not an error. */
export const probeResultSchema = z.strictObject({
  reachable: z.boolean(),
  writable: z.boolean(),
  /** Free bytes where the backend can tell (filesystems); S3 cannot. */
  freeBytes: count.nullable(),
  /** Why it is unreachable or not writable: a storage error code (UNREACHABLE, READ_ONLY, …). */
  error: z.strictObject({ code: z.string(), message: z.string() }).optional(),
  /**
   * A folder target's file system as the kernel names it (statfs): ext4, xfs, btrfs, vfat, exfat,
   * nfs, cifs, fuseblk, tmpfs, zfs, overlay, or `0x…` for one this list does not know; absent for S3.
   * The UI warns on vfat/exfat (FAT32 and exFAT are not recommended for backups).
   */
  fsType: z.string().optional(),
});
export type ProbeResult = z.output<typeof probeResultSchema>;

// ---------------------------------------------------------------------------------------------
// Plans

export const PLAN_STATES = ['active', 'paused', 'deleting'] as const;
export type PlanState = (typeof PLAN_STATES)[number];

/** A plan's target as the API shows it: where its repository is, never its writer key. */
export const planTargetViewSchema = z.strictObject({
  id: idSchema,
  name: z.string(),
  kind: z.enum(TARGET_KINDS),
  repoId: z.string(),
  repoLocation: z.string(),
  /** Sum of the catalogued snapshots' bytesAdded: the space this plan added to the target. */
  sizeBytes: count,
  /** Snapshots of the plan catalogued on this target (what retention kept). */
  snapshotCount: count,
  /** The newest successful backup to this target; null before the first. */
  lastSuccessAt: nullableTime,
});

export const planViewSchema = z.strictObject({
  id: idSchema,
  name: z.string(),
  /** active: backs up on schedule; paused: only on demand; deleting: its snapshots are being removed. */
  state: z.enum(PLAN_STATES),
  schedule: scheduleSchema,
  retention: retentionPolicySchema,
  verify: verifySettingsSchema,
  paused: z.boolean(),
  /** When deletion was asked for; null unless `state` is deleting. */
  deletedAt: nullableTime,
  targets: z.array(planTargetViewSchema),
  services: z.array(z.strictObject({ id: idSchema, name: z.string() })),
  createdAt: time,
  updatedAt: time,
});
export type PlanView = z.output<typeof planViewSchema>;

export const catalogSyncViewSchema = z.strictObject({ planId: idSchema, targetIds: z.array(idSchema) });

export const passwordChangeViewSchema = z.strictObject({
  planId: idSchema,
  /**
   * `oldKeyRemoved` false: the old password still opens that target too (repeat the change to
   * finish it); `alreadyChanged`: the new password already opened it (a repeated request).
   */
  targets: z.array(
    z.strictObject({
      id: idSchema,
      name: z.string(),
      oldKeyRemoved: z.boolean(),
      alreadyChanged: z.boolean(),
    }),
  ),
});
export type PasswordChangeView = z.output<typeof passwordChangeViewSchema>;

export const verifyQueuedViewSchema = z.strictObject({
  planId: idSchema,
  jobId: z.string(),
  kind: z.enum(['scheduled', 'deep']),
});

export const snapshotViewSchema = z.strictObject({
  id: snapshotIdSchema,
  time,
  serviceId: idSchema.nullable(),
  serviceName: z.string().nullable(),
  targetId: idSchema,
  targetName: z.string(),
  runId: idSchema.nullable(),
  arch: snapshotArchSchema,
  /** Size of the service's data in the snapshot. */
  totalBytes: count,
  /** New data this snapshot added to the repository. */
  bytesAdded: count,
  files: count,
  /** partial: some files could not be read and the backup went on without them (`unreadable`). */
  status: z.enum(['success', 'partial']),
  unreadable: count,
});
export type SnapshotView = z.output<typeof snapshotViewSchema>;

export const verificationViewSchema = z.strictObject({
  id: idSchema,
  targetId: idSchema,
  targetName: z.string(),
  /** scheduled: writer key, a slice of the packs re-hashed; deep: every blob decrypted (password). */
  kind: z.enum(['scheduled', 'deep']),
  /** success: the check ran (see `ok`); failed: it could not run (see `errors`). */
  status: z.enum(JOB_STATUSES),
  /** The rotation's slice read (index of count); null for a deep verify. */
  slice: z.strictObject({ index: count, count: z.number().int().positive() }).nullable(),
  packsRead: count,
  packsTotal: count,
  /** What the check found (at most 100); empty when ok. */
  errors: z.array(z.string()),
  /** Null while running. */
  ok: z.boolean().nullable(),
  startedAt: time,
  finishedAt: nullableTime,
});
export type VerificationView = z.output<typeof verificationViewSchema>;

/** One entry of a snapshot's folder (POST /v1/snapshots/:id/tree). */
export const snapshotEntryViewSchema = z.strictObject({
  /** The name; when its bytes are not valid UTF-8, a rendering for display and `nameB64` holds them. */
  name: z.string(),
  /** base64 of the name's bytes, only when they are not valid UTF-8 (send it back in `pathB64`). */
  nameB64: z.string().optional(),
  /** other: a FIFO, socket or device node (listed, not downloadable). */
  type: z.enum(['file', 'dir', 'symlink', 'other']),
  /** Bytes of a file; 0 for everything else. */
  size: count,
  mtime: time,
  /** Permission bits (setuid, setgid, sticky included). */
  mode: count,
});

export const snapshotTreeViewSchema = z.strictObject({
  /** The folder listed, absolute inside the snapshot (`/` the root). */
  path: z.string(),
  /** base64 of the path's bytes, only when they are not valid UTF-8. */
  pathB64: z.string().optional(),
  /** In the snapshot's order (by name bytes). */
  entries: z.array(snapshotEntryViewSchema),
});
export type SnapshotTreeView = z.output<typeof snapshotTreeViewSchema>;
export type SnapshotEntryView = z.output<typeof snapshotEntryViewSchema>;

// ---------------------------------------------------------------------------------------------
// Runs

export const runSummaryViewSchema = z.strictObject({
  id: idSchema,
  planId: idSchema,
  trigger: z.enum(RUN_TRIGGERS),
  status: z.enum(RUN_STATES),
  queuedAt: time,
  startedAt: nullableTime,
  finishedAt: nullableTime,
});
export type RunSummaryView = z.output<typeof runSummaryViewSchema>;

/** One service × target backup of a run; a running one shows the worker's latest progress. */
export const serviceBackupViewSchema = z.strictObject({
  serviceId: idSchema,
  serviceName: z.string(),
  targetId: idSchema,
  targetName: z.string(),
  status: z.enum(JOB_STATUSES),
  snapshotId: snapshotIdSchema.nullable(),
  totalBytes: count,
  bytesRead: count,
  bytesAdded: count,
  files: count,
  error: z.string().nullable(),
  attempts: count,
  startedAt: nullableTime,
  finishedAt: nullableTime,
  durationMs: count.nullable(),
});

export const runViewSchema = z.strictObject({
  ...runSummaryViewSchema.shape,
  backups: z.array(serviceBackupViewSchema),
});
export type RunView = z.output<typeof runViewSchema>;

/** What the report service stored once every backup of the run had finished. */
export const reportViewSchema = z.strictObject({
  runId: idSchema,
  status: z.enum(['success', 'partial', 'failed']),
  /** The report as posted to the webhook: per service × target results, errors, sizes, durations. */
  summary: reportSummarySchema,
  createdAt: time,
  /** Null when no webhook is configured. */
  webhookStatus: z.enum(['pending', 'delivered', 'failed']).nullable(),
  notifiedAt: nullableTime,
});
export type ReportView = z.output<typeof reportViewSchema>;

// ---------------------------------------------------------------------------------------------
// Restores

export const restoreViewSchema = z.strictObject({
  id: idSchema,
  serviceId: idSchema,
  serviceName: z.string(),
  snapshotId: snapshotIdSchema,
  targetId: idSchema,
  targetName: z.string(),
  /** Folder restored into (on the worker). */
  destination: z.string(),
  status: z.enum(JOB_STATUSES),
  /** `<CODE>: <message>` when failed. */
  error: z.string().nullable(),
  /** The snapshot came from another architecture and the user consented. */
  crossArch: z.boolean(),
  /**
   * Things the user should know: that a cross-architecture restore needs a reinstall, and, once
   * it succeeded, what it could not put back (xattrs, ACLs, owners, device nodes the destination
   * or the worker's rights do not allow).
   */
  warnings: z.array(z.string()),
  /** The node whose workers take this restore (the service's node when it was queued), or null. */
  node: placementSchema.nullable(),
  queuedAt: time,
  startedAt: nullableTime,
  finishedAt: nullableTime,
});
export type RestoreView = z.output<typeof restoreViewSchema>;

// ---------------------------------------------------------------------------------------------
// Session (web UI sign-in)

export const sessionViewSchema = z.strictObject({
  user: z.strictObject({ name: z.string() }),
  /** Send it as `X-CSRF-Token` with every request that is not GET or HEAD. */
  csrfToken: z.string(),
  /** When the session ends if it is not used again: the idle timeout or the absolute end, the sooner. */
  expiresAt: time,
});
export type SessionView = z.output<typeof sessionViewSchema>;

// ---------------------------------------------------------------------------------------------
// The named components

/**
 * Every response schema by its OpenAPI component name. A schema used inside another (PlanView in
 * a list, ServiceBackupView in RunView) is referenced, not copied, wherever it is listed here.
 */
export const API_SCHEMAS = {
  ErrorBody: errorBodySchema,
  HealthView: healthViewSchema,
  ServiceView: serviceViewSchema,
  FreshnessEntryView: freshnessEntryViewSchema,
  FreshnessView: freshnessViewSchema,
  TargetView: targetViewSchema,
  ProbeResult: probeResultSchema,
  PlanTargetView: planTargetViewSchema,
  PlanView: planViewSchema,
  CatalogSyncView: catalogSyncViewSchema,
  PasswordChangeView: passwordChangeViewSchema,
  VerifyQueuedView: verifyQueuedViewSchema,
  SnapshotView: snapshotViewSchema,
  SnapshotPage: pageSchema(snapshotViewSchema),
  SnapshotEntryView: snapshotEntryViewSchema,
  SnapshotTreeView: snapshotTreeViewSchema,
  VerificationView: verificationViewSchema,
  VerificationPage: pageSchema(verificationViewSchema),
  RunSummaryView: runSummaryViewSchema,
  RunSummaryPage: pageSchema(runSummaryViewSchema),
  ServiceBackupView: serviceBackupViewSchema,
  RunView: runViewSchema,
  ReportSummary: reportSummarySchema,
  ReportView: reportViewSchema,
  RestoreView: restoreViewSchema,
  SessionView: sessionViewSchema,
  Schedule: scheduleSchema,
  RetentionPolicy: retentionPolicySchema,
  VerifySettings: verifySettingsSchema,
  Hook: hookSchema,
} as const satisfies Record<string, z.ZodType>;
export type ApiSchemaName = keyof typeof API_SCHEMAS;
