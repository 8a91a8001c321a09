import { Prisma, type PrismaClient } from '@vaultline/db';

/** The client a repository runs on: the catalog's own, or the one of a transaction in progress. */
export type Db = PrismaClient | Prisma.TransactionClient;

/**
 * Runs writes that must land together. Outside a transaction, Prisma's batch transaction (one
 * round trip); inside one, in order on the transaction's connection (the outer one makes them atomic).
 */
export async function atomically(db: Db, build: (db: Db) => Prisma.PrismaPromise<unknown>[]): Promise<void> {
  if ('$transaction' in db) {
    await db.$transaction(build(db));
    return;
  }
  for (const op of build(db)) await op;
}

/** Json columns: SQL NULL for null (not JSON null), the value otherwise, untouched for undefined. */
export function jsonOrDbNull(
  value: object | null | undefined,
): Prisma.InputJsonValue | typeof Prisma.DbNull | undefined {
  if (value === undefined) return undefined;
  return value === null ? Prisma.DbNull : value;
}
