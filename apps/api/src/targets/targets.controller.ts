import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { ApiError4xx, ApiZodBody } from '../common/openapi';
import { ZodBody } from '../common/zod-body.pipe';
import {
  type CreateTarget,
  createTargetSchema,
  type UpdateTarget,
  updateTargetSchema,
} from './target.schemas';
import type { ProbeResult } from './target-probe';
import { type TargetView, TargetsService } from './targets.service';

@ApiTags('targets')
@ApiBearerAuth()
@ApiError4xx(401, 'missing, invalid or revoked token')
@Controller('v1/targets')
export class TargetsController {
  constructor(private readonly targets: TargetsService) {}

  @Post()
  @ApiZodBody(createTargetSchema)
  @ApiError4xx(400, 'invalid field')
  @ApiError4xx(409, 'name already used')
  create(@Body(new ZodBody(createTargetSchema)) body: CreateTarget): Promise<TargetView> {
    return this.targets.create(body);
  }

  @Get()
  list(): Promise<TargetView[]> {
    return this.targets.list();
  }

  @Get(':id')
  @ApiError4xx(404, 'unknown target')
  get(@Param('id') id: string): Promise<TargetView> {
    return this.targets.get(id);
  }

  @Patch(':id')
  @ApiZodBody(updateTargetSchema)
  @ApiError4xx(400, 'invalid field, or a field of the other kind of target')
  @ApiError4xx(404, 'unknown target')
  @ApiError4xx(409, 'name already used')
  update(
    @Param('id') id: string,
    @Body(new ZodBody(updateTargetSchema)) body: UpdateTarget,
  ): Promise<TargetView> {
    return this.targets.update(id, body);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiError4xx(404, 'unknown target')
  @ApiError4xx(409, 'the target is used by a plan')
  remove(@Param('id') id: string): Promise<void> {
    return this.targets.remove(id);
  }

  /** Reachability and free space, by writing and deleting a probe object. Failures are a 200 result. */
  @Post(':id/test')
  @HttpCode(200)
  @ApiOkResponse({
    description: '{ reachable, writable, freeBytes (null on S3), error?: { code, message } }',
  })
  @ApiError4xx(404, 'unknown target')
  test(@Param('id') id: string): Promise<ProbeResult> {
    return this.targets.test(id);
  }
}
