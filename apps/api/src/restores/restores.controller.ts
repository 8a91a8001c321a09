import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiQuery, ApiTags } from '@nestjs/swagger';

import { ApiError4xx, ApiZodBody } from '../common/openapi';
import { ZodBody, ZodQuery } from '../common/zod-body.pipe';
import {
  type CreateRestore,
  createRestoreSchema,
  type ListRestoresQuery,
  listRestoresQuerySchema,
} from './restore.schemas';
import { type CreatedRestoreView, type RestoreView, RestoresService } from './restores.service';

@ApiTags('restores')
@ApiBearerAuth()
@ApiError4xx(401, 'missing, invalid or revoked token')
@Controller('v1/restores')
export class RestoresController {
  constructor(private readonly restores: RestoresService) {}

  /**
   * Checks the password against the repository and queues the restore. The password is never
   * stored: the job carries it sealed with the server secret for this restore only (30 min).
   */
  @Post()
  @HttpCode(202)
  @ApiZodBody(createRestoreSchema)
  @ApiAcceptedResponse({
    description: 'queued: the restore (status `queued`) and `warnings` (e.g. a cross-architecture restore)',
  })
  @ApiError4xx(
    400,
    'VALIDATION_FAILED: invalid field (named in `fields`); a wrong password is `fields: [{ path: "password" }]`',
  )
  @ApiError4xx(404, 'NOT_FOUND: unknown service, target or plan, or no such snapshot in the catalog')
  @ApiError4xx(
    409,
    'CONFLICT on `allowCrossArch`: the snapshot is of another architecture; send allowCrossArch: true to consent',
  )
  @ApiError4xx(503, 'UNAVAILABLE: the target is unreachable, or the job queue (Redis) is down')
  create(@Body(new ZodBody(createRestoreSchema)) body: CreateRestore): Promise<CreatedRestoreView> {
    return this.restores.create(body);
  }

  @Get()
  @ApiQuery({ name: 'serviceId', required: false, description: 'only the restores of this service' })
  @ApiQuery({ name: 'limit', required: false, description: '1-500, default 100' })
  @ApiError4xx(400, 'invalid query parameter')
  list(@Query(new ZodQuery(listRestoresQuerySchema)) query: ListRestoresQuery): Promise<RestoreView[]> {
    return this.restores.list(query);
  }

  @Get(':id')
  @ApiError4xx(404, 'unknown restore')
  get(@Param('id') id: string): Promise<RestoreView> {
    return this.restores.get(id);
  }
}
