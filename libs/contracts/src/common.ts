/**
 * Building blocks shared by job payloads, results and events. Everything here is JSON-shaped
 * (strings, numbers, booleans, arrays, plain objects): BullMQ stores job data and return values as
 * JSON in Redis and the Redis transport of @nestjs/microservices sends events as JSON, so a Date or
 * a Buffer would not survive the trip. Times are ISO 8601 strings in UTC.
 *
 * The engine types mirrored here (Progress, SnapshotStats, SourceError, the snapshot header's
 * fields) are not imported: contracts is a `type:util` library and may not depend on the engine.
 * `test/contracts/engine-mirror.test.ts` fails the build if the two drift apart.
 */
import { z } from 'zod';

import { isPlacement, NODE_NAME_RE } from './queues';

/**
 * Ids of database rows (plans, services, targets, runs, restores). The id strategy (uuid, cuid…)
 * is the database's choice; the contract only requires ids that are safe inside BullMQ job ids
 * (which may not contain ':'), Redis keys, lock names and log lines.
 */
export const idSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: 'must be 1-64 letters, digits, _ or -' });
export type Id = z.output<typeof idSchema>;

/** A snapshot id as the engine names it: BLAKE3 of the snapshot file, 64 lowercase hex digits. */
export const snapshotIdSchema = z
  .string()
  .regex(/^[0-9a-f]{64}$/, { error: 'must be a snapshot id (64 lowercase hex digits)' });

/**
 * Which snapshot to restore: a full id, or 'latest' (of that service on that target). The engine
 * also accepts id prefixes; jobs do not, so that a job names its snapshot unambiguously.
 */
export const snapshotRefSchema = z
  .string()
  .regex(/^(latest|[0-9a-f]{64})$/, { error: "must be 'latest' or a snapshot id (64 lowercase hex digits)" });

/** A Kubernetes node name. */
export const nodeNameSchema = z.string().regex(NODE_NAME_RE, {
  error: 'must be a node name (lowercase letters, digits, - and ., at most 253 characters)',
});

/** Where a service's data lives: a node name, or one node label `key=value` (its jobs go there). */
export const placementSchema = z.string().refine(isPlacement, {
  error: 'must be a node name (lowercase letters, digits, - and .) or a node label key=value',
});

export const isoTimeSchema = z.iso.datetime({ error: 'must be an ISO 8601 UTC time (…Z)' });

/** Architectures a service can declare (a restore across them is refused unless asked for). */
export const ARCHITECTURES = ['x86_64', 'arm64', 'riscv64'] as const;
export const architectureSchema = z.enum(ARCHITECTURES);
export type Architecture = z.output<typeof architectureSchema>;

/** What a snapshot header records: the engine maps anything it does not know to 'other'. */
export const snapshotArchSchema = z.enum([...ARCHITECTURES, 'other']);

const count = z.number().int().nonnegative();

/** Mirrors the engine's `Progress` (backup.ts): what `onProgress` reports, at most every 250 ms. */
export const progressSchema = z.object({
  phase: z.enum(['scan', 'backup', 'restore', 'done']),
  filesDone: count,
  filesTotal: count,
  bytesDone: count,
  bytesTotal: count,
  /** The file being worked on; the fleet's workers leave it out (file names stay off Redis). */
  current: z.string().optional(),
});
export type Progress = z.output<typeof progressSchema>;

/** Mirrors the engine's `SnapshotStats` (snapshot.ts), as stored in the snapshot header. */
export const snapshotStatsSchema = z.object({
  files: count,
  dirs: count,
  totalBytes: count,
  bytesRead: count,
  bytesAdded: count,
  blobsAdded: count,
  filesNew: count,
  filesChanged: count,
  filesUnmodified: count,
  errors: count,
  durationMs: count,
});
export type SnapshotStats = z.output<typeof snapshotStatsSchema>;

/** Mirrors the engine's `SourceError`: a file or folder the backup could not read (it goes on without it). */
export const sourceErrorSchema = z.object({
  path: z.string(),
  error: z.string(),
});
export type SourceError = z.output<typeof sourceErrorSchema>;

/**
 * Why something failed, as the report and the API show it. `code` is a stable upper-case code: an
 * EngineError or StorageError code (WRONG_PASSWORD, UNREACHABLE, FULL, LOCKED, …) or one the worker
 * adds (HOOK_FAILED, PASSWORD_EXPIRED, INTERNAL). The message is the one-line message of those
 * errors, which by their own contract never contains a password, key or S3 secret.
 */
export const errorInfoSchema = z.object({
  code: z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, { error: 'must be an UPPER_SNAKE_CASE code' }),
  message: z.string().max(2000),
});
export type ErrorInfo = z.output<typeof errorInfoSchema>;
