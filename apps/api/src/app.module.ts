import { type DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { ApiConfig } from '@vaultline/config';
import { serverKeys } from '@vaultline/secrets';
import type { Logger } from 'pino';
import { AuthGuard } from './auth/auth.guard';
import { SessionController } from './auth/session.controller';
import { SessionsService } from './auth/sessions.service';
import { CATALOG_PROVIDER, CatalogLifecycle } from './common/catalog.provider';
import { CHECK_RESPONSES, ResponseContractInterceptor } from './common/response-contract';
import { StrictQueryGuard } from './common/strict-query';
import { QueuesService } from './common/queues.service';
import { API_CONFIG, LOGGER, REPO_KDF, SERVER_KEYS } from './common/tokens';
import { EventsConsumer } from './events/events.consumer';
import { EventsController } from './events/events.controller';
import { EventsHub } from './events/events.hub';
import { LiveProgress } from './events/live-progress';
import { HealthController } from './health/health.controller';
import type { RepoKdf } from '@vaultline/targets';
import { PlansController } from './plans/plans.controller';
import { PlansService } from './plans/plans.service';
import { RestoresController } from './restores/restores.controller';
import { RestoresService } from './restores/restores.service';
import { RunsController } from './runs/runs.controller';
import { RunsService } from './runs/runs.service';
import { SCHEDULE_CONSUMER_ENABLED, ScheduleConsumer } from './schedule/schedule.consumer';
import { ServicesController } from './services/services.controller';
import { ServicesService } from './services/services.service';
import { SnapshotsController } from './snapshots/snapshots.controller';
import { SnapshotsService } from './snapshots/snapshots.service';
import { TargetsController } from './targets/targets.controller';
import { TargetsService } from './targets/targets.service';

/**
 * The API's one module. Config and logger come in as values (validated once by the caller), so
 * tests build the same app from their own config without touching process.env.
 */
export interface AppOptions {
  /** Argon2id cost of new repositories' key files; tests lower it. Default: the engine's. */
  repoKdf?: RepoKdf;
  /** Consume the `schedule` queue (plans' scheduled runs) in this process. Default: true. */
  scheduleConsumer?: boolean;
  /**
   * Check every response against its route's declared schema (libs/contracts api.ts); a mismatch
   * is a 500. Default: false; the integration tests turn it on (response-contract.ts says why).
   */
  checkResponses?: boolean;
}

@Module({})
export class AppModule {
  static forRoot(config: ApiConfig, logger: Logger, options: AppOptions = {}): DynamicModule {
    return {
      module: AppModule,
      controllers: [
        HealthController,
        SessionController,
        ServicesController,
        TargetsController,
        PlansController,
        RunsController,
        RestoresController,
        SnapshotsController,
        EventsController,
        EventsConsumer,
      ],
      providers: [
        { provide: API_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        // Derived once: the raw server secret is not handed to any service.
        { provide: SERVER_KEYS, useValue: serverKeys(config) },
        { provide: REPO_KDF, useValue: options.repoKdf },
        CATALOG_PROVIDER,
        CatalogLifecycle,
        QueuesService,
        SessionsService,
        { provide: APP_GUARD, useClass: AuthGuard },
        // After the auth guard: 401 before any word about the query.
        { provide: APP_GUARD, useClass: StrictQueryGuard },
        ServicesService,
        TargetsService,
        PlansService,
        RunsService,
        { provide: SCHEDULE_CONSUMER_ENABLED, useValue: options.scheduleConsumer ?? true },
        ScheduleConsumer,
        RestoresService,
        SnapshotsService,
        EventsHub,
        LiveProgress,
        { provide: CHECK_RESPONSES, useValue: options.checkResponses ?? false },
        ResponseContractInterceptor,
      ],
    };
  }
}
