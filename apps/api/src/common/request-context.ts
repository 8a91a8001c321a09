import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The request id: taken from the client's (or the proxy's) `X-Request-Id` when it is sane, else a
 * new UUID; sent back in the response's `X-Request-Id` and put on every log line written while the
 * request is handled (logger.ts reads it from here), so one grep finds all of a request's lines.
 */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * At most 128 of letters, digits and `._:-`: covers UUIDs, ULIDs and the hex ids of nginx, Envoy
 * and load balancers, and keeps log injection (newlines, quotes) and huge values out.
 */
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface RequestContext {
  reqId: string;
}

const storage = new AsyncLocalStorage<RequestContext>();
const CONTEXT = Symbol('vaultline.requestContext');

type WithContext = IncomingMessage & { [CONTEXT]?: RequestContext };

/** The id a request gets: its header when sane (one value only), else a new one. */
export function requestIdFor(header: string | string[] | undefined): string {
  return typeof header === 'string' && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/** The id of the request being handled, if any (background work has none). */
export function currentRequestId(): string | undefined {
  return storage.getStore()?.reqId;
}

/** The id given to `req` by `requestContext()`, for code running outside its async context. */
export function requestIdOf(req: IncomingMessage): string | undefined {
  return (req as WithContext)[CONTEXT]?.reqId;
}

/** First middleware: assigns the id, answers it, and runs the rest of the request in its context. */
export function requestContext() {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    const context: RequestContext = { reqId: requestIdFor(req.headers['x-request-id']) };
    (req as WithContext)[CONTEXT] = context;
    res.setHeader(REQUEST_ID_HEADER, context.reqId);
    storage.run(context, next);
  };
}

/**
 * After the body parser: it resumes from the socket's stream events, outside the context the
 * request started in, so the rest of the chain is put back into it.
 */
export function resumeRequestContext() {
  return (req: IncomingMessage, _res: ServerResponse, next: () => void): void => {
    const context = (req as WithContext)[CONTEXT];
    if (context) storage.run(context, next);
    else next();
  };
}
