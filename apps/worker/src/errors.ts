/**
 * Which failures a retry can fix, in one place. A `permanent` failure ends the job at once with a
 * `failed` result (the report sees it); a `transient` one is thrown so BullMQ retries with backoff,
 * and becomes a `failed` result only on the last attempt. Each code of the engine, of storage and
 * of the secrets lib has its answer in a table the compiler keeps exhaustive: a code added there
 * does not build until it is decided here. Processors never test `err.code` themselves.
 */
import { ContractError, type ErrorInfo } from '@vaultline/contracts';
import { EngineError, type EngineErrorCode } from '@vaultline/engine';
import { SecretsError, type SecretsErrorCode } from '@vaultline/secrets';
import { StorageError, type StorageErrorCode } from '@vaultline/storage';

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

/**
 * Engine codes: permanent when the source, the key or the repository itself is wrong. LOCKED: an
 * exclusive prune holds the repository. ABORTED: the job's signal fired — a shutdown (the job goes
 * back to wait, see service-job-runner.ts) or a lost service lock (retried). Codes the worker's
 * operations do not raise (PASSWORD_TOO_SHORT, ALREADY_INITIALIZED, LAST_KEY) are retried like
 * anything unexpected.
 */
export const ENGINE_RETRY = {
  WRONG_PASSWORD: 'permanent',
  PASSWORD_TOO_SHORT: 'transient',
  NO_REPOSITORY: 'permanent',
  ALREADY_INITIALIZED: 'transient',
  FOREIGN_REPOSITORY: 'permanent',
  UNSUPPORTED_VERSION: 'permanent',
  CORRUPT: 'permanent',
  NEEDS_PASSWORD: 'permanent',
  LOCKED: 'transient',
  NOT_FOUND: 'transient',
  UNSAFE_PATH: 'permanent',
  INVALID_ARGUMENT: 'permanent',
  SOURCE_UNREADABLE: 'permanent',
  LAST_KEY: 'transient',
  ABORTED: 'transient',
} as const satisfies Record<EngineErrorCode, Retry>;

/**
 * A restore reads what the index names: the engine's NOT_FOUND there (a pack or blob storage
 * lacks) is a damaged repository, not something a retry fixes.
 */
export const RESTORE_ENGINE_RETRY = {
  ...ENGINE_RETRY,
  NOT_FOUND: 'permanent',
} as const satisfies Record<EngineErrorCode, Retry>;

/**
 * Storage codes: a network blip or an I/O error is worth retrying. NOT_FOUND (no such target
 * folder), PERMISSION_DENIED, READ_ONLY, FULL and bad locations need a person, not a retry in 30 s.
 */
export const STORAGE_RETRY = {
  NOT_FOUND: 'permanent',
  FULL: 'permanent',
  READ_ONLY: 'permanent',
  PERMISSION_DENIED: 'permanent',
  UNREACHABLE: 'transient',
  INVALID_NAME: 'permanent',
  INVALID_LOCATION: 'permanent',
  IO: 'transient',
} as const satisfies Record<StorageErrorCode, Retry>;

/** The server secret or a sealed value is wrong: the same on every attempt. */
export const SECRETS_RETRY = {
  OPEN_FAILED: 'permanent',
  MALFORMED: 'permanent',
  EXPIRED: 'permanent',
  INVALID_ARGUMENT: 'permanent',
} as const satisfies Record<SecretsErrorCode, Retry>;

/**
 * The job's signal fired (ABORTED) rather than the operation failing: the job runner then hands
 * the job back (shutdown) or reports LOCK_LOST.
 */
export function isCancellation(err: unknown): boolean {
  return err instanceof EngineError && err.code === 'ABORTED';
}

/** The failure says the target could not be reached (the target-reachable gauge goes to 0). */
export function targetUnreachable(info: ErrorInfo): boolean {
  // The worker's own UNREACHABLE (a missing local folder) and storage's share the code.
  return info.code === ('UNREACHABLE' satisfies StorageErrorCode);
}

export interface Classified {
  info: ErrorInfo;
  retry: Retry;
}

export function classify(err: unknown, engine: Record<EngineErrorCode, Retry> = ENGINE_RETRY): Classified {
  const message = (err instanceof Error ? err.message : String(err)).slice(0, 2000);
  if (err instanceof WorkerError) return { info: { code: err.code, message }, retry: err.retry };
  if (err instanceof EngineError) return { info: { code: err.code, message }, retry: engine[err.code] };
  if (err instanceof StorageError)
    return { info: { code: err.code, message }, retry: STORAGE_RETRY[err.code] };
  if (err instanceof SecretsError)
    return { info: { code: err.code, message }, retry: SECRETS_RETRY[err.code] };
  if (err instanceof ContractError) return { info: { code: err.code, message }, retry: 'permanent' };
  // Postgres, Redis or anything unexpected: retry; the message is not shown beyond the logs.
  return { info: { code: 'INTERNAL', message }, retry: 'transient' };
}

/**
 * Opening an existing repository's local folder (not S3): its folder missing means the drive or
 * mount is gone (unplugged, NFS down): UNREACHABLE, retried with backoff, rather than a permanent
 * NOT_FOUND. Per storage code: the worker's code for it there, or null to keep the storage error.
 */
const LOCAL_OPEN_FAILURE = {
  NOT_FOUND: 'UNREACHABLE',
  FULL: null,
  READ_ONLY: null,
  PERMISSION_DENIED: null,
  UNREACHABLE: null,
  INVALID_NAME: null,
  INVALID_LOCATION: null,
  IO: null,
} as const satisfies Record<StorageErrorCode, 'UNREACHABLE' | null>;

export function localOpenFailure(err: unknown): unknown {
  if (!(err instanceof StorageError)) return err;
  const code = LOCAL_OPEN_FAILURE[err.code];
  return code ? new WorkerError(code, err.message, 'transient', { cause: err }) : err;
}

/**
 * The job's snapshot reference resolved to nothing in this repository (engine NOT_FOUND): told as
 * the worker's NOT_FOUND with `what`, permanent. Any other error is returned as it is.
 */
export function snapshotNotFound(err: unknown, what: string): unknown {
  return err instanceof EngineError && err.code === 'NOT_FOUND'
    ? new WorkerError('NOT_FOUND', what, 'permanent', { cause: err })
    : err;
}

/**
 * A password envelope that does not open: PASSWORD_EXPIRED (the user submits the password again)
 * or PASSWORD_ENVELOPE_INVALID (another restore's envelope, another server secret, tampering).
 */
const ENVELOPE_FAILURE = {
  OPEN_FAILED: 'PASSWORD_ENVELOPE_INVALID',
  MALFORMED: 'PASSWORD_ENVELOPE_INVALID',
  EXPIRED: 'PASSWORD_EXPIRED',
  INVALID_ARGUMENT: 'PASSWORD_ENVELOPE_INVALID',
} as const satisfies Record<SecretsErrorCode, 'PASSWORD_EXPIRED' | 'PASSWORD_ENVELOPE_INVALID'>;

export function envelopeFailure(err: unknown): unknown {
  if (!(err instanceof SecretsError)) return err;
  const code = ENVELOPE_FAILURE[err.code];
  const message =
    code === 'PASSWORD_EXPIRED'
      ? err.message
      : 'the password could not be opened (sealed for another request or with another server secret): submit it again';
  return new WorkerError(code, message, 'permanent', { cause: err });
}
