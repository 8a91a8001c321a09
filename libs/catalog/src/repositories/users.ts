import type { User } from '@vaultline/db';
import { atomically, type Db } from '../db';

/** Web UI users (create-user); the password only as its Argon2id PHC string. */
export class UsersRepository {
  constructor(private readonly db: Db) {}

  /** A taken name is a CatalogError CONFLICT. */
  create(name: string, passwordHash: string): Promise<User> {
    return this.db.user.create({ data: { name, passwordHash } });
  }

  findByName(name: string): Promise<User | null> {
    return this.db.user.findUnique({ where: { name } });
  }

  /**
   * A new password for an existing user; every session of the user ends with it (whoever knew
   * the old password is signed out). Whether the user exists.
   */
  async resetPassword(name: string, passwordHash: string): Promise<boolean> {
    const user = await this.db.user.findUnique({ where: { name }, select: { id: true } });
    if (!user) return false;
    await atomically(this.db, (db) => [
      db.user.update({ where: { id: user.id }, data: { passwordHash } }),
      db.session.deleteMany({ where: { userId: user.id } }),
    ]);
    return true;
  }
}
