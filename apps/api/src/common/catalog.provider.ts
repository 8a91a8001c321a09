import { Inject, Injectable, type OnModuleDestroy, type OnModuleInit, type Provider } from '@nestjs/common';
import type { ApiConfig } from '@vaultline/config';
import { Catalog, createCatalog } from '@vaultline/catalog';
import { API_CONFIG } from './tokens';

/** The API's one catalog: services inject `Catalog` and call its repositories. */
export const CATALOG_PROVIDER: Provider = {
  provide: Catalog,
  inject: [API_CONFIG],
  useFactory: (config: ApiConfig) => createCatalog(config.databaseUrl),
};

/**
 * The catalog owned by Nest's lifecycle: connected before the app listens (so a wrong DATABASE_URL
 * fails the start, not the first request) and disconnected on shutdown.
 */
@Injectable()
export class CatalogLifecycle implements OnModuleInit, OnModuleDestroy {
  constructor(@Inject(Catalog) private readonly catalog: Catalog) {}

  async onModuleInit(): Promise<void> {
    await this.catalog.connect();
  }

  async onModuleDestroy(): Promise<void> {
    await this.catalog.disconnect();
  }
}
