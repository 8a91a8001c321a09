import { Body, Controller, Delete, Get, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { ApiErrors, ApiReturns, ApiZodBody } from '../common/openapi';
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
@Controller('v1/targets')
export class TargetsController {
  constructor(private readonly targets: TargetsService) {}

  @Post()
  @ApiReturns(201, 'TargetView')
  @ApiZodBody('CreateTarget', createTargetSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field, or an S3 endpoint the outbound policy denies',
    CONFLICT: 'name already used',
  })
  create(@Body(new ZodBody(createTargetSchema)) body: CreateTarget): Promise<TargetView> {
    return this.targets.create(body);
  }

  @Get()
  @ApiReturns(200, ['TargetView'])
  list(): Promise<TargetView[]> {
    return this.targets.list();
  }

  @Get(':id')
  @ApiReturns(200, 'TargetView')
  @ApiErrors({ NOT_FOUND: 'unknown target' })
  get(@Param('id') id: string): Promise<TargetView> {
    return this.targets.get(id);
  }

  @Patch(':id')
  @ApiReturns(200, 'TargetView')
  @ApiZodBody('UpdateTarget', updateTargetSchema)
  @ApiErrors({
    VALIDATION_FAILED: 'invalid field, or a field of the other kind of target',
    NOT_FOUND: 'unknown target',
    CONFLICT: 'name already used',
  })
  update(
    @Param('id') id: string,
    @Body(new ZodBody(updateTargetSchema)) body: UpdateTarget,
  ): Promise<TargetView> {
    return this.targets.update(id, body);
  }

  @Delete(':id')
  @ApiReturns(204, null)
  @ApiErrors({ NOT_FOUND: 'unknown target', CONFLICT: 'the target is used by a plan' })
  remove(@Param('id') id: string): Promise<void> {
    return this.targets.remove(id);
  }

  /** Reachability and free space, by writing and deleting a probe object. Failures are a 200 result. */
  @Post(':id/test')
  @ApiReturns(200, 'ProbeResult', 'the probe, failed or not: `error` says why it failed')
  @ApiErrors({ NOT_FOUND: 'unknown target' })
  test(@Param('id') id: string): Promise<ProbeResult> {
    return this.targets.test(id);
  }
}
