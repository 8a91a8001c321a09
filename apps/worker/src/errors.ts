/**
 * Which failures a retry can fix. A `permanent` failure ends the job at once with a `failed`
 * result (the report sees it); a `transient` one is thrown so BullMQ retries with backoff, and
 * becomes a `failed` result only on the last attempt.
 */
import { ContractError, type ErrorInfo } from '@vaultline/contracts';
import { EngineError } from '@vaultline/engine';
import { SecretsError } from '@vaultline/secrets';
import { StorageError } from '@vaultline/storage';

export type Retry = 'permanent' | 'transient';

/** An error the worker raises itself, with a code of its own (NOT_FOUND, LOCK_LOST, …). */
export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  constructor(
    readonly code: string,
    message: string,
    readonly retry: Retry,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Engine codes a retry cannot fix: the source, the key or the repository itself is wrong. */
const PERMANENT_ENGINE = new Set([
  'SOURCE_UNREADABLE',
  'WRONG_PASSWORD',
  'NEEDS_PASSWORD',
  'NO_REPOSITORY',
  'FOREIGN_REPOSITORY',
  'UNSUPPORTED_VERSION',
  'CORRUPT',
  'INVALID_ARGUMENT',
  'UNSAFE_PATH',
]);

/**
 * Storage codes worth retrying: a network blip or an I/O error. NOT_FOUND (no such target folder),
 * PERMISSION_DENIED, READ_ONLY, FULL and bad locations need a person, not a retry in 30 s.
 */
const TRANSIENT_STORAGE = new Set(['UNREACHABLE', 'IO']);

export function classify(err: unknown): { info: ErrorInfo; retry: Retry } {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
  if (err instanceof WorkerError) return { info: { code: err.code, message }, retry: err.retry };
  if (err instanceof EngineError) {
    // LOCKED: an exclusive prune holds the repository; ABORTED here means the lock was lost.
    return {
      info: { code: err.code, message },
      retry: PERMANENT_ENGINE.has(err.code) ? 'permanent' : 'transient',
    };
  }
  if (err instanceof StorageError) {
    return {
      info: { code: err.code, message },
      retry: TRANSIENT_STORAGE.has(err.code) ? 'transient' : 'permanent',
    };
  }
  if (err instanceof SecretsError) return { info: { code: err.code, message }, retry: 'permanent' };
  if (err instanceof ContractError) return { info: { code: err.code, message }, retry: 'permanent' };
  // Postgres, Redis or anything unexpected: retry; the message is not shown beyond the logs.
  return { info: { code: 'INTERNAL', message }, retry: 'transient' };
}
