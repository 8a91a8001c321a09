import { type CanActivate, type ExecutionContext } from '@nestjs/common';
import { ROUTE_ARGS_METADATA } from '@nestjs/common/constants';
import { RouteParamtypes } from '@nestjs/common/enums/route-paramtypes.enum';
import { parseInput } from '@vaultline/contracts';
import { z } from 'zod';

import { assertSingleValues } from './zod-body.pipe';

const NO_PARAMETERS = z.strictObject({});

/**
 * Unknown query parameters are 400s on every route, like unknown body fields: a misspelt filter
 * (`?serviceID=`) that is ignored looks to the client like a filter that took effect. Routes that
 * read the query do it through ZodQuery with a strict schema; this refuses any parameter on a route
 * that reads none, found from the handler's parameter decorators, so a new route is covered
 * without anyone remembering to. A guard registered after the auth guard, so an unauthenticated
 * caller still gets 401; not an interceptor, whose errors on an SSE route would arrive as an event
 * of an open stream instead of a 400.
 */
export class StrictQueryGuard implements CanActivate {
  private readonly readsQuery = new WeakMap<object, boolean>();

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() === 'http') {
      const handler = context.getHandler();
      let reads = this.readsQuery.get(handler);
      if (reads === undefined) {
        const args = (Reflect.getMetadata(ROUTE_ARGS_METADATA, context.getClass(), handler.name) ??
          {}) as object;
        reads = Object.keys(args).some((key) => key.split(':')[0] === String(RouteParamtypes.QUERY));
        this.readsQuery.set(handler, reads);
      }
      if (!reads) {
        const query: unknown = context.switchToHttp().getRequest<{ query?: unknown }>().query ?? {};
        assertSingleValues(query);
        parseInput(NO_PARAMETERS, query, 'query');
      }
    }
    return true;
  }
}
