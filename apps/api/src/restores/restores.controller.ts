import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';

import { ApiErrors, ApiReturns, ApiZodBody, ApiZodQuery } from '../common/openapi';
import { ZodBody, ZodQuery } from '../common/zod-body.pipe';
import {
  type CreateRestore,
  createRestoreSchema,
  type ListRestoresQuery,
  listRestoresQuerySchema,
} from './restore.schemas';
import { type RestoreView, RestoresService } from './restores.service';

@ApiTags('restores')
@ApiBearerAuth()
@Controller('v1/restores')
export class RestoresController {
  constructor(private readonly restores: RestoresService) {}

  /**
   * Checks the password against the repository and queues the restore. The password is never
   * stored: the job carries it sealed with the server secret for this restore only (30 min).
   */
  @Post()
  @ApiReturns(
    202,
    'RestoreView',
    'queued: the restore (status `queued`) and `warnings` (e.g. a cross-architecture restore)',
  )
  @ApiZodBody('CreateRestore', createRestoreSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field (named in `fields`), or a destination outside the restore roots',
    WRONG_PASSWORD: 'the password does not open the repository (`fields: [{ path: "password" }]`)',
    NOT_FOUND: 'unknown service, target or plan, or no such snapshot in the catalog',
    CROSS_ARCH:
      'the snapshot is of another architecture (`fields: [{ path: "allowCrossArch" }]`); send allowCrossArch: true to consent',
    UNAVAILABLE: 'the target is unreachable, or the job queue (Redis) is down',
  })
  create(@Body(new ZodBody(createRestoreSchema)) body: CreateRestore): Promise<RestoreView> {
    return this.restores.create(body);
  }

  @Get()
  @ApiReturns(200, ['RestoreView'])
  @ApiZodQuery(listRestoresQuerySchema, {
    serviceId: 'only the restores of this service',
    limit: 'the newest this many, 1-500 (default 100)',
  })
  @ApiErrors({ VALIDATION_FAILED: 'invalid query parameter' })
  list(@Query(new ZodQuery(listRestoresQuerySchema)) query: ListRestoresQuery): Promise<RestoreView[]> {
    return this.restores.list(query);
  }

  @Get(':id')
  @ApiReturns(200, 'RestoreView')
  @ApiErrors({ NOT_FOUND: 'unknown restore' })
  get(@Param('id') id: string): Promise<RestoreView> {
    return this.restores.get(id);
  }
}
