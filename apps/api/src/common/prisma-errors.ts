import { Prisma } from '@vaultline/db';

/** Prisma's codes for a unique violation, a missing row and a foreign-key violation. */
export function prismaCode(err: unknown): 'P2002' | 'P2025' | 'P2003' | undefined {
  if (!(err instanceof Prisma.PrismaClientKnownRequestError)) return undefined;
  return err.code === 'P2002' || err.code === 'P2025' || err.code === 'P2003' ? err.code : undefined;
}
