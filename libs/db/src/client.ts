import { PrismaPg } from '@prisma/adapter-pg';
import type { PoolConfig } from 'pg';
import { PrismaClient } from './generated/prisma/client';

export interface PrismaClientOptions {
  /** node-postgres pool settings (size, timeouts); the URL comes from `databaseUrl`. */
  pool?: Omit<PoolConfig, 'connectionString'>;
}

/**
 * A Prisma client over node-postgres (Prisma 7's engine-free client: queries are planned by a wasm
 * compiler in-process and run through `pg`, so no engine binary is needed anywhere).
 * The caller owns it: `await client.$disconnect()` when done.
 */
export function createPrismaClient(databaseUrl: string, options: PrismaClientOptions = {}): PrismaClient {
  const adapter = new PrismaPg({ ...options.pool, connectionString: databaseUrl });
  return new PrismaClient({ adapter });
}
