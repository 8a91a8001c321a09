import type { Db } from '../db';

/** API tokens: only their SHA-256 is ever stored or looked up. */
export class TokensRepository {
  constructor(private readonly db: Db) {}

  async create(name: string, tokenHash: string): Promise<{ id: string }> {
    const row = await this.db.apiToken.create({ data: { name, tokenHash }, select: { id: true } });
    return { id: row.id };
  }

  /**
   * Finds an unrevoked token by its hash and records its use, in one statement: no read-then-write
   * race, one round trip. Whether it was found.
   */
  async markUsed(tokenHash: string, at = new Date()): Promise<boolean> {
    const { count } = await this.db.apiToken.updateMany({
      where: { tokenHash, revokedAt: null },
      data: { lastUsedAt: at },
    });
    return count === 1;
  }
}
