/**
 * Live events: workers publish them through @nestjs/microservices (Redis transport) with
 * `client.emit(name, payload)`; the API relays them as Server-Sent Events and the report service
 * consumes them with `@EventPattern(name)`. An event name is a Redis pub/sub channel, so the rule of
 * queues.ts applies: never rename one in place.
 *
 * Events are for the living: pub/sub delivers only to who is listening, and a process that was down
 * missed them. Nothing may depend on them for correctness — the report is built from the jobs'
 * results (BullMQ, durable), and events only make progress visible while a run is going.
 *
 * Every payload says when it happened (`at`, the publisher's clock) and which run or restore and
 * which service × target it is about, so an SSE stream can be filtered without a lookup.
 */
import { z } from 'zod';

import {
  errorInfoSchema,
  idSchema,
  isoTimeSchema,
  progressSchema,
  snapshotIdSchema,
  snapshotStatsSchema,
} from './common';
import { ContractError, parseWith } from './errors';
import { RUN_STATUSES } from './jobs';

const count = z.number().int().nonnegative();

const backupRef = {
  at: isoTimeSchema,
  runId: idSchema,
  planId: idSchema,
  serviceId: idSchema,
  targetId: idSchema,
};

const restoreRef = {
  at: isoTimeSchema,
  restoreId: idSchema,
  serviceId: idSchema,
  targetId: idSchema,
};

/** Live progress over Redis: counters only, never a file name. */
const liveProgressSchema = progressSchema.omit({ current: true });

export const EVENTS = Object.freeze({
  /** A run's flow was enqueued (by the API, or the schedule consumer): `backups` service × target children. */
  'run.started': z.object({
    at: isoTimeSchema,
    runId: idSchema,
    planId: idSchema,
    trigger: z.enum(['schedule', 'manual']),
    backups: count,
  }),
  /** A worker took a backup child (after the service lock and the pre-hook). `attempt` starts at 1. */
  'backup.started': z.object({ ...backupRef, attempt: z.number().int().positive() }),
  /** Mirrors the engine's Progress, throttled by the engine (one event per 250 ms at most). */
  'backup.progress': z.object({ ...backupRef, progress: liveProgressSchema }),
  'backup.finished': z.object({
    ...backupRef,
    snapshotId: snapshotIdSchema,
    stats: snapshotStatsSchema,
    /** How many files could not be read (the list is in the job result and the report). */
    unreadable: count,
    durationMs: count,
  }),
  /**
   * An attempt failed. `willRetry` tells a listener whether this is final: a transient failure is
   * retried with backoff and may still end in backup.finished.
   */
  'backup.failed': z.object({
    ...backupRef,
    error: errorInfoSchema,
    attempt: z.number().int().positive(),
    willRetry: z.boolean(),
  }),
  /** The report service has written the run's report. */
  'run.finished': z.object({
    at: isoTimeSchema,
    runId: idSchema,
    planId: idSchema,
    status: z.enum(RUN_STATUSES),
    durationMs: count,
  }),
  'restore.progress': z.object({ ...restoreRef, progress: liveProgressSchema }),
  'restore.finished': z.object({
    ...restoreRef,
    snapshotId: snapshotIdSchema,
    files: count,
    bytes: count,
    verified: z.boolean(),
    crossArch: z.boolean(),
    durationMs: count,
  }),
  'restore.failed': z.object({ ...restoreRef, error: errorInfoSchema, willRetry: z.boolean() }),
} as const satisfies Record<string, z.ZodType>);

type Events = typeof EVENTS;
export type EventName = keyof Events;
export type EventPayload<N extends EventName> = z.output<Events[N]>;

export const EVENT_NAMES: readonly EventName[] = Object.freeze(Object.keys(EVENTS) as EventName[]);

export function isEventName(name: string): name is EventName {
  return Object.hasOwn(EVENTS, name);
}

/**
 * Validates an event's payload (the publisher before emitting, each handler on receipt). Throws
 * ContractError INVALID_EVENT_PAYLOAD naming the event and the fields, or UNKNOWN_NAME.
 */
export function parseEventPayload<N extends EventName>(name: N, data: unknown): EventPayload<N> {
  const key: string = name; // callers may pass any string they received (an untyped emit)
  if (!isEventName(key)) {
    throw new ContractError('UNKNOWN_NAME', `event ${key}`, [], 'no such event in @vaultline/contracts');
  }
  // The schema of EVENTS[N] produces EventPayload<N>; TypeScript cannot follow a generic index here.
  return parseWith(EVENTS[name], data, 'INVALID_EVENT_PAYLOAD', `event ${name}`) as EventPayload<N>;
}
