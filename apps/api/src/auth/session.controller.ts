import type { IncomingMessage, ServerResponse } from 'node:http';

import { Body, Controller, Delete, Get, Inject, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { ApiConfig } from '@vaultline/config';
import { type CreateSession, createSessionSchema } from '@vaultline/contracts';

import { ApiErrors, ApiReturns, ApiZodBody } from '../common/openapi';
import { API_CONFIG } from '../common/tokens';
import { ZodBody } from '../common/zod-body.pipe';
import { Public } from './auth.guard';
import {
  clearedSessionCookie,
  clientAddressOf,
  isSecureRequest,
  sessionCookie,
  sessionTokenOf,
} from './session-cookie';
import { type SessionView, SessionsService } from './sessions.service';

/**
 * Browser sign-in for the web UI (docs/security.md, "Web UI sessions"). Public: these routes are
 * how a browser gets (and gives up) its credential; automation keeps using API tokens.
 */
@ApiTags('session')
@Public()
@Controller('v1/session')
export class SessionController {
  constructor(
    private readonly sessions: SessionsService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  /** Signs in: sets the `vaultline_session` cookie (HttpOnly, SameSite=Strict) and answers the CSRF token. */
  @Post()
  @ApiReturns(201, 'SessionView', 'signed in: the session cookie is set (`Set-Cookie`)')
  @ApiZodBody('CreateSession', createSessionSchema)
  @ApiErrors({
    UNAUTHORIZED: 'invalid name or password (the same answer for both)',
    RATE_LIMITED: 'too many failed sign-ins from this address or for this name; retry after `Retry-After` s',
    UNAVAILABLE: 'Redis (which counts failed sign-ins) is unavailable',
  })
  async create(
    @Body(new ZodBody(createSessionSchema)) body: CreateSession,
    @Req() req: IncomingMessage,
    @Res({ passthrough: true }) res: ServerResponse,
  ): Promise<SessionView> {
    const trust = this.config.trustProxy;
    const { token, view } = await this.sessions.login(body, clientAddressOf(req, trust));
    // Signing in again from the same browser replaces its session rather than leaving one behind.
    await this.sessions.logout(sessionTokenOf(req));
    res.setHeader('Set-Cookie', sessionCookie(token, isSecureRequest(req, trust)));
    return view;
  }

  /** The signed-in user and the CSRF token again (a reloaded page has lost it). */
  @Get()
  @ApiReturns(200, 'SessionView')
  @ApiErrors({ UNAUTHORIZED: 'no session cookie, or the session has ended' })
  get(@Req() req: IncomingMessage): Promise<SessionView> {
    return this.sessions.current(sessionTokenOf(req));
  }

  /** Signs out: deletes the session and clears the cookie (also when there was none). */
  @Delete()
  @ApiReturns(204, null)
  async remove(@Req() req: IncomingMessage, @Res({ passthrough: true }) res: ServerResponse): Promise<void> {
    await this.sessions.logout(sessionTokenOf(req));
    res.setHeader('Set-Cookie', clearedSessionCookie(isSecureRequest(req, this.config.trustProxy)));
  }
}
