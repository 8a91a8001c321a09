import { type CanActivate, type ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Catalog } from '@vaultline/catalog';
import type { IncomingMessage } from 'node:http';
import { ApiError } from '../common/api-error';
import { hashToken } from './api-tokens';

const PUBLIC = 'vaultline:public';
/** Marks a route that needs no token (health). Every other route needs one: the guard is global. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC, true);

const BEARER_RE = /^Bearer ([A-Za-z0-9._~+/=-]{1,256})$/;

/** `Authorization: Bearer <token>`, checked against the hashes in `api_tokens`; revoked tokens fail. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly catalog: Catalog,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean | undefined>(PUBLIC, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;

    const header = context.switchToHttp().getRequest<IncomingMessage>().headers.authorization;
    const token = header === undefined ? undefined : BEARER_RE.exec(header)?.[1];
    if (token === undefined) throw new ApiError('UNAUTHORIZED', 'missing or malformed bearer token');

    // One statement finds the token and records its use: no read-then-write race, one round trip.
    if (!(await this.catalog.tokens.markUsed(hashToken(token))))
      throw new ApiError('UNAUTHORIZED', 'invalid or revoked token');
    return true;
  }
}
