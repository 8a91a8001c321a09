/**
 * The per-service lock: a service is never backed up or restored by two jobs at once,
 * across every worker process of the fleet; other services go on in parallel.
 *
 * One Redis key per service (`<QUEUE_PREFIX>:lock:service:<serviceId>`) holding a random token:
 * - acquire: `SET key token NX PX ttl` — atomic, and the TTL frees the lock of a worker that died
 *   without releasing it (kill -9, lost pod), so a lock can never be held forever;
 * - renew: every ttl/3, a Lua compare-and-PEXPIRE: only the holder of the token extends it;
 * - release: a Lua compare-and-DEL, so a holder whose lock already expired (and was taken by
 *   another job) never deletes the new holder's lock.
 *
 * If a renewal finds the token gone (expired during a long Redis outage, or deleted by hand), the
 * holder is told through `lost`: the backup aborts rather than run beside another one.
 */
import { randomBytes } from 'node:crypto';

import { DelayedError, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

import type { ServiceJobDeps } from './service-job-deps';

const RENEW_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

export const DEFAULT_LOCK_TTL_MS = 60_000;

export function serviceLockKey(queuePrefix: string, serviceId: string): string {
  return `${queuePrefix}:lock:service:${serviceId}`;
}

export interface HeldLock {
  readonly key: string;
  readonly token: string;
  /** Fires when the lock was lost while held (a renewal found another token or none). */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

/**
 * Tries once to take the lock; returns null when another job holds it. The caller decides how to
 * wait (the backup processor moves its job to delayed, see backup-processor.ts).
 */
export async function tryAcquireServiceLock(
  redis: Redis,
  key: string,
  opts: { ttlMs?: number; onRenewError?: (err: unknown) => void } = {},
): Promise<HeldLock | null> {
  const ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  const token = randomBytes(16).toString('hex');
  const ok = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;

  const lostController = new AbortController();
  let lastRenewed = Date.now();
  let released = false;
  const renew = async (): Promise<void> => {
    try {
      const r = await redis.eval(RENEW_SCRIPT, 1, key, token, String(ttlMs));
      if (r === 1) lastRenewed = Date.now();
      else lostController.abort(new Error(`service lock ${key} was lost`));
    } catch (err) {
      // A Redis hiccup: keep the lock while its TTL may still run; give up once it surely expired.
      opts.onRenewError?.(err);
      if (Date.now() - lastRenewed >= ttlMs) lostController.abort(new Error(`service lock ${key} expired`));
    }
  };
  // ttl/3: two renewals may fail before the key expires.
  const timer = setInterval(
    () => {
      if (!released && !lostController.signal.aborted) void renew();
    },
    Math.max(10, Math.floor(ttlMs / 3)),
  );
  timer.unref();

  return {
    key,
    token,
    lost: lostController.signal,
    async release(): Promise<void> {
      if (released) return;
      released = true;
      clearInterval(timer);
      await redis.eval(RELEASE_SCRIPT, 1, key, token);
    },
  };
}

/**
 * Delay before re-trying a job whose service is locked: doubles with every time the job was
 * started (each deferral starts it again), from `minMs` up to `maxMs`, with ±20 % jitter so jobs
 * queued behind one service do not all wake at the same instant.
 */
export function lockRetryDelay(attemptsStarted: number, minMs: number, maxMs: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(20, Math.max(0, attemptsStarted - 1)));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/**
 * Takes the service's lock for a job (backup or restore), or moves the job back to `delayed` and
 * throws BullMQ's DelayedError. Waiting in `delayed` rather than polling here holds no concurrency
 * slot (other services go on in this process), survives a restart of this worker, and is not a
 * failed attempt. No deadlock is possible: every lock has a TTL, so a dead holder's lock frees itself.
 */
export async function lockServiceOrDelay(
  job: Job,
  token: string | undefined,
  opts: {
    redis: Redis;
    key: string;
    ttlMs: number;
    retryMinMs: number;
    retryMaxMs: number;
    log: Logger;
    /** Called when the service is held by another job (counted as a lock wait). */
    onWait?: () => void;
  },
): Promise<HeldLock> {
  const { log } = opts;
  const lock = await tryAcquireServiceLock(opts.redis, opts.key, {
    ttlMs: opts.ttlMs,
    onRenewError: (err) => log.warn({ err }, 'service lock renewal failed'),
  });
  if (!lock) {
    const delay = lockRetryDelay(job.attemptsStarted, opts.retryMinMs, opts.retryMaxMs);
    log.info({ delayMs: delay }, 'service is locked by another job; retrying later');
    opts.onWait?.();
    await job.moveToDelayed(Date.now() + delay, token);
    throw new DelayedError();
  }
  log.debug({ lock: lock.key }, 'service lock acquired');
  return lock;
}

/**
 * Runs `fn` holding the service's lock (see lockServiceOrDelay: a held service sends the job back
 * to `delayed`), and releases the lock afterwards whatever happened.
 */
export async function withServiceLock<T>(
  job: Job,
  token: string | undefined,
  opts: Parameters<typeof lockServiceOrDelay>[2],
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  const lock = await lockServiceOrDelay(job, token, opts);
  try {
    return await fn(lock);
  } finally {
    await lock.release().catch((err: unknown) => opts.log.warn({ err }, 'service lock release failed'));
    opts.log.debug({ lock: lock.key }, 'service lock released');
  }
}

/** How the per-service lock behaves for a processor (runtime options; tests shorten them). */
export interface ServiceLockOptions {
  /** TTL of the per-service lock; renewed every third of it. */
  lockTtlMs?: number;
  /** First and longest delay before a job whose service is locked is tried again. */
  lockRetryMinMs?: number;
  lockRetryMaxMs?: number;
}

/** The options with their defaults, in the shape lockServiceOrDelay takes. */
export function serviceLockSettings(
  o: ServiceLockOptions = {},
): Pick<Parameters<typeof lockServiceOrDelay>[2], 'ttlMs' | 'retryMinMs' | 'retryMaxMs'> {
  return {
    ttlMs: o.lockTtlMs ?? DEFAULT_LOCK_TTL_MS,
    retryMinMs: o.lockRetryMinMs ?? 1_000,
    retryMaxMs: o.lockRetryMaxMs ?? 30_000,
  };
}

/**
 * Runs `fn` holding the service of a backup or restore job, with the process's lock settings;
 * a wait is counted per queue.
 */
export function holdingService<T>(
  deps: Pick<ServiceJobDeps, 'redis' | 'queuePrefix' | 'options' | 'metrics'>,
  queue: 'backup' | 'restore',
  job: Job,
  token: string | undefined,
  serviceId: string,
  log: Logger,
  fn: (lock: HeldLock) => Promise<T>,
): Promise<T> {
  return withServiceLock(
    job,
    token,
    {
      ...serviceLockSettings(deps.options),
      redis: deps.redis,
      key: serviceLockKey(deps.queuePrefix, serviceId),
      log,
      onWait: () => deps.metrics?.lockWaits.inc({ queue }),
    },
    fn,
  );
}
