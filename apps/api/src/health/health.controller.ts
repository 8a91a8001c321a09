import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { Catalog } from '@vaultline/catalog';
import type { Logger } from 'pino';
import { Public } from '../auth/auth.guard';
import { ApiError } from '../common/api-error';
import { ApiReturns } from '../common/openapi';
import { LOGGER } from '../common/tokens';

/** Liveness plus the one dependency every request needs: the catalog database. No auth (probes). */
@ApiTags('health')
@Public()
@Controller('health')
export class HealthController {
  constructor(
    private readonly catalog: Catalog,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  @Get()
  @ApiReturns(200, 'HealthView', 'the API and its database are up')
  async check(): Promise<{ status: 'ok'; db: 'ok' }> {
    try {
      await this.catalog.ping();
    } catch (err) {
      this.logger.warn({ err }, 'health: database ping failed');
      // 503 tells an orchestrator to stop routing here; the reason stays in the log.
      throw new ApiError('UNAVAILABLE', 'database unreachable');
    }
    return { status: 'ok', db: 'ok' };
  }
}
