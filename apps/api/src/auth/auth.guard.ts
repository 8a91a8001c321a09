import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Catalog } from '@vaultline/catalog';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../common/api-error';
import { hashToken } from './api-tokens';
import { hasValidCsrfToken, sessionTokenOf } from './session-cookie';
import { SessionsService } from './sessions.service';

const PUBLIC = 'vaultline:public';
/** Marks a route that needs no credential (health, sign-in). Every other route needs one: the guard is global. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);

const BEARER_RE = /^Bearer ([A-Za-z0-9._~+/=-]{1,256})$/;

/** Methods that change nothing, so need no CSRF token (the API changes nothing on them). */
const SAFE_METHODS = new Set(['GET', 'HEAD']);

/**
 * Every route but the public ones takes one of two credentials:
 * - `Authorization: Bearer <token>`, checked against the hashes in `api_tokens` (revoked tokens
 *   fail) — automation; when the header is there it alone decides, the cookie is not looked at;
 * - the web UI's session cookie, while the session lives; a request that is not GET or HEAD must
 *   then also carry the session's `X-CSRF-Token` (403 CSRF): a cookie is sent by the browser on
 *   its own, a header only by the UI's own scripts.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly catalog: Catalog,
    private readonly sessions: SessionsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;

    const req = context.switchToHttp().getRequest<IncomingMessage>();
    const header = req.headers.authorization;
    if (header === undefined) {
      const sessionToken = sessionTokenOf(req);
      if (sessionToken !== undefined) return this.checkSession(req, sessionToken);
    }
    const token = header === undefined ? undefined : BEARER_RE.exec(header)?.[1];
    if (token === undefined) throw new ApiError('UNAUTHORIZED', 'missing or malformed bearer token');

    // One statement finds the token and records its use: no read-then-write race, one round trip.
    if (!(await this.catalog.tokens.markUsed(hashToken(token))))
      throw new ApiError('UNAUTHORIZED', 'invalid or revoked token');
    return true;
  }

  private async checkSession(req: IncomingMessage, token: string): Promise<boolean> {
    // The CSRF check first: it needs no database, and a forged request must not even extend the
    // session's idle time.
    if (!SAFE_METHODS.has(req.method ?? 'GET') && !hasValidCsrfToken(req, token)) {
      throw new ApiError('CSRF', 'missing or wrong X-CSRF-Token (send the csrfToken of GET /v1/session)');
    }
    if (!(await this.sessions.authenticate(token)))
      throw new ApiError('UNAUTHORIZED', 'the session has ended or is unknown; sign in again');
    return true;
  }
}
