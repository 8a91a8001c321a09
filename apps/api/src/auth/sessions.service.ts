import { randomBytes } from 'node:crypto';

import { Inject, Injectable } from '@nestjs/common';
import { Catalog, type SessionWithUser } from '@vaultline/catalog';
import type { ApiConfig } from '@vaultline/config';
import type { CreateSession, SessionView } from '@vaultline/contracts';
import type { Logger } from 'pino';

import { ApiError } from '../common/api-error';
import { QueuesService } from '../common/queues.service';
import { API_CONFIG, LOGGER } from '../common/tokens';
import { hashToken } from './api-tokens';
import { LoginLimiter } from './login-limiter';
import { DEFAULT_PASSWORD_COST, hashPassword, verifyPassword } from './passwords';
import { csrfTokenOf } from './session-cookie';

export type { SessionView };

/** Wrong name and wrong password alike: the answer must not tell which names exist. */
const INVALID = 'invalid name or password';

/**
 * Web UI sessions: sign-in with a user's name and password, the session behind a cookie, its
 * idle and absolute end (VAULTLINE_SESSION_IDLE_MINUTES, VAULTLINE_SESSION_MAX_HOURS), sign-out.
 * The cookie's value is 32 random bytes; only its SHA-256 is stored (like API tokens, nothing to
 * brute-force, so no KDF).
 */
@Injectable()
export class SessionsService {
  private readonly limiter: LoginLimiter;
  /** A hash to verify against when the name is unknown, so that answer takes as long as a wrong password. */
  private decoy: Promise<string> | undefined;

  constructor(
    private readonly catalog: Catalog,
    queues: QueuesService,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.limiter = new LoginLimiter(queues, config.loginFailuresPerMinute);
  }

  private idleCutoff(now: Date): Date {
    return new Date(now.getTime() - this.config.sessionIdleMinutes * 60_000);
  }

  /** The sooner of the idle end (from the last use) and the absolute end. */
  private viewOf(session: SessionWithUser, token: string): SessionView {
    const idleEnd = session.lastSeenAt.getTime() + this.config.sessionIdleMinutes * 60_000;
    return {
      user: { name: session.user.name },
      csrfToken: csrfTokenOf(token),
      expiresAt: new Date(Math.min(idleEnd, session.expiresAt.getTime())).toISOString(),
    };
  }

  /**
   * Checks the name and password and opens a session. Refused (429) while the address or the name
   * is over its failures; a failure counts for both. The password goes nowhere but Argon2id.
   */
  async login(input: CreateSession, address: string): Promise<{ token: string; view: SessionView }> {
    const waitMs = await this.limiter.blockedFor(address, input.name);
    if (waitMs > 0) {
      const seconds = Math.max(1, Math.ceil(waitMs / 1000));
      throw new ApiError('RATE_LIMITED', `too many failed sign-ins; try again in ${seconds} s`, undefined, {
        'Retry-After': String(seconds),
      });
    }
    const user = await this.catalog.users.findByName(input.name);
    const ok = user
      ? await verifyPassword(user.passwordHash, input.password)
      : await verifyPassword(await this.decoyHash(), input.password).then(() => false);
    if (!user || !ok) {
      await this.limiter.recordFailure(address, input.name);
      // The name is the user's (or a guess at one); the address says where guesses come from.
      this.logger.warn({ user: input.name, address }, 'failed sign-in');
      throw new ApiError('UNAUTHORIZED', INVALID);
    }
    await this.limiter.recordSuccess(address, input.name);

    const token = randomBytes(32).toString('base64url');
    const now = new Date();
    const session = await this.catalog.sessions.create({
      tokenHash: hashToken(token),
      userId: user.id,
      expiresAt: new Date(now.getTime() + this.config.sessionMaxHours * 3_600_000),
      idleCutoff: this.idleCutoff(now),
      now,
    });
    this.logger.info({ user: user.name }, 'signed in');
    return { token, view: this.viewOf(session, token) };
  }

  /** The live session behind `token` (its use recorded), or null when it is unknown or has ended. */
  async authenticate(token: string): Promise<SessionWithUser | null> {
    const now = new Date();
    return this.catalog.sessions.touch(hashToken(token), this.idleCutoff(now), now);
  }

  /** GET /v1/session: 401 without a live session. */
  async current(token: string | undefined): Promise<SessionView> {
    const session = token === undefined ? null : await this.authenticate(token);
    if (!session || token === undefined)
      throw new ApiError('UNAUTHORIZED', 'not signed in, or the session has ended');
    return this.viewOf(session, token);
  }

  async logout(token: string | undefined): Promise<void> {
    if (token !== undefined) await this.catalog.sessions.delete(hashToken(token));
  }

  private decoyHash(): Promise<string> {
    this.decoy ??= hashPassword(randomBytes(16).toString('base64'), {
      ...DEFAULT_PASSWORD_COST,
      memory: this.config.userKdfMemoryKib,
    });
    return this.decoy;
  }
}
