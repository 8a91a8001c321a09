import { isDatabaseUnavailable } from '@vaultline/catalog';
import { ApiError } from './api-error';

/**
 * The API's translation of database failures, applied by the exception filter to anything the
 * handlers, guards and pipes throw: a database that is down (the catalog's UNAVAILABLE, or a driver
 * error that reached us unwrapped) is 503 UNAVAILABLE — the client retries later — never a 500.
 * The driver's message (host, port) stays in the log.
 */
export function translateDatabaseError(err: unknown): ApiError | undefined {
  if (isDatabaseUnavailable(err))
    return new ApiError('UNAVAILABLE', 'the database is unavailable; retry later');
  return undefined;
}
