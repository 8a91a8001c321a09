import type { ApiErrorCode, ContractIssue } from '@vaultline/contracts';

/** The API's stable error codes: the list is the contract's (libs/contracts api.ts). */
export type { ApiErrorCode };

/** A domain error the services throw; the filter turns it into `{ error: { code, message, fields? } }`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly fields?: readonly ContractIssue[],
    /** Response headers that go with the error (`Retry-After` of a 429). */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string): ApiError =>
  new ApiError('NOT_FOUND', `${what} ${JSON.stringify(id)} not found`);

export const invalidField = (path: string, message: string): ApiError =>
  new ApiError('VALIDATION_FAILED', `request body: ${path}: ${message}`, [{ path, message }]);
