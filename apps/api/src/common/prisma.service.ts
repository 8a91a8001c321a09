import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import { createPrismaClient, type PrismaClient } from '@vaultline/db';
import { API_CONFIG } from './tokens';

/**
 * The catalog's Prisma client, owned by Nest's lifecycle: connected before the app listens (so a
 * wrong DATABASE_URL fails the start, not the first request) and disconnected on shutdown.
 */
@Injectable()
export class PrismaService implements OnModuleInit, OnModuleDestroy {
  readonly client: PrismaClient;

  constructor(@Inject(API_CONFIG) config: ApiConfig) {
    this.client = createPrismaClient(config.databaseUrl);
  }

  async onModuleInit(): Promise<void> {
    await this.client.$connect();
  }

  async onModuleDestroy(): Promise<void> {
    await this.client.$disconnect();
  }
}
