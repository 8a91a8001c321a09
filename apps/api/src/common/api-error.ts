import type { ContractIssue } from '@vaultline/contracts';

/**
 * The API's stable error codes. Clients branch on these, never on messages, so a code is never
 * renamed; the HTTP status of each lives in one table (error.filter.ts) that the compiler keeps
 * exhaustive.
 */
export type ApiErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  /** The password given does not open the plan's repository (restore, password change). */
  | 'WRONG_PASSWORD'
  /** A restore across architectures without `allowCrossArch` (the service would need reinstalling). */
  | 'CROSS_ARCH'
  /** A dependency (the database) is down: retry later; health checks answer this. */
  | 'UNAVAILABLE'
  | 'INTERNAL';

/** A domain error the services throw; the filter turns it into `{ error: { code, message, fields? } }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly fields?: readonly ContractIssue[],
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string): ApiError =>
  new ApiError('NOT_FOUND', `${what} ${JSON.stringify(id)} not found`);

export const invalidField = (path: string, message: string): ApiError =>
  new ApiError('VALIDATION_FAILED', `request body: ${path}: ${message}`, [{ path, message }]);
