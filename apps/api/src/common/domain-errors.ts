/**
 * Engine and storage failures as the API answers them, in one place. Each code of the engine and
 * of storage has its API code (and through STATUS_OF its HTTP status) in a table the compiler
 * keeps exhaustive: a code added to the engine or to storage does not build until it is mapped
 * here. Services never test `err.code` themselves; they call `repositoryError` with the words of
 * their operation (which field a wrong password is about, what "unreachable" means there).
 */
import { EngineError, type EngineErrorCode } from '@vaultline/engine';
import { StorageError, type StorageErrorCode } from '@vaultline/storage';

import { ApiError, type ApiErrorCode } from './api-error';
import { STATUS_OF } from './error.filter';

/**
 * INTERNAL: not expected from what the API asks of a repository (opening it, creating it, adding
 * and removing key files, reading a snapshot header). Such an error is rethrown as it is, so the
 * filter answers 500 with a correlation id and logs it.
 */
export const ENGINE_API_CODES = {
  WRONG_PASSWORD: 'WRONG_PASSWORD',
  // The API's schemas refuse short passwords before the engine sees one.
  PASSWORD_TOO_SHORT: 'INTERNAL',
  // An empty mount point has no repository either: the target is not there.
  NO_REPOSITORY: 'UNAVAILABLE',
  ALREADY_INITIALIZED: 'CONFLICT',
  FOREIGN_REPOSITORY: 'INTERNAL',
  UNSUPPORTED_VERSION: 'INTERNAL',
  CORRUPT: 'INTERNAL',
  NEEDS_PASSWORD: 'INTERNAL',
  LOCKED: 'INTERNAL',
  // A snapshot the catalog names but the repository no longer has.
  NOT_FOUND: 'NOT_FOUND',
  UNSAFE_PATH: 'INTERNAL',
  INVALID_ARGUMENT: 'INTERNAL',
  SOURCE_UNREADABLE: 'INTERNAL',
  LAST_KEY: 'INTERNAL',
  ABORTED: 'INTERNAL',
} as const satisfies Record<EngineErrorCode, ApiErrorCode>;

/**
 * Every storage failure is the target's: a person fixes the mount, the bucket or the credentials
 * and the client retries, so 503. Storage messages never contain credentials (storage's contract).
 */
export const STORAGE_API_CODES = {
  NOT_FOUND: 'UNAVAILABLE',
  FULL: 'UNAVAILABLE',
  READ_ONLY: 'UNAVAILABLE',
  PERMISSION_DENIED: 'UNAVAILABLE',
  UNREACHABLE: 'UNAVAILABLE',
  INVALID_NAME: 'UNAVAILABLE',
  INVALID_LOCATION: 'UNAVAILABLE',
  IO: 'UNAVAILABLE',
} as const satisfies Record<StorageErrorCode, ApiErrorCode>;

/** The HTTP status an engine or storage failure is answered with. */
export function statusOf(err: EngineError | StorageError): number {
  return STATUS_OF[apiCodeOf(err)];
}

export function apiCodeOf(err: EngineError | StorageError): ApiErrorCode {
  return err instanceof EngineError ? ENGINE_API_CODES[err.code] : STORAGE_API_CODES[err.code];
}

/** How one operation words the answer for an API code (default: `<where>: <message>`). */
export type RepositoryMessages = Partial<Record<ApiErrorCode, (err: EngineError | StorageError) => ApiError>>;

/**
 * The API's answer to an engine or storage failure while working on a target's repository: the
 * code from the tables, the words from `messages` or `<where>: <message>`. Anything else, and
 * codes the tables map to INTERNAL, is returned unchanged (to be rethrown).
 */
export function repositoryError(err: unknown, where: string, messages: RepositoryMessages = {}): unknown {
  if (!(err instanceof EngineError) && !(err instanceof StorageError)) return err;
  const code = apiCodeOf(err);
  if (code === 'INTERNAL') return err;
  return messages[code]?.(err) ?? new ApiError(code, `${where}: ${err.message}`);
}

/** The password given does not open the repository (so another one may be tried). */
export function isWrongPassword(err: unknown): boolean {
  return err instanceof EngineError && ENGINE_API_CODES[err.code] === 'WRONG_PASSWORD';
}
