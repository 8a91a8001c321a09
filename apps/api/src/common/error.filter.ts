import { randomUUID } from 'node:crypto';
import { type ArgumentsHost, Catch, type ExceptionFilter, HttpException } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { ContractError, type ContractIssue } from '@vaultline/contracts';
import type { Logger } from 'pino';
import { ApiError, type ApiErrorCode } from './api-error';
import { translateDatabaseError } from './database-errors';
import { requestIdOf } from './request-context';

/** The one error body of the API. */
export interface ErrorBody {
  error: { code: ApiErrorCode; message: string; fields?: ContractIssue[]; correlationId?: string };
}

export interface MappedError {
  status: number;
  body: ErrorBody;
  /** Only unexpected errors are logged with their details; expected ones are the client's business. */
  unexpected: boolean;
  /** Headers to send with it (`Retry-After`). */
  headers?: Readonly<Record<string, string>>;
}

/** `satisfies Record<ApiErrorCode, …>`: adding a code without a status does not compile. */
export const STATUS_OF = {
  VALIDATION_FAILED: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  WRONG_PASSWORD: 422,
  CROSS_ARCH: 409,
  CSRF: 403,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
  INTERNAL: 500,
} as const satisfies Record<ApiErrorCode, number>;

/** Nest's own HTTP exceptions (unknown route, body too large) get the code closest to their status. */
function codeOfStatus(status: number): ApiErrorCode {
  if (status === 401 || status === 403) return 'UNAUTHORIZED';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status >= 400 && status < 500) return 'VALIDATION_FAILED';
  return 'INTERNAL';
}

function internal(correlationId: string): MappedError {
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'internal error', correlationId } },
    unexpected: true,
  };
}

/** body-parser's errors carry `type` and `status`; a malformed JSON body is the client's mistake. */
function isBodyParserError(err: unknown): err is { type: string; status: number } {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { type?: unknown }).type === 'string' &&
    typeof (err as { status?: unknown }).status === 'number'
  );
}

function mapApiError(err: ApiError, correlationId: string): MappedError {
  if (err.code === 'INTERNAL') return internal(correlationId);
  const fields = err.fields ? [...err.fields] : undefined;
  return {
    status: STATUS_OF[err.code],
    body: { error: { code: err.code, message: err.message, ...(fields ? { fields } : {}) } },
    unexpected: false,
    ...(err.headers ? { headers: err.headers } : {}),
  };
}

/**
 * Maps anything thrown while handling a request to a status and body. Pure, so the mapping is unit
 * tested without an HTTP server. Messages of unexpected errors never reach the client: they may
 * name internals (SQL, paths, hosts).
 */
export function mapError(err: unknown, correlationId: string = randomUUID()): MappedError {
  const translated = err instanceof ApiError ? err : translateDatabaseError(err);
  if (translated) return mapApiError(translated, correlationId);
  if (err instanceof ContractError && err.code === 'INVALID_INPUT') {
    return {
      status: 400,
      body: { error: { code: 'VALIDATION_FAILED', message: err.message, fields: [...err.issues] } },
      unexpected: false,
    };
  }
  if (err instanceof HttpException) {
    const status = err.getStatus();
    if (status >= 500) return internal(correlationId);
    return {
      status,
      body: { error: { code: codeOfStatus(status), message: err.message } },
      unexpected: false,
    };
  }
  if (isBodyParserError(err) && err.status >= 400 && err.status < 500) {
    const message =
      err.type === 'entity.parse.failed' ? 'request body is not valid JSON' : 'invalid request body';
    return { status: err.status, body: { error: { code: 'VALIDATION_FAILED', message } }, unexpected: false };
  }
  return internal(correlationId);
}

/** The API's only exception filter (registered globally in createApp). */
@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    private readonly logger: Logger,
  ) {}

  catch(err: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const res: unknown = http.getResponse();
    // The request's own id (X-Request-Id, kept or made) is the correlation id a 500 tells the
    // client: one id to quote, the same one every log line of the request carries.
    const mapped = mapError(err, requestIdOf(http.getRequest()) ?? randomUUID());
    if (mapped.unexpected) {
      this.logger.error({ err, correlationId: mapped.body.error.correlationId }, 'unexpected error');
    } else if (mapped.status === 503 && !(err instanceof ApiError)) {
      // A translated driver error: the client hears "retry later", the operator what failed.
      this.logger.warn({ err }, 'dependency unavailable');
    }
    for (const [name, value] of Object.entries(mapped.headers ?? {})) {
      this.adapterHost.httpAdapter.setHeader(res, name, value);
    }
    this.adapterHost.httpAdapter.reply(res, mapped.body, mapped.status);
  }
}
