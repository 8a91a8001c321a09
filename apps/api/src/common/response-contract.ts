import { isDeepStrictEqual } from 'node:util';
import {
  type CallHandler,
  type ExecutionContext,
  Inject,
  Injectable,
  type NestInterceptor,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { API_SCHEMAS, type ApiSchemaName, toIssues } from '@vaultline/contracts';
import { z } from 'zod';
import type { Logger } from 'pino';
import { map, type Observable } from 'rxjs';

import { LOGGER } from './tokens';

export const RESPONSE_CONTRACT = 'vaultline:response-contract';

/** A route's success: its status and body schema (a component, a list of one, or no body). */
export interface ResponseContract {
  status: number;
  body: ApiSchemaName | readonly [ApiSchemaName] | null;
}

/** The zod schema a route's response body must match; null when it has no body. */
export function responseSchemaOf(contract: ResponseContract): z.ZodType | null {
  if (contract.body === null) return null;
  if (typeof contract.body === 'string') return API_SCHEMAS[contract.body];
  return z.array(API_SCHEMAS[contract.body[0]]);
}

/** Why `body` (as it goes on the wire) does not match the route's declared response; null when it does. */
export function responseDrift(contract: ResponseContract, body: unknown): string | null {
  const schema = responseSchemaOf(contract);
  if (schema === null) return body === undefined || body === null ? null : 'a body where none is declared';
  if (body === undefined) return 'no body';
  const wire: unknown = JSON.parse(JSON.stringify(body));
  const r = schema.safeParse(wire, { reportInput: true });
  if (!r.success) {
    return toIssues(r.error)
      .map((i) => `${i.path || '(body)'}: ${i.message}`)
      .join('; ');
  }
  // A loose object of the contract (the report summary) drops what it does not know: that too is a field the
  // contract does not describe.
  if (!isDeepStrictEqual(r.data, wire)) return 'fields the schema does not describe';
  return null;
}

/** Whether ResponseContractInterceptor checks (AppOptions.checkResponses). */
export const CHECK_RESPONSES = Symbol('CHECK_RESPONSES');

/**
 * Checks every response against the schema its route declares (ApiReturns) before it is sent; a
 * mismatch is a 500 and an error in the log. On in the integration tests (every test of the API
 * is then also a contract test), off in production by default: a response that drifted from the
 * contract is a bug for CI to catch, and a user is better served by the drifted answer than by a
 * 500 (AppOptions.checkResponses).
 *
 * Applied by ApiReturns to the routes it documents, not globally: an interceptor on an SSE route
 * turns its 404 into an `error` event of an already open stream (strict-query.ts).
 */
@Injectable()
export class ResponseContractInterceptor implements NestInterceptor {
  constructor(
    private readonly reflector: Reflector,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CHECK_RESPONSES) private readonly enabled: boolean,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const contract = this.reflector.get<ResponseContract | undefined>(
      RESPONSE_CONTRACT,
      context.getHandler(),
    );
    if (!this.enabled || !contract || context.getType() !== 'http') return next.handle();
    return next.handle().pipe(
      map((body: unknown) => {
        const drift = responseDrift(contract, body);
        if (drift !== null) {
          const req = context.switchToHttp().getRequest<{ method?: string; route?: { path?: string } }>();
          const where = `${req.method ?? '?'} ${req.route?.path ?? '?'}`;
          this.logger.error({ route: where, drift }, 'response does not match its contract');
          throw new Error(`response of ${where} does not match its contract: ${drift}`);
        }
        return body;
      }),
    );
  }
}
