import { Prisma, type Session, type User } from '@vaultline/db';
import { atomically, type Db } from '../db';

export type SessionWithUser = Session & { user: User };

/** Browser sessions: only the SHA-256 of the cookie's value is stored or looked up. */
export class SessionsRepository {
  constructor(private readonly db: Db) {}

  /**
   * A new session for a user who just signed in: records the sign-in and drops the user's
   * sessions that have ended (so rows of abandoned browsers do not pile up).
   */
  async create(fields: {
    tokenHash: string;
    userId: string;
    expiresAt: Date;
    idleCutoff: Date;
    now?: Date;
  }): Promise<SessionWithUser> {
    const now = fields.now ?? new Date();
    await atomically(this.db, (db) => [
      db.session.deleteMany({
        where: {
          userId: fields.userId,
          OR: [{ expiresAt: { lte: now } }, { lastSeenAt: { lte: fields.idleCutoff } }],
        },
      }),
      db.user.update({ where: { id: fields.userId }, data: { lastLoginAt: now } }),
      db.session.create({
        data: {
          tokenHash: fields.tokenHash,
          userId: fields.userId,
          createdAt: now,
          lastSeenAt: now,
          expiresAt: fields.expiresAt,
        },
      }),
    ]);
    return this.db.session.findUniqueOrThrow({
      where: { tokenHash: fields.tokenHash },
      include: { user: true },
    });
  }

  /**
   * The live session with this hash, its use recorded (last_seen_at = now) in the same statement;
   * null when there is none or it has ended (past expires_at, or unused since `idleCutoff`). An
   * ended session's row is deleted then.
   */
  async touch(tokenHash: string, idleCutoff: Date, now = new Date()): Promise<SessionWithUser | null> {
    try {
      return await this.db.session.update({
        where: { tokenHash, expiresAt: { gt: now }, lastSeenAt: { gt: idleCutoff } },
        data: { lastSeenAt: now },
        include: { user: true },
      });
    } catch (err) {
      if (!(err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2025')) throw err;
    }
    await this.db.session.deleteMany({ where: { tokenHash } });
    return null;
  }

  /** Whether a session was deleted. */
  async delete(tokenHash: string): Promise<boolean> {
    const { count } = await this.db.session.deleteMany({ where: { tokenHash } });
    return count === 1;
  }
}
